"""Batched, L2-normalised CLIP embeddings, the one way the embed step and eval make them.

- images are decoded to uint8 pixels by ``models.pixels.PixelFeed`` (worker processes,
  a few batches ahead of the model);
- ``encode_pixels(model, pixels, mean, std, device, precision)``: one batch of those
  through the image tower: ToTensor + Normalize for the whole batch (on the GPU, from
  pinned memory, on CUDA: a quarter of the bytes of float32), then the model;
- ``encode_texts(model, tokenizer, texts, device, batch_size)``: texts in batches of
  similar token length, each cut to its longest text (``clip.encode_text``), in order.

All return float32 arrays; the embed step stores them as float16.
"""

from __future__ import annotations

import os

import numpy as np

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
