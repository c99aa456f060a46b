"""Decode, check, resize and encode one image, like img2dataset's resizer.

Dimensions are read from the header first (Image.open does not decode), so a
decompression bomb is refused before any pixel is decoded. Large JPEGs are
decoded at reduced scale (draft mode) when the output is small.

Resize modes (img2dataset's names):
  no                  keep the original size
  keep_ratio          smaller side -> image_size, aspect kept
  keep_ratio_largest  larger side -> image_size, aspect kept
  center_crop         smaller side -> image_size, then centre crop to a square
  border              larger side -> image_size, then pad to a square (black)
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from grassroots.imaging import EncodeFormat, ResizeMode
from grassroots.schema import Reason

Image.MAX_IMAGE_PIXELS = None  # we enforce our own cap, before decoding
ImageFile.LOAD_TRUNCATED_IMAGES = False


_PIL_FORMAT = {EncodeFormat.JPG: "JPEG", EncodeFormat.WEBP: "WEBP", EncodeFormat.PNG: "PNG"}
_EXT_OF_PIL = {"JPEG": EncodeFormat.JPG, "WEBP": EncodeFormat.WEBP, "PNG": EncodeFormat.PNG}


@dataclass(frozen=True)
class ImageConfig:
    image_size: int = 256
    resize_mode: ResizeMode = ResizeMode.KEEP_RATIO
    resize_only_if_bigger: bool = False
    min_image_size: int = 0
    max_aspect_ratio: float = math.inf
    encode_format: EncodeFormat = EncodeFormat.JPG
    encode_quality: int = 95
    skip_reencode: bool = False
    max_pixels: int = 50_000_000  # larger images are refused from their header (bombs)


@dataclass
class ImageResult:
    data: bytes = b""
    ext: str = ""
    width: int | None = None
    height: int | None = None
    original_width: int | None = None
    original_height: int | None = None
    image: Image.Image | None = None  # the output pixels, for perceptual hashing
    error: Reason | None = None
    message: str | None = None


def _target_size(w: int, h: int, cfg: ImageConfig) -> tuple[int, int]:
    """Size to resize to before crop/pad."""
    s = cfg.image_size
    mode = cfg.resize_mode
    if mode == ResizeMode.NO:
        return w, h
    if mode in (ResizeMode.KEEP_RATIO, ResizeMode.CENTER_CROP):
        scale = s / min(w, h)
    else:  # KEEP_RATIO_LARGEST, BORDER
        scale = s / max(w, h)
    if cfg.resize_only_if_bigger and scale >= 1:
        return w, h
    return max(1, round(w * scale)), max(1, round(h * scale))


def process_image(body: bytes, cfg: ImageConfig, content_type: str | None = None) -> ImageResult:
    out = ImageResult()
    try:
        img = Image.open(io.BytesIO(body))
    except UnidentifiedImageError:
        return _fail(out, _unidentified_reason(body, content_type), "not a decodable image")
    except Exception as e:  # noqa: BLE001 - a hostile file may raise anything from a plugin
        return _fail(out, Reason.DECODE_ERROR, f"{type(e).__name__}: {e}")
    sw, sh = img.size  # as stored; EXIF orientation 5-8 turns it a quarter for viewers
    orientation = _orientation(img)
    w, h = (sh, sw) if orientation in _QUARTER_TURNS else (sw, sh)  # upright: what the checks and originals describe
    out.original_width, out.original_height = w, h
    if w <= 0 or h <= 0:
        return _fail(out, Reason.DECODE_ERROR, f"bad dimensions {w}x{h}")
    if w * h > cfg.max_pixels:
        return _fail(out, Reason.DECOMPRESSION_BOMB, f"{w}x{h} = {w * h:,} pixels over the {cfg.max_pixels:,} cap")
    if min(w, h) < cfg.min_image_size:
        return _fail(out, Reason.IMAGE_TOO_SMALL, f"{w}x{h} smaller than {cfg.min_image_size}")
    if max(w / h, h / w) > cfg.max_aspect_ratio:
        return _fail(out, Reason.ASPECT_RATIO, f"aspect ratio {max(w / h, h / w):.2f} over {cfg.max_aspect_ratio}")
    tw, th = _target_size(sw, sh, cfg)  # the stored pixels' target, for draft decoding
    src_format = img.format
    same_format = _EXT_OF_PIL.get(src_format) == cfg.encode_format
    try:
        unchanged = (tw, th) == (sw, sh) and cfg.resize_mode not in (ResizeMode.CENTER_CROP, ResizeMode.BORDER)
        if cfg.skip_reencode and unchanged and same_format and orientation == 1:
            img.load()
            out.data, out.ext, out.width, out.height, out.image = body, cfg.encode_format.value, w, h, img
            return out
        if src_format == "JPEG" and (tw, th) != (sw, sh):
            img.draft("RGB", (tw, th))
        img.load()
        if orientation == 1 and src_format == "PNG":  # an eXIf chunk after the pixels: read by load()
            orientation = _orientation(img)
            if orientation in _QUARTER_TURNS:
                out.original_width, out.original_height = h, w
        img = ImageOps.exif_transpose(img) if orientation != 1 else img
        if img.mode not in ("RGB", "RGBA", "L", "LA"):
            img = img.convert("RGBA" if _has_alpha(img) else "RGB")
        # Draft decoding reduced both sides by the same power of two, and EXIF may
        # have swapped them: compute the target from the pixels we now hold.
        target = _target_size(*img.size, cfg)
        if img.size != target:
            # Downscale by area averaging (BOX == img2dataset's default INTER_AREA),
            # upscale with Lanczos (as img2dataset does).
            down = target[0] < img.size[0]
            img = img.resize(target, Image.Resampling.BOX if down else Image.Resampling.LANCZOS)
        img = _to_rgb(img, cfg.encode_format)  # after resizing: composite fewer pixels
        img = _finish_square(img, cfg)
    except Exception as e:  # noqa: BLE001 - truncated/corrupt data raises OSError, SyntaxError, ...
        return _fail(out, Reason.DECODE_ERROR, f"{type(e).__name__}: {e}")
    try:
        buf = io.BytesIO()
        fmt = _PIL_FORMAT[cfg.encode_format]
        if cfg.encode_format == EncodeFormat.PNG:
            img.save(buf, fmt, compress_level=1)
        else:
            img.save(buf, fmt, quality=cfg.encode_quality)
    except Exception as e:  # noqa: BLE001
        return _fail(out, Reason.ENCODE_ERROR, f"{type(e).__name__}: {e}")
    out.data, out.ext, out.image = buf.getvalue(), cfg.encode_format.value, img
    out.width, out.height = img.size
    return out


_QUARTER_TURNS = frozenset({5, 6, 7, 8})  # EXIF orientations that swap width and height


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation (1 = as stored), from what has been read: no pixels decoded.

    A PNG's eXIf chunk may come after its pixels, and PIL's PNG ``getexif`` decodes
    them all to find it: before the size checks that is a decompression bomb decoded
    (and a 2x slower download of real web PNGs; bench/download_ab.py). Before
    ``load()`` a PNG counts only an eXIf chunk that came before the pixels;
    process_image asks again after it."""
    if img.format == "PNG" and "exif" not in img.info and getattr(img, "tile", None):
        return 1
    try:
        value = img.getexif().get(0x0112, 1)
        return value if value in range(1, 9) else 1
    except Exception:  # noqa: BLE001
        return 1


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)


