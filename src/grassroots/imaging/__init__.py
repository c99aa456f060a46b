"""Decode / resize / encode images, and hash them.

The option enums live here, apart from resize.py, so that the CLI can offer them
without importing Pillow (~50 ms) for commands that never touch an image."""

import enum


class ResizeMode(str, enum.Enum):
    NO = "no"
    KEEP_RATIO = "keep_ratio"
    KEEP_RATIO_LARGEST = "keep_ratio_largest"
    CENTER_CROP = "center_crop"
    BORDER = "border"


class EncodeFormat(str, enum.Enum):
    JPG = "jpg"
    WEBP = "webp"
    PNG = "png"
