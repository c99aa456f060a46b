import struct

import pytest
from defusedxml import ElementTree

from grassroots.miniweb.metadata import PLUS_NS, VOCAB, read_training_mining, xmp_packet

from .helpers import fetch


def jpeg_xmp(data: bytes) -> bytes | None:
    i = 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2 : i + 4])[0]
        seg = data[i + 4 : i + 2 + length]
        if marker == 0xE1 and seg.startswith(b"http://ns.adobe.com/xap/1.0/\x00"):
            return seg[len(b"http://ns.adobe.com/xap/1.0/\x00") :]
        if marker == 0xDA:
            break
        i += 2 + length
    return None


def png_xmp(data: bytes) -> bytes | None:
    i = 8
    while i < len(data):
        n, kind = struct.unpack(">I4s", data[i : i + 8])
        body = data[i + 8 : i + 8 + n]
        if kind == b"iTXt" and body.startswith(b"XML:com.adobe.xmp\x00"):
            rest = body[len(b"XML:com.adobe.xmp\x00") + 2 :]  # skip compression flag + method
            _lang, _translated, text = rest.split(b"\x00", 2)
            return text
        i += 12 + n
    return None


def webp_xmp(data: bytes) -> bytes | None:
    i = 12
    while i + 8 <= len(data):
        kind, n = data[i : i + 4], struct.unpack("<I", data[i + 4 : i + 8])[0]
        if kind == b"XMP ":
            return data[i + 8 : i + 8 + n]
        i += 8 + n + (n & 1)
    return None


def data_mining(packet: bytes) -> str:
    root = ElementTree.fromstring(packet)
    for el in root.iter():
        for k, v in el.attrib.items():
            if k == f"{{{PLUS_NS}}}DataMining":
                return v
        if el.tag == f"{{{PLUS_NS}}}DataMining":
            return el.attrib.get("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}resource") or el.text
    raise AssertionError("no plus:DataMining")


@pytest.mark.parametrize(
    "path, extract, value",
    [
        ("/xmp/aiml.jpg", jpeg_xmp, VOCAB + "DMI-PROHIBITED-AIMLTRAINING"),
        ("/xmp/prohibited.png", png_xmp, VOCAB + "DMI-PROHIBITED"),
        ("/xmp/genai.webp", webp_xmp, VOCAB + "DMI-PROHIBITED-GENAIMLTRAINING"),
        ("/xmp/allowed.jpg", jpeg_xmp, VOCAB + "DMI-ALLOWED"),
        ("/xmp/other-prefix.jpg", jpeg_xmp, VOCAB + "DMI-PROHIBITED-SEECONSTRAINT"),
        ("/xmp/bare.png", png_xmp, "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING"),
    ],
)
def test_xmp_embedded_as_documented(web, path, extract, value):
    status, _, data = fetch(web.base_urls[7] + path)
    assert status == 200
    packet = extract(data)
    assert packet is not None, "XMP packet missing"
    assert data_mining(packet) == value


def test_plain_images_carry_no_xmp(web):
    url = next(u for u in web.image_urls() if "/img/p0-" in u and u.endswith(".jpg"))
    assert jpeg_xmp(fetch(url)[2]) is None


def test_xmp_forms_parse():
    for form in ("attribute", "element", "resource", "bare", "prefix"):
        v = data_mining(xmp_packet("DMI-PROHIBITED", form))
        assert v.endswith("DMI-PROHIBITED")


@pytest.mark.parametrize(
    "path, mime, expected",
    [
        ("/c2pa/not-allowed.jpg", "image/jpeg", {"c2pa.training-mining": {"c2pa.ai_training": "notAllowed", "c2pa.data_mining": "allowed"}}),
        ("/c2pa/constrained.png", "image/png", {"cawg.training-mining": {"cawg.ai_generative_training": "constrained"}}),
        ("/c2pa/allowed.webp", "image/webp", {"c2pa.training-mining": {"c2pa.ai_training": "allowed"}, "cawg.training-mining": {"cawg.data_mining": "allowed"}}),
    ],
)
def test_c2pa_manifest_readable(web, path, mime, expected):
    status, headers, data = fetch(web.base_urls[7] + path)
    assert status == 200 and headers["content-type"] == mime
    got = read_training_mining(data, mime)
    assert {label: {e: v["use"] for e, v in a["entries"].items()} for label, a in got.items()} == expected
