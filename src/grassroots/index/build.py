"""Building and editing a release's index (the format is in grassroots.index)."""

from __future__ import annotations

import json
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from grassroots import io
from grassroots.embeddings import embedded_shards, embedding_models, model_info, read_embeddings
from grassroots.errors import InputError
from grassroots.index.items import head_tables, items_schema, read_items, shard_items
from grassroots.layout import DatasetDir, IndexDir

FORMAT = 1
EXACT_MAX = 50_000  # flat (exact) search up to here: ~11 ms a query at 50k x 512-d on this 2-core machine
TRAIN_MAX = 100_000  # vectors sampled to train the inverted file's centroids
KINDS = ("img", "txt")
TARGET_RECALL = 0.97  # nprobe is raised until recall@10 on a calibration sample reaches this
# nprobe steps of at most ~1.3x: the smallest count meeting the target, not the next power of two
NPROBES = (1, 2, 3, 4, 5, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224,
           256, 320, 384, 448, 512, 640, 768, 896, 1024)
CALIBRATION_QUERIES = 300
RERANK = 4  # an IVF search fetches RERANK * k candidates and re-ranks them exactly


def pick_model(release: DatasetDir, model_id: str | None) -> str:
    models = embedding_models(release)
    if model_id is None:
        if len(models) != 1:
            raise InputError(release.root, f"has {len(models)} embedding models ({', '.join(models) or 'none'})",
                             "pass --embeddings MODEL_ID" if models else "select a release from embedded samples")
        return models[0]
    model_info(release, model_id)  # a clear error when it is missing
    return model_id


def source_of(release: DatasetDir, model_id: str) -> list[list]:
    """[shard, rows] of every embedded shard: what the index is built from."""
    out = []
    for s in sorted(embedded_shards(release, model_id)):
        with io.open_file(release.embedding(model_id, "keys", s)) as f:
            out.append([s, pq.read_metadata(f).num_rows])
    return out


def build_index(release_dir: str, model_id: str | None = None, *, exclude_keys: frozenset[str] = frozenset(),
                exact_max: int = EXACT_MAX, train_max: int = TRAIN_MAX, seed: int = 0) -> dict:
    """Write releases/vN/index/<model-id>/ from the release's embeddings; returns index.json's content.
    ``exclude_keys``: samples left out (a takedown can rebuild without them)."""
    import faiss

    release = DatasetDir(release_dir)
    model_id = pick_model(release, model_id)
    info = model_info(release, model_id)
    source = source_of(release, model_id)
    if not source:
        raise InputError(release.embeddings_dir(model_id), "holds no embedded shards")
    heads = head_tables(release)
    schema = items_schema(heads)
    target = release.index(model_id)
    started = time.monotonic()
    if exclude_keys:  # only those in the release count (a dataset's takedown list names others too)
        exclude_keys = frozenset(k for s, _ in source for k in read_embeddings(release, model_id, s, mmap=True)[0]
                                 if k in exclude_keys)
    count = sum(n for _, n in source) - len(exclude_keys)
    dim = int(info.get("embed_dim") or read_embeddings(release, model_id, source[0][0], mmap=True)[1].shape[1])
    kind = "flat" if count <= exact_max else "ivf"
    nlist = 0
    indexes = {}
    if kind == "flat":
        for k in KINDS:
            indexes[k] = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    else:
        nlist = int(2 ** round(np.log2(max(count, 1) ** 0.5)))
        for k in KINDS:
            sample = _sample(release, model_id, source, k, min(train_max, max(40 * nlist, 1)), seed)
            indexes[k] = _ivf(dim, nlist, seed)
            indexes[k].train(sample)
    trained = time.monotonic() - started
    io.makedirs(target.root)
    next_id = 0
    with io.atomic_write(target.items, "wb") as f, pa.ipc.new_file(f, schema) as writer:
        for shard, _ in source:
            keys, img, txt = read_embeddings(release, model_id, shard, mmap=True)
            keep = np.array([k not in exclude_keys for k in keys], dtype=bool)
            keys = [k for k, m in zip(keys, keep) if m]
            ids = np.arange(next_id, next_id + len(keys), dtype=np.int64)
            for k, arr in (("img", img), ("txt", txt)):
                if len(keys):
                    indexes[k].add_with_ids(np.ascontiguousarray(arr[keep], dtype=np.float32), ids)
            emb_rows = np.flatnonzero(keep).tolist()
            writer.write_table(shard_items(release, shard, keys, emb_rows, next_id, heads, schema))
            next_id += len(keys)
    # IVF candidates are re-ranked by exact cosine from the release's embeddings (memory-mapped).
    params: dict = {"codec": "flat", "nlist": 0, "nprobe": 0, "rerank": 0}
    if kind == "ivf":  # "sq8u": 8-bit codes of one range (faiss QT_8bit_uniform) after a random rotation
        params = {"codec": "sq8u", "transform": "rotation", "quantizer": "flat", "nlist": nlist, "rerank": RERANK,
                  **_calibrate(indexes["img"], release, model_id, source, exclude_keys, seed)}
    for k, index in indexes.items():
        with io.atomic_write(target.faiss(k), "wb") as f:
            f.write(faiss.serialize_index(index).tobytes())
    doc = {"format": FORMAT, "model_id": model_id, "dim": dim, "count": next_id, "kind": kind, "exact_max": exact_max,
           "params": params,
           "heads": heads, "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "build_seconds": round(time.monotonic() - started, 2), "train_seconds": round(trained, 2),
           "source": source, "excluded": len(exclude_keys), "model": {k: info.get(k) for k in
                                                                       ("arch", "checkpoint", "checkpoint_sha256")}}
    io.write_text_atomic(target.doc, json.dumps(doc, indent=1))
    return doc


