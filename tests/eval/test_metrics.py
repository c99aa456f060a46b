"""The metric functions on hand-built arrays whose answers are worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from grassroots.eval.metrics import (classification_metrics, mean_per_class_recall, recall_at_k, retrieval_metrics,
                                     topk_accuracy)

# 4 images, 6 classes. Row ranks (best first):
#   image 0 (class 0): 0 ...          -> top-1 hit
#   image 1 (class 1): 2, 1, ...      -> top-1 miss, top-5 hit
#   image 2 (class 1): 0,2,3,4,5,1    -> class 1 ranks 6th: top-5 miss
#   image 3 (class 5): 5 ...          -> top-1 hit
LOGITS = np.array([
    [9, 1, 2, 3, 4, 5],
    [1, 8, 9, 2, 3, 4],
    [9, 0, 8, 7, 6, 5],
    [1, 2, 3, 4, 5, 9],
], dtype=np.float32)
TARGETS = np.array([0, 1, 1, 5])


def test_topk_accuracy_counts_the_target_among_the_k_best():
    assert topk_accuracy(LOGITS, TARGETS, 1) == 0.5
    assert topk_accuracy(LOGITS, TARGETS, 2) == 0.75
    assert topk_accuracy(LOGITS, TARGETS, 5) == 0.75
    assert topk_accuracy(LOGITS, TARGETS, 6) == 1.0


def test_mean_per_class_recall_averages_over_classes_that_have_images():
    # class 0: 1/1, class 1: 0/2, class 5: 1/1; classes 2, 3, 4 have no images and do not count.
    assert mean_per_class_recall(LOGITS.argmax(axis=1), TARGETS) == pytest.approx((1 + 0 + 1) / 3)
    # Unbalanced classes: plain accuracy 3/4, balanced (1/3 + 1) / 2.
    assert mean_per_class_recall(np.array([0, 0, 0, 1]), np.array([0, 1, 1, 1])) == pytest.approx((1 + 1 / 3) / 2)


def test_classification_metrics_keys_and_nan_acc5_below_five_classes():
    m = classification_metrics(LOGITS, TARGETS)
    assert list(m) == ["acc1", "acc5", "mean_per_class_recall"]
    assert (m["acc1"], m["acc5"]) == (0.5, 0.75)
    small = classification_metrics(LOGITS[:, :4], np.array([0, 2, 0, 3]))
    assert small["acc1"] == 1.0 and math.isnan(small["acc5"])  # CLIP_benchmark: NaN with < 5 classes


def test_recall_at_k_is_the_share_of_queries_with_a_positive_in_the_top_k():
    scores = np.array([[0.9, 0.1, 0.5], [0.8, 0.7, 0.1], [0.1, 0.2, 0.3]])
    positives = np.eye(3, dtype=bool)
    assert recall_at_k(scores, positives, 1) == pytest.approx(2 / 3)  # query 1 ranks its item 2nd
    assert recall_at_k(scores, positives, 2) == 1.0
    positives[1, 0] = True  # a second positive for query 1, ranked first
    assert recall_at_k(scores, positives, 1) == 1.0
    with pytest.raises(ValueError, match="differ in shape"):
        recall_at_k(scores, positives[:2], 1)


def test_retrieval_metrics_both_directions_with_clip_benchmark_keys():
    # 3 images on the axes; captions 0 and 1 point at image 0 and 1, caption 2 at image 0 (but belongs to image 2).
    images = np.eye(3, dtype=np.float32)
    texts = np.array([[1, 0, 0], [0, 1, 0], [0.9, 0, 0.1]], dtype=np.float32)
    m = retrieval_metrics(images, texts, np.array([0, 1, 2]), ks=(1, 2))
    assert list(m) == ["image_retrieval_recall@1", "text_retrieval_recall@1",
                       "image_retrieval_recall@2", "text_retrieval_recall@2"]
    assert m["image_retrieval_recall@1"] == pytest.approx(2 / 3)  # caption 2 finds image 0 first
    # image -> captions: image 0 ranks caption 0 first; image 1 caption 1; image 2 ranks caption 2 first (0.1).
    assert m["text_retrieval_recall@1"] == 1.0
    assert m["image_retrieval_recall@2"] == 1.0 and m["text_retrieval_recall@2"] == 1.0
