"""Reading a release's index: vector search with the safety filter and
near-duplicate folding, key lookup, PDQ matching (format: grassroots.index)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from grassroots import io
from grassroots.errors import InputError
from grassroots.index.items import read_items
from grassroots.layout import DatasetDir, IndexDir

MAX_FETCH = 4096  # candidates looked at for one query before giving up on filling k
# Number of set bits of every byte value (PDQ Hamming distances over packed hashes).
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint16)


@dataclass(frozen=True)
class Hit:
    position: int  # row of items.arrow
    key: str
    score: float  # cosine (img/txt) or 256 - Hamming distance bits (pdq)
    folded: int = 0  # search with dedup: copies (same near-duplicate cluster) left out in its favour


class ReleaseIndex:
    """One loaded index directory. Thread-safe for searches (faiss releases the GIL)."""

    def __init__(self, path: str, release: DatasetDir):
        import faiss

        self.path, self.release = path, release
        self.doc = json.loads(io.read_text(IndexDir(path).doc))
        self.items = read_items(IndexDir(path))
        ids = self.items.column("id").to_numpy()
        self._ids = None if np.array_equal(ids, np.arange(len(ids))) else ids  # None: id == position
        keys = np.array(self.items.column("key").to_pylist(), dtype=str)
        self._key_order = np.argsort(keys, kind="stable")
        self._sorted_keys = keys[self._key_order]
        self._keys = keys
        self._names, self._columns = self.items.column_names, self.items.columns
        self.heads: list[str] = list(self.doc.get("heads", []))
        self._head_values = {h: self.items.column(h).to_numpy(zero_copy_only=False) for h in self.heads}
        self._cluster = self.items.column("neardup_cluster").to_pylist()
        pdq = self.items.column("pdq").combine_chunks() if self.items.num_rows else pa.array([], pa.binary(32))
        self._has_pdq = pdq.is_valid().to_numpy(zero_copy_only=False)
        raw = pdq.buffers()[1]
        self._pdq = (np.frombuffer(raw, dtype=np.uint8)[pdq.offset * 32:(pdq.offset + len(pdq)) * 32].reshape(-1, 32)
                     if raw is not None else np.zeros((0, 32), np.uint8))
        self._rerank = int(self.doc["params"].get("rerank") or 0)
        self._shard = self.items.column("shard").to_numpy()
        self._emb_row = self.items.column("emb_row").to_numpy()
        self._mmaps: dict[tuple[int, str], np.ndarray] = {}
        self.faiss = {}  # the index as stored (an ``ivf`` may hold a rotation before its inverted file)
        self._search = {}  # what a query is searched with: (linear maps applied here, the index behind them)
        for kind in ("img", "txt"):
            with io.open_file(f"{path}/{kind}.faiss") as f:
                index = faiss.deserialize_index(np.frombuffer(f.read(), dtype=np.uint8))
            if self.doc["kind"] == "ivf":
                faiss.extract_index_ivf(index).nprobe = int(self.doc["params"]["nprobe"])
            self.faiss[kind] = index
            self._search[kind] = _split_transforms(index)

    @property
    def count(self) -> int:
        return self.items.num_rows

    def position_of(self, key: str) -> int | None:
        i = int(np.searchsorted(self._sorted_keys, key))
        if i < len(self._sorted_keys) and self._sorted_keys[i] == key:
            return int(self._key_order[i])
        return None

    def item(self, position: int) -> dict:
        # one scalar a column: ~4x faster than slice(...).to_pylist() (10 of these a query)
        return {name: column[position].as_py() for name, column in zip(self._names, self._columns)}

    def unsafe(self, position: int, threshold: float) -> bool:
        return any((v := self._head_values[h][position]) is not None and v == v and v >= threshold
                   for h in self.heads)

    def search(self, vector: np.ndarray, k: int, over: str = "img", safe: bool = True, threshold: float = 0.5,
               dedup: bool = True) -> list[Hit]:
        """Top ``k`` samples by cosine to ``vector`` (normalised here), unsafe ones
        left out (``safe``), one per near-duplicate cluster (``dedup``): a hit's
        ``folded`` counts the copies that ranked above the last hit and were left out
        for it. Clusters are stars (every member a near-duplicate of its representative,
        grassroots.stages.neardup), so folding never empties a page."""
        q = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        if q.shape[1] != self.doc["dim"]:
            raise InputError("vector", f"has {q.shape[1]} dimensions; this index has {self.doc['dim']}")
        norm = float(np.linalg.norm(q))
        if not np.isfinite(norm) or norm == 0:
            raise InputError("vector", "is zero or not finite")
        q /= norm
        fetch = k if not (safe and self.heads) and not dedup else min(4 * k, MAX_FETCH)
        fetch = max(fetch, self._rerank * k)
        while True:
            scores, ids = self._faiss_search(q, over, min(fetch, max(self.count, 1)))
            ids = ids[0][ids[0] >= 0]
            positions = ids if self._ids is None else np.searchsorted(self._ids, ids)
            scores = self._exact(q[0], positions, over) if self._rerank else scores[0][:len(ids)]
            order = np.argsort(-scores, kind="stable")
            hits, folded, where = [], [], {}  # where: cluster -> its hit
            for s, pos in zip(scores[order], positions[order]):
                pos = int(pos)
                if safe and self.unsafe(pos, threshold):
                    continue
                group = self._cluster[pos] or str(self._keys[pos])
                if dedup and group in where:
                    folded[where[group]] += 1
                    continue
                where[group] = len(hits)
                hits.append((pos, float(s)))
                folded.append(0)
                if len(hits) == k:
                    break
            if len(hits) == k or fetch >= min(MAX_FETCH, self.count):
                return [Hit(p, str(self._keys[p]), s, n) for (p, s), n in zip(hits, folded)]
            fetch = min(fetch * 4, MAX_FETCH)

    def _faiss_search(self, q: np.ndarray, over: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        maps, index = self._search[over]
        for a, b in maps:
            q = np.einsum("ij,nj->ni", a, q) + b
        return index.search(np.ascontiguousarray(q, dtype=np.float32), n)

    def _vectors(self, shard: int, over: str) -> np.ndarray:
        if (shard, over) not in self._mmaps:
            path = self.release.embedding(self.doc["model_id"], over, shard)
            if io.is_local(path):
                self._mmaps[(shard, over)] = np.load(io.fs_and_path(path)[1], mmap_mode="r")
            else:
                with io.open_file(path) as f:
                    self._mmaps[(shard, over)] = np.load(f)
        return self._mmaps[(shard, over)]

    def _exact(self, q: np.ndarray, positions: np.ndarray, over: str) -> np.ndarray:
        """Exact cosines of the candidates, from the release's embeddings (one gather a shard)."""
        out = np.empty(len(positions), dtype=np.float32)
        shards = self._shard[positions]
        for shard in np.unique(shards):
            mine = np.flatnonzero(shards == shard)
            rows = self._emb_row[positions[mine]]
            order = np.argsort(rows, kind="stable")  # ascending rows: a forward walk over the memory map
            out[mine[order]] = self._vectors(int(shard), over)[rows[order]].astype(np.float32) @ q
        return out

    def pdq_matches(self, pdq: bytes, max_distance: int, limit: int = 50) -> list[tuple[int, int]]:
        """(position, Hamming distance) of samples whose PDQ is within ``max_distance`` bits, nearest first."""
        if not len(self._pdq):
            return []
        q = np.frombuffer(pdq, dtype=np.uint8)
        dist = _POPCOUNT[np.bitwise_xor(self._pdq, q)].sum(axis=1)
        dist = np.where(self._has_pdq, dist, 999)
        close = np.flatnonzero(dist <= max_distance)
        close = close[np.argsort(dist[close], kind="stable")][:limit]
        return [(int(p), int(dist[p])) for p in close]

    def embedding(self, position: int, over: str = "img") -> np.ndarray:
        """The stored embedding of an indexed sample (from the release's embeddings)."""
        return np.asarray(self._vectors(int(self._shard[position]), over)[self._emb_row[position]], dtype=np.float32)


