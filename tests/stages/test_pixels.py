"""Pixels for the model (grassroots.models.pixels): open_clip's eval transform to the
bit, decoded in worker processes ahead of the model, nothing left behind."""

from __future__ import annotations

import io as _io
import os

import numpy as np
import open_clip
import pytest
import torch
from open_clip.transform import PreprocessCfg, image_transform_v2
from PIL import Image

from grassroots.models import pixels as P
from grassroots.models.encode import encode_pixels

MEAN, STD = open_clip.OPENAI_DATASET_MEAN, open_clip.OPENAI_DATASET_STD


def encoded(w: int, h: int, mode: str = "RGB", fmt: str = "PNG", seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).convert(mode)
    buf = _io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


class Capture:
    """A model whose image tower records its input."""
    text_projection = None

    def encode_image(self, x):
        self.x = x
        return x.flatten(1)[:, :4]


@pytest.mark.parametrize("resize_mode", ["shortest", "squash"])
@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
def test_model_input_is_open_clips_eval_transform_to_the_bit(resize_mode, interpolation):
    size = 48
    ref = image_transform_v2(PreprocessCfg(size=size, mode="RGB", mean=MEAN, std=STD,
                                                     interpolation=interpolation, resize_mode=resize_mode),
                                       is_train=False)
    spec = P.PixelSpec(size, resize_mode, interpolation)
    datas = [encoded(w, h, mode, fmt, i) for i, (w, h, mode, fmt) in enumerate(
        [(48, 48, "RGB", "PNG"), (49, 48, "RGB", "JPEG"), (100, 50, "L", "PNG"), (50, 300, "RGBA", "PNG"),
         (1, 1, "RGB", "PNG"), (47, 48, "P", "PNG"), (300, 200, "RGB", "JPEG")])]
    pix, ok = P.decode_batch(datas + [b"not an image"], spec)
    assert ok.tolist() == [True] * len(datas) + [False] and pix.shape == (len(datas), size, size, 3)
    model = Capture()
    encode_pixels(model, pix, MEAN, STD, "cpu", "fp32")
    expected = torch.stack([ref(Image.open(_io.BytesIO(d)).convert("RGB")) for d in datas])
    assert torch.equal(model.x, expected)


def test_spec_from_the_config_is_the_loaded_models(tmp_path):
    from grassroots.models.clip import ModelSpec, init_checkpoint, load

    ckpt = str(tmp_path / "tiny.pt")
    init_checkpoint("grassroots-tiny", ckpt)
    assert P.PixelSpec.from_config("grassroots-tiny") == P.PixelSpec.of(load(ModelSpec("grassroots-tiny", ckpt))[3])
    assert P.PixelSpec.from_config("ViT-B-32") == P.PixelSpec(224, "shortest", "bicubic")
    assert P.PixelSpec.from_config("ViT-Nope") is None
    assert P.PixelSpec.from_config("ViT-B-32", pretrained="openai") is None  # a tag may change it
    with pytest.raises(ValueError, match="resize_mode"):
        P.PixelSpec(224, "longest")


def test_feed_decodes_ahead_in_order_and_leaves_nothing_behind():
    stale = f"/dev/shm/{P.SCRATCH_PREFIX}4194305-x"  # above Linux's pid_max: a process that is gone
    os.makedirs(stale, exist_ok=True)
    spec = P.PixelSpec(32)
    batches = [[encoded(40 + i, 33, seed=i), encoded(33, 50, seed=i + 9)] for i in range(5)]
    batches[2][1] = None  # a sample without an image
    feed = P.PixelFeed(spec, 1, processes=True)  # as in a command's process (pytest may have imported Ray)
    try:
        assert not os.path.exists(stale)
        feed.prefetch("first", batches[:2])
        got = list(feed.decoded("first", batches[:2])) + list(feed.decoded("other", batches[2:], ahead=1))
        assert len(got) == 5
        for b, (pix, ok) in zip(batches, got):
            want, want_ok = P.decode_batch(b, spec)
            assert np.array_equal(pix, want) and np.array_equal(ok, want_ok)
        assert got[2][1].tolist() == [True, False]
        assert os.listdir(feed._scratch) == []  # each batch's file is removed once read
    finally:
        feed.close()
    assert not os.path.exists(feed._scratch)
