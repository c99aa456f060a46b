"""HTML for the mini-web: site pages, per-host index pages and "heavy" pages.

Site pages are small and simple: a <figure> per image with the caption as alt text,
root-relative ``src`` for images on the same host, absolute URLs otherwise (and for the
first image of each plain page, so extractors meet both forms).

Heavy pages (``/heavy/<k>.html``, served by host ``k % hosts``) weigh 50-150 KB like
real ones: inline CSS and scripts, navigation, boilerplate paragraphs, 20-40
captioned images under ``/heavy-img/`` plus a tracking pixel and an alt-less logo.
They exist for extraction benchmarks; their images are rendered on demand and are not
part of the ground truth.
"""

from __future__ import annotations

import html
import random
from functools import lru_cache

from . import scenes

_HEAD = '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{title}</title>\n'


def _esc(s: str) -> str:
    return html.escape(s, quote=True)


def _src(site, page_host: int, img_host: int, path: str, absolute: bool) -> str:
    return site.url(img_host, path) if absolute or img_host != page_host else path


def render_page(site, page) -> bytes:
    out = [_HEAD.format(title=_esc(page.title))]
    for name, content in page.meta:
        out.append(f'<meta name="{_esc(name)}" content="{_esc(content)}">\n')
    out.append(f"</head>\n<body>\n<h1>{_esc(page.title)}</h1>\n<p>Pictures from the mini-web.</p>\n")
    for j, img in enumerate(page.images):
        src = _src(site, page.host, img.host, img.path, absolute=(page.kind == "plain" and j == 0))
        alt = img.alt if img.alt is not None else img.caption
        size = ""
        if img.hostile is None and img.corpus_file is None:
            sc = site.scene(img.host, img.path)
            size = f' width="{sc.width}" height="{sc.height}"'
        out.append(f'<figure><img src="{_esc(src)}" alt="{_esc(alt)}"{size}>')
        if img.corpus_file is not None:
            who = f" by {_esc(img.creator)}" if img.creator else ""
            lic = f' <a rel="license" href="{_esc(img.license)}">licence</a>' if img.license else ""
            out.append(f"<figcaption>{_esc(img.caption)}{who}{lic}</figcaption>")
        out.append("</figure>\n")
    siblings = [p.path for p in site.pages.values() if p.host == page.host and p.path != page.path][:5]
    out.append("<nav>" + " ".join(f'<a href="{_esc(p)}">{_esc(p)}</a>' for p in siblings) + "</nav>\n")
    out.append("</body>\n</html>\n")
    return "".join(out).encode("utf-8", "surrogateescape")


def render_index(site, host: int) -> bytes:
    links = [p.path for p in site.pages.values() if p.host == host]
    body = "".join(f'<li><a href="{_esc(p)}">{_esc(p)}</a></li>\n' for p in links)
    text = _HEAD.format(title=f"Mini-web host {host}") + f"</head>\n<body>\n<ul>\n{body}</ul>\n</body>\n</html>\n"
    return text.encode("utf-8")


# ------------------------------------------------------------------ heavy pages
def heavy_path(k: int) -> str:
    return f"/heavy/{k}.html"


def heavy_host(site, k: int) -> int:
    return k % site.n_hosts


@lru_cache(maxsize=4)
def _paragraphs(seed: int) -> tuple[str, ...]:
    rng = random.Random(seed * 7919 + 17)
    syll = ["ka", "lo", "mi", "ren", "to", "sa", "vel", "qu", "or", "an", "eth", "is", "um", "pra", "dy", "nox"]
    vocab = ["".join(rng.choice(syll) for _ in range(rng.randint(1, 4))) for _ in range(4000)]
    paras = []
    for _ in range(1500):
        words = rng.choices(vocab, k=rng.randint(40, 160))
        paras.append(" ".join(words).capitalize() + ".")
    return tuple(paras)


@lru_cache(maxsize=4)
def _boilerplate(seed: int) -> str:
    rng = random.Random(seed + 99)
    css = "".join(
        f".c{i}{{margin:{rng.randint(0, 20)}px;padding:{rng.randint(0, 9)}px;color:#{rng.getrandbits(24):06x}}}\n"
        for i in range(150)
    )
    js = "".join(
        f"function f{i}(a,b){{var x{i}=a*{rng.randint(1, 999)}+b;if(x{i}>{rng.randint(1, 99)}){{return track('e{i}',x{i});}}return x{i};}}\n"
        for i in range(120)
    )
    nav = "".join(f'<li class="c{i}"><a href="/section/{i}/">Section {i}</a></li>' for i in range(60))
    return (
        f"<style>\n{css}</style>\n<script>\nwindow.dataLayer=window.dataLayer||[];\n{js}</script>\n"
        f'</head>\n<body>\n<header><img src="/static/logo.png" class="logo"><ul class="nav">{nav}</ul></header>\n'
    )


def render_heavy(site, k: int) -> bytes:
    host = heavy_host(site, k)
    rng = scenes.key_rng(site.seed, "heavy", k)
    paras = _paragraphs(site.seed)
    target = rng.randint(50_000, 150_000)
    n_images = rng.randint(20, 40)
    out = [_HEAD.format(title=f"Article {k}: {rng.choice(paras)[:60]}"), _boilerplate(site.seed)]
    out.append(f'<article><h1>Article {k}</h1>\n<img src="/pixel.gif?p={k}" width="1" height="1" alt="">\n')
    size = sum(map(len, out))
    every = max(1, (target - size) // 700 // n_images)  # paragraphs average ~650 bytes
    j = n = 0

    def figure(j: int) -> str:
        path = f"/heavy-img/{k}-{j}.{rng.choice(('jpg', 'jpg', 'png', 'webp'))}"
        sc = site.scene(host, path)
        src = site.url(host, path) if j % 3 == 0 else path
        return f'<figure><img src="{_esc(src)}" alt="{_esc(sc.caption)}" width="{sc.width}" height="{sc.height}"></figure>\n'

    while size < target:
        p = f"<p>{rng.choice(paras)}</p>\n"
        n += 1
        if j < n_images and n % every == 0:
            p += figure(j)
            j += 1
        out.append(p)
        size += len(p)
    out.append('<aside class="related">' + "".join(figure(i) for i in range(j, n_images)) + "</aside>\n")
    links = "".join(f'<a href="{heavy_path(k + d)}">more {d}</a> ' for d in range(1, 11))
    out.append(f"</article>\n<footer>{links}<p>&copy; Mini-web News</p></footer>\n</body>\n</html>\n")
    return "".join(out).encode("utf-8")