def _split_transforms(index) -> tuple[list[tuple[np.ndarray, np.ndarray]], object]:
    """An IndexPreTransform of linear maps (the rotation before an ``ivf``) as ([(A, b)], the
    index behind), the maps to be applied here (numpy, no BLAS): faiss applies them to one
    query with a BLAS call whose OpenMP threads then spin beside the scan; in a long-lived
    thread (a server's) a 300k-vector search took 7 ms instead of 1.4 on 2 cores, and the
    server spent 9 ms of CPU a query instead of 4. Any other index: ([], itself)."""
    import faiss

    if not isinstance(index, faiss.IndexPreTransform):
        return [], index
    maps = []
    for i in range(index.chain.size()):
        t = faiss.downcast_VectorTransform(index.chain.at(i))
        if not isinstance(t, faiss.LinearTransform):
            return [], index
        a = faiss.vector_to_array(t.A).reshape(t.d_out, t.d_in)
        b = faiss.vector_to_array(t.b) if t.have_bias else np.zeros(t.d_out, dtype=np.float32)
        maps.append((a, b.astype(np.float32)))
    return maps, faiss.downcast_index(index.index)  # owned by ``index``, which self.faiss keeps


def load_index(release_dir: str, model_id: str | None = None) -> ReleaseIndex:
    release = DatasetDir(release_dir)
    found = [p.rstrip("/").rsplit("/", 2)[-2] for p in io.glob(release.index_docs_glob())]
    if model_id is None:
        if len(found) != 1:
            raise InputError(release.index_dir, f"holds {len(found)} indexes ({', '.join(found) or 'none'})",
                             "run `grassroots index` first" if not found else "pass --embeddings MODEL_ID")
        model_id = found[0]
    index = release.index(model_id)
    if not io.exists(index.doc):
        raise InputError(index.root, "no index here", "run `grassroots index DATASET --release vN` first")
    return ReleaseIndex(index.root, release)
