"""The server's typed configuration (the CLI builds it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServeConfig:
    dataset: str
    release: str = "v1"
    embeddings: str | None = None  # model id of the index; None: the release's only one
    max_upload_bytes: int = 8 * 1024 * 1024  # an uploaded image
    max_pixels: int = 40_000_000  # decompression bombs
    max_k: int = 100
    safety_threshold: float = 0.5  # a sample with any head probability >= this is hidden when safe=true
    pdq_distance: int = 31  # find-my-work: PDQ Hamming distance <= this is a near match
    optout_per_window: int = 5  # opt-out requests a client may file per window
    optout_window_seconds: float = 600.0
    load_model: bool = True  # text and image queries need the release's model (vector queries do not)
