"""The safety head's held-out split keeps both classes, so its AUC is a number on any seed
(a plain random split of 8 positives in 40 rows held out none one run in ten: AUC NaN,
and the demo-dataset test failed with it)."""

from __future__ import annotations

import math

import numpy as np

from grassroots.train.head import _split, train_head


def test_every_seed_holds_out_both_classes_and_the_auc_is_a_number():
    labels = np.array([1] * 8 + [0] * 32)
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(40, 8)).astype(np.float32)
    emb[:8] += 1.5  # the positives are separable
    for seed in range(50):
        test, train = _split(labels, 0.2, seed)
        assert sorted([*test, *train]) == list(range(40))
        assert labels[test].sum() == 2 and (labels[test] == 0).sum() == 6
    head = train_head("nsfw", "m", emb, labels, epochs=100, seed=3)
    assert not math.isnan(head.auc) and head.auc > 0.8
