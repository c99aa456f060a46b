"""Hard negative captions: each caption with one word swapped for a word the other
captions use in the same place (NegCLIP's idea, without a parser).

A batch's contrastive loss tells "two red stars" from "two blue stars" only when both
happen to be in the batch; colour, the easiest cue, settles most pairs, and the towers
can learn to ignore what colour does not decide (small shapes, counts, relations).
Here every caption brings negatives that differ in one word each: the image must be
nearer its own caption than its negatives, so each word that names something in the
picture gets a gradient at every step.

Which word may replace which is read from the captions themselves: ``w`` may replace
``v`` where both occur between the same neighbours ("two _ stars": red, blue ...; "a
blue _": star, cross ...) and both are *slot words*, seen in at least ``min_contexts``
different neighbourhoods. Template words ("a photo of", "a picture of") sit in one
neighbourhood each, so swapping them, which would make a negative that is still true,
is avoided. A caption with no swappable word gets none (masked out of the loss).
"""

from __future__ import annotations

import random
from collections import defaultdict


def _contexts(words: list[str]):
    for i, w in enumerate(words):
        yield i, w, (words[i - 1] if i else "<s>", words[i + 1] if i + 1 < len(words) else "</s>")


def swap_table(captions: list[str], min_contexts: int = 3) -> dict[tuple[str, str], list[str]]:
    """(left, right) neighbours -> the slot words seen between them (sorted, for a fixed draw)."""
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    where: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for caption in captions:
        words = caption.lower().split()
        for _, w, ctx in _contexts(words):
            seen[ctx].add(w)
            where[w].add(ctx)
    slot = {w for w, ctxs in where.items() if len(ctxs) >= min_contexts}
    return {ctx: sorted(ws & slot) for ctx, ws in seen.items() if len(ws & slot) > 1}


def _options(lower: list[str], table: dict[tuple[str, str], list[str]]) -> list[tuple[int, list[str]]]:
    """The caption's swappable places: (index, the slot words that may replace its word)."""
    return [(i, [c for c in table[ctx] if c != w]) for i, w, ctx in _contexts(lower) if w in table.get(ctx, ())]


def negative(caption: str, table: dict[tuple[str, str], list[str]], rng: random.Random) -> str | None:
    """``caption`` with one slot word replaced by another seen in its place; None if none can be."""
    words = caption.split()
    # a slot word in a place other slot words share (the table lists only places with two or more)
    options = _options([w.lower() for w in words], table)
    if not options:
        return None
    return _swapped(words, *rng.choice(options), rng)


def _swapped(words: list[str], i: int, cands: list[str], rng: random.Random) -> str:
    return " ".join(words[:i] + [rng.choice(cands)] + words[i + 1:])


def draw(captions: list[str], k: int, seed: int, min_contexts: int = 3) -> tuple[list[list[str]], list[bool]]:
    """``k`` negatives per caption (``k`` lists, each one per caption; drawn once, fixed by ``seed``:
    training scores all ``k`` at every step, so a resumed run sees the negatives an unbroken one does),
    and which captions have any (one without keeps itself as a placeholder, masked out of the loss).
    A caption's negatives swap words in different places while it has places left ("two red stars":
    one the count, one the colour, one the shape), so no word it names goes without a negative."""
    table = swap_table(captions, min_contexts)
    rng = random.Random(seed)
    out: list[list[str]] = [[] for _ in range(k)]
    has: list[bool] = []
    for caption in captions:
        words = caption.split()
        options = _options([w.lower() for w in words], table)
        places = rng.sample(options, len(options))  # each place once, in a random order, then again
        for j in range(k):
            out[j].append(_swapped(words, *places[j % len(places)], rng) if places else caption)
        has.append(bool(places))
    return out, has


def clip_loss_with_negatives(img, txt, neg, scale, has):
    """CLIP's symmetric loss, each image also scored against its own negative captions
    (``has``: which samples have them). ``img``, ``txt``: L2-normalised (B, d); ``neg``:
    L2-normalised (k, B, d), the k negatives of each caption (or (B, d): one)."""
    import torch
    import torch.nn.functional as F

    if neg.ndim == 2:
        neg = neg[None]
    labels = torch.arange(img.shape[0], device=img.device)
    own = (scale * (img[None] * neg).sum(-1)).T.masked_fill(~has.to(img.device)[:, None], float("-inf"))
    per_image = torch.cat([scale * img @ txt.T, own], dim=1)
    return (F.cross_entropy(per_image, labels) + F.cross_entropy(scale * txt @ img.T, labels)) / 2
