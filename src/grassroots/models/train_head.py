"""Training a safety head from a dataset's embeddings and a labels file (key, label)."""

from __future__ import annotations

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from grassroots import io
from grassroots.embeddings import embedded_shards, model_info, read_embeddings
from grassroots.errors import InputError
from grassroots.layout import DatasetDir
from grassroots.models.head import Head, save_head, train_head


def read_labels(path: str) -> dict[str, int]:
    if not io.exists(path):
        raise InputError(path, "no such file")
    with io.open_file(path) as f:
        table = pacsv.read_csv(f) if path.endswith((".csv", ".csv.gz")) else pq.read_table(f)
    missing = {"key", "label"} - set(table.column_names)
    if missing:
        raise InputError(path, f"needs columns key and label; missing {sorted(missing)}")
    out = {}
    for i, (k, v) in enumerate(zip(table.column("key").to_pylist(), table.column("label").to_pylist()), start=1):
        if v not in (0, 1, True, False):
            raise InputError(path, f"label must be 0 or 1, got {v!r}", row=i)
        out[str(k)] = int(v)
    return out


def train_head_from_dataset(dataset: str, model_id: str, labels_path: str, output: str, name: str,
                            hidden: int = 0, epochs: int = 300) -> Head:
    layout = DatasetDir(dataset)
    model_info(layout, model_id)
    labels = read_labels(labels_path)
    embs, ys = [], []
    for shard in embedded_shards(layout, model_id):
        keys, img, _ = read_embeddings(layout, model_id, shard)
        for i, k in enumerate(keys):
            if k in labels:
                embs.append(img[i])
                ys.append(labels[k])
    if not embs:
        raise InputError(labels_path, "no labelled key has an embedding", f"keys must be sample keys of {dataset}")
    head = train_head(name, model_id, np.stack(embs), np.array(ys), hidden=hidden, epochs=epochs)
    save_head(head, output)
    return head
