#!/usr/bin/env python3
"""A second, harder scene generator, written apart from the mini-web's (nothing here
imports grassroots.miniweb), so a training recipe can be checked on scenes it was not
chosen on (issue 31, part 1).

An image is one to three small, rotated shapes (circle, square, triangle, star, cross) in
six colours, on a light or dark background with a soft gradient and noise, crossed by
clutter lines, colour-jittered per shape and per image, sometimes blurred, JPEG-encoded.
Its caption comes from one of several templates and says the count in words: "two red
stars", "a photo of a blue cross and three yellow circles" is not possible (three shapes
at most): "a photo of a blue cross and two yellow circles". Five (colour, shape) pairs
never appear in the training scenes (HELD_OUT); the zero-shot set has all 30 pairs as
classes and images only of the held-out ones (chance 1/30).

    python bench/scenes_shapes.py train OUT_DATASET [--n 20000] [--shards 4] [--seed 0]
    python bench/scenes_shapes.py heldout OUT_FOLDER [--per-class 100] [--seed 0]
    python bench/scenes_shapes.py sample OUT.png     # a contact sheet to look at

Training scenes are written as download-shaped shards (webdataset tars + ledger parquet +
completion markers, the files ``grassroots download`` writes); the held-out set is an image
folder per class with its prompt templates, the layout ``grassroots eval --zeroshot`` reads.
"""

from __future__ import annotations

import argparse
import colorsys
import hashlib
import io
import math
import os
import random
import sys
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter

COLOURS: dict[str, float] = {  # hue in degrees
    "red": 0.0, "orange": 28.0, "yellow": 54.0, "green": 125.0, "blue": 220.0, "purple": 285.0,
}
SHAPES = ("circle", "square", "triangle", "star", "cross")
PLURAL = {"circle": "circles", "square": "squares", "triangle": "triangles", "star": "stars", "cross": "crosses"}
NUMBER = {1: "one", 2: "two", 3: "three"}
HELD_OUT = frozenset({("red", "cross"), ("orange", "circle"), ("green", "star"), ("blue", "triangle"),
                      ("purple", "square")})
TRAIN_PAIRS = tuple((c, s) for c in COLOURS for s in SHAPES if (c, s) not in HELD_OUT)
TEMPLATES = (  # {x}: the shapes phrase ("two red stars and a blue cross"), {bg}: light/dark
    "{x}", "{x}", "a photo of {x}", "a picture of {x}", "{x} on a {bg} background",
    "an image with {x}", "a scene with {x}", "{x}, drawn small", "a {bg} picture of {x}", "clip art of {x}",
)
# The zero-shot prompts: class names read "red cross"; images show 1-3 of one pair.
EVAL_TEMPLATES = ("a {c}", "a photo of a {c}", "a picture of a {c}", "a {c} on a light background",
                  "a {c} on a dark background", "an image with a {c}", "clip art of a {c}")
SIDES = (96, 128, 128, 160)


@dataclass(frozen=True)
class Group:
    count: int
    colour: str
    shape: str

    def phrase(self) -> str:
        if self.count == 1:
            return f"{'an' if self.colour[0] in 'aeiou' else 'a'} {self.colour} {self.shape}"
        return f"{NUMBER[self.count]} {self.colour} {PLURAL[self.shape]}"


@dataclass(frozen=True)
class Scene:
    groups: tuple[Group, ...]
    dark: bool
    template: str
    side: int
    seed: int

    @property
    def caption(self) -> str:
        x = " and ".join(g.phrase() for g in self.groups)
        return self.template.format(x=x, bg="dark" if self.dark else "light")


def rng_for(*parts: object) -> random.Random:
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def draw_scene(rng: random.Random, pairs=TRAIN_PAIRS) -> Scene:
    """One to three shapes: one group of 1-3, or two groups of different pairs (1+1, 1+2, 2+1)."""
    total = rng.choice((1, 1, 2, 2, 3))
    first = rng.choice(pairs)
    if total > 1 and rng.random() < 0.5:
        second = rng.choice([p for p in pairs if p != first])
        n1 = rng.randint(1, total - 1)
        groups = (Group(n1, *first), Group(total - n1, *second))
    else:
        groups = (Group(total, *first),)
    return Scene(groups, rng.random() < 0.5, rng.choice(TEMPLATES), rng.choice(SIDES), rng.getrandbits(32))


def heldout_scene(colour: str, shape: str, seed: int, index: int) -> Scene:
    rng = rng_for("shapes-heldout", seed, colour, shape, index)
    return Scene((Group(rng.choice((1, 1, 2, 3)), colour, shape),), rng.random() < 0.5, "{x}",
                 rng.choice(SIDES), rng.getrandbits(32))


# --- drawing -------------------------------------------------------------------------------

def _rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb((h % 360) / 360, min(1, max(0, s)), min(1, max(0, v)))
    return int(r * 255), int(g * 255), int(b * 255)


