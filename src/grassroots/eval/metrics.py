"""Zero-shot classification and retrieval metrics on plain arrays, with
CLIP_benchmark's definitions (clip_benchmark/metrics/zeroshot_*.py):

- ``acc1``/``acc5``: the true class is among the k highest logits; acc5 is NaN
  when there are fewer than 5 classes (CLIP_benchmark writes NaN too).
- ``mean_per_class_recall``: sklearn's ``balanced_accuracy_score`` — the recall
  of each class that has images, averaged; classes without images do not count.
- retrieval recall@k: the share of queries with at least one positive among
  their k best-scored candidates. ``image_retrieval`` ranks images for each
  caption (text -> image); ``text_retrieval`` ranks captions for each image.

Ties are broken towards the lower index (a stable sort), as torch.topk does on
the CPU for the inputs we give it.
"""

from __future__ import annotations

import numpy as np


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores of each row, best first (ties: lower index first)."""
    k = min(k, scores.shape[1])
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def topk_accuracy(logits: np.ndarray, targets: np.ndarray, k: int) -> float:
    """Share of rows whose target is among their k highest logits."""
    if len(targets) == 0:
        raise ValueError("no samples")
    hits = (top_k(logits, k) == np.asarray(targets)[:, None]).any(axis=1)
    return float(hits.mean())


def mean_per_class_recall(predictions: np.ndarray, targets: np.ndarray) -> float:
    """Recall of each class present in ``targets``, averaged (balanced accuracy)."""
    targets, predictions = np.asarray(targets), np.asarray(predictions)
    if len(targets) == 0:
        raise ValueError("no samples")
    recalls = [float((predictions[targets == c] == c).mean()) for c in np.unique(targets)]
    return float(np.mean(recalls))


def classification_metrics(logits: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """CLIP_benchmark's zero-shot classification metrics, in its key order."""
    n_classes = logits.shape[1]
    return {
        "acc1": topk_accuracy(logits, targets, 1),
        "acc5": topk_accuracy(logits, targets, 5) if n_classes >= 5 else float("nan"),
        "mean_per_class_recall": mean_per_class_recall(logits.argmax(axis=1), targets),
    }


def recall_at_k(scores: np.ndarray, positives: np.ndarray, k: int) -> float:
    """Share of queries (rows) with a positive among their k best candidates (columns)."""
    if scores.shape != positives.shape:
        raise ValueError(f"scores {scores.shape} and positives {positives.shape} differ in shape")
    if scores.shape[0] == 0:
        raise ValueError("no queries")
    best = top_k(scores, k)
    return float(np.take_along_axis(positives, best, axis=1).any(axis=1).mean())


def retrieval_metrics(image_emb: np.ndarray, text_emb: np.ndarray, text_image: np.ndarray,
                      ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """Recall@k both ways, CLIP_benchmark's keys and order. ``text_image[t]`` is the
    index of caption t's image (an image may have several captions)."""
    scores = text_emb.astype(np.float32) @ image_emb.astype(np.float32).T  # captions x images
    positives = np.zeros(scores.shape, dtype=bool)
    positives[np.arange(len(text_image)), text_image] = True
    out: dict[str, float] = {}
    for k in ks:
        out[f"image_retrieval_recall@{k}"] = recall_at_k(scores, positives, k)
        out[f"text_retrieval_recall@{k}"] = recall_at_k(scores.T, positives.T, k)
    return out


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
