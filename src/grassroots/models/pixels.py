"""Images -> model-ready pixels, in worker processes, ahead of the model.

open_clip's eval transform is PIL work (decode, RGB, resize, centre crop) then
two cheap tensor ops (ToTensor, Normalize). ``pixels`` does the PIL part exactly
as torchvision does it on a PIL image (same output size, same rounding, so the
same bytes) and returns uint8; ``models.encode.encode_pixels`` does the tensor
part for the whole batch at once, with the same float32 arithmetic.

``PixelFeed`` runs ``pixels`` in a small process pool (no GIL shared with the
model, and no torch import in the workers), in order, a few batches ahead. It
can start before torch is even imported (``PixelSpec.from_config`` reads the
architecture's JSON config without importing open_clip), so a whole command's
fixed cost of importing torch and loading the model decodes images on the
otherwise idle cores.

This module imports no torch: it is what the decode processes import.
"""

from __future__ import annotations

import atexit
import collections
import concurrent.futures
import glob
import itertools
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass
from io import BytesIO
from typing import Hashable, Iterable, Iterator

import numpy as np

RESIZE_MODES = ("shortest", "squash")  # what open_clip's eval transforms use (configs and pretrained tags)
INTERPOLATIONS = ("bicubic", "bilinear", "nearest")


@dataclass(frozen=True)
class PixelSpec:
    """The geometry of a model's eval transform: square ``size``, resize mode, filter."""
    size: int
    resize_mode: str = "shortest"
    interpolation: str = "bicubic"

    def __post_init__(self) -> None:
        if self.resize_mode not in RESIZE_MODES or self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"unsupported preprocessing: resize_mode {self.resize_mode!r} "
                             f"(supported: {', '.join(RESIZE_MODES)}), interpolation {self.interpolation!r} "
                             f"(supported: {', '.join(INTERPOLATIONS)})")

    @classmethod
    def of(cls, identity) -> "PixelSpec":
        """The spec of a loaded model (its ``ModelIdentity``)."""
        return cls(identity.image_size, identity.resize_mode, identity.interpolation)

    @classmethod
    def from_config(cls, arch: str, pretrained: str | None = None) -> "PixelSpec | None":
        """The spec an architecture's JSON config implies, without importing open_clip
        (nor torch); None where it cannot be known that way (a pretrained tag may change
        it, a config we cannot find or read). Only a guess to start decoding early: the
        loaded model's ``of(identity)`` is what counts, and a feed of another spec is unused."""
        if pretrained:
            return None
        from grassroots.models.clip import arch_config

        cfg = arch_config(arch)
        try:
            pre = cfg.get("preprocess_cfg", {})
            return cls(int(cfg["vision_cfg"]["image_size"]), pre.get("resize_mode", "shortest"),
                       pre.get("interpolation", "bicubic"))
        except (AttributeError, ValueError, KeyError, TypeError):  # no config, or not one we understand
            return None


def pixels(data: bytes | None, spec: PixelSpec, draft: bool = False) -> np.ndarray | None:
    """uint8 (size, size, 3) RGB pixels of an encoded image, as open_clip's eval transform
    makes them before ToTensor; None when the image cannot be decoded. ``draft``: a JPEG
    is decoded at the smallest power-of-two scale still at least ``size`` on both sides
    (PIL's draft mode; training's choice: several times faster, slightly other pixels)."""
    from PIL import Image

    if data is None:
        return None
    try:
        with Image.open(BytesIO(data)) as im:
            if draft and im.format == "JPEG":
                im.draft("RGB", (spec.size, spec.size))
            img = im.convert("RGB")
        return pixels_of(img, spec)
    except (OSError, ValueError, ZeroDivisionError, Image.DecompressionBombError):
        return None


def pixels_of(img, spec: PixelSpec) -> np.ndarray:
    """The pixels of a decoded RGB PIL image (see ``pixels``)."""
    from PIL import Image

    resample = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR,
                "nearest": Image.Resampling.NEAREST}[spec.interpolation]
    s = spec.size
    w, h = img.size
    if spec.resize_mode == "squash":
        out = (s, s)
    else:  # torchvision's Resize(s): the shorter side to s, the longer one truncated
        short, long = (w, h) if w <= h else (h, w)
        out = (s, int(s * long / short)) if w <= h else (int(s * long / short), s)
    if out != (w, h):
        img = img.resize(out, resample)
    left, top = int(round((out[0] - s) / 2.0)), int(round((out[1] - s) / 2.0))  # torchvision's CenterCrop
    if (left, top) != (0, 0) or out != (s, s):
        img = img.crop((left, top, left + s, top + s))
    return np.asarray(img)


