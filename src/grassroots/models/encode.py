"""Batched, L2-normalised CLIP embeddings, the one way the embed step and eval make them.

- ``prefetched(pool, fn, batches)``: a thread pool decodes and preprocesses the next
  batches of images while the model runs on this one (PIL's decoders release the GIL);
- ``encode_images(model, tensors, device, precision)``: one batch through the image tower
  (from pinned memory on CUDA);
- ``encode_texts(model, tokenizer, texts, device, batch_size)``: texts in batches of
  similar token length, each cut to its longest text (``clip.encode_text``), in order.

All return float32 arrays; the embed step stores them as float16.
"""

from __future__ import annotations

import itertools
import os
from collections import deque
from typing import Callable, Iterable, Iterator

import numpy as np

DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def decode_threads(device: str, configured: int = 0) -> int:
    """Decode + preprocess threads: 2 on the CPU (the model has the cores); on CUDA all
    cores, since the GPU outruns a few threads (~2,500 pairs/s for ViT-B-32 needs
    ~2,500 images/s)."""
    return configured or (max(2, os.cpu_count() or 1) if device == "cuda" else 2)


def prefetched(pool, fn: Callable, batches: Iterable[list], ahead: int = 2) -> Iterator[tuple[list, list]]:
    """(batch, [fn(x) for x in batch]) for each batch, in order, with ``fn`` of the next
    ``ahead`` batches running on ``pool`` meanwhile. An exception of ``fn`` is raised here."""
    batches = iter(batches)
    pending = deque((b, pool.map(fn, b)) for b in itertools.islice(batches, ahead))
    while pending:
        batch, results = pending.popleft()
        pending.extend((b, pool.map(fn, b)) for b in itertools.islice(batches, 1))
        yield batch, list(results)


def encode_images(model, tensors: list, device: str, precision: str) -> np.ndarray:
    """Normalised image embeddings of preprocessed image tensors."""
    import torch

    x = torch.stack(tensors)
    if device.startswith("cuda"):  # page-locked, so the copy to the GPU is one DMA, not a staged one
        x = x.pin_memory().to(device, non_blocking=True)
    x = x.to(device, dtype=getattr(torch, DTYPES[precision]))
    with torch.inference_mode():
        return normalised(model.encode_image(x))


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
