"""Decode / resize / encode like img2dataset, with bombs refused from the header."""

import io
import struct
import zlib

import pytest
from PIL import Image

from grassroots.imaging.hashes import pdq
from grassroots.rights.blocklist import Blocklist
from grassroots.imaging.resize import EncodeFormat, ImageConfig, ResizeMode, process_image
from grassroots.schema import Reason


def encode(img, fmt="JPEG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def png_header_only(w: int, h: int) -> bytes:
    """A tiny PNG whose header declares w x h pixels (a decompression bomb)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")


SRC = encode(Image.new("RGB", (1000, 500), (10, 200, 30)))


@pytest.mark.parametrize("mode,size", [
    (ResizeMode.NO, (1000, 500)),
    (ResizeMode.KEEP_RATIO, (512, 256)),
    (ResizeMode.KEEP_RATIO_LARGEST, (256, 128)),
    (ResizeMode.CENTER_CROP, (256, 256)),
    (ResizeMode.BORDER, (256, 256)),
])
def test_resize_modes(mode, size):
    r = process_image(SRC, ImageConfig(image_size=256, resize_mode=mode))
    assert r.error is None
    assert (r.width, r.height) == size
    assert (r.original_width, r.original_height) == (1000, 500)
    assert Image.open(io.BytesIO(r.data)).size == size


def test_resize_only_if_bigger_never_upscales():
    small = encode(Image.new("RGB", (100, 80)))
    assert (process_image(small, ImageConfig(resize_only_if_bigger=True)).width) == 100
    assert process_image(small, ImageConfig()).height == 256


def test_draft_mode_decodes_large_jpeg_at_reduced_scale_with_exact_output():
    big = encode(Image.new("RGB", (4000, 3000), (120, 20, 20)))
    r = process_image(big, ImageConfig(image_size=256))
    assert (r.width, r.height) == (341, 256)


def test_decompression_bomb_refused_from_header():
    r = process_image(png_header_only(30000, 30000), ImageConfig())
    assert r.error == Reason.DECOMPRESSION_BOMB
    assert (r.original_width, r.original_height) == (30000, 30000)


def test_filters_and_failures():
    assert process_image(SRC, ImageConfig(min_image_size=600)).error == Reason.IMAGE_TOO_SMALL
    assert process_image(SRC, ImageConfig(max_aspect_ratio=1.5)).error == Reason.ASPECT_RATIO
    assert process_image(b"<!doctype html><html></html>", ImageConfig()).error == Reason.NOT_AN_IMAGE
    assert process_image(SRC[: len(SRC) // 2], ImageConfig()).error == Reason.DECODE_ERROR
    assert process_image(b"\xff\xd8\xff" + b"\0" * 50, ImageConfig()).error == Reason.DECODE_ERROR


def test_formats_and_skip_reencode():
    for fmt, pil in [(EncodeFormat.WEBP, "WEBP"), (EncodeFormat.PNG, "PNG"), (EncodeFormat.JPG, "JPEG")]:
        r = process_image(SRC, ImageConfig(encode_format=fmt))
        assert Image.open(io.BytesIO(r.data)).format == pil and r.ext == fmt.value
    same = process_image(SRC, ImageConfig(resize_mode=ResizeMode.NO, skip_reencode=True))
    assert same.data == SRC


def test_transparent_png_to_jpeg_on_white():
    rgba = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    r = process_image(encode(rgba, "PNG"), ImageConfig())
    assert Image.open(io.BytesIO(r.data)).convert("RGB").getpixel((5, 5)) == (255, 255, 255)


def test_pdq_is_stable_under_resizing():
    import random

    from PIL import ImageDraw

    rng = random.Random(7)
    img = Image.new("RGB", (512, 512), "white")
    draw = ImageDraw.Draw(img)
    for _ in range(40):
        x, y = rng.randrange(480), rng.randrange(480)
        draw.ellipse((x, y, x + rng.randrange(20, 160), y + rng.randrange(20, 160)),
                     fill=tuple(rng.randrange(256) for _ in range(3)))
    h1, q1 = pdq(img)
    h2, _ = pdq(img.resize((256, 256)))
    assert len(h1) == 64 and q1 >= 50
    listed = Blocklist()
    listed.add("pdq", h1, quality=q1)
    assert listed.check_pdq(h2, 100)  # the resized copy still matches (Hamming <= 31)


@pytest.mark.parametrize("orientation", [5, 6, 7, 8])
def test_exif_rotated_photo_reports_upright_original_size(orientation):
    stored = Image.new("RGB", (400, 600), (200, 30, 30))  # pixels as stored: portrait
    exif = Image.Exif()
    exif[0x0112] = orientation  # viewers turn it a quarter: upright it is 600 x 400, landscape
    body = encode(stored, exif=exif.tobytes())
    r = process_image(body, ImageConfig(image_size=256))
    assert r.error is None
    assert (r.width, r.height) == (384, 256)
    assert (r.original_width, r.original_height) == (600, 400)
    assert Image.open(io.BytesIO(r.data)).size == (384, 256)
    # filters see the upright image too, and skip_reencode never keeps a file that needs turning
    assert process_image(body, ImageConfig(min_image_size=401)).error == Reason.IMAGE_TOO_SMALL
    kept = process_image(body, ImageConfig(resize_mode=ResizeMode.NO, skip_reencode=True))
    assert kept.data != body and Image.open(io.BytesIO(kept.data)).size == (600, 400) == (kept.width, kept.height)


def test_exif_orientation_that_keeps_the_sides_keeps_the_size():
    exif = Image.Exif()
    exif[0x0112] = 3  # upside down: same width and height
    r = process_image(encode(Image.new("RGB", (400, 600)), exif=exif.tobytes()), ImageConfig(image_size=256))
    assert (r.original_width, r.original_height) == (400, 600) and (r.width, r.height) == (256, 384)


def _png_chunks(body: bytes) -> list[tuple[bytes, bytes]]:
    pos, chunks = 8, []
    while pos < len(body):
        (n,) = struct.unpack(">I", body[pos:pos + 4])
        chunks.append((body[pos + 4:pos + 8], body[pos + 8:pos + 8 + n]))
        pos += 12 + n
    return chunks


def _png_from_chunks(chunks) -> bytes:
    out = b"\x89PNG\r\n\x1a\n"
    for kind, data in chunks:
        out += struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return out


@pytest.mark.parametrize("cfg,reason", [
    (ImageConfig(max_pixels=1_000_000), Reason.DECOMPRESSION_BOMB),
    (ImageConfig(min_image_size=5000), Reason.IMAGE_TOO_SMALL),
    (ImageConfig(max_aspect_ratio=1.2), Reason.ASPECT_RATIO),
])
def test_a_png_refused_by_its_size_is_never_decoded(monkeypatch, cfg, reason):
    """A real, valid PNG (pixels and all): the size checks come before any pixel is
    decoded. PIL's PNG getexif decodes the whole image to look for an eXIf chunk;
    reading the orientation that way decoded bombs (and made downloads 2x slower)."""
    from PIL import ImageFile

    body = encode(Image.new("L", (3000, 2000)), "PNG")

    decoded = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self.size))
    r = process_image(body, cfg)
    assert r.error == reason and (r.original_width, r.original_height) == (3000, 2000)
    assert decoded == []  # (an exception would be swallowed by a plugin's guard: count calls)


@pytest.mark.parametrize("where", ["before the pixels", "after the pixels"])
def test_png_exif_orientation_is_honoured_wherever_the_chunk_is(where):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored portrait 400 x 600, upright landscape 600 x 400
    chunks = _png_chunks(encode(Image.new("RGB", (400, 600), (200, 30, 30)), "PNG", exif=exif.tobytes()))
    if where == "after the pixels":
        exif_chunk = next(c for c in chunks if c[0] == b"eXIf")
        chunks = [c for c in chunks if c[0] != b"eXIf"]
        chunks.insert(len(chunks) - 1, exif_chunk)  # just before IEND
    kinds = [k for k, _ in chunks]
    assert (kinds.index(b"eXIf") < kinds.index(b"IDAT")) == (where == "before the pixels")
    r = process_image(_png_from_chunks(chunks), ImageConfig(image_size=256))
    assert r.error is None
    assert (r.width, r.height) == (384, 256) and (r.original_width, r.original_height) == (600, 400)
