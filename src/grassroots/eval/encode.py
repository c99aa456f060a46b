"""Batched, normalised CLIP embeddings for evaluation: images (decoded and
preprocessed by a small thread pool one batch ahead of the model), captions,
and zero-shot class weights by prompt ensembling."""

from __future__ import annotations

import concurrent.futures
import io as _io
import itertools
import os
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from grassroots.errors import InputError
from grassroots.eval.data import Sample

DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


@dataclass
class Encoder:
    """A loaded model (grassroots.models.clip.load) and where it runs."""
    model: object
    preprocess: object
    tokenizer: object
    device: str
    precision: str
    batch_size: int = 64
    progress: bool = True

    def images(self, samples: Iterable[Sample], total: int, label: str) -> tuple[np.ndarray, list]:
        """(normalised float32 embeddings, targets), in the samples' order."""
        import torch

        from PIL import Image

        def prepare(sample: Sample):
            try:
                with Image.open(_io.BytesIO(sample.image)) as img:
                    return self.preprocess(img.convert("RGB"))
            except (OSError, ValueError, Image.DecompressionBombError) as e:
                raise InputError(sample.where, f"cannot decode the image: {e}") from None

        dtype = getattr(torch, DTYPES[self.precision])
        out, targets = [], []
        batches = _batched(iter(samples), self.batch_size)
        threads = max(2, os.cpu_count() or 1) if self.device == "cuda" else 2
        with _bar(label, total, self.progress) as advance, concurrent.futures.ThreadPoolExecutor(threads) as pool:
            pending = [(b, pool.map(prepare, b)) for b in itertools.islice(batches, 2)]
            while pending:
                batch, tensors = pending.pop(0)
                pending += [(b, pool.map(prepare, b)) for b in itertools.islice(batches, 1)]
                x = torch.stack(list(tensors)).to(self.device, dtype=dtype)
                with torch.inference_mode():
                    out.append(_normalised(self.model.encode_image(x)))
                targets += [s.target for s in batch]
                advance(len(batch))
        dim = _dim(self.model)
        return (np.concatenate(out) if out else np.zeros((0, dim), np.float32)), targets

    def texts(self, texts: list[str]) -> np.ndarray:
        """Normalised float32 embeddings of ``texts``, in order (batches of similar length)."""
        import torch

        from grassroots.models.clip import encode_text

        result = np.zeros((len(texts), _dim(self.model)), np.float32)
        if not texts:
            return result
        tokens = self.tokenizer(texts)
        order = torch.argsort((tokens != 0).sum(dim=1), stable=True)
        bs = self.batch_size * 2  # text is cheaper per sample than images
        with torch.inference_mode():
            for i in range(0, len(texts), bs):
                idx = order[i:i + bs]
                result[idx.numpy()] = _normalised(encode_text(self.model, tokens[idx].to(self.device)))
        return result

    def class_weights(self, classnames: tuple[str, ...], templates: tuple[str, ...]) -> np.ndarray:
        """One row per class: the mean of its prompts' normalised embeddings, normalised
        (prompt ensembling, as CLIP and CLIP_benchmark do it)."""
        prompts = [t.format(c=c) for c in classnames for t in templates]
        emb = self.texts(prompts).reshape(len(classnames), len(templates), -1).mean(axis=1)
        return emb / np.linalg.norm(emb, axis=1, keepdims=True)


def _batched(it: Iterator, n: int) -> Iterator[list]:
    while batch := list(itertools.islice(it, n)):
        yield batch


def _normalised(x) -> np.ndarray:
    import torch

    return torch.nn.functional.normalize(x.float(), dim=-1).cpu().numpy()


def _dim(model) -> int:
    from grassroots.stages.embed import model_dim

    return model_dim(model)


class _bar:
    """A rich progress bar on stderr (grassroots.progress's console); ``advance(n)``."""

    def __init__(self, label: str, total: int, enabled: bool):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from grassroots.progress import console

        self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("images"), TimeRemainingColumn(), console=console, disable=not enabled)
        self._task = self._progress.add_task(label, total=total)

    def __enter__(self):
        self._progress.__enter__()
        return lambda n: self._progress.advance(self._task, n)

    def __exit__(self, *exc) -> None:
        self._progress.__exit__(*exc)
