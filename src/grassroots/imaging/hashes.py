"""Content hashes: sha256 / md5 of the original bytes, PDQ perceptual hash."""

from __future__ import annotations

import hashlib

import numpy as np
from PIL import Image


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def pdq(image: Image.Image) -> tuple[str, int]:
    """PDQ hash (64 hex chars, 256 bits) and its quality (0-100) of an image.

    PDQ downsamples internally to 64x64, so hashing the resized image gives
    the same hash as the original up to a few bits."""
    import pdqhash

    arr = np.asarray(image.convert("RGB"))
    bits, quality = pdqhash.compute(arr)
    packed = np.packbits(bits.astype(np.uint8))
    return packed.tobytes().hex(), int(quality)


def hamming_hex(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()
