"""Rendered scenes with meaningful captions: images that need no data files.

A scene is one or two groups of coloured shapes on a textured background, sometimes
with a written word: "two red triangles above a blue circle on a striped background".
Everything is drawn with Pillow from a seeded RNG, so the same key gives the same
pixels and the same encoded bytes (for a given Pillow version).

Zero-shot evaluation needs captions the model never saw: the (colour, shape) pairs in
HELD_OUT_PAIRS never appear on the mini-web. ``caption_splits()`` lists both sets and
``heldout_scenes()`` draws evaluation scenes from the held-out pairs only.
"""

from __future__ import annotations

import hashlib
import io
import math
import random
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 60),
    "blue": (30, 70, 220),
    "yellow": (240, 210, 20),
    "purple": (140, 40, 170),
    "orange": (250, 140, 20),
    "black": (15, 15, 15),
    "white": (245, 245, 245),
}
SHAPES = ("circle", "square", "triangle", "star")
COUNT_WORDS = {1: "one", 2: "two", 3: "three", 4: "four"}
RELATIONS = ("above", "below", "left of", "right of")
TEXTURES = {"plain": "a plain", "stripes": "a striped", "dots": "a dotted", "grid": "a grid"}
WORDS = ("cat", "sun", "open", "tree", "map", "blue", "home", "rain")
BACKGROUNDS = [(250, 248, 240), (200, 220, 240), (225, 240, 215), (60, 60, 70), (240, 220, 230)]
# (colour, shape) pairs kept off the web for zero-shot evaluation.
HELD_OUT_PAIRS = frozenset(
    {("red", "square"), ("blue", "triangle"), ("green", "star"), ("yellow", "circle"), ("purple", "circle")}
)
SIZES = (256, 384, 512, 640, 640, 800, 1024, 1280, 1600)
ASPECTS = (1.0, 4 / 3, 3 / 4, 16 / 9, 3 / 2)


@dataclass(frozen=True)
class Group:
    count: int
    colour: str
    shape: str

    def phrase(self) -> str:
        noun = self.shape + ("es" if self.shape.endswith("s") else "s") if self.count > 1 else self.shape
        article = ("an" if self.colour[0] in "aeiou" else "a") if self.count == 1 else COUNT_WORDS[self.count]
        return f"{article} {self.colour} {noun}"


@dataclass(frozen=True)
class Scene:
    groups: tuple[Group, ...]
    relation: str | None  # between groups[0] and groups[1]
    texture: str
    background: tuple[int, int, int]
    word: str | None
    width: int
    height: int
    seed: int  # drives positions and jitter

    @property
    def caption(self) -> str:
        text = self.groups[0].phrase()
        if self.relation and len(self.groups) > 1:
            text += f" {self.relation} {self.groups[1].phrase()}"
        if self.texture != "plain":
            text += f" on {TEXTURES[self.texture]} background"
        if self.word:
            text += f' with the word "{self.word}"'
        return text


def caption_splits() -> dict[str, list[tuple[str, str]]]:
    """(colour, shape) pairs used on the web ("train") and kept out ("held_out")."""
    pairs = [(c, s) for c in COLOURS for s in SHAPES]
    return {
        "train": [p for p in pairs if p not in HELD_OUT_PAIRS],
        "held_out": sorted(HELD_OUT_PAIRS),
    }


