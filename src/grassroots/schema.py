"""Every table's columns, the Status and Reason enums, and make_key().

One schema for the whole project: stages pass pyarrow tables or the dataclasses
below, never free-form dicts. Sample columns keep img2dataset's names where they
exist (key, url, caption, status, error_message, width, height, original_width,
original_height, sha256) and add ours.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import pyarrow as pa


class Status(str, enum.Enum):
    """How a candidate left a stage. Exactly one per row."""

    SUCCESS = "success"
    FAILED = "failed"  # we tried and could not (network, decode, caps)
    REFUSED = "refused"  # a rights signal or blocklist said no
    FILTERED = "filtered"  # a quality / dedup rule dropped it


class Reason(str, enum.Enum):
    """Why a candidate was not kept. The value is what the ledger stores."""

    # --- extract: quality rules (status filtered) -------------------------------
    CAPTION_TOO_SHORT = "caption_too_short"
    BAD_SCHEME = "bad_scheme"  # data:, javascript:, ftp:, ... (non http/https)
    NON_CONTENT_IMAGE = "non_content_image"  # tracking pixel, icon, sprite
    DUPLICATE = "duplicate"  # same (url, caption) already seen in this run
    # --- download: image rules (status filtered) --------------------------------
    IMAGE_TOO_SMALL = "image_too_small"
    ASPECT_RATIO = "aspect_ratio"
    # --- download: failures (status failed) -------------------------------------
    INVALID_URL = "invalid_url"
    BLOCKED_ADDRESS = "blocked_address"  # SSRF guard: private/loopback/metadata
    DNS_ERROR = "dns_error"
    CONNECT_ERROR = "connect_error"
    CONNECTION_RESET = "connection_reset"
    TIMEOUT = "timeout"
    HTTP_ERROR = "http_error"  # 4xx other than 429
    SERVER_ERROR = "server_error"  # 5xx
    RATE_LIMITED = "rate_limited"  # 429 / 503 with retries exhausted
    TOO_MANY_REDIRECTS = "too_many_redirects"
    REDIRECT_LOOP = "redirect_loop"
    TOO_LARGE = "too_large"  # body over the byte cap
    EMPTY_BODY = "empty_body"
    NOT_AN_IMAGE = "not_an_image"  # HTML or other non-image content
    DECODE_ERROR = "decode_error"  # truncated / corrupt image
    DECOMPRESSION_BOMB = "decompression_bomb"  # over the pixel cap (from header)
    HASH_MISMATCH = "hash_mismatch"  # --verify-hash: the bytes are not the ones the list names
    ENCODE_ERROR = "encode_error"
    WATCHDOG = "watchdog"  # the shard's time bound expired before the row finished
    INTERNAL_ERROR = "internal_error"  # a bug met on this row; the message has the exception
    # --- rights (status refused); see specs/rights.md ---------------------------
    REGISTRY = "registry"  # user-supplied opt-out registry
    ROBOTS_TXT = "robots_txt"
    # robots.txt could not be read (5xx, timeout): RFC 9309 says disallow all, but
    # it is not a creator's opt-out, so it is a transient failure, not a refusal.
    ROBOTS_UNREACHABLE = "robots_unreachable"
    X_ROBOTS_TAG = "x_robots_tag"
    HTML_META = "html_meta"  # page <meta name="robots"> / bot-named meta
    TDMREP = "tdmrep"
    AI_TXT = "ai_txt"
    IPTC_XMP = "iptc_xmp"
    C2PA = "c2pa"
    HASH_BLOCKLIST = "hash_blocklist"
    # --- takedown (status refused): removed from a release on request (grassroots.takedown)
    TAKEDOWN = "takedown"

    @property
    def status(self) -> Status:
        return REASON_STATUS[self]


_FILTERED = {
    Reason.CAPTION_TOO_SHORT,
    Reason.BAD_SCHEME,
    Reason.NON_CONTENT_IMAGE,
    Reason.DUPLICATE,
    Reason.IMAGE_TOO_SMALL,
    Reason.ASPECT_RATIO,
}
_REFUSED = {
    Reason.REGISTRY,
    Reason.ROBOTS_TXT,
    Reason.X_ROBOTS_TAG,
    Reason.HTML_META,
    Reason.TDMREP,
    Reason.AI_TXT,
    Reason.IPTC_XMP,
    Reason.C2PA,
    Reason.HASH_BLOCKLIST,
    Reason.TAKEDOWN,
}
REASON_STATUS: dict[Reason, Status] = {
    r: Status.FILTERED if r in _FILTERED else Status.REFUSED if r in _REFUSED else Status.FAILED
    for r in Reason
}

SELECTION_PREFIX = "filtered:"


def selection_reason(clause: str) -> str:
    """The reason of a sample that ``select`` dropped: ``filtered:<clause name>``
    (e.g. filtered:clip). Its status is always ``filtered``."""
    return f"{SELECTION_PREFIX}{clause}"


def reason_value(reason: "Reason | str") -> str:
    """A ledger reason: a Reason's value, or a selection reason; anything else is a bug."""
    if isinstance(reason, str) and reason.startswith(SELECTION_PREFIX):
        return reason
    return Reason(reason).value