def _sample(release, model_id, source, kind: str, n: int, seed: int) -> np.ndarray:
    """``n`` vectors drawn evenly from every shard (memory: the sample only)."""
    total = sum(r for _, r in source)
    rng = np.random.default_rng(seed)
    parts = []
    for shard, rows in source:
        take = min(rows, int(np.ceil(n * rows / total)))
        if take:
            _, img, txt = read_embeddings(release, model_id, shard, mmap=True)
            arr = img if kind == "img" else txt
            parts.append(np.asarray(arr[np.sort(rng.choice(rows, take, replace=False))], dtype=np.float32))
    return np.ascontiguousarray(np.concatenate(parts))


def _ivf(dim: int, nlist: int, seed: int):
    """An untrained inverted file over a random rotation: ``nlist`` lists, 8-bit codes of one
    range for every (rotated) dimension of the residuals. A uniform code decodes with one
    multiply-add, scanning ~1.5x faster than per-dimension ranges at the same recall after
    re-ranking; the rotation spreads a few large dimensions over all, so one range fits."""
    import faiss

    rotation = faiss.RandomRotationMatrix(dim, dim)
    rotation.init(seed)
    ivf = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(dim), dim, nlist, faiss.ScalarQuantizer.QT_8bit_uniform,
                                        faiss.METRIC_INNER_PRODUCT)
    return faiss.IndexPreTransform(rotation, ivf)


def _kept(release, model_id, source, exclude_keys):
    """(first id, image embeddings (memory-mapped), rows kept) shard by shard: ids as build_index gives them."""
    next_id = 0
    for shard, _ in source:
        keys, img, _ = read_embeddings(release, model_id, shard, mmap=True)
        keep = np.array([key not in exclude_keys for key in keys], dtype=bool)
        yield next_id, img, np.flatnonzero(keep)
        next_id += int(keep.sum())


