"""What extract takes from one page, whether it came from a WARC response
(html.py) or from a WAT metadata record (wat.py): the stage applies its rules to
this and nothing else, so both inputs give the same candidates."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class ImageRef:
    """One ``<img>`` as written on the page (values as parsed, not yet cleaned)."""

    src: str | None  # the URL attribute chosen (see html.py), relative or absolute
    alt: str | None
    width: str | None = None  # declared attributes (WARC only; WAT does not carry them)
    height: str | None = None
    hints: str = ""  # class and id, for icon/logo/sprite rules (WARC only)
    node: object | None = None  # the DOM node, for the context snippet (WARC only)


@dataclass(slots=True)
class Page:
    url: str
    base: str  # what relative URLs resolve against: <base href> or the page URL
    title: str | None
    record_id: str | None  # the WARC-Record-ID of the response record
    crawl_date: str | None  # WARC-Date of the response record
    metas: list[tuple[str, str]] = field(default_factory=list)  # (name lower-cased, content)
    license: str | None = None  # rel=license link or Creative Commons URL, absolute
    images: list[ImageRef] = field(default_factory=list)

    def meta(self, name: str) -> str | None:
        for n, content in self.metas:
            if n == name:
                return content
        return None