def status_of(reason: str) -> Status:
    return Status.FILTERED if reason.startswith(SELECTION_PREFIX) else REASON_STATUS[Reason(reason)]


# Failures worth another try with --retry-failed (never refusals).
TRANSIENT_REASONS = frozenset(
    {
        Reason.TIMEOUT,
        Reason.CONNECT_ERROR,
        Reason.CONNECTION_RESET,
        Reason.SERVER_ERROR,
        Reason.RATE_LIMITED,
        Reason.DNS_ERROR,
        Reason.WATCHDOG,
        Reason.INTERNAL_ERROR,  # worth another try once the bug is fixed
        Reason.ROBOTS_UNREACHABLE,
    }
)

KEY_ROW_WIDTH = 4


def make_key(shard: int, row: int, row_width: int = KEY_ROW_WIDTH) -> str:
    """Digits-only sample key: shard number then row number, zero-padded.

    Never contains a dot (webdataset splits member names at the first dot).
    ``row_width`` must be the same for the whole dataset.
    """
    if shard < 0 or row < 0:
        raise ValueError(f"shard and row must be >= 0, got {shard}, {row}")
    if row >= 10**row_width:
        raise ValueError(f"row {row} does not fit in {row_width} digits")
    return f"{shard:05d}{row:0{row_width}d}"


# Candidate: one image-text pair found on a page (extract) or one input row (URL list).
CANDIDATE_SCHEMA = pa.schema(
    [
        pa.field("url", pa.string(), nullable=False),
        pa.field("caption", pa.string()),
        pa.field("page_url", pa.string()),
        pa.field("page_title", pa.string()),
        pa.field("page_lang", pa.string()),
        pa.field("warc_record_id", pa.string()),
        pa.field("crawl_date", pa.string()),  # ISO 8601 as in WARC-Date
        # Page-level rights signals seen by extract, as "protocol:value" strings,
        # e.g. "html_meta:noimageai", "tdmrep:1", "tdm-policy:https://...".
        pa.field("page_signals", pa.list_(pa.string())),
        pa.field("license", pa.string()),  # rel=license / Creative Commons URL
        pa.field("context", pa.string()),  # nearby text, optional
    ]
)

# Sample: one row per candidate after download, kept or not.
SAMPLE_SCHEMA = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("caption", pa.string()),
        pa.field("status", pa.string(), nullable=False),
        pa.field("reason", pa.string()),  # null for success
        pa.field("error_message", pa.string()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("original_width", pa.int32()),
        pa.field("original_height", pa.int32()),
        pa.field("sha256", pa.string()),
        pa.field("md5", pa.string()),
        pa.field("pdq", pa.string()),  # 64 hex chars
        pa.field("pdq_quality", pa.int32()),
        pa.field("page_url", pa.string()),
        pa.field("domain", pa.string()),  # registrable domain (eTLD+1) of url
        pa.field("final_url", pa.string()),  # after redirects
        pa.field("fetched_at", pa.timestamp("ms", tz="UTC")),
        pa.field("http_status", pa.int32()),
        pa.field("content_type", pa.string()),
        pa.field("bytes", pa.int64()),  # original response body size
        pa.field("download_seconds", pa.float32()),
        # Every rights signal seen, permissive and unknown ones too, as
        # "protocol:outcome:detail" strings (see grassroots.rights).
        pa.field("rights", pa.list_(pa.string())),
        pa.field("license", pa.string()),
        pa.field("page_signals", pa.list_(pa.string())),
        pa.field("page_lang", pa.string()),  # from extract (score's caption attributes use it)
    ]
)


@dataclass(frozen=True)
class Candidate:
    """One candidate row (CANDIDATE_SCHEMA), typed, plus the extra input columns
    a user asked to keep (``--keep-cols``), carried into the ledger as they are."""

    url: str
    caption: str | None = None
    page_url: str | None = None
    page_title: str | None = None
    page_lang: str | None = None
    warc_record_id: str | None = None
    crawl_date: str | None = None
    page_signals: tuple[str, ...] | None = None
    license: str | None = None
    context: str | None = None
    extra: tuple[tuple[str, object], ...] = ()

    @classmethod
    def rows_of(cls, table: pa.Table) -> "list[Candidate]":
        names = set(CANDIDATE_SCHEMA.names)
        out = []
        for r in table.to_pylist():
            signals = r.get("page_signals")
            out.append(cls(
                url=r.get("url") or "", caption=r.get("caption"), page_url=r.get("page_url"),
                page_title=r.get("page_title"), page_lang=r.get("page_lang"),
                warc_record_id=r.get("warc_record_id"), crawl_date=r.get("crawl_date"),
                page_signals=tuple(signals) if signals is not None else None, license=r.get("license"),
                context=r.get("context"), extra=tuple((k, v) for k, v in r.items() if k not in names),
            ))
        return out
