"""Ground truth: what a correct crawler must do with every image on the mini-web.

The crawler is GrassrootsBot in conservative mode (an image disallowed by robots.txt
for any common AI token is refused too), honouring noindex/noimageindex/none, with the
caps in hostile.DEFAULT_CAPS. One row per image URL::

    {"url", "page_url", "caption", "expect": "success"|"refused"|"failed"|"filtered",
     "reason": <grassroots.schema.Reason value or None>, "reasons": [...], "case": name}

``reasons`` lists every refusal that applies, whether or not a crawler would get far
enough to see it (a robots-refused image is never fetched, so its XMP is never read);
``reason`` is the one with the highest precedence in PRECEDENCE. Where an image sits
on several pages, the first page is used. Channels evaluated per image:

- robots.txt of the page host (page path) and of the image host (image path);
  404 = allow, 5xx = refuse the host. Matching by protego (longest match, wildcards).
- ai.txt of the image host against the image path (patterns without a leading "/"
  get one; extension-only patterns like ``*.jpg`` match case-insensitively).
- TDMRep: image host's tdmrep.json (first match wins), then the image response's
  ``tdm-reservation`` header, then the page's ``<meta name="tdm-reservation">``.
- page ``<meta name="robots"|"grassrootsbot">``, image ``X-Robots-Tag`` lines.
- XMP plus:DataMining DMI-PROHIBITED*, C2PA/CAWG notAllowed or constrained.
"""

from __future__ import annotations

import json
import re

from protego import Protego

from grassroots.imaging.resize import ImageConfig

from . import hostile as hostile_mod

PRECEDENCE = (
    "registry", "robots_txt", "ai_txt", "tdmrep", "html_meta",
    "x_robots_tag", "iptc_xmp", "c2pa", "hash_blocklist", "robots_unreachable",
)
OUR_TOKEN = "GrassrootsBot"
AI_TOKENS = ("CCBot", "GPTBot", "Google-Extended", "ClaudeBot", "anthropic-ai", "img2dataset")
REFUSING = {"noai", "noimageai", "noindex", "noimageindex", "none"}
VALUE_DIRECTIVES = {"unavailable_after", "max-image-preview", "max-snippet", "max-video-preview"}
# Corpus files above the downloader's default pixel cap count as bombs.
MAX_PIXELS = ImageConfig().max_pixels


def robots_unreachable(site, host: int) -> bool:
    """A 5xx robots.txt: RFC 9309 says disallow all; the crawler fails (not refuses) the row."""
    return site.host_spec(host).robots_status >= 500


def robots_refuses(site, host: int, path: str) -> bool:
    hs = site.host_spec(host)
    if hs.robots_status >= 400:
        return False
    rp = Protego.parse(hs.robots_txt if hs.robots_txt is not None else site.spec.plain_robots_txt)
    url = site.url(host, path)
    return any(not rp.can_fetch(url, ua) for ua in (OUR_TOKEN, *AI_TOKENS))


def _glob(pattern: str, ignore_case: bool = False) -> re.Pattern:
    anchored = pattern.endswith("$")
    body = re.escape(pattern.rstrip("$")).replace(r"\*", ".*")
    return re.compile(body + ("$" if anchored else ""), re.IGNORECASE if ignore_case else 0)


def ai_txt_refuses(text: str | None, path: str) -> bool:
    if not text:
        return False
    best = (-1, True)  # (length, allowed)
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip().lower(), value.split("#")[0].strip()
        if key not in ("allow", "disallow") or not value:
            continue
        pat = value if value.startswith("/") else "/" + value
        ext_only = re.fullmatch(r"/\*\.[A-Za-z0-9]+\$?", pat) is not None
        if _glob(pat, ignore_case=ext_only).match(path):
            length, allowed = len(pat), key == "allow"
            if length > best[0] or (length == best[0] and allowed):
                best = (length, allowed)
    return not best[1]


