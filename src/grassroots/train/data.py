"""Training data: the kept samples of a release (or dataset) in a deterministic,
resumable order.

The samples are indexed once (shard, key, caption, sorted). Epoch ``e`` visits
them in ``randperm(n, seed, e)`` order; step ``s`` takes global positions
``[s*B, (s+1)*B)`` of the concatenated epochs, so a step number alone says which
samples come next: resuming at step ``s`` is exact, and the data position can be
told as (epoch, shard, key).

Images come from our webdataset tars, decoded and resized once to the model's
input (open_clip's eval transform, kept as uint8). When they fit in the cache
budget they are decoded up front by a process pool and held in memory (tiny
models: decoding would cost more than the model); otherwise a DataLoader's
workers read each image from its tar by byte offset.
"""

from __future__ import annotations

import mmap
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from grassroots import io
from grassroots.errors import InputError
from grassroots.layout import DatasetDir
from grassroots.ledger import finished_shards, kept_rows
from grassroots.models.pixels import PixelSpec, pixels
from grassroots.samples import IMAGE_EXTS, image_spans, read_sample_files


@dataclass(frozen=True)
class SampleIndex:
    source: str
    shards: np.ndarray  # int32, per sample
    keys: list[str]
    captions: list[str]

    def __len__(self) -> int:
        return len(self.keys)


def index_samples(source: str) -> SampleIndex:
    """Every kept sample of ``source`` (a release or a dataset), in (shard, key) order."""
    layout = DatasetDir(source)
    shards, keys, captions = [], [], []
    for shard in finished_shards(source):
        for row in sorted(kept_rows(layout, shard, ["key", "caption"]).to_pylist(), key=lambda r: r["key"]):
            shards.append(shard)
            keys.append(row["key"])
            captions.append(row["caption"] or "")
    if not keys:
        raise InputError(source, "has no kept samples to train on", "train on a release with samples in it")
    return SampleIndex(source, np.asarray(shards, dtype=np.int32), keys, captions)


# --- the order ----------------------------------------------------------------

@lru_cache(maxsize=4)
def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    import torch

    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g).numpy()