def _shape_points(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    if shape == "square":
        pts = [(math.cos(a) * r * 1.2, math.sin(a) * r * 1.2) for a in (math.pi / 4 + k * math.pi / 2 for k in range(4))]
    elif shape == "triangle":
        pts = [(math.cos(a) * r * 1.25, math.sin(a) * r * 1.25) for a in (-math.pi / 2 + k * 2 * math.pi / 3 for k in range(3))]
    elif shape == "star":
        pts = [(math.cos(a) * rr, math.sin(a) * rr)
               for k in range(10) for a, rr in [(-math.pi / 2 + k * math.pi / 5, r * (1.3 if k % 2 == 0 else 0.55))]]
    elif shape == "cross":
        w = r * 0.38
        pts = [(-w, -r), (w, -r), (w, -w), (r, -w), (r, w), (w, w), (w, r), (-w, r), (-w, w), (-r, w), (-r, -w),
               (-w, -w)]
    else:
        raise ValueError(shape)
    ca, sa = math.cos(angle), math.sin(angle)
    return [(cx + x * ca - y * sa, cy + x * sa + y * ca) for x, y in pts]


def render(scene: Scene) -> Image.Image:
    """The scene at 2x, drawn, then shrunk (anti-aliased) and blurred."""
    rng = random.Random(scene.seed)
    side, k = scene.side, 2
    S = side * k
    base = rng.uniform(0.04, 0.22) if scene.dark else rng.uniform(0.80, 0.97)
    tint, sat = rng.uniform(0, 360), rng.uniform(0.0, 0.15)
    top, bottom = _rgb(tint, sat, base), _rgb(tint + 30, sat, min(1, max(0, base + rng.uniform(-0.08, 0.08))))
    grad = Image.linear_gradient("L").resize((2 * S, 2 * S)).rotate(rng.uniform(0, 360)).crop((S // 2, S // 2, S // 2 + S, S // 2 + S))
    im = Image.composite(Image.new("RGB", (S, S), bottom), Image.new("RGB", (S, S), top), grad)
    d = ImageDraw.Draw(im)
    for _ in range(rng.randint(2, 6)):  # clutter: thin lines of muted, random colours
        ink = _rgb(rng.uniform(0, 360), rng.uniform(0, 0.35), rng.uniform(0.25, 0.85))
        pts = [(rng.uniform(-0.1, 1.1) * S, rng.uniform(-0.1, 1.1) * S) for _ in range(2)]
        d.line(pts, fill=ink, width=rng.randint(1, 2) * k)
    placed: list[tuple[float, float, float]] = []
    for g in scene.groups:
        for _ in range(g.count):
            r = rng.uniform(0.05, 0.10) * S
            for _try in range(30):  # keep shapes apart
                cx, cy = rng.uniform(r * 1.4, S - r * 1.4), rng.uniform(r * 1.4, S - r * 1.4)
                if all(math.hypot(cx - x, cy - y) > (r + rr) * 1.35 for x, y, rr in placed):
                    break
            placed.append((cx, cy, r))
            fill = _rgb(COLOURS[g.colour] + rng.uniform(-7, 7), rng.uniform(0.7, 1.0), rng.uniform(0.75, 1.0))
            if g.shape == "circle":
                d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
            else:
                d.polygon(_shape_points(g.shape, cx, cy, r, rng.uniform(0, 2 * math.pi)), fill=fill)
    im = im.resize((side, side), Image.Resampling.LANCZOS)
    if rng.random() < 0.6:
        im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    # whole-image colour jitter: brightness and contrast
    gain, offset = rng.uniform(0.85, 1.15), rng.uniform(-15, 15)
    return im.point(lambda v: max(0, min(255, int(v * gain + offset))))


def jpeg(im: Image.Image, quality: int = 88) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


# --- datasets ------------------------------------------------------------------------------

def write_train(ds: str, n: int, shards: int = 4, seed: int = 0) -> list[str]:
    """``n`` training scenes as a downloaded dataset (grassroots' own shard writer and ledger)."""
    from tests.train.scenes_ds import write_download_shards

    def sample(i: int) -> tuple[bytes, str]:
        scene = draw_scene(rng_for("shapes-train", seed, i))
        return jpeg(render(scene)), scene.caption

    return write_download_shards(ds, n, shards, sample, url_prefix="http://shapes.test/")


def write_heldout(out: str, per_class: int = 100, seed: int = 0, all_pairs: bool = False) -> str:
    """All 30 pairs as class folders ("red_cross" -> "red cross"); images only in the held-out ones
    (``all_pairs``: in every one, a check on pairs the training scenes show)."""
    os.makedirs(out, exist_ok=True)
    for colour in COLOURS:
        for shape in SHAPES:
            folder = os.path.join(out, f"{colour}_{shape}")
            os.makedirs(folder, exist_ok=True)
            if (colour, shape) not in HELD_OUT and not all_pairs:
                continue
            for i in range(per_class):
                with open(os.path.join(folder, f"{i:05d}.jpg"), "wb") as f:
                    f.write(jpeg(render(heldout_scene(colour, shape, seed, i))))
    with open(os.path.join(out, "zeroshot_classification_templates.txt"), "w") as f:
        f.write("\n".join(EVAL_TEMPLATES) + "\n")
    return out


def contact_sheet(path: str, n: int = 48, seed: int = 0) -> None:
    cell = 160
    sheet = Image.new("RGB", (8 * cell, (n // 8) * (cell + 24)), (255, 255, 255))
    d = ImageDraw.Draw(sheet)
    for i in range(n):
        scene = draw_scene(rng_for("shapes-train", seed, i))
        x, y = (i % 8) * cell, (i // 8) * (cell + 24)
        sheet.paste(render(scene).resize((cell - 8, cell - 8)), (x + 4, y + 4))
        d.text((x + 4, y + cell - 2), scene.caption[:30], fill=(0, 0, 0))
    sheet.save(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("train", "heldout", "sample"))
    ap.add_argument("out")
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--all-pairs", action="store_true", help="heldout: images of every pair, not only the held-out")
    args = ap.parse_args()
    if args.what == "train":
        write_train(args.out, args.n, args.shards, args.seed)
    elif args.what == "heldout":
        write_heldout(args.out, args.per_class, args.seed, args.all_pairs)
    else:
        contact_sheet(args.out, seed=args.seed)


if __name__ == "__main__":
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    sys.path[:0] = [os.path.join(root, "src"), root]  # grassroots, and tests.train.scenes_ds's shard writer
    main()
