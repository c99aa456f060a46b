"""The mini-web's content model: hosts, pages and images, independent of serving.

A ``Site`` is built from (spec, seed, base URLs) and is the single source of truth for
the server (server.py), the WARC writer (warc.py) and the ground truth (truth.py), so
the three always agree. Building one is cheap: captions come from scene parameters;
pixels are rendered only when ``image_bytes`` is first asked for, then cached.

Per content host: ``pages_per_host`` plain pages ``/p/<k>.html`` with images
``/img/p<k>-<j>.<ext>``; the spec's case pages; on host 0 the hostile pages.
With a real corpus (images_dir + captions_csv from bench/make_corpus.py) the plain
pages are ``/c/<k>.html`` and show the corpus files, spread round-robin over hosts.
"""

from __future__ import annotations

import csv
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from . import hostile, metadata, scenes
from .spec import HostSpec, ImageSpec, Spec, load_spec

MAX_SIDE = {"webp": 800, "png": 1280}  # encoding speed; JPEGs go up to 1600 px


@dataclass(frozen=True)
class SiteImage:
    host: int
    path: str  # path and query, as requested
    caption: str
    page_host: int
    page_path: str
    spec: ImageSpec | None = None
    hostile: str | None = None  # hostile case name
    corpus_file: Path | None = None
    creator: str = ""
    license: str = ""
    alt: str | None = None  # raw alt text if not the caption (surrogateescape for bad bytes)
    label: str | None = None  # "unsafe": a drawn, harmless stand-in a safety head must flag
    copy_of: str | None = None  # path (same host) of the image this is a near-duplicate of
    copy_kind: str | None = None  # reencode | resize | crop
    mismatch: str | None = None  # the alt text is not about the image: other-caption | file-name | boilerplate


@dataclass
class SitePage:
    host: int
    path: str
    title: str
    meta: tuple[tuple[str, str], ...] = ()
    images: list[SiteImage] = field(default_factory=list)
    kind: str = "plain"  # plain | case | hostile | corpus