def key_rng(*parts: object) -> random.Random:
    """A Random seeded from any parts, stable across processes (no hash())."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _pick_group(rng: random.Random, split: str, avoid: str | None = None) -> Group:
    pairs = caption_splits()[split]
    while True:
        colour, shape = rng.choice(pairs)
        if colour != avoid:
            return Group(rng.choice((1, 1, 2, 2, 3, 4)), colour, shape)


def make_scene(rng: random.Random, split: str = "train", max_side: int | None = None) -> Scene:
    """Draw a random scene; ``split`` is "train" (web) or "held_out" (evaluation)."""
    first = _pick_group(rng, split)
    groups: tuple[Group, ...] = (first,)
    relation = None
    if rng.random() < 0.6:
        groups = (first, _pick_group(rng, split, avoid=first.colour))
        relation = rng.choice(RELATIONS)
    texture = rng.choice(("plain", "plain", "stripes", "dots", "grid"))
    word = rng.choice(WORDS) if rng.random() < 0.25 else None
    side = rng.choice(SIZES)
    if max_side:
        side = min(side, max_side)
    aspect = rng.choice(ASPECTS)
    w, h = (side, round(side / aspect)) if aspect >= 1 else (round(side * aspect), side)
    bg = rng.choice([b for b in BACKGROUNDS if b not in {COLOURS[g.colour] for g in groups}])
    return Scene(groups, relation, texture, bg, word, w, h, rng.getrandbits(32))


def heldout_scenes(seed: int, n: int) -> list[Scene]:
    """Evaluation scenes whose (colour, shape) pairs never appear on the mini-web."""
    return [make_scene(key_rng("heldout", seed, i), split="held_out", max_side=512) for i in range(n)]


def _draw_shape(d: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, r: float, fill) -> None:
    if shape == "circle":
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill, outline=(0, 0, 0))
    elif shape == "square":
        d.rectangle((cx - r, cy - r, cx + r, cy + r), fill=fill, outline=(0, 0, 0))
    elif shape == "triangle":
        d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill, outline=(0, 0, 0))
    else:  # five-pointed star
        pts = []
        for k in range(10):
            a = math.radians(-90 + 36 * k)
            rr = r * (1.2 if k % 2 == 0 else 0.5)
            pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
        d.polygon(pts, fill=fill, outline=(0, 0, 0))


def _texture(d: ImageDraw.ImageDraw, texture: str, w: int, h: int, bg) -> None:
    ink = tuple(max(0, c - 40) if sum(bg) > 300 else min(255, c + 50) for c in bg)
    step = max(12, min(w, h) // 16)
    if texture == "stripes":
        for x in range(-h, w, step * 2):
            d.polygon([(x, h), (x + step, h), (x + step + h, 0), (x + h, 0)], fill=ink)
    elif texture == "dots":
        for y in range(step // 2, h, step):
            for x in range(step // 2, w, step):
                d.ellipse((x - 2, y - 2, x + 2, y + 2), fill=ink)
    elif texture == "grid":
        for x in range(0, w, step):
            d.line((x, 0, x, h), fill=ink)
        for y in range(0, h, step):
            d.line((0, y, w, y), fill=ink)


def _region(relation: str | None, index: int, w: int, h: int) -> tuple[float, float, float, float]:
    """Box (x0, y0, x1, y1) where group ``index`` goes, given the relation."""
    if relation is None:
        return (0, 0, w, h)
    first = index == 0
    if relation in ("above", "below"):
        top = first == (relation == "above")
        return (0, 0, w, h / 2) if top else (0, h / 2, w, h)
    left = first == (relation == "left of")
    return (0, 0, w / 2, h) if left else (w / 2, 0, w, h)


@lru_cache(maxsize=8)
def _font(size: int):
    return ImageFont.load_default(size=size)


def render(scene: Scene) -> Image.Image:
    """Draw the scene as an RGB image."""
    w, h = scene.width, scene.height
    im = Image.new("RGB", (w, h), scene.background)
    d = ImageDraw.Draw(im)
    _texture(d, scene.texture, w, h, scene.background)
    rng = random.Random(scene.seed)
    for i, g in enumerate(scene.groups):
        x0, y0, x1, y1 = _region(scene.relation, i, w, h)
        bw, bh = x1 - x0, y1 - y0
        r = min(bw / (g.count * 2.6), bh / 2.8)
        for k in range(g.count):  # side by side, jittered
            cx = x0 + bw * (k + 0.5) / g.count + rng.uniform(-0.1, 0.1) * r
            cy = y0 + bh / 2 + rng.uniform(-0.2, 0.2) * r
            _draw_shape(d, g.shape, cx, cy, r, COLOURS[g.colour])
    if scene.word:
        size = max(12, min(w, h) // 8)
        ink = (0, 0, 0) if sum(scene.background) > 300 else (255, 255, 255)
        d.text((size // 2, h - size * 1.3), scene.word, font=_font(size), fill=ink)
    return im


FORMATS = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


def warning_hatch(im: Image.Image) -> Image.Image:
    """The mini-web's 'unsafe' stand-in: the scene under thick red diagonal stripes."""
    out = im.copy()
    d = ImageDraw.Draw(out)
    w, h = out.size
    step = max(12, min(w, h) // 8)
    for x in range(-h, w, step):
        d.line([(x, 0), (x + h, h)], fill=(230, 0, 40), width=max(3, step // 3))
    return out


def near_copy(data: bytes, kind: str) -> bytes:
    """A near-duplicate of an encoded image: re-encoded (JPEG q60), resized to 70%, or
    cropped by 1% on each side (then JPEG q80)."""
    im = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = im.size
    if kind == "resize":
        im = im.resize((max(1, w * 7 // 10), max(1, h * 7 // 10)), Image.Resampling.LANCZOS)
    elif kind == "crop":
        dx, dy = max(1, w // 100), max(1, h // 100)
        im = im.crop((dx, dy, w - dx, h - dy))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=60 if kind == "reencode" else 80)
    return buf.getvalue()


def encode(im: Image.Image, ext: str, xmp: bytes | None = None) -> bytes:
    """Encode to the format named by a file extension, embedding an XMP packet if given.

    JPEG: APP1 ``http://ns.adobe.com/xap/1.0/``; PNG: iTXt ``XML:com.adobe.xmp``;
    WebP: ``XMP `` chunk.
    """
    fmt = FORMATS[ext.lower()]
    buf = io.BytesIO()
    if fmt == "JPEG":
        im.save(buf, fmt, quality=85, **({"xmp": xmp} if xmp else {}))
    elif fmt == "PNG":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        if xmp:
            info.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8"))
        im.save(buf, fmt, pnginfo=info, compress_level=3)
    else:
        im.save(buf, fmt, quality=80, method=2, **({"xmp": xmp} if xmp else {}))
    return buf.getvalue()
