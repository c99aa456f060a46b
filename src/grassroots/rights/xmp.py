"""IPTC PLUS ``plus:DataMining`` from the XMP packet embedded in an image.

The container is scanned directly (no pixel decode):
- JPEG: APP1 segments ``http://ns.adobe.com/xap/1.0/\\0`` (and Extended XMP
  ``http://ns.adobe.com/xmp/extension/\\0``, reassembled), up to the first SOS;
- PNG: ``iTXt`` (also ``tEXt``/``zTXt``) chunks with keyword ``XML:com.adobe.xmp``;
- WebP: the ``XMP `` RIFF chunk;
- anything else: the raw ``<x:xmpmeta ...</x:xmpmeta>`` packet if present (GIF, TIFF, ...).

Packets are parsed with defusedxml. The property is found by namespace URI
(``http://ns.useplus.org/ldf/xmp/1.0/``), whatever the prefix, in attribute form,
element form (text, ``rdf:resource``, ``rdf:value``, rdf:Bag/Seq/Alt items).
Values may be vocabulary URIs or bare codes. Any ``DMI-PROHIBITED*`` refuses,
``DMI-ALLOWED`` is allowed, ``DMI-UNSPECIFIED``/other/absent is unknown.
"""

from __future__ import annotations

import zlib

from defusedxml import ElementTree

from grassroots.rights.signals import Signal, allowed, refused, unknown
from grassroots.schema import Reason

PLUS_NS = "http://ns.useplus.org/ldf/xmp/1.0/"
DATA_MINING = f"{{{PLUS_NS}}}DataMining"
RDF_RESOURCE = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}resource"
_JPEG_XMP = b"http://ns.adobe.com/xap/1.0/\x00"
_JPEG_EXT_XMP = b"http://ns.adobe.com/xmp/extension/\x00"
_PNG_KEYWORD = b"XML:com.adobe.xmp"
_MAX_INFLATE = 4 * 1024 * 1024


def _jpeg_packets(data: bytes) -> list[bytes]:
    packets: list[bytes] = []
    extended: dict[bytes, dict[int, bytes]] = {}
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            break
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # no length
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # EOI / start of scan: metadata is over
            break
        size = int.from_bytes(data[i + 2 : i + 4], "big")
        payload = data[i + 4 : i + 2 + size]
        if marker == 0xE1 and payload.startswith(_JPEG_XMP):
            packets.append(payload[len(_JPEG_XMP) :])
        elif marker == 0xE1 and payload.startswith(_JPEG_EXT_XMP):
            rest = payload[len(_JPEG_EXT_XMP) :]  # GUID(32) total(4) offset(4) data
            if len(rest) > 40:
                offset = int.from_bytes(rest[36:40], "big")
                extended.setdefault(rest[:32], {})[offset] = rest[40:]
        i += 2 + size
    for parts in extended.values():
        packets.append(b"".join(parts[k] for k in sorted(parts)))
    return packets


def _inflate(data: bytes) -> bytes:
    try:
        return zlib.decompressobj().decompress(data, _MAX_INFLATE)
    except zlib.error:
        return b""


def _png_packets(data: bytes) -> list[bytes]:
    packets = []
    i = 8
    while i + 8 <= len(data):
        size = int.from_bytes(data[i : i + 4], "big")
        kind = data[i + 4 : i + 8]
        body = data[i + 8 : i + 8 + size]
        i += 12 + size
        if kind not in (b"iTXt", b"tEXt", b"zTXt"):
            if kind == b"IEND":
                break
            continue
        keyword, _, rest = body.partition(b"\x00")
        if keyword != _PNG_KEYWORD:
            continue
        if kind == b"tEXt":
            packets.append(rest)
        elif kind == b"zTXt":
            packets.append(_inflate(rest[1:]))
        else:  # iTXt: flag, method, language\0, translated keyword\0, text
            compressed = rest[:1] == b"\x01"
            text = rest[2:].split(b"\x00", 2)[-1]
            packets.append(_inflate(text) if compressed else text)
    return packets


def _webp_packets(data: bytes) -> list[bytes]:
    packets = []
    i = 12
    while i + 8 <= len(data):
        kind = data[i : i + 4]
        size = int.from_bytes(data[i + 4 : i + 8], "little")
        if kind == b"XMP ":
            packets.append(data[i + 8 : i + 8 + size])
        i += 8 + size + (size & 1)
    return packets


def _raw_packets(data: bytes) -> list[bytes]:
    start = data.find(b"<x:xmpmeta")
    end = data.find(b"</x:xmpmeta>", start)
    return [data[start : end + len(b"</x:xmpmeta>")]] if start >= 0 and end > start else []


def xmp_packets(data: bytes) -> list[bytes]:
    """Every XMP packet embedded in the image bytes (may be empty)."""
    if data.startswith(b"\xff\xd8"):
        return _jpeg_packets(data)
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png_packets(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_packets(data)
    return _raw_packets(data)


def _values(element) -> list[str]:
    out = [element.get(RDF_RESOURCE) or ""]
    for node in element.iter():
        out.append(node.get(RDF_RESOURCE) or "")
        out.append(node.text or "")
    return [v.strip() for v in out if v and v.strip()]


def data_mining_values(packet: bytes) -> list[str] | None:
    """All plus:DataMining values in one packet; None if it does not parse."""
    start = packet.find(b"<")
    try:
        root = ElementTree.fromstring(packet[start:].rstrip(b"\x00 \t\r\n"))
    except Exception:  # ParseError, defusedxml's forbidden DTD/entities, encoding errors
        return None
    values: list[str] = []
    for element in root.iter():
        if DATA_MINING in element.attrib:
            values.append(element.attrib[DATA_MINING].strip())
        if element.tag == DATA_MINING:
            values.extend(_values(element))
    return values


def _code(value: str) -> str:
    upper = value.upper()
    at = upper.find("DMI-")
    return upper[at:].rstrip("/") if at >= 0 else upper


def xmp_signal(data: bytes) -> Signal:
    packets = xmp_packets(data)
    if not packets:
        return unknown(Reason.IPTC_XMP, "no XMP")
    codes: list[str] = []
    unparsable = 0
    for packet in packets:
        values = data_mining_values(packet)
        if values is None:
            unparsable += 1
        else:
            codes.extend(_code(v) for v in values)
    prohibited = [c for c in codes if c.startswith("DMI-PROHIBITED")]
    if prohibited:
        return refused(Reason.IPTC_XMP, prohibited[0])
    if "DMI-ALLOWED" in codes:
        return allowed(Reason.IPTC_XMP, "DMI-ALLOWED")
    if codes:
        return unknown(Reason.IPTC_XMP, codes[0])
    return unknown(Reason.IPTC_XMP, "XMP unparsable" if unparsable else "no plus:DataMining")