class Site:
    def __init__(
        self,
        base_urls: list[str],
        seed: int = 0,
        spec: Spec | None = None,
        hostile_pages: bool = True,
        images_dir: str | Path | None = None,
        captions_csv: str | Path | None = None,
    ):
        if not base_urls:
            raise ValueError("need at least one content host")
        self.base_urls = [u.rstrip("/") for u in base_urls]
        self.seed = seed
        self.spec = spec or load_spec()
        self.images_dir = Path(images_dir) if images_dir else None
        self.pages: dict[tuple[int, str], SitePage] = {}
        self.images: dict[tuple[int, str], SiteImage] = {}
        self._netloc = {urlsplit(u).netloc: i for i, u in enumerate(self.base_urls)}
        self._cache: dict[tuple[int, str], bytes] = {}
        self._lock = threading.Lock()
        if captions_csv:
            self._add_corpus(Path(captions_csv))
        for h in range(len(self.base_urls)):
            hs = self.host_spec(h)
            if not captions_csv:
                self._add_plain(h, hs)
                self._add_labelled(h, hs)
            for ps in hs.pages:
                self._add_case_page(h, ps)
        if hostile_pages:
            for path, title, imgs in hostile.pages():
                page = self._page(0, path, title, (), "hostile")
                for img_path, name, garble in imgs:
                    caption = self.scene(0, img_path).caption
                    alt = garble(caption) if garble else None
                    self._image(page, 0, img_path, caption, hostile=name, alt=alt)

    # ---------------------------------------------------------------- lookups
    @property
    def n_hosts(self) -> int:
        return len(self.base_urls)

    def host_spec(self, host: int) -> HostSpec:
        return self.spec.host(host)

    def url(self, host: int, path: str) -> str:
        return self.base_urls[host] + path

    def host_index(self, netloc: str) -> int | None:
        return self._netloc.get(netloc)

    def page_urls(self) -> list[str]:
        return [self.url(p.host, p.path) for p in self.pages.values()]

    def image_urls(self) -> list[str]:
        return [self.url(i.host, i.path) for i in self.images.values()]

    # ---------------------------------------------------------------- building
    def _page(self, host, path, title, meta, kind) -> SitePage:
        page = SitePage(host, path, title, tuple(meta), [], kind)
        self.pages[(host, path)] = page
        return page

    def _image(self, page: SitePage, host: int, path: str, caption: str | None = None, **kw) -> SiteImage:
        if caption is None:
            caption = self.scene(host, path).caption
        img = SiteImage(host, path, caption, page.host, page.path, **kw)
        page.images.append(img)
        self.images.setdefault((host, path), img)
        return img

    def _add_plain(self, h: int, hs: HostSpec) -> None:
        n_pages = self.spec.pages_per_host if hs.pages_per_host is None else hs.pages_per_host
        for k in range(n_pages):
            page = self._page(h, f"/p/{k}.html", f"Gallery {k} on host {h}", (), "plain")
            rng = scenes.key_rng(self.seed, "plain", h, k)
            for j in range(self.spec.images_per_page):
                path = f"/img/p{k}-{j}.{rng.choice(hs.plain_formats)}"
                mismatch = scenes.key_rng(self.seed, "mismatch", h, k, j)
                if mismatch.random() < self.spec.mismatched_share:
                    kind = mismatch.choice(self.MISMATCH_KINDS)
                    self._image(page, h, path, self._mismatched_caption(kind, mismatch, h, path), mismatch=kind)
                else:
                    self._image(page, h, path)

    MISMATCH_KINDS = ("other-caption", "other-caption", "file-name", "boilerplate")
    BOILERPLATE = ("click here to see more", "image from our gallery", "photo by staff",
                   "view full size image", "thumbnail preview picture")

    def _mismatched_caption(self, kind: str, rng, host: int, path: str) -> str:
        """Alt text as careless pages write it: another picture's caption, a camera file
        name, or boilerplate. None of them describes the image."""
        if kind == "other-caption":
            own = self.scene(host, path).caption
            while True:
                other = scenes.make_scene(rng).caption
                if other != own:
                    return other
        if kind == "file-name":
            return f"IMG_{rng.randrange(1000, 9999)}_{rng.randrange(10, 99)} final edit.jpg"
        return rng.choice(self.BOILERPLATE)

    COPY_KINDS = ("reencode", "resize", "crop")

    def _add_labelled(self, h: int, hs: HostSpec) -> None:
        """Pages for the filters' tests: per page, two 'unsafe' stand-ins (a scene under a
        red diagonal warning hatch: harmless, unmistakable) and near-duplicate copies
        (re-encoded, resized, cropped) of the images of the plain page with the same number."""
        plain_pages = self.spec.pages_per_host if hs.pages_per_host is None else hs.pages_per_host
        for k in range(self.spec.labelled_pages):
            page = self._page(h, f"/l/{k}.html", f"Labelled {k} on host {h}", (), "labelled")
            for j in range(2):
                self._image(page, h, f"/img/u{k}-{j}.jpg", label="unsafe")
            if k >= plain_pages:
                continue
            originals = [i for i in self.pages[(h, f"/p/{k}.html")].images]
            for j, (orig, kind) in enumerate(zip(originals, self.COPY_KINDS)):
                self._image(page, h, f"/img/c{k}-{j}-{kind}.jpg", orig.caption + f" ({kind})",
                            copy_of=orig.path, copy_kind=kind)

    def _add_case_page(self, h: int, ps) -> None:
        page = self._page(h, ps.path, f"Rights cases: {ps.path}", ps.meta, "case")
        for spec in ps.images:
            host = h if spec.host is None else spec.host
            if host < self.n_hosts:
                self._image(page, host, spec.path, spec=spec)

    def _add_corpus(self, captions_csv: Path) -> None:
        with open(captions_csv, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        per_page = self.spec.images_per_page
        for i in range(0, len(rows), per_page):
            k = i // per_page
            h = k % self.n_hosts
            page = self._page(h, f"/c/{k // self.n_hosts}.html", f"Clip art {k}", (), "corpus")
            for row in rows[i : i + per_page]:
                rel = row["path"].lstrip("/")
                self._image(
                    page, h, "/" + rel, row.get("caption") or "",
                    corpus_file=(self.images_dir or captions_csv.parent / "www") / rel,
                    creator=row.get("creator", ""), license=row.get("license", ""),
                )

    # ---------------------------------------------------------------- bytes
    def scene(self, host: int, path: str) -> scenes.Scene:
        ext = path.split("?")[0].rsplit(".", 1)[-1].lower()
        return scenes.make_scene(scenes.key_rng(self.seed, "scene", host, path), max_side=MAX_SIDE.get(ext))

    def image_bytes(self, host: int, path: str) -> bytes:
        """Encoded bytes of a site image (or any /img/, /heavy-img/ path), cached."""
        key = (host, path)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        img = self.images.get(key)
        if img is not None and img.corpus_file is not None:
            data = img.corpus_file.read_bytes()
        else:
            data = self._render(host, path, img.spec if img else None)
        with self._lock:
            self._cache[key] = data
        return data

    def _render(self, host: int, path: str, spec: ImageSpec | None) -> bytes:
        ext = path.split("?")[0].rsplit(".", 1)[-1].lower()
        if ext not in scenes.FORMATS:
            ext = "jpg"
        img = self.images.get((host, path))
        if img is not None and img.copy_of is not None:
            return scenes.near_copy(self.image_bytes(host, img.copy_of), img.copy_kind)
        scene = self.scene(host, path)
        if img is not None and img.label == "unsafe":
            return scenes.encode(scenes.warning_hatch(scenes.render(scene)), ext)
        xmp = metadata.xmp_packet(spec.xmp, spec.xmp_form) if spec and spec.xmp else None
        data = scenes.encode(scenes.render(scene), ext, xmp)
        if spec and spec.c2pa:
            mime = scenes.MIME[scenes.FORMATS[ext]]
            data = metadata.c2pa_sign(data, mime, spec.c2pa, title=scene.caption)
        return data

    def image_headers(self, host: int, path: str) -> list[tuple[str, str]]:
        """Response headers of an image: its content type plus the spec's extra headers."""
        img = self.images.get((host, path))
        ext = path.split("?")[0].rsplit(".", 1)[-1].lower()
        headers = [("Content-Type", scenes.MIME[scenes.FORMATS.get(ext, "JPEG")])]
        if img and img.spec:
            headers += list(img.spec.headers)
        return headers
