"""Named training recipes: a model config plus the hyper-parameters that go with it.

Each says what it reaches (README "Train"). A flag on `grassroots train` overrides
one field; the recipe that ran is written to RUN/run.json.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from grassroots.errors import InputError


@dataclass(frozen=True)
class Recipe:
    name: str
    arch: str  # an open_clip config name (ours live in models/configs/)
    about: str  # what it is for and what it reaches
    batch_size: int
    lr: float
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.98
    eps: float = 1e-6
    warmup: int = 100  # steps (at most a tenth of the run)
    grad_clip: float = 1.0
    # the default length when no --steps/--epochs/--minutes is given: steps, else epochs, else minutes
    # (steps: the same figures from the same seed on a quiet or a busy machine; only the time changes)
    steps: int | None = None
    minutes: float | None = None
    epochs: float | None = None
    # Each caption also brings NEGATIVES (4) negatives, each with one word swapped (train/negatives.py),
    # all scored at every step: every word that names something in the image gets a gradient.
    hard_negatives: bool = False

    def with_overrides(self, **fields) -> "Recipe":
        return replace(self, **{k: v for k, v in fields.items() if v is not None})

    def to_dict(self) -> dict:
        return asdict(self)


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe("tiny", "grassroots-train-tiny", batch_size=256, lr=2e-3, warmup=100, minutes=8.0,
               about="CPU minutes: 32 px images in 16 patches, 4+4 layers of width 192 (13 M parameters, 9.5 M of them the token table); 63.7% ± 2.6% held-out zero-shot top-1 on mini-web scenes after 300 steps of 256 (3 seeds); "
                     "6.2% ± 5.4% on the small rotated shapes of bench/scenes_shapes.py after 400 (issue 31: not met; tiny-rn reaches 53.7%)"),
        Recipe("tiny-rn", "grassroots-train-tiny-rn", batch_size=128, lr=2e-3, warmup=100, steps=1200,
               hard_negatives=True,
               about="CPU minutes, small things: 96 px images through a convolutional tower (open_clip's ModifiedResNet, "
                     "width 16, one block a stage), a text tower of 2 layers of width 128, and four hard negative captions "
                     "a caption, covering its words; for scenes whose objects are a few pixels across at 32 px. 1,200 steps, "
                     "3 seeds: 53.7% ± 7.7% held-out zero-shot top-1 on bench/scenes_shapes.py (issue 31's target is 60%); "
                     "87.7% ± 3.6% on mini-web scenes"),
        Recipe("small", "grassroots-small", batch_size=512, lr=1e-3, warmup=500, epochs=30.0,
               about="one GPU, under an hour: 64 px, 8+8 layers"),
        Recipe("vit-b-32", "ViT-B-32", batch_size=256, lr=5e-4, weight_decay=0.2, warmup=2000, epochs=32.0,
               about="the standard model, for clusters (LAION used global batch 32k, lr 5e-4 per 32k)"),
    )
}


def recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise InputError("--recipe", f"unknown recipe {name!r}", f"use one of {', '.join(RECIPES)}")
    return RECIPES[name]
