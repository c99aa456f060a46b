"""The rights spec: which host says what, loaded from one TOML file.

``default_spec.DEFAULT_SPEC_TOML`` exercises every case in specs/rights.md;
``load_spec(path)`` reads another file of the same shape. Format::

    [site]
    pages_per_host = 4            # plain pages per host (images /img/..., all allowed)
    images_per_page = 5
    plain_robots_txt = "User-agent: *\\nDisallow: /private/\\n"   # hosts not listed
    labelled_pages = 0            # per host: pages of labelled images (unsafe stand-ins and
                                  # near-duplicate copies, in the ground truth), for filters
    mismatched_share = 0.0        # share of plain images whose alt text does not describe them
                                  # (another image's caption, a file name, "click here"): the
                                  # ground truth's "mismatch" column, for the CLIP-score filter

    [[hosts]]                     # one table per host that differs from plain
    index = 1                     # content host number (0-based)
    name = "robots-groups"        # documentation only
    robots_txt = "..."            # body of /robots.txt (omit: plain_robots_txt)
    robots_status = 200           # 404 = no file (allow all), 503 = refuse host
    ai_txt = "..."                # body of /ai.txt (omit: 404)
    tdmrep_json = "..."           # body of /.well-known/tdmrep.json, verbatim (omit: 404)
    pages_per_host = 1            # plain pages on this host (default: [site])
    plain_formats = ["jpg", "png"]   # extensions of plain images (default all three)

    [[hosts.pages]]
    path = "/art/gallery.html"
    meta = [["robots", "noimageai"], ["tdm-reservation", "1"]]   # <meta name content>

    [[hosts.pages.images]]
    path = "/art/b.jpg"           # extension picks the format: jpg, png, webp
    host = 3                      # optional: image served by another host
    headers = [["X-Robots-Tag", "noai"], ["tdm-reservation", "0"]]
    xmp = "DMI-PROHIBITED"        # plus:DataMining value (vocab name)
    xmp_form = "attribute"        # attribute | element | resource | bare | prefix
    c2pa = { "c2pa.ai_training" = "notAllowed" }   # training-mining entries
    note = "why this case exists"

Hosts whose index is not below the MiniWeb's host count are dropped, and so are
images that live on such a host.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

XMP_FORMS = ("attribute", "element", "resource", "bare", "prefix")
C2PA_USES = ("allowed", "notAllowed", "constrained")


@dataclass(frozen=True)
class ImageSpec:
    path: str
    host: int | None = None  # None: the page's host
    headers: tuple[tuple[str, str], ...] = ()
    xmp: str | None = None
    xmp_form: str = "attribute"
    c2pa: tuple[tuple[str, str], ...] = ()  # (entry, use), e.g. ("cawg.ai_training", "allowed")
    note: str = ""


@dataclass(frozen=True)
class PageSpec:
    path: str
    meta: tuple[tuple[str, str], ...] = ()
    images: tuple[ImageSpec, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class HostSpec:
    index: int
    name: str = ""
    robots_txt: str | None = None
    robots_status: int = 200
    ai_txt: str | None = None
    tdmrep_json: str | None = None
    pages_per_host: int | None = None
    plain_formats: tuple[str, ...] = ("jpg", "jpg", "jpg", "png", "webp")
    pages: tuple[PageSpec, ...] = ()


@dataclass(frozen=True)
class Spec:
    pages_per_host: int = 4
    images_per_page: int = 5
    plain_robots_txt: str = "User-agent: *\nDisallow: /private/\n"
    labelled_pages: int = 0  # per host: unsafe stand-ins and near-duplicate copies (site._add_labelled)
    mismatched_share: float = 0.0  # plain images whose alt text is not about them (site._add_plain)
    hosts: tuple[HostSpec, ...] = field(default_factory=tuple)

    def host(self, index: int) -> HostSpec:
        for h in self.hosts:
            if h.index == index:
                return h
        return HostSpec(index=index)


def _pairs(value, what: str) -> tuple[tuple[str, str], ...]:
    out = []
    for item in value or ():
        if not (isinstance(item, (list, tuple)) and len(item) == 2):
            raise ValueError(f"{what}: expected [name, value] pairs, got {item!r}")
        out.append((str(item[0]), str(item[1])))
    return tuple(out)


def _image(d: dict) -> ImageSpec:
    form = d.get("xmp_form", "attribute")
    if form not in XMP_FORMS:
        raise ValueError(f"xmp_form must be one of {XMP_FORMS}, got {form!r}")
    c2pa = tuple((str(k), str(v)) for k, v in (d.get("c2pa") or {}).items())
    for entry, use in c2pa:
        if use not in C2PA_USES or not entry.startswith(("c2pa.", "cawg.")):
            raise ValueError(f"bad c2pa entry {entry!r} = {use!r}")
    return ImageSpec(
        path=d["path"],
        host=d.get("host"),
        headers=_pairs(d.get("headers"), "headers"),
        xmp=d.get("xmp"),
        xmp_form=form,
        c2pa=c2pa,
        note=d.get("note", ""),
    )


def _page(d: dict) -> PageSpec:
    return PageSpec(
        path=d["path"],
        meta=_pairs(d.get("meta"), "meta"),
        images=tuple(_image(i) for i in d.get("images", ())),
        note=d.get("note", ""),
    )


def _host(d: dict) -> HostSpec:
    kw = {k: d[k] for k in ("name", "robots_txt", "robots_status", "ai_txt", "tdmrep_json", "pages_per_host") if k in d}
    if "plain_formats" in d:
        kw["plain_formats"] = tuple(d["plain_formats"])
    return HostSpec(index=int(d["index"]), pages=tuple(_page(p) for p in d.get("pages", ())), **kw)


def parse_spec(text: str) -> Spec:
    data = tomllib.loads(text)
    site = data.get("site", {})
    kw = {k: site[k] for k in ("pages_per_host", "images_per_page", "plain_robots_txt", "labelled_pages",
                                        "mismatched_share")
          if k in site}
    hosts = tuple(_host(h) for h in data.get("hosts", ()))
    if len({h.index for h in hosts}) != len(hosts):
        raise ValueError("two [[hosts]] tables share an index")
    return Spec(hosts=hosts, **kw)


def load_spec(path: str | Path | None = None) -> Spec:
    """Read a spec file; None reads the built-in default spec."""
    if path is None:
        from .default_spec import DEFAULT_SPEC_TOML

        return parse_spec(DEFAULT_SPEC_TOML)
    return parse_spec(Path(path).read_text("utf-8"))
