"""URL normalisation, srcset choice and the non-content rules, as plain functions."""

from __future__ import annotations

import pytest

from grassroots.extract.rules import Rules, clean_caption, image_reason
from grassroots.extract.urls import best_srcset, resolve
from grassroots.urls import normalise_url

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


# ---- the fast rule paths give the answers of the plain definitions -------------
import random  # noqa: E402
import re  # noqa: E402

from grassroots.extract import rules as R  # noqa: E402

_REF_WORDS = re.compile(r"[^a-z0-9]+")
_REF_CONTROL = {c: " " for c in [*range(0x00, 0x20), *range(0x7F, 0xA0), 0x2028, 0x2029, 0xFFFD]}


def _ref_non_content_url(url: str) -> bool:
    rest = url.partition("://")[2]
    host, _, path = rest.partition("/")
    host = host.rsplit("@", 1)[-1].split(":", 1)[0]
    if any(host == h or host.endswith("." + h) for h in R.TRACKER_HOSTS):
        return True
    if url.startswith(R.TRACKER_URL_PREFIXES):
        return True
    path = path.split("?", 1)[0].lower()
    if path.endswith(R.ICON_EXTENSIONS):
        return True
    if path.rsplit("/", 1)[-1].split(".", 1)[0] in R.TRACKING_STEMS:
        return True
    return not R.ICON_WORDS.isdisjoint(_REF_WORDS.split(path))


def _ref_pixels(value):
    if not value:
        return None
    value = value.strip().lower()
    if value.endswith("px"):
        value = value[:-2].strip()
    digits = ""
    for ch in value:
        if ch.isdigit() and ch.isascii():
            digits += ch
        else:
            if ch != ".":
                return None
            break
    return int(digits) if digits else None


def _random_urls(n: int) -> list[str]:
    rng = random.Random(11)
    words = sorted(R.ICON_WORDS | R.TRACKING_STEMS) + ["photo", "img", "a", "iconic", "logos2", "x1x1", "Pixel", "LOGO"]
    hosts = ["e.com", "www.google-analytics.com", "xdoubleclick.net", "ads.doubleclick.net:8080", "u@pixel.wp.com",
             "www.facebook.com", "stats.wp.com.evil.org"]
    seps = ["/", "-", "_", ".", "/", "%20", "?q=", "/"]
    out = []
    for _ in range(n):
        path = "".join(rng.choice(words) + rng.choice(seps) for _ in range(rng.randint(0, 4)))
        path += rng.choice(["", "x.jpg", "a.ico", "b.CUR", "spacer.gif.jpg", "c.png?size=icon", "tr"])
        out.append(f"{rng.choice(['http', 'https'])}://{rng.choice(hosts)}/{path}")
    return out


def test_non_content_url_regex_matches_the_word_rules():
    for url in _random_urls(3000) + ["http://e.com", "http://e.com?x=logo", "http://e.com/pixel\n"]:
        assert R.non_content_url(url) == _ref_non_content_url(url), url


def test_hints_regex_matches_the_word_rules():
    for hints in ["", "wp-image hero", "site-logo", "LOGO", "logotype", "btn-primary", "x_tracking_y", "pixels", "a b"]:
        expected = bool(hints) and not R.HINT_WORDS.isdisjoint(_REF_WORDS.split(hints.lower()))
        assert R.non_content_hints(hints) == expected, hints


@pytest.mark.parametrize("value", ["640", " 640 ", "640px", "12.5", "50%", "auto", "", None, "٣٤", "0020", "1e3", "²"])
def test_pixels_fast_path(value):
    assert R._pixels(value) == _ref_pixels(value)


@pytest.mark.parametrize("alt", ["plain caption", " a\tb\n", "x\x00y", "u\u2028v", "bad\ufffdbyte", "zw\u200bj", "é ü 東京", "\x85nel",
                                 " lead", "trail ", "two  spaces", " ", "  ", "a", "nb\u00a0sp", "ideo\u3000sp", "thin\u2009sp",
                                 "x\u1680y", "\u202f", "fs\x1cx", "a \u3000 b", "one two three"])
def test_clean_caption_fast_path(alt):
    assert clean_caption(alt) == " ".join(alt.translate(_REF_CONTROL).split())


def test_printable_text_has_no_whitespace_but_space():
    """clean_caption returns printable text without a run of spaces or one at either
    end as it is: that is its collapsed form only if " " is the one character that
    is both printable and whitespace (split()'s notion), for every code point."""
    both = [c for c in map(chr, range(0x110000)) if c.isprintable() and c.isspace()]
    assert both == [" "]