def tdmrep_file_value(text: str | None, path: str) -> int | None:
    try:
        rules = json.loads(text) if text else []
    except ValueError:
        return None
    if not isinstance(rules, list):
        return None
    for rule in rules:
        if isinstance(rule, dict) and isinstance(rule.get("location"), str):
            if _glob(rule["location"]).match(path):
                v = rule.get("tdm-reservation")
                return v if v in (0, 1) and not isinstance(v, bool) else None
    return None


def _tdm(value: str) -> int | None:
    return {"0": 0, "1": 1}.get(value.strip())


def directives_refuse(items: str) -> bool:
    """One X-Robots-Tag line: comma-separated items, ``bot:`` scopes the rest of the line."""
    scope = None
    for item in items.split(","):
        item = item.strip().lower()
        name, colon, rest = item.partition(":")
        if colon and name.strip() not in VALUE_DIRECTIVES:
            scope, item = name.strip(), rest.strip()
        if item in REFUSING and scope in (None, OUR_TOKEN.lower()):
            return True
    return False


def reasons_for(site, img) -> list[str]:
    page = site.pages[(img.page_host, img.page_path)]
    hs = site.host_spec(img.host)
    path_only = img.path.split("?")[0]
    headers = img.spec.headers if img.spec else ()
    found = set()
    if robots_refuses(site, img.page_host, img.page_path) or robots_refuses(site, img.host, img.path):
        found.add("robots_txt")
    if robots_unreachable(site, img.page_host) or robots_unreachable(site, img.host):
        found.add("robots_unreachable")
    if ai_txt_refuses(hs.ai_txt, path_only):
        found.add("ai_txt")
    tdm = tdmrep_file_value(hs.tdmrep_json, path_only)
    for name, value in headers:
        if name.lower() == "tdm-reservation" and _tdm(value) is not None:
            tdm = _tdm(value)
    for name, value in page.meta:
        if name.lower() == "tdm-reservation" and _tdm(value) is not None:
            tdm = _tdm(value)
    if tdm == 1:
        found.add("tdmrep")
    for name, value in page.meta:
        if name.lower() in ("robots", OUR_TOKEN.lower()):
            if {d.strip().lower() for d in value.split(",")} & REFUSING:
                found.add("html_meta")
    if any(n.lower() == "x-robots-tag" and directives_refuse(v) for n, v in headers):
        found.add("x_robots_tag")
    if img.spec and img.spec.xmp and img.spec.xmp.startswith("DMI-PROHIBITED"):
        found.add("iptc_xmp")
    if img.spec and any(use in ("notAllowed", "constrained") for _, use in img.spec.c2pa):
        found.add("c2pa")
    return [r for r in PRECEDENCE if r in found]


def _corpus_failure(img) -> str | None:
    from PIL import Image

    try:
        with Image.open(img.corpus_file) as im:
            w, h = im.size
    except Exception:
        return "decode_error"
    return "decompression_bomb" if w * h > MAX_PIXELS else None


def _status(reason: str) -> str:
    return "failed" if reason == "robots_unreachable" else "refused"


def truth_rows(site) -> list[dict]:
    cases = {c.name: c for c in hostile_mod.CASES}
    rows = []
    for (host, path), img in site.images.items():
        reasons = reasons_for(site, img)
        expect, reason = (_status(reasons[0]), reasons[0]) if reasons else ("success", None)
        case = img.hostile or (img.spec.note if img.spec else "")
        if not reasons and img.hostile in cases:
            c = cases[img.hostile]
            expect, reason = c.expect, c.reason
        elif not reasons and img.corpus_file is not None:
            failure = _corpus_failure(img)
            if failure:
                expect, reason = "failed", failure
        rows.append(
            {
                "url": site.url(host, path),
                "page_url": site.url(img.page_host, img.page_path),
                "caption": img.caption,
                "expect": expect,
                "reason": reason,
                "reasons": reasons,
                "case": case,
                "label": img.label,  # "unsafe" stand-ins, for safety heads
                "duplicate_of": site.url(host, img.copy_of) if img.copy_of else None,  # near-duplicates
                "mismatch": img.mismatch,  # alt text not about the image (the CLIP-score filter's target)
            }
        )
    return rows
