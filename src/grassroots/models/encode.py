"""Batched, L2-normalised CLIP embeddings: ``Encoder``, the one way embed, eval and serve
make them (nothing outside grassroots.models calls a model's encode_image/encode_text).

- images are decoded to uint8 pixels by ``models.pixels.PixelFeed`` (worker processes,
  a few batches ahead of the model);
- ``encode_pixels(model, pixels, mean, std, device, precision)``: one batch of those
  through the image tower: ToTensor + Normalize for the whole batch (on the GPU, from
  pinned memory, on CUDA: a quarter of the bytes of float32), then the model;
- ``encode_texts(model, tokenizer, texts, device, batch_size)``: texts in batches of
  similar token length, each cut to its longest text (``clip.encode_text``), in order.

All return float32 arrays; the embed step stores them as float16. What an image that
does not decode means is the caller's: embed drops the sample, eval stops with its file.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from typing import Hashable, Iterable, Iterator

import numpy as np

from grassroots.models.pixels import PixelSpec, feed, pixels_of

DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def decode_workers(device: str, configured: int = 0) -> int:
    """Decode processes: all cores but the one that imports torch and loads the model
    (they decode the first shards meanwhile; after that the CPU's model leaves them
    little to do); on CUDA all cores, since the GPU outruns them (~2,500 pairs/s for
    ViT-B-32 needs ~2,500 images/s)."""
    cores = os.cpu_count() or 1
    return configured or (cores if device == "cuda" else max(1, cores - 1))


def encode_pixels(model, pixels: np.ndarray, mean, std, device: str, precision: str) -> np.ndarray:
    """Normalised image embeddings of uint8 (n, S, S, 3) pixels (``models.pixels``).

    ToTensor + Normalize as torchvision does them per image (float32 divide by 255,
    subtract the mean, divide by the std), for the whole batch: the same numbers."""
    import torch

    x = torch.from_numpy(pixels)
    if device.startswith("cuda"):  # page-locked, so the copy to the GPU is one DMA, not a staged one
        x = x.pin_memory().to(device, non_blocking=True)
    m = torch.tensor(mean, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    with torch.inference_mode():
        x = x.permute(0, 3, 1, 2).contiguous().to(torch.float32)  # in place from here: ~5x fewer passes
        x.div_(255).sub_(m).div_(s)
        return normalised(model.encode_image(x.to(dtype=getattr(torch, DTYPES[precision]))))


def encode_texts(model, tokenizer, texts: list[str], device: str, batch_size: int) -> np.ndarray:
    """Normalised embeddings of ``texts``, in order, ``batch_size`` at a time, batches of
    similar token length (so cutting each to its longest text saves the most)."""
    import torch

    from grassroots.models.clip import encode_text

    result = np.zeros((len(texts), embedding_dim(model)), np.float32)
    if not texts:
        return result
    tokens = tokenizer(texts)
    order = torch.argsort((tokens != 0).sum(dim=1), stable=True)
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            idx = order[i:i + batch_size]
            result[idx.numpy()] = normalised(encode_text(model, tokens[idx].to(device)))
    return result


def normalised(x) -> np.ndarray:
    import torch

    return torch.nn.functional.normalize(x.float(), dim=-1).cpu().numpy()


def embedding_dim(model) -> int:
    proj = getattr(model, "text_projection", None)
    return int(proj.shape[-1]) if proj is not None and hasattr(proj, "shape") else int(model.visual.output_dim)


@dataclass
class Encoder:
    """A loaded model (grassroots.models.clip.load) and where it runs."""

    model: object
    identity: object  # its ModelIdentity: preprocessing, embedding size
    tokenizer: object
    device: str
    precision: str
    batch_size: int = 64

    @classmethod
    def load(cls, spec, device: str = "cpu", precision: str = "fp32", batch_size: int = 64) -> "Encoder":
        from grassroots.models.clip import load

        model, _, tokenizer, identity = load(spec, device, precision)
        return cls(model, identity, tokenizer, device, precision, batch_size)

    @property
    def pixel_spec(self) -> PixelSpec:
        return PixelSpec.of(self.identity)

    def pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Embeddings of uint8 (n, S, S, 3) pixels (``models.pixels``)."""
        if not len(pixels):
            return np.zeros((0, embedding_dim(self.model)), np.float32)
        return encode_pixels(self.model, pixels, self.identity.mean, self.identity.std, self.device, self.precision)

    def decoded(self, batches: Iterable[list[bytes | None]], tag: Hashable = None,
                workers: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Per batch of encoded images: (embeddings of those that decode, in order; bool
        mask of which did), decoded in worker processes a few batches ahead (``tag``:
        names work already started with ``PixelFeed.prefetch``)."""
        pixel_feed = feed(self.pixel_spec, decode_workers(self.device, workers))
        for pixels, ok in pixel_feed.decoded(object() if tag is None else tag, batches):
            yield self.pixels(pixels), ok

    def image(self, img) -> np.ndarray:
        """The embedding of one decoded RGB PIL image (a search query)."""
        return self.pixels(pixels_of(img, self.pixel_spec)[None])[0]

    def texts(self, texts: list[str]) -> np.ndarray:
        """Embeddings of ``texts``, in order (batches of similar length)."""
        return encode_texts(self.model, self.tokenizer, texts, self.device, max(self.batch_size, 1) * 2)

    def class_weights(self, classnames: tuple[str, ...], templates: tuple[str, ...]) -> np.ndarray:
        """One row per class: the mean of its prompts' normalised embeddings, normalised
        (prompt ensembling, as CLIP and CLIP_benchmark do it)."""
        prompts = [t.format(c=c) for c in classnames for t in templates]
        emb = self.texts(prompts).reshape(len(classnames), len(templates), -1).mean(axis=1)
        return emb / np.linalg.norm(emb, axis=1, keepdims=True)


def batched(it: Iterable, n: int) -> Iterator[list]:
    it = iter(it)
    while batch := list(itertools.islice(it, n)):
        yield batch
