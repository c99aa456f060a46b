"""Training a safety head (grassroots.models.head) from a dataset's embeddings and a
labels file (key, label): logistic regression or a 2-layer MLP, its held-out AUC stored."""

from __future__ import annotations

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from grassroots import io
from grassroots.embeddings import embedded_shards, model_info, read_embeddings
from grassroots.errors import InputError
from grassroots.layout import DatasetDir
from grassroots.eval.metrics import roc_auc
from grassroots.models.head import Head, save_head


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


def _split(labels: np.ndarray, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(held-out, training) row indices, stratified: ``holdout`` of each class (at least one
    of a class with two or more rows) is held out, so the held-out AUC is defined whenever
    both classes have two rows (a plain random split of 8 positives in 40 rows held out no
    positive one run in ten: AUC NaN)."""
    rng = np.random.default_rng(seed)
    test, train = [], []
    for c in (0, 1):
        rows = rng.permutation(np.flatnonzero(labels == c))
        n = max(1, int(round(len(rows) * holdout))) if len(rows) >= 2 else 0
        test.append(rows[:n])
        train.append(rows[n:])
    return rng.permutation(np.concatenate(test)), rng.permutation(np.concatenate(train))


def train_head(name: str, embedding_model: str, emb: np.ndarray, labels: np.ndarray, *, hidden: int = 0,
               epochs: int = 200, lr: float = 0.05, holdout: float = 0.2, seed: int = 0) -> Head:
    """Logistic regression (hidden=0) or a 2-layer MLP, trained on (1 - holdout) of
    the rows; the AUC on the held-out rows is stored with the head."""
    import torch

    if len(emb) != len(labels) or len(emb) < 4:
        raise InputError("--labels", f"need at least 4 labelled embeddings, got {len(labels)}")
    if set(np.unique(labels)) - {0, 1}:
        raise InputError("--labels", "labels must be 0 or 1")
    test, trainset = _split(labels, holdout, seed)
    torch.manual_seed(seed)
    x = torch.tensor(emb.astype(np.float32))
    y = torch.tensor(labels.astype(np.float32))
    dim = x.shape[1]
    model = (torch.nn.Linear(dim, 1) if hidden == 0 else
             torch.nn.Sequential(torch.nn.Linear(dim, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    pos = float(y[trainset].mean().clamp(1e-3, 1 - 1e-3))
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor((1 - pos) / pos))  # balance rare positives
    for _ in range(epochs):
        opt.zero_grad()
        loss = loss_fn(model(x[trainset])[:, 0], y[trainset])
        loss.backward()
        opt.step()
    layers = [m for m in (model if hidden else [model]) if isinstance(m, torch.nn.Linear)]
    weights = {}
    for i, layer in enumerate(layers, start=1):
        weights[f"w{i}"] = layer.weight.detach().numpy().copy()
        weights[f"b{i}"] = layer.bias.detach().numpy().copy()
    head = Head(name, embedding_model, weights)
    auc = roc_auc(labels[test], head.predict(emb[test]))
    return Head(name, embedding_model, weights, auc)
