"""Hard negative captions (train/negatives.py): one slot word swapped for another seen in
its place, template words left alone, and a loss that is CLIP's where there is none."""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F

from grassroots.train.negatives import clip_loss_with_negatives, draw, negative, swap_table

CAPTIONS = [f"{t}{n} {c} {s}" for t in ("", "a photo of ", "a picture of ") for n in ("two", "three")
            for c in ("red", "blue", "green") for s in ("stars", "crosses", "circles")]


def test_slot_words_swap_with_their_own_kind_and_template_words_stay():
    table = swap_table(CAPTIONS)
    assert table[("two", "stars")] == ["blue", "green", "red"]  # colours between a count and a shape
    assert table[("red", "</s>")] == ["circles", "crosses", "stars"]
    assert ("a", "of") not in table  # "photo"/"picture": one neighbourhood each, never swapped
    rng = random.Random(0)
    for caption in CAPTIONS:
        neg = negative(caption, table, rng)
        a, b = caption.split(), neg.split()
        diff = [(x, y) for x, y in zip(a, b) if x != y]
        assert len(a) == len(b) and len(diff) == 1, (caption, neg)
        (was, now), = diff
        assert was not in ("photo", "picture", "of", "a") and now != was


def test_negatives_are_fixed_by_seed_and_a_caption_without_slot_words_has_none():
    caps = CAPTIONS + ["completely unique words here"]
    n1, has1 = draw(caps, 4, seed=3)
    n2, has2 = draw(caps, 4, seed=3)
    assert n1 == n2 and has1 == has2 and draw(caps, 4, seed=4)[0] != n1
    assert len(n1) == 4 and all(len(d) == len(caps) for d in n1)
    assert has1[-1] is False and all(d[-1] == caps[-1] for d in n1) and all(has1[:-1])
    # each draw is a negative of its own caption, and the four draws of a caption are not all one
    assert all(d[i] != caps[i] for d in n1 for i in range(len(CAPTIONS)))
    assert sum(len({d[i] for d in n1}) > 1 for i in range(len(CAPTIONS))) > len(CAPTIONS) // 2


def test_a_captions_negatives_swap_different_words_until_each_has_had_one():
    caps = ["two red stars", "a photo of three blue crosses", "a red star and a blue cross"] + CAPTIONS
    drawn, _ = draw(caps, 4, seed=0)
    for i, caption in enumerate(caps[:3]):
        words = caption.split()
        places = [next(j for j, (a, b) in enumerate(zip(words, d[i].split())) if a != b) for d in drawn]
        # "two red stars": count, colour and shape each swapped once before any twice
        table = swap_table(caps)
        swappable = sum(1 for j, w in enumerate(words)
                        if w in table.get((words[j - 1] if j else "<s>", words[j + 1] if j + 1 < len(words) else "</s>"), ()))
        assert len(set(places)) == min(4, swappable), (caption, [d[i] for d in drawn])


def test_the_loss_is_clips_without_negatives_and_grows_with_a_close_one():
    from open_clip.loss import ClipLoss

    g = torch.Generator().manual_seed(0)
    img, txt = (F.normalize(torch.randn(8, 16, generator=g), dim=-1) for _ in range(2))
    neg = F.normalize(torch.randn(8, 16, generator=g), dim=-1)
    scale = torch.tensor(10.0)
    none = clip_loss_with_negatives(img, txt, neg, scale, torch.zeros(8, dtype=torch.bool))
    assert torch.allclose(none, ClipLoss()(img, txt, scale), atol=1e-6)
    far = clip_loss_with_negatives(img, txt, -img, scale, torch.ones(8, dtype=torch.bool))
    close = clip_loss_with_negatives(img, txt, img, scale, torch.ones(8, dtype=torch.bool))
    assert none < far < close  # a negative as near as the image itself costs the most
    # k negatives a caption, (k, B, d): each adds its term; one of them (k=1) is the (B, d) form
    assert torch.allclose(clip_loss_with_negatives(img, txt, neg[None], scale, torch.ones(8, dtype=torch.bool)),
                          clip_loss_with_negatives(img, txt, neg, scale, torch.ones(8, dtype=torch.bool)))
    two = clip_loss_with_negatives(img, txt, torch.stack([img, img]), scale, torch.ones(8, dtype=torch.bool))
    assert close < two  # two close negatives cost more than one
    masked = clip_loss_with_negatives(img, txt, torch.stack([-img, img]), scale, torch.zeros(8, dtype=torch.bool))
    assert torch.allclose(masked, none, atol=1e-6)
