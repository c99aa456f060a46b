import io

from PIL import Image

from grassroots.miniweb import scenes
from grassroots.miniweb.scenes import caption_splits, heldout_scenes, key_rng, make_scene, render, encode


def test_same_key_same_bytes_and_caption():
    for ext in ("jpg", "png", "webp"):
        a = make_scene(key_rng(0, "x", ext))
        b = make_scene(key_rng(0, "x", ext))
        assert a == b and a.caption == b.caption
        small = make_scene(key_rng(0, "x", ext), max_side=300)
        assert encode(render(small), ext) == encode(render(small), ext)


def test_captions_describe_the_scene():
    sc = make_scene(key_rng(1, 2, 3))
    cap = sc.caption
    g = sc.groups[0]
    assert g.colour in cap and g.shape in cap
    if sc.relation:
        assert sc.relation in cap and sc.groups[1].colour in cap


def test_held_out_pairs_never_on_the_web_and_eval_scenes_use_them():
    splits = caption_splits()
    assert set(splits["train"]).isdisjoint(splits["held_out"]) and splits["held_out"]
    for i in range(300):
        for g in make_scene(key_rng("web", i)).groups:
            assert (g.colour, g.shape) not in scenes.HELD_OUT_PAIRS
    for sc in heldout_scenes(0, 30):
        assert all((g.colour, g.shape) in scenes.HELD_OUT_PAIRS for g in sc.groups)


def test_sizes_vary_and_some_are_large():
    sides = [max(make_scene(key_rng("s", i)).width, make_scene(key_rng("s", i)).height) for i in range(200)]
    assert min(sides) <= 384 and max(sides) >= 1280


def test_formats_decode():
    sc = make_scene(key_rng("fmt"), max_side=256)
    for ext, fmt in (("jpg", "JPEG"), ("png", "PNG"), ("webp", "WEBP")):
        im = Image.open(io.BytesIO(encode(render(sc), ext)))
        assert im.format == fmt and im.size == (sc.width, sc.height)
