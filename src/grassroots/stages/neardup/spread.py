"""How spread out a model's image embeddings are, measured on a sample before the
embedding threshold is trusted (see grassroots.stages.neardup).

A cosine threshold only finds copies when unrelated images fall below it. A weak
model (a random-weights one, or our own after a minute of training) puts most
images close together: on a 1,198-image release a 60-step model had 31% of all
pairs at cosine >= 0.95. ``measure`` draws a seeded sample, computes the cosine of
random pairs and of each sampled image's nearest neighbour in the sample, and
``Spread.usable`` says whether the threshold separates: at most ``MAX_OVER`` of
random pairs may pass it. When it does not, the embedding pairs are left out for
that model and near-duplicates are PDQ only (no derived threshold: the spread
and a suggested ``--cosine`` are recorded in attributes/neardup/model.json and
said on the console).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from grassroots import io
from grassroots.embeddings import embedded_shards, read_embeddings
from grassroots.layout import DatasetDir

MAX_OVER = 0.01  # share of random pairs a usable threshold may leave at or above it
SAMPLE = 50_000  # embeddings drawn for the k-means centroids and the measurement
RANDOM_PAIRS = 100_000
NEIGHBOUR_QUERIES = 500  # sampled images whose nearest neighbour is looked up ...
NEIGHBOUR_POOL = 20_000  # ... among this many of the sample


@dataclass(frozen=True)
class Spread:
    model_id: str
    cosine: float  # the threshold that was measured
    sample: int  # embeddings in the sample
    random_pairs: int  # pairs measured (every pair of a small sample)
    random_over: float  # share of them at cosine >= the threshold
    random_p50: float
    random_p99: float
    nearest_p50: float  # median cosine of a sampled image's nearest neighbour
    nearest_over: float  # share of sampled images whose nearest neighbour is at cosine >= the threshold

    @property
    def usable(self) -> bool:
        return self.random_over <= MAX_OVER

    def why_not(self) -> str:
        """The console's sentence when the threshold is not used."""
        higher = f", or a --cosine above {self.random_p99:.3f}," if self.random_p99 < 0.995 else ""
        return (f"{self.random_over:.1%} of random pairs of {self.model_id} image embeddings are at cosine >= "
                f"{self.cosine:g} (median {self.random_p50:.3f}, 99th percentile {self.random_p99:.3f}, "
                f"{self.sample} images sampled; over {MAX_OVER:.0%} means the threshold does not tell copies "
                f"from unrelated images): the embedding threshold was not used, near-duplicates are PDQ only "
                f"for this model (recorded in attributes/neardup/model.json). A better-trained model{higher} "
                f"uses embeddings")


def sample_embeddings(layout: DatasetDir, model_id: str, n: int = SAMPLE, seed: int = 0) -> np.ndarray:
    """Up to ``n`` image embeddings (float32), drawn shard by shard from memory-mapped
    files, seeded: the same dataset gives the same sample."""
    rng = np.random.default_rng(seed)
    shards = embedded_shards(layout, model_id)
    parts = []
    for s in shards:
        _, img, _ = read_embeddings(layout, model_id, s, mmap=True)
        take = min(len(img), -(-n // max(len(shards), 1)))
        parts.append(np.asarray(img[np.sort(rng.choice(len(img), take, replace=False))], dtype=np.float32))
    return np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)


def measure(x: np.ndarray, model_id: str, cosine: float, seed: int = 0) -> Spread:
    """The spread of the sample ``x`` (rows normalised) against ``cosine``."""
    rng = np.random.default_rng(seed)
    if len(x) < 2:
        return Spread(model_id, cosine, len(x), 0, 0.0, 0.0, 0.0, 0.0, 0.0)
    sims = _random_pair_cosines(x, rng)
    nearest = _nearest_cosines(x, rng)
    return Spread(model_id, cosine, len(x), len(sims), float(np.mean(sims >= cosine)),
                  float(np.quantile(sims, 0.5)), float(np.quantile(sims, 0.99)),
                  float(np.quantile(nearest, 0.5)), float(np.mean(nearest >= cosine)))


def _random_pair_cosines(x: np.ndarray, rng: np.random.Generator, block: int = 8192) -> np.ndarray:
    n = len(x)
    if n * (n - 1) // 2 <= RANDOM_PAIRS:  # a small sample: every pair
        i, j = np.triu_indices(n, k=1)
    else:
        i, j = rng.integers(0, n, RANDOM_PAIRS), rng.integers(0, n, RANDOM_PAIRS)
        keep = i != j
        i, j = i[keep], j[keep]
    return np.concatenate([np.einsum("ij,ij->i", x[i[s:s + block]], x[j[s:s + block]])
                           for s in range(0, len(i), block)])


def _nearest_cosines(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    pool = x[rng.permutation(len(x))[:NEIGHBOUR_POOL]]
    queries = np.arange(min(NEIGHBOUR_QUERIES, len(pool)))  # the pool is in random order
    sims = pool[queries] @ pool.T
    sims[np.arange(len(queries)), queries] = -np.inf  # not itself
    return sims.max(axis=1)


def write_info(layout: DatasetDir, model_id: str | None, cosine: float, spread: Spread | None) -> None:
    """attributes/neardup/model.json: which embeddings the table's pairs come from, the
    measured spread, and whether the embedding threshold was used."""
    used = bool(model_id and cosine > 0 and (spread is None or spread.usable))
    doc = {"embedding_model": model_id, "cosine": cosine, "embedding_pairs": used,
           "max_random_over": MAX_OVER, "spread": asdict(spread) if spread else None,
           "note": spread.why_not() if spread and not spread.usable else None}
    io.write_text_atomic(layout.attribute_info("neardup"), json.dumps(doc, indent=1))


def read_info(layout: DatasetDir) -> dict:
    path = layout.attribute_info("neardup")
    return json.loads(io.read_text(path)) if io.exists(path) else {}
