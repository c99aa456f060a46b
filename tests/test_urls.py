"""The one URL normal form (grassroots.urls) and its accessors; extract, the
rights registry and the blocklist all key a URL the same way."""

from __future__ import annotations

import hashlib
import random

import pytest

from grassroots.extract.urls import resolve
from grassroots.rights.blocklist import Blocklist, url_hash
from grassroots.rights.registry import Registry
from grassroots.rights.tdmrep import parse_tdmrep_json
from grassroots.urls import (
    host_of,
    normalise_path,
    normalise_percent,
    normalise_url,
    origin,
    path_and_query,
    registrable_domain,
)


@pytest.mark.parametrize(
    "url,expected",
    [
        # scheme and host lower-cased, IDNA host, trailing dot dropped
        ("HTTP://Example.COM/A.jpg", "http://example.com/A.jpg"),
        ("https://Bücher.example./x.jpg", "https://xn--bcher-kva.example/x.jpg"),
        ("http://[::1]:8080/p", "http://[::1]:8080/p"),
        ("http://[2001:DB8::1]/p", "http://[2001:db8::1]/p"),
        # default port dropped, others kept, an empty port is none
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("http://example.com:443/a", "http://example.com:443/a"),
        ("http://example.com:/a", "http://example.com/a"),
        # fragment dropped; empty path is "/"
        ("http://example.com/a.jpg#top", "http://example.com/a.jpg"),
        ("http://example.com", "http://example.com/"),
        ("http://example.com#x", "http://example.com/"),
        # dot segments removed (RFC 3986 5.2.4), also when spelled with escapes
        ("http://example.com/a/../b/./c.jpg", "http://example.com/b/c.jpg"),
        ("http://example.com/a/..", "http://example.com/"),
        ("http://example.com/../../a", "http://example.com/a"),
        ("http://example.com/a/%2E%2e/b", "http://example.com/b"),
        ("http://example.com/a?next=/./../x", "http://example.com/a?next=/./../x"),  # not in the query
        # percent-encoding: unreserved decoded, hex upper-cased, lone % escaped, must-escape encoded
        ("http://example.com/%7euser/%41%2f%e2%82%ac", "http://example.com/~user/A%2F%E2%82%AC"),
        ("http://example.com/100%.jpg", "http://example.com/100%25.jpg"),
        ("http://example.com/a b/ü.jpg?q=ä ö", "http://example.com/a%20b/%C3%BC.jpg?q=%C3%A4%20%C3%B6"),
        ("http://example.com/a[1]{2}|^`\"<>", "http://example.com/a%5B1%5D%7B2%7D%7C%5E%60%22%3C%3E"),
        ("http://example.com/*$!;=+,'()@:?a=b&c=/?", "http://example.com/*$!;=+,'()@:?a=b&c=/?"),
        # userinfo dropped
        ("http://user:pw@example.com/a.jpg", "http://example.com/a.jpg"),
        ("http://a@b@example.com/", "http://example.com/"),
        # empty query dropped, a non-empty one kept
        ("http://example.com/a.jpg?", "http://example.com/a.jpg"),
        ("http://example.com/a.jpg?#f", "http://example.com/a.jpg"),
        ("http://example.com?", "http://example.com/"),
        ("http://example.com/a.jpg??", "http://example.com/a.jpg??"),
        # surrounding whitespace and embedded tab/newline, as browsers do
        ("  http://example.com/a.jpg \n", "http://example.com/a.jpg"),
        ("http://example.com/a\n.jpg", "http://example.com/a.jpg"),
        # not an absolute http(s) URL with a valid host and port
        ("ftp://example.com/a", None),
        ("data:image/png;base64,AAAA", None),
        ("/relative/a.jpg", None),
        ("http:///a", None),
        ("http://example.com:99999/", None),
        ("http://example.com:²/", None),
        ("http://exa mple.com/", None),
        ("http://[::1/", None),
        ("", None),
    ],
)
def test_normal_form(url, expected):
    assert normalise_url(url) == expected


def _random_urls(n: int) -> list[str]:
    rng = random.Random(3)
    hosts = ["example.com", "EXAMPLE.com.", "bücher.example", "u:p@h.example", "h.example:443", "h.example:8080", "[::1]"]
    pieces = ["a", "B", "..", ".", "%7e", "%2e", "%2F", "%", "%zz", "ü", " ", "[x]", "*", "$", "~", "-", "%41", "|"]
    out = []
    for _ in range(n):
        path = "/".join(rng.choice(pieces) for _ in range(rng.randint(0, 5)))
        query = rng.choice(["", "?", "?a=1", "?q=%e2%82%ac", "?x=/./..", "??"])
        frag = rng.choice(["", "#f", "#"])
        out.append(f"{rng.choice(['http', 'HTTPS'])}://{rng.choice(hosts)}/{path}{query}{frag}")
    return out


