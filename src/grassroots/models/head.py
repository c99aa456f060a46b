"""Safety heads: a linear layer or a 2-layer MLP on a CLIP image embedding that
gives a probability (nsfw, watermark ...), LAION-style.

A head file is safetensors: tensors ``w1 b1`` (and ``w2 b2`` for an MLP) plus
metadata naming the embedding model it expects; a head is refused for
embeddings of another model. Inference is numpy, here; training (torch) is
grassroots.train.head.
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