def batch_positions(step: int, batch_size: int, n: int, seed: int) -> np.ndarray:
    """Sample indices of global batch ``step`` (batches run across epoch ends)."""
    g = np.arange(step * batch_size, (step + 1) * batch_size)
    out = np.empty(batch_size, dtype=np.int64)
    for epoch in np.unique(g // n):
        sel = g // n == epoch
        out[sel] = epoch_order(n, seed, int(epoch))[g[sel] % n]
    return out


def position(step: int, batch_size: int, index: SampleIndex, seed: int) -> dict:
    """Where the data stands before ``step``: epoch, and the shard and key that come next."""
    g = step * batch_size
    epoch, offset = divmod(g, len(index))
    i = int(epoch_order(len(index), seed, epoch)[offset])
    return {"epoch": epoch, "offset": offset, "shard": int(index.shards[i]), "key": index.keys[i]}


# --- images -------------------------------------------------------------------

def decode(data: bytes, image_size: int) -> np.ndarray:
    """Image bytes -> uint8 array (3, S, S), the pixels embed and eval see (grassroots.models.pixels:
    open_clip's eval geometry, shortest side to S and centre crop, bicubic), decoded at reduced scale
    where a JPEG allows (draft mode); a broken image becomes black (counted by the caller)."""
    try:
        p = pixels(data, PixelSpec(image_size), draft=True)
    except Exception:  # noqa: BLE001 — a sample that download kept but no longer decodes
        p = None
    if p is None:
        return np.zeros((3, image_size, image_size), dtype=np.uint8)
    return np.ascontiguousarray(p.transpose(2, 0, 1))


def _decode_shard(args) -> tuple[int, np.ndarray]:
    source, shard, keys, image_size = args
    files = read_sample_files(DatasetDir(source), shard, keys=set(keys))
    out = np.zeros((len(keys), 3, image_size, image_size), dtype=np.uint8)
    for j, key in enumerate(keys):
        data = next((files.get(key, {}).get(e) for e in IMAGE_EXTS if e in files.get(key, {})), None)
        if data is not None:
            out[j] = decode(data, image_size)
    return shard, out


def decode_all(index: SampleIndex, image_size: int, processes: int, progress=None):
    """Every image of the index as one uint8 tensor (n, 3, S, S), decoded by a process pool."""
    import torch

    by_shard: dict[int, list[int]] = {}
    for i, shard in enumerate(index.shards.tolist()):
        by_shard.setdefault(shard, []).append(i)
    images = torch.empty((len(index), 3, image_size, image_size), dtype=torch.uint8)
    jobs = [(index.source, shard, [index.keys[i] for i in rows], image_size) for shard, rows in by_shard.items()]
    def fill(results) -> None:
        for shard, arr in results:
            rows = by_shard[shard]
            images[rows] = torch.from_numpy(arr)
            if progress:
                progress(len(rows))

    if processes <= 1 or len(jobs) == 1:
        fill(map(_decode_shard, jobs))
    else:
        # A pool whose worker dies raises BrokenProcessPool here instead of waiting forever.
        with ProcessPoolExecutor(min(processes, len(jobs)), mp_context=multiprocessing.get_context("spawn")) as pool:
            fill(pool.map(_decode_shard, jobs))
    return images


class TarImages:
    """Random access to the images of an index through their tars (DataLoader workers)."""

    def __init__(self, index: SampleIndex, image_size: int):
        self.index, self.image_size = index, image_size
        self._spans: dict[int, dict[str, tuple[int, int]]] = {}
        self._maps: dict[int, mmap.mmap] = {}

    def _image_span(self, shard: int, key: str) -> tuple[int, int] | None:
        if shard not in self._spans:
            layout = DatasetDir(self.index.source)
            path = io.fs_and_path(layout.shard_tar(shard))[1]
            with open(path, "rb") as f:
                self._maps[shard] = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            self._spans[shard] = {k: (start, size) for k, (start, size, _) in image_spans(self._maps[shard]).items()}
        return self._spans[shard].get(key)

    def __getitem__(self, i: int):
        import torch

        shard, key = int(self.index.shards[i]), self.index.keys[i]
        span = self._image_span(shard, key)
        if span is None:
            return torch.zeros((3, self.image_size, self.image_size), dtype=torch.uint8)
        start, size = span
        return torch.from_numpy(decode(self._maps[shard][start:start + size], self.image_size))

    def __len__(self) -> int:
        return len(self.index)


def stream_batches(index: SampleIndex, image_size: int, start_step: int, total_steps: int, batch_size: int,
                   seed: int, workers: int, rank: int = 0, world: int = 1):
    """uint8 image batches for steps [start_step, total_steps) from the tars, in order."""
    import torch

    def batches():
        for step in range(start_step, total_steps):
            yield _rank_slice(batch_positions(step, batch_size * world, len(index), seed), rank, world).tolist()

    loader = torch.utils.data.DataLoader(TarImages(index, image_size), batch_sampler=batches(),
                                         num_workers=workers, collate_fn=torch.stack,
                                         multiprocessing_context="spawn" if workers else None,
                                         persistent_workers=False, prefetch_factor=4 if workers else None)
    return iter(loader)


def _rank_slice(positions: np.ndarray, rank: int, world: int) -> np.ndarray:
    per = len(positions) // world
    return positions[rank * per:(rank + 1) * per]


def rank_positions(step: int, batch_size: int, n: int, seed: int, rank: int = 0, world: int = 1) -> np.ndarray:
    """This rank's share of global batch ``step`` (``batch_size`` per rank)."""
    return _rank_slice(batch_positions(step, batch_size * world, n, seed), rank, world)
