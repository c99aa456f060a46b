"""IPTC PLUS plus:DataMining in XMP: three containers, namespace not prefix, every value."""

from __future__ import annotations

import io
import zlib

import pytest
from PIL import Image, PngImagePlugin

from grassroots.rights.signals import Outcome
from grassroots.rights.xmp import xmp_packets, xmp_signal
from grassroots.schema import Reason

PLUS = "http://ns.useplus.org/ldf/xmp/1.0/"
VOCAB = "http://ns.useplus.org/ldf/vocab/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


def xmp(body: str, prefix: str = "plus", ns: str = PLUS) -> bytes:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{RDF}">'
        f'<rdf:Description rdf:about="" xmlns:{prefix}="{ns}" {body.format(p=prefix)}'
        "</rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()


def attr_form(value: str, **kw) -> bytes:
    return xmp('{p}:DataMining="' + value + '"/>', **kw)


def element_form(inner: str) -> bytes:
    return xmp("><{p}:DataMining" + inner + "</{p}:DataMining></rdf:Description>")


def jpeg(packet: bytes | None) -> bytes:
    b = io.BytesIO()
    kw = {"xmp": packet} if packet else {}
    Image.new("RGB", (8, 8), "blue").save(b, "JPEG", **kw)
    return b.getvalue()


def png(packet: bytes, compress: bool = False) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", packet.decode(), zip=compress)
    b = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(b, "PNG", pnginfo=info)
    return b.getvalue()


def webp(packet: bytes) -> bytes:
    b = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(b, "WEBP", xmp=packet)
    return b.getvalue()


PROHIBITED = [
    "DMI-PROHIBITED",
    "DMI-PROHIBITED-AIMLTRAINING",
    "DMI-PROHIBITED-GENAIMLTRAINING",
    "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING",
    "DMI-PROHIBITED-SEECONSTRAINT",
    "DMI-PROHIBITED-SEEEMBEDDEDRIGHTSEXPR",
    "DMI-PROHIBITED-SEELINKEDRIGHTSEXPR",
]


@pytest.mark.parametrize("container", [jpeg, png, webp, lambda p: png(p, compress=True)])
def test_all_three_containers(container):
    s = xmp_signal(container(attr_form(VOCAB + "DMI-PROHIBITED-AIMLTRAINING")))
    assert s.refused and s.reason is Reason.IPTC_XMP and s.detail == "DMI-PROHIBITED-AIMLTRAINING"
    assert xmp_signal(container(attr_form(VOCAB + "DMI-ALLOWED"))).outcome is Outcome.ALLOWED


@pytest.mark.parametrize("value", PROHIBITED)
def test_every_prohibited_value_refuses(value):
    assert xmp_signal(jpeg(attr_form(VOCAB + value))).refused
    assert xmp_signal(jpeg(attr_form(value))).refused  # bare value


def test_allowed_unspecified_absent():
    assert xmp_signal(jpeg(attr_form(VOCAB + "DMI-ALLOWED"))).outcome is Outcome.ALLOWED
    assert xmp_signal(jpeg(attr_form(VOCAB + "DMI-UNSPECIFIED"))).outcome is Outcome.UNKNOWN
    assert xmp_signal(jpeg(xmp("/>"))).outcome is Outcome.UNKNOWN  # XMP without the property
    stripped = xmp_signal(jpeg(None))
    assert stripped.outcome is Outcome.UNKNOWN and stripped.detail == "no XMP"


def test_namespace_not_prefix():
    assert xmp_signal(jpeg(attr_form(VOCAB + "DMI-PROHIBITED", prefix="foo"))).refused
    wrong_ns = attr_form(VOCAB + "DMI-PROHIBITED", ns="http://example.com/not-plus/")
    assert xmp_signal(jpeg(wrong_ns)).outcome is Outcome.UNKNOWN


@pytest.mark.parametrize(
    "inner",
    [
        f' rdf:resource="{VOCAB}DMI-PROHIBITED-GENAIMLTRAINING">',
        f">{VOCAB}DMI-PROHIBITED-GENAIMLTRAINING",
        ">DMI-PROHIBITED-GENAIMLTRAINING",
        f'><rdf:Description><rdf:value rdf:resource="{VOCAB}DMI-PROHIBITED-GENAIMLTRAINING"/></rdf:Description>',
        f"><rdf:Bag><rdf:li>{VOCAB}DMI-PROHIBITED-GENAIMLTRAINING</rdf:li></rdf:Bag>",
    ],
)
def test_element_forms(inner):
    s = xmp_signal(jpeg(element_form(inner)))
    assert s.refused and s.detail == "DMI-PROHIBITED-GENAIMLTRAINING"


def test_prohibited_wins_over_allowed_anywhere():
    packet = element_form(f"><rdf:Bag><rdf:li>{VOCAB}DMI-ALLOWED</rdf:li><rdf:li>DMI-PROHIBITED</rdf:li></rdf:Bag>")
    assert xmp_signal(webp(packet)).refused


def test_hostile_or_broken_xml_is_unknown():
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&a;</x:xmpmeta>'
    assert xmp_signal(jpeg(bomb)).outcome is Outcome.UNKNOWN
    assert xmp_signal(jpeg(b"<x:xmpmeta not xml")).outcome is Outcome.UNKNOWN


def test_jpeg_extended_xmp_reassembled():
    main = attr_form(VOCAB + "DMI-ALLOWED")
    ext = attr_form(VOCAB + "DMI-PROHIBITED")
    guid = b"0" * 32
    segments = b""
    for offset in (0, 40):
        part = ext[offset : offset + 40] if offset == 0 else ext[40:]
        payload = b"http://ns.adobe.com/xmp/extension/\x00" + guid + len(ext).to_bytes(4, "big") + offset.to_bytes(4, "big") + part
        segments += b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    base = jpeg(main)
    data = base[:2] + segments + base[2:]
    assert len(xmp_packets(data)) == 2
    assert xmp_signal(data).refused


def test_png_ztxt_and_gif_fallback():
    packet = attr_form("DMI-PROHIBITED")
    b = io.BytesIO()
    Image.new("RGB", (8, 8)).save(b, "PNG")
    raw = b.getvalue()
    body = b"XML:com.adobe.xmp\x00\x00" + zlib.compress(packet)
    chunk = len(body).to_bytes(4, "big") + b"zTXt" + body + zlib.crc32(b"zTXt" + body).to_bytes(4, "big")
    assert xmp_signal(raw[:33] + chunk + raw[33:]).refused
    gif = b"GIF89a" + b"\x00" * 20 + packet + b"\x3b"
    assert xmp_signal(gif).refused


def test_truncated_containers_do_not_crash():
    for data in (jpeg(attr_form("DMI-PROHIBITED"))[:30], png(attr_form("DMI-PROHIBITED"))[:40], b"RIFF\x00\x00\x00\x00WEBPXMP ", b""):
        assert xmp_signal(data).outcome in (Outcome.UNKNOWN, Outcome.REFUSED)
