"""URL normalisation, srcset choice and the non-content rules, as plain functions."""

from __future__ import annotations

import pytest

from grassroots.extract.rules import Rules, clean_caption, image_reason
from grassroots.extract.urls import best_srcset, normalise_url, resolve

BASE = "http://example.com/a/b.html"


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("c.jpg", "http://example.com/a/c.jpg"),
        ("/c.jpg?x=1#top", "http://example.com/c.jpg?x=1"),
        ("//Img.Example.com/c.jpg", "http://img.example.com/c.jpg"),
        ("HTTPS://EXAMPLE.com:443", "https://example.com/"),
        ("http://example.com:8080/%7euser/%e2%82%ac", "http://example.com:8080/~user/%E2%82%AC"),
        ("http://example.com/a b/ü.jpg", "http://example.com/a%20b/%C3%BC.jpg"),
        ("http://example.com/100%.jpg", "http://example.com/100%25.jpg"),
        ("https://bücher.example/x.jpg", "https://xn--bcher-kva.example/x.jpg"),
        ("http://example.com/a/../b/./c.jpg", "http://example.com/b/c.jpg"),
        ("  \n/c.jpg\t ", "http://example.com/c.jpg"),
        ("data:image/png;base64,AAAA", None),
        ("javascript:alert(1)", None),
        ("ftp://example.com/c.jpg", None),
        ("mailto:a@example.com", None),
        ("http://example.com:99999/c.jpg", None),
        ("", None),
        (None, None),
    ],
)
def test_resolve(raw, expected):
    assert resolve(raw, BASE) == expected


def test_normalised_urls_are_fixed_points():
    for url in ["http://example.com/", "https://a.example/x%20y?q=%C3%A4", "http://[::1]:8080/p"]:
        assert normalise_url(url) == url
        assert normalise_url(normalise_url(url)) == normalise_url(url)


@pytest.mark.parametrize(
    "srcset,best",
    [
        ("a.jpg 320w, b.jpg 1280w, c.jpg 640w", "b.jpg"),
        ("a.jpg, b.jpg 2x, c.jpg 1.5x", "b.jpg"),
        ("a,b.jpg 100w, c.jpg 50w", "a,b.jpg"),
        ("single.jpg", "single.jpg"),
        ("", None),
        (None, None),
    ],
)
def test_best_srcset(srcset, best):
    assert best_srcset(srcset) == best


def test_clean_caption():
    assert clean_caption(" a\x00b\u2028c\ufffd  d\r\n") == "a b c d"
    assert clean_caption(None) == ""


@pytest.mark.parametrize(
    "url,width,height,hints,dropped",
    [
        ("http://e.com/p/photo.jpg", None, None, "", False),
        ("http://e.com/p/photo.jpg", "1", "1", "", True),
        ("http://e.com/p/photo.jpg", "100%", "auto", "", False),
        ("http://e.com/p/spacer.gif", None, None, "", True),
        ("http://e.com/icons/x.png", None, None, "", True),
        ("http://e.com/p/iconic-photo.jpg", None, None, "", False),
        ("http://e.com/p/a.jpg", None, None, "wp-image hero", False),
        ("http://e.com/p/a.jpg", None, None, "site-logo", True),
        ("http://www.google-analytics.com/collect.gif", None, None, "", True),
        ("https://www.facebook.com/tr?id=1", None, None, "", True),
    ],
)
def test_non_content_rules(url, width, height, hints, dropped):
    assert (image_reason(Rules(), url, width, height, hints) is not None) == dropped