def test_normal_form_is_a_fixed_point_and_fast_path_agrees():
    for url in _random_urls(3000):
        normal = normalise_url(url)
        assert normal is not None, url
        assert normalise_url(normal) == normal, url
        # a leading space skips the fast path; "#" skips normalise_path's fast path
        assert normalise_url(" " + url) == normal, url
        rest = url.split("://", 1)[1]
        rest = rest[len(rest.split("/", 1)[0]):]
        assert normal == origin(url) + path_and_query(url) == origin(url) + normalise_path(rest), url
        if not rest.endswith(" "):  # else the "#" would make that space part of the URL
            assert normalise_path(rest + "#") == normalise_path(rest), url


def test_accessors():
    url = "HTTPS://user@Bücher.Example:443/a/../b.jpg?#f"
    assert origin(url) == "https://xn--bcher-kva.example"
    assert origin("http://example.com:8080/x") == "http://example.com:8080"
    assert origin("ftp://example.com/") is None
    assert host_of(url) == "xn--bcher-kva.example"
    assert host_of("http://[::1]:8080/") == "::1"
    assert host_of("not a url") == ""
    assert path_and_query(url) == "/b.jpg"
    assert path_and_query("http://example.com/p?q=%7e") == "/p?q=~"
    assert registrable_domain("https://img.shop.example.co.uk/a.jpg") == "example.co.uk"
    assert registrable_domain("http://127.0.0.1:8080/a.jpg") == "127.0.0.1"
    assert registrable_domain("http://localhost/") == "localhost"
    assert registrable_domain("nope") is None


def test_percent_normalisation_keeps_pattern_characters():
    assert normalise_percent("/%7euser/*.jpg$") == "/~user/*.jpg$"
    assert normalise_percent("/a b/%e2") == "/a%20b/%E2"
    assert normalise_percent(normalise_percent("/100%/ü")) == normalise_percent("/100%/ü")


# ---- the disagreements the three old helpers had, each now one answer -------------
# old rights: kept userinfo out but kept "/../" and an empty "?"; old extract: kept
# userinfo, removed dot segments, dropped "?"; both differed on "%" and "[", "{", "|".
SPELLINGS = [
    ("https://example.com/art/cat.jpg", "https://user:pw@example.com/art/cat.jpg"),  # userinfo
    ("https://example.com/art/cat.jpg", "https://example.com/x/../art/./cat.jpg"),  # dot segments
    ("https://example.com/art/cat.jpg", "https://example.com/art/cat.jpg?"),  # empty query
    ("https://example.com/art/cat.jpg", "HTTPS://Example.COM:443/art/%63at.jpg#big"),
    ("https://example.com/art/100%25.jpg", "https://example.com/art/100%.jpg"),  # lone %
    ("https://example.com/art/a%5B1%5D.jpg", "https://example.com/art/a[1].jpg"),  # always encoded
]

BASE = "https://example.com/gallery/page.html"


@pytest.mark.parametrize("canonical,spelling", SPELLINGS)
def test_extract_registry_and_blocklist_agree(canonical, spelling):
    assert normalise_url(spelling) == canonical
    assert resolve(spelling, BASE) == canonical  # extract's stored URL and dedup key
    assert url_hash(spelling) == url_hash(canonical) == hashlib.sha256(canonical.encode()).hexdigest()

    for listed, seen in ((spelling, resolve(spelling, BASE)), (canonical, spelling)):
        registry = Registry()
        registry.add("url", listed)
        assert registry.match(seen) is not None
        blocklist = Blocklist()
        blocklist.add("url", listed)
        assert blocklist.check_url(seen) is not None


def test_relative_spellings_resolve_to_the_blocklisted_url():
    blocklist = Blocklist()
    blocklist.add("url_sha256", url_hash("https://example.com/art/cat.jpg"))
    for raw in ["/art/cat.jpg", "../art/cat.jpg?", "/x/../art/cat.jpg#f", "//user@example.com/art/%63at.jpg"]:
        url = resolve(raw, BASE)
        assert url == "https://example.com/art/cat.jpg", raw
        assert blocklist.check_url(url) is not None, raw


def test_dot_segments_cannot_escape_a_path_opt_out():
    tdm = parse_tdmrep_json(b'[{"location": "/private/*", "tdm-reservation": 1}]')
    assert tdm.lookup("https://example.com/public/../private/a.jpg").reservation == 1
    assert tdm.lookup("https://example.com/public/%2E%2E/private/a.jpg").reservation == 1
    assert tdm.lookup("https://example.com/public/a.jpg").reservation is None


def test_invalid_urls_are_errors_for_the_rights_lists():
    with pytest.raises(ValueError):
        url_hash("ftp://example.com/a.jpg")
    assert Blocklist().check_url("not a url") is None
    assert Registry().match("not a url") is None