def _to_rgb(img: Image.Image, fmt: EncodeFormat) -> Image.Image:
    if _has_alpha(img):
        if fmt == EncodeFormat.JPG:
            img = img.convert("RGBA")
            bg = Image.new("RGB", img.size, (255, 255, 255))
            bg.paste(img, mask=img.getchannel("A"))
            return bg
        return img.convert("RGBA")
    if img.mode != "RGB":
        return img.convert("RGB")
    return img


def _finish_square(img: Image.Image, cfg: ImageConfig) -> Image.Image:
    s = cfg.image_size
    w, h = img.size
    if cfg.resize_mode == ResizeMode.CENTER_CROP and (w > s or h > s):
        left, top = (w - min(w, s)) // 2, (h - min(h, s)) // 2
        return img.crop((left, top, left + min(w, s), top + min(h, s)))
    if cfg.resize_mode == ResizeMode.BORDER and (w, h) != (s, s) and w <= s and h <= s:
        canvas = Image.new(img.mode, (s, s), (0, 0, 0, 0) if img.mode == "RGBA" else (0, 0, 0))
        canvas.paste(img, ((s - w) // 2, (s - h) // 2))
        return canvas
    return img


def _unidentified_reason(body: bytes, content_type: str | None) -> Reason:
    head = body[:512].lstrip().lower()
    if (content_type and not content_type.startswith("image/")) or head.startswith((b"<!doctype", b"<html", b"<?xml", b"<")):
        return Reason.NOT_AN_IMAGE
    return Reason.DECODE_ERROR


def _fail(out: ImageResult, reason: Reason, message: str) -> ImageResult:
    out.error, out.message = reason, message
    return out
