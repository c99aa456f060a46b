"""Training a safety head (grassroots.models.head) from a dataset's embeddings and a
labels file (key, label): logistic regression or a 2-layer MLP, its held-out AUC stored."""

from __future__ import annotations

import re

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


_RULE = re.compile(r"^\s*([a-z][a-z0-9_]*)\s*:\s*([a-z][a-z0-9_]*)\s*(>=|>)\s*([0-9]*\.?[0-9]+)\s*$")


def labels_from(dataset: str, rule: str) -> dict[str, int]:
    """Labels from an attribute table: ``TABLE:COLUMN>=VALUE`` (e.g. ``safety:nsfw>=0.8``) is
    1 where the column reaches the value, 0 elsewhere (null scores are left out): a
    detector's answers, so a model's embedding space gets a cheap head of the same thing."""
    m = _RULE.match(rule)
    if not m:
        raise InputError("--labels-from", f"cannot read {rule!r}", "write TABLE:COLUMN>=VALUE, e.g. safety:nsfw>=0.8")
    table, column, op, value = m[1], m[2], m[3], float(m[4])
    files = sorted(io.glob(DatasetDir(dataset).attribute_shards_glob(table)))
    if not files:
        raise InputError(f"{dataset}/attributes/{table}", "has no table",
                         "run the step that writes it first (e.g. grassroots safety DATASET)")
    out = {}
    for path in files:
        with io.open_file(path) as f:
            if column not in pq.read_schema(f).names:
                raise InputError(path, f"has no column {column!r}")
            f.seek(0)
            t = pq.read_table(f, columns=["key", column])
        for k, v in zip(t.column("key").to_pylist(), t.column(column).to_pylist()):
            if v is not None:
                out[k] = int(v >= value if op == ">=" else v > value)
    return out


def train_head_from_dataset(dataset: str, model_id: str, labels: str | dict[str, int], output: str, name: str,
                            hidden: int = 0, epochs: int = 300) -> Head:
    """``labels``: a labels file (key, label) or key -> label (e.g. from labels_from)."""
    layout = DatasetDir(dataset)
    model_info(layout, model_id)
    labels_path = labels if isinstance(labels, str) else "--labels-from"
    labels = read_labels(labels) if isinstance(labels, str) else labels
    if len(set(labels.values())) < 2:
        raise InputError(labels_path, f"every labelled sample is {next(iter(labels.values()), 0)}: nothing to learn",
                         "a head needs both positives and negatives (lower the threshold, or label by hand)")
    emb, ys = _labelled(layout, model_id, labels)
    if not len(emb):
        raise InputError(labels_path, "no labelled key has an embedding", f"keys must be sample keys of {dataset}")
    head = train_head(name, model_id, emb, ys, hidden=hidden, epochs=epochs)
    save_head(head, output)
    return head


def _labelled(layout: DatasetDir, model_id: str, labels: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """(image embeddings, labels) of the labelled keys, in embedding order."""
    embs, ys = [], []
    for shard in embedded_shards(layout, model_id):
        keys, img, _ = read_embeddings(layout, model_id, shard)
        for i, k in enumerate(keys):
            if k in labels:
                embs.append(img[i])
                ys.append(labels[k])
    return (np.stack(embs) if embs else np.zeros((0, 0), np.float32)), np.array(ys, dtype=np.int64)


def agreement(dataset: str, model_id: str, head: Head, labels: dict[str, int]) -> tuple[float, int, int, float]:
    """How often the head (probability >= 0.5) says what the labels say: (on every labelled
    sample, positives, labelled samples, on the held-out split train_head kept aside)."""
    emb, ys = _labelled(DatasetDir(dataset), model_id, labels)
    same = (head.predict(emb) >= 0.5) == (ys == 1)
    test, _ = _split(ys, 0.2, 0)
    return float(same.mean()), int(ys.sum()), len(ys), float(same[test].mean()) if len(test) else float("nan")


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
