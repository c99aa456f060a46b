"""Opt-out registry files: domains (with subdomains), prefixes, exact URLs."""

from __future__ import annotations

import pytest

from grassroots.errors import InputError
from grassroots.rights.registry import Registry
from grassroots.urls import normalise_url

REGISTRY = """# opted-out creators
artist.example
https://gallery.example/portfolio/*
https://photos.example/cat.jpg   # one image
domain,BÜCHER.example
prefix,http://shop.example/art/
url,https://shop.example/x.png#frag

"""


@pytest.fixture
def registry(tmp_path):
    path = tmp_path / "optout.txt"
    path.write_text(REGISTRY, encoding="utf-8")
    return Registry.load([path])


@pytest.mark.parametrize(
    "url, hit",
    [
        ("https://artist.example/a.jpg", "domain artist.example"),
        ("https://cdn.img.ARTIST.example./a.jpg", "domain artist.example"),
        ("https://notartist.example/a.jpg", None),
        ("https://gallery.example/portfolio/2024/a.jpg", "prefix"),
        ("http://gallery.example/portfolio/a.jpg", "prefix"),  # scheme ignored
        ("https://gallery.example/other/a.jpg", None),
        ("https://photos.example/cat.jpg", "url"),
        ("https://photos.example:443/cat.jpg#x", "url"),
        ("https://photos.example/cat.jpg?size=2", None),
        ("https://photos.example/%63at.jpg", "url"),  # %63 = "c", unreserved
        ("https://xn--bcher-kva.example/a", "domain"),
        ("https://shop.example/art/a.jpg", "prefix"),
        ("https://shop.example/x.png", "url"),
    ],
)
def test_matches(registry, url, hit):
    got = registry.match(url)
    assert (got is None) if hit is None else (got is not None and got.startswith(hit))


def test_bad_line_names_file_and_row(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("example.com\nurl,not a url\n")
    with pytest.raises(InputError) as e:
        Registry.load([path])
    assert e.value.row == 2 and "bad.csv" in str(e.value)


def test_normalise_url():
    assert normalise_url("HTTPS://Example.COM:443") == "https://example.com/"
    assert normalise_url("http://example.com:8080/a%2fb/%7e?q=%e2#f") == "http://example.com:8080/a%2Fb/~?q=%E2"
    assert normalise_url("http://example.com/caf\u00e9 x") == "http://example.com/caf%C3%A9%20x"