def decode_batch(datas: list[bytes | None], spec: PixelSpec) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 (n, size, size, 3) pixels of the decodable images, bool mask of which were)."""
    decoded = [pixels(d, spec) for d in datas]
    ok = np.array([p is not None for p in decoded], dtype=bool)
    good = [p for p in decoded if p is not None]
    return (np.stack(good) if good else np.zeros((0, spec.size, spec.size, 3), np.uint8)), ok


SCRATCH_PREFIX = "grassroots-pixels-"


def _scratch_dir() -> str | None:
    """A private folder in /dev/shm (memory) for the workers' pixels: written there, a
    batch comes back as a file name instead of ~10 MB through a pipe, whose ~150 reads
    would each take the GIL from the main thread (~1.2 s more to import torch beside
    the first shards' decoding). Folders of processes that died (kill -9) are removed.
    None where there is no /dev/shm: the pipe then."""
    if not os.path.isdir("/dev/shm"):
        return None
    for old in glob.glob(f"/dev/shm/{SCRATCH_PREFIX}*"):
        try:
            os.kill(int(os.path.basename(old)[len(SCRATCH_PREFIX):].split("-")[0]), 0)
        except ProcessLookupError:
            shutil.rmtree(old, ignore_errors=True)
        except (ValueError, PermissionError):
            pass
    try:
        return tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir="/dev/shm")
    except OSError:
        return None


def _decode_into(scratch: str | None, datas: list[bytes | None], spec: PixelSpec):
    """``decode_batch`` in a worker: the pixels written to a file in ``scratch`` (its name
    comes back), or themselves where that fails (no scratch, /dev/shm full)."""
    pix, ok = decode_batch(datas, spec)
    if scratch is not None:
        try:
            fd, path = tempfile.mkstemp(dir=scratch)
            with os.fdopen(fd, "wb") as f:
                f.write(pix.data)
            return (path, pix.shape), ok
        except OSError:
            pass
    return pix, ok


def _collected(pix, ok) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(pix, tuple):  # (file, shape) from _decode_into
        path, shape = pix
        try:
            pix = np.fromfile(path, dtype=np.uint8).reshape(shape)
        finally:
            os.unlink(path)
    return pix, ok


def _init_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle


class PixelFeed:
    """``decode_batch`` in ``workers`` processes, results in order. ``prefetch`` starts the
    batches of a named piece of work (e.g. a shard) before anyone asks for them; ``decoded``
    uses those, or submits its batches ``ahead`` at a time."""

    def __init__(self, spec: PixelSpec, workers: int, processes: bool | None = None) -> None:
        self.spec, self.workers = spec, max(1, workers)
        self._started: dict[Hashable, list[concurrent.futures.Future]] = {}
        self._scratch: str | None = None
        if processes is None:  # a worker of a process pool or of Ray gets no pool of its own
            processes = multiprocessing.parent_process() is None and "ray" not in sys.modules
        if processes:
            self._pool: concurrent.futures.Executor = concurrent.futures.ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker)
            self._scratch = _scratch_dir()
        else:  # threads: PIL releases the GIL while it decodes and resizes
            self._pool = concurrent.futures.ThreadPoolExecutor(self.workers)
        atexit.register(self.close)

    def _submit(self, batch: list[bytes | None]) -> concurrent.futures.Future:
        return self._pool.submit(_decode_into, self._scratch, batch, self.spec)

    def prefetch(self, tag: Hashable, batches: Iterable[list[bytes | None]]) -> None:
        self._started[tag] = [self._submit(b) for b in batches]

    def decoded(self, tag: Hashable, batches: Iterable[list[bytes | None]],
                ahead: int = 3) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(pixels, ok) per batch, in order: what ``prefetch`` started for ``tag`` (the same
        batches), else ``batches``, ``ahead`` of them submitted now (before this returns)
        and one more as each result is taken. A decode worker's crash is raised there."""
        started = self._started.pop(tag, None)
        rest = iter(()) if started is not None else iter(batches)
        if started is None:
            started = [self._submit(b) for b in itertools.islice(rest, max(1, ahead))]
        return self._results(collections.deque(started), rest)

    def _results(self, pending, rest) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        while pending:
            fut = pending.popleft()
            pending.extend(self._submit(b) for b in itertools.islice(rest, 1))
            yield _collected(*fut.result())

    def close(self) -> None:
        """Drop the batches not started, wait for those being decoded (at most one per
        worker: waiting means no worker writes into the scratch folder once it is removed,
        and no pool thread is left for the interpreter's exit to race with), remove the folder."""
        self._started.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._scratch:
            shutil.rmtree(self._scratch, ignore_errors=True)


_FEED: PixelFeed | None = None  # this process's feed: one at a time


def feed(spec: PixelSpec, workers: int) -> PixelFeed:
    """This process's feed for ``spec`` and ``workers`` (a feed of another kind is closed first)."""
    global _FEED
    if _FEED is None or (_FEED.spec, _FEED.workers) != (spec, max(1, workers)):
        close_feeds()
        _FEED = PixelFeed(spec, workers)
    return _FEED


def close_feeds() -> None:
    """Stop this process's feed (its unstarted batches are dropped)."""
    global _FEED
    if _FEED is not None:
        _FEED, old = None, _FEED
        old.close()