def _calibrate(index, release, model_id, source, exclude_keys, seed: int, queries: int = CALIBRATION_QUERIES,
               k: int = 10) -> dict:
    """The smallest nprobe (of NPROBES) whose recall@k against exact search reaches
    TARGET_RECALL among the RERANK * k candidates exact re-ranking sees (so, after it).
    Queries are stored vectors plus a little noise, standing for held-out ones: the stored
    vector itself is left out of the truth and of the candidates (it would be a free hit)."""
    import faiss

    rng = np.random.default_rng(seed + 1)
    qids = np.sort(rng.choice(index.ntotal, min(queries, index.ntotal), replace=False))
    parts = []
    for first, img, rows in _kept(release, model_id, source, exclude_keys):
        mine = qids[(qids >= first) & (qids < first + len(rows))] - first
        parts.append(np.asarray(img[rows[mine]], dtype=np.float32))
    q = np.concatenate(parts)
    q = q + rng.normal(0, 0.01, q.shape).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    kk = min(k + 1, index.ntotal)  # the truth: exact top k + 1 (streamed over the shards), then less the query's own
    best_s = np.full((len(q), kk), -np.inf, dtype=np.float32)
    best_i = np.full((len(q), kk), -1, dtype=np.int64)
    for first, img, rows in _kept(release, model_id, source, exclude_keys):
        s = q @ np.asarray(img[rows], dtype=np.float32).T
        ids = np.broadcast_to(np.arange(first, first + len(rows)), s.shape)
        cs, ci = np.concatenate([best_s, s], axis=1), np.concatenate([best_i, ids], axis=1)
        top = np.argpartition(-cs, kk - 1, axis=1)[:, :kk]
        best_s, best_i = np.take_along_axis(cs, top, 1), np.take_along_axis(ci, top, 1)
    order = np.argsort(-best_s, axis=1, kind="stable")
    truth = [[i for i in row if i != own][:k] for row, own in zip(np.take_along_axis(best_i, order, 1), qids)]
    ivf = faiss.extract_index_ivf(index)
    tried = []
    for nprobe in [p for p in NPROBES if p < ivf.nlist] + [ivf.nlist]:
        ivf.nprobe = nprobe
        _, found = index.search(q, RERANK * k + 1)  # exact re-ranking keeps the true top k among these
        seen = [[i for i in f if i != own][:RERANK * k] for f, own in zip(found, qids)]
        recall = float(np.mean([len(set(t) & set(f)) / max(len(t), 1) for t, f in zip(truth, seen)]))
        tried.append([nprobe, round(recall, 4)])
        if recall >= TARGET_RECALL:
            break
    return {"nprobe": int(ivf.nprobe), "calibration_recall_at_10": tried[-1][1], "calibration_queries": len(q),
            "target_recall": TARGET_RECALL, "calibration": tried}


def remove_keys(index_path: str | IndexDir, keys: set[str]) -> int:
    """Delete samples from an existing index directory in place; how many were removed."""
    import faiss
    import pyarrow.compute as pc

    where = index_path if isinstance(index_path, IndexDir) else IndexDir(str(index_path))
    items = read_items(where)
    gone = pc.is_in(items.column("key"), pa.array(sorted(keys), pa.string()))
    ids = items.column("id").filter(gone).to_numpy()
    if not len(ids):
        return 0
    for k in KINDS:
        with io.open_file(where.faiss(k)) as f:
            index = faiss.deserialize_index(np.frombuffer(f.read(), dtype=np.uint8))
        index.remove_ids(faiss.IDSelectorBatch(ids))
        with io.atomic_write(where.faiss(k), "wb") as f:
            f.write(faiss.serialize_index(index).tobytes())
    kept = items.filter(pc.invert(gone))
    with io.atomic_write(where.items, "wb") as f, pa.ipc.new_file(f, kept.schema) as writer:
        writer.write_table(kept)
    doc = json.loads(io.read_text(where.doc))
    doc["count"] = kept.num_rows
    doc["removed"] = doc.get("removed", 0) + len(ids)
    io.write_text_atomic(where.doc, json.dumps(doc, indent=1))
    return len(ids)
