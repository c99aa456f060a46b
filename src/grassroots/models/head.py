"""Safety heads: a linear layer or a 2-layer MLP on a CLIP image embedding that
gives a probability (nsfw, watermark ...), LAION-style.

A head file is safetensors: tensors ``w1 b1`` (and ``w2 b2`` for an MLP) plus
metadata naming the embedding model it expects; a head is refused for
embeddings of another model. Inference is numpy; training is torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grassroots.errors import InputError


@dataclass(frozen=True)
class Head:
    name: str
    embedding_model: str
    weights: dict  # name -> np.ndarray (float32)
    auc: float | None = None

    def predict(self, emb: np.ndarray) -> np.ndarray:
        """Probabilities (float32) for rows of embeddings."""
        x = emb.astype(np.float32) @ self.weights["w1"].T + self.weights["b1"]
        if "w2" in self.weights:
            x = np.maximum(x, 0) @ self.weights["w2"].T + self.weights["b2"]
        return (1 / (1 + np.exp(-x[:, 0]))).astype(np.float32)


def load_head(path: str, name: str | None = None) -> Head:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(path, framework="numpy") as f:
            meta = f.metadata() or {}
            weights = {k: f.get_tensor(k).astype(np.float32) for k in f.keys()}
    except (OSError, SafetensorError) as e:
        raise InputError(path, f"not a head file: {e}", "train one with `grassroots train-head`") from None
    if "w1" not in weights or "embedding_model" not in meta:
        raise InputError(path, "not a grassroots head (no w1 tensor or embedding_model metadata)")
    auc = float(meta["auc"]) if meta.get("auc") else None
    return Head(name or meta.get("name", "head"), meta["embedding_model"], weights, auc)


def save_head(head: Head, path: str) -> None:
    from safetensors.numpy import save_file

    meta = {"name": head.name, "embedding_model": head.embedding_model, "kind": "mlp" if "w2" in head.weights
            else "linear", **({"auc": f"{head.auc:.4f}"} if head.auc is not None else {})}
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in head.weights.items()}, path, metadata=meta)


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (rank statistic; ties counted half)."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    allv = np.concatenate([pos, neg])
    for v in np.unique(allv):  # average ranks of ties
        tie = allv == v
        if tie.sum() > 1:
            ranks[tie] = ranks[tie].mean()
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def train_head(name: str, embedding_model: str, emb: np.ndarray, labels: np.ndarray, *, hidden: int = 0,
               epochs: int = 200, lr: float = 0.05, holdout: float = 0.2, seed: int = 0) -> Head:
    """Logistic regression (hidden=0) or a 2-layer MLP, trained on (1 - holdout) of
    the rows; the AUC on the held-out rows is stored with the head."""
    import torch

    if len(emb) != len(labels) or len(emb) < 4:
        raise InputError("--labels", f"need at least 4 labelled embeddings, got {len(labels)}")
    if set(np.unique(labels)) - {0, 1}:
        raise InputError("--labels", "labels must be 0 or 1")
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(emb))
    n_test = max(1, int(len(emb) * holdout))
    test, trainset = idx[:n_test], idx[n_test:]
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
