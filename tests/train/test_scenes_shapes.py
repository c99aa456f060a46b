"""bench/scenes_shapes.py, the second scene generator (issue 31): held-out pairs never reach
the training captions, captions count in words, and the eval folder is the layout
`grassroots eval --zeroshot` reads."""

from __future__ import annotations

import os
import re

from bench.scenes_shapes import COLOURS, HELD_OUT, SHAPES, draw_scene, heldout_scene, render, rng_for, write_heldout


def test_training_scenes_never_show_a_held_out_pair_and_count_in_words():
    counts = set()
    for i in range(3000):
        scene = draw_scene(rng_for("shapes-train", 0, i))
        assert 1 <= sum(g.count for g in scene.groups) <= 3
        assert not {(g.colour, g.shape) for g in scene.groups} & HELD_OUT
        caption = scene.caption
        assert not re.search(r"\d", caption)
        for g in scene.groups:
            assert g.phrase() in caption
            counts.add(g.count)
    assert counts == {1, 2, 3} and len(HELD_OUT) == 5 and len(COLOURS) * len(SHAPES) == 30


def test_renders_are_fixed_by_the_seed():
    a = render(heldout_scene("green", "star", 0, 1))
    assert a.tobytes() == render(heldout_scene("green", "star", 0, 1)).tobytes()
    assert a.tobytes() != render(heldout_scene("green", "star", 0, 2)).tobytes()


def test_the_heldout_folder_has_every_pair_as_a_class_and_images_of_held_out_pairs_only(tmp_path):
    out = write_heldout(str(tmp_path / "eval"), per_class=2)
    classes = sorted(d for d in os.listdir(out) if os.path.isdir(os.path.join(out, d)))
    assert len(classes) == 30
    with_images = {c for c in classes if os.listdir(os.path.join(out, c))}
    assert with_images == {f"{c}_{s}" for c, s in HELD_OUT}
    templates = open(os.path.join(out, "zeroshot_classification_templates.txt")).read().split("\n")
    assert all("{c}" in t for t in templates if t)
