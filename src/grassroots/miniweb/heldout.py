"""A zero-shot evaluation set of scenes, as an image folder per class.

The classes are ALL (colour, shape) pairs (8 x 4 = 32: chance is ~3%), named
like "red square" (folder ``red_square``). Images show one group of one pair
(one to four shapes, no second group, no word) on a random background and
texture; by default only the held-out pairs get images — pairs the mini-web
never shows, so a model must compose colour and shape it learned apart. The
other classes are empty folders: they still compete for every image.
``pairs="all"`` gives every class images (a sanity check on seen pairs).

The folder carries its prompt templates (``zeroshot_classification_templates.txt``,
read by ``grassroots eval``), so ``grassroots eval CKPT --zeroshot DIR`` needs
nothing else.
"""

from __future__ import annotations

import enum
import os

from grassroots.eval.templates import SCENES, TEMPLATES_FILE
from grassroots.miniweb.scenes import (BACKGROUNDS, COLOURS, SHAPES, TEXTURES, Group, Scene, caption_splits,
                                       encode, key_rng, render)


class Pairs(str, enum.Enum):
    HELD_OUT = "held-out"
    ALL = "all"


def class_folder(colour: str, shape: str) -> str:
    return f"{colour}_{shape}"


def heldout_scene(colour: str, shape: str, seed: int, index: int, side: int = 128) -> Scene:
    """One group of ``colour`` ``shape`` (1-4 of them) on a random background and texture."""
    rng = key_rng("heldout-eval", seed, colour, shape, index)
    count = rng.choice((1, 1, 2, 2, 3, 4))
    texture = rng.choice(tuple(TEXTURES))
    background = rng.choice([b for b in BACKGROUNDS if b != COLOURS[colour]])
    return Scene((Group(count, colour, shape),), None, texture, background, None, side, side, rng.getrandbits(32))


def write_heldout(out: str, per_class: int = 20, seed: int = 0, pairs: Pairs | str = Pairs.HELD_OUT,
                  side: int = 128) -> str:
    """Write the set to ``out`` (created; an earlier set there is replaced) and return ``out``."""
    pairs = Pairs(pairs)
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    splits = caption_splits()
    with_images = set(splits["held_out"]) | (set(splits["train"]) if pairs is Pairs.ALL else set())
    os.makedirs(out, exist_ok=True)
    for colour in COLOURS:
        for shape in SHAPES:
            folder = os.path.join(out, class_folder(colour, shape))
            os.makedirs(folder, exist_ok=True)
            for stale in os.listdir(folder):  # an earlier set's images (another --pairs or --per-class)
                if stale.endswith(".jpg") and stale[:-4].isdigit():
                    os.remove(os.path.join(folder, stale))
            if (colour, shape) not in with_images:
                continue
            for i in range(per_class):
                data = encode(render(heldout_scene(colour, shape, seed, i, side)), "jpg")
                with open(os.path.join(folder, f"{i:05d}.jpg"), "wb") as f:
                    f.write(data)
    with open(os.path.join(out, TEMPLATES_FILE), "w", encoding="utf-8") as f:
        f.write("\n".join(SCENES) + "\n")
    return out
