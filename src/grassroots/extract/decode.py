"""HTTP payload decoding for one WARC response record, record by record.

fastwarc's ``auto_decode`` stops the whole file at the first record whose
``Content-Encoding`` does not match its body (a crawler that stored the decoded
body but kept the header, as ClueWeb09 did): its iterator cannot go past it.
So the reader reads the raw payload and decodes it here; only records that
declare an encoding pay for this (Common Crawl stores payloads decoded and
renames the headers, so most records never reach this module).
"""

from __future__ import annotations

import io
import zlib

_IDENTITY = frozenset({"", "identity", "none"})


class DecodeError(ValueError):
    """The payload does not decode as its headers say; the message says why."""


def encodings(content_encoding: str | None, transfer_encoding: str | None) -> tuple[list[str], bool]:
    """(content codings to undo, outermost first; whether the body is chunked)."""
    codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
    codings = [c for c in codings if c not in _IDENTITY]
    chunked = "chunked" in (transfer_encoding or "").lower()
    return codings[::-1], chunked


def decode_body(raw: bytes, codings: list[str], chunked: bool, limit: int) -> bytes:
    """``raw`` with chunking and then each content coding undone; at most
    ``limit`` bytes of output (a truncated compressed stream gives what it holds)."""
    from fastwarc.stream_io import BrotliReader, ChunkedReader, ZstdReader

    data = raw
    if chunked:
        data = _read(ChunkedReader, data, len(data), "Transfer-Encoding chunked")
    for coding in codings:
        if coding in ("gzip", "x-gzip", "deflate"):
            data = _inflate(data, coding, limit)
        elif coding == "br":
            data = _read(BrotliReader, data, limit, "Content-Encoding br")
        elif coding == "zstd":
            data = _read(ZstdReader, data, limit, "Content-Encoding zstd")
        else:
            raise DecodeError(f"unknown Content-Encoding {coding!r}")
    return data[:limit]


def _inflate(data: bytes, coding: str, limit: int) -> bytes:
    # wbits 47: gzip or zlib header, detected; some servers send raw deflate for "deflate"
    for wbits in (47, -15) if coding == "deflate" else (47,):
        try:
            return zlib.decompressobj(wbits=wbits).decompress(data, limit)
        except zlib.error as e:
            error = e
    raise DecodeError(f"Content-Encoding {coding}: {error}")


def _read(reader_class, data: bytes, limit: int, what: str) -> bytes:
    try:
        return reader_class(io.BytesIO(data)).read(limit)
    except OSError as e:
        raise DecodeError(f"{what}: {str(e)[:80]}") from e


def looks_like_html(body: bytes) -> bool:
    """Whether the first KB of ``body`` has an HTML tag a browser would sniff."""
    head = body[:1024].lower()
    return any(tag in head for tag in (b"<html", b"<!doctype html", b"<head", b"<body", b"<img"))
