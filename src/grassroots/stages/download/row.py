"""The download step's per-row decision chain, and the one function that turns
its outcome into a ledger row.

``decide_row`` is a plain async function: a Candidate in, an Outcome out
(kept, or one Reason with a message), in the order the rights spec asks for:
never-fetchable URLs and pre-fetch opt-outs before any request, redirects
re-checked hop by hop, post-fetch opt-outs before anything is written.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
from dataclasses import dataclass, field

from grassroots.fetch.client import Fetcher, FetchResult
from grassroots.imaging.hashes import md5_hex, pdq, sha256_hex
from grassroots.imaging.resize import ImageConfig, ImageResult, process_image
from grassroots.schema import Candidate, Reason, Status
from grassroots.urls import registrable_domain


@dataclass
class Outcome:
    """What happened to one candidate: ``reason`` None means kept (``image`` holds it)."""

    reason: Reason | None = None
    message: str | None = None
    image: ImageResult | None = None
    rights: list[str] | None = None
    columns: dict = field(default_factory=dict)  # fetch and hash columns of SAMPLE_SCHEMA


HASHES = ("md5", "sha256", "sha512")


def hash_mismatch(cand: Candidate, body: bytes, verify: tuple[str, str] | None) -> str | None:
    """Why the bytes are not the ones the input's hash column names; None if they are
    (or nothing to verify: no --verify-hash, or an empty hash in this row)."""
    if verify is None:
        return None
    col, algo = verify
    expected = dict(cand.extra).get(col)
    if not expected:
        return None
    got = hashlib.new(algo, body).hexdigest()
    if got != str(expected).strip().lower():
        return f"{algo} of the response is {got}, the list says {expected} (column {col})"
    return None


async def decide_row(cand: Candidate, fetcher: Fetcher, rights, pool, image_cfg: ImageConfig,
                     with_md5: bool, with_pdq: bool, verify: tuple[str, str] | None = None) -> Outcome:
    url, page, signals = cand.url, cand.page_url, list(cand.page_signals or ())
    never = await fetcher.precheck(url)  # invalid URL or refused address: no request at all
    if never is not None:
        return Outcome(*never)
    try:
        pre = await rights.pre_fetch(url, page, signals)
    except ValueError as e:  # not an absolute http(s) URL: nothing to check or fetch
        return Outcome(Reason.INVALID_URL, f"{e}")
    if pre.final_before_fetch:  # refused before any request for the image itself
        return Outcome(pre.reason, refusal_message(pre), rights=pre.rights())

    async def before_redirect(next_url: str):
        """A redirect to another URL is a new fetch: its host's opt-outs apply first."""
        if await fetcher.precheck(next_url) is not None:
            return None  # the fetcher itself refuses it (blocked address, invalid URL)
        try:
            hop = await rights.pre_fetch(next_url, page, signals)
        except ValueError:
            return None  # the fetcher fails it as invalid_url
        return hop if hop.final_before_fetch else None

    res = await fetcher.fetch(url, before_redirect=before_redirect)
    cols = fetch_columns(res)
    if res.stopped_by is not None:
        hop = res.stopped_by
        return Outcome(hop.reason, f"redirect to {res.final_url} refused: {refusal_message(hop)}",
                       rights=pre.rights() + hop.rights(), columns=cols)
    if not res.ok:
        return Outcome(res.error, res.message, rights=pre.rights(), columns=cols)
    mismatch = hash_mismatch(cand, res.body, verify)
    if mismatch:
        return Outcome(Reason.HASH_MISMATCH, mismatch, rights=pre.rights(), columns=cols)
    loop = asyncio.get_running_loop()
    img = await loop.run_in_executor(pool, functools.partial(process_image, res.body, image_cfg, res.content_type))
    cols.update(original_width=img.original_width, original_height=img.original_height,
                sha256=sha256_hex(res.body), md5=md5_hex(res.body) if with_md5 else None)
    if img.error is None and with_pdq:
        cols["pdq"], cols["pdq_quality"] = await loop.run_in_executor(pool, pdq, img.image)
    post = await loop.run_in_executor(pool, functools.partial(
        rights.post_fetch, pre, list(res.headers.items()), res.body, res.content_type,
        pdq=cols.get("pdq"), pdq_quality=cols.get("pdq_quality"), sha256=cols["sha256"], md5=cols.get("md5")))
    if post.refused:  # before anything is written: refused bytes go nowhere
        return Outcome(post.reason, refusal_message(post), rights=post.rights(), columns=cols)
    if img.error is not None:
        return Outcome(img.error, img.message, rights=post.rights(), columns=cols)
    return Outcome(None, image=img, rights=post.rights(), columns=cols)


def ledger_row(key: str, cand: Candidate, out: Outcome) -> dict:
    """The ledger row (SAMPLE_SCHEMA + kept extra columns) of a candidate's outcome."""
    row = {"key": key, "url": cand.url, "caption": cand.caption, "page_url": cand.page_url,
           "license": cand.license, "page_lang": cand.page_lang, "page_signals": list(cand.page_signals) if cand.page_signals is not None else None,
           "domain": registrable_domain(cand.url), **dict(cand.extra), **out.columns,
           "rights": out.rights, "error_message": out.message}
    if out.reason is None:
        row.update(status=Status.SUCCESS.value, reason=None, width=out.image.width, height=out.image.height)
    else:
        row.update(status=out.reason.status.value, reason=out.reason.value)
    if out.reason is Reason.HASH_BLOCKLIST and ILLEGAL in (out.message or ""):
        row = hashes_only(row)
    return row


ILLEGAL = "illegal-content list"  # grassroots.rights.blocklist's prefix of a hit on such a list
# What a row refused by an illegal-content hash list keeps: its key, status, hashes and the
# URL's sha256 (in the message), nothing else (no URL, caption, page, rights signals).
HASH_ONLY_KEPT = ("key", "status", "reason", "sha256", "md5", "pdq", "pdq_quality", "fetched_at")


def hashes_only(row: dict) -> dict:
    from grassroots.rights.blocklist import url_hash

    try:
        digest = url_hash(row["url"])
    except ValueError:
        digest = "?"
    out = {k: (v if k in HASH_ONLY_KEPT else None) for k, v in row.items()}
    out["url"] = ""  # not nullable
    out["error_message"] = f"{ILLEGAL}; url_sha256 {digest} (hashes only)"
    return out


def sample_json(ledger: dict) -> dict:
    """The KEY.json of a kept sample: its ledger row without empty columns."""
    meta = {k: v for k, v in ledger.items() if v is not None and k != "fetched_at"}
    meta["fetched_at"] = ledger["fetched_at"].isoformat() if ledger.get("fetched_at") else None
    return meta


def refusal_message(verdict) -> str:
    return "; ".join(s.to_str() for s in verdict.refusals)


def fetch_columns(res: FetchResult) -> dict:
    return {
        "final_url": res.final_url if res.final_url != res.url else None,
        "http_status": res.status,
        "content_type": res.content_type,
        "bytes": len(res.body) if res.body else None,
        "download_seconds": round(res.seconds, 4),
        "fetched_at": dt.datetime.now(dt.timezone.utc),
    }
