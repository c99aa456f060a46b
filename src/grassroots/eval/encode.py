"""CLIP embeddings for evaluation (grassroots.models.encode, as the embed step makes
them): images of eval samples, captions, and zero-shot class weights by prompt
ensembling."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from grassroots.errors import InputError
from grassroots.eval.data import Sample
from grassroots.models.encode import decode_workers, embedding_dim, encode_pixels, encode_texts
from grassroots.models.pixels import PixelSpec, feed


@dataclass
class Encoder:
    """A loaded model (grassroots.models.clip.load) and where it runs."""
    model: object
    identity: object  # its ModelIdentity: preprocessing
    tokenizer: object
    device: str
    precision: str
    batch_size: int = 64
    progress: bool = True

    def images(self, samples: Iterable[Sample], total: int, label: str) -> tuple[np.ndarray, list]:
        """(normalised float32 embeddings, targets), in the samples' order."""
        pixels_feed = feed(PixelSpec.of(self.identity), decode_workers(self.device))
        batches, to_decode = itertools.tee(_batched(iter(samples), self.batch_size))
        out, targets = [], []
        with _bar(label, total, self.progress) as advance:
            decoded = pixels_feed.decoded(object(), ([s.image for s in b] for b in to_decode))
            for batch, (pixels, ok) in zip(batches, decoded):
                if not ok.all():
                    bad = next(s for s, good in zip(batch, ok) if not good)
                    raise InputError(bad.where, "cannot decode the image")
                out.append(encode_pixels(self.model, pixels, self.identity.mean, self.identity.std,
                                         self.device, self.precision))
                targets += [s.target for s in batch]
                advance(len(batch))
        return (np.concatenate(out) if out else np.zeros((0, embedding_dim(self.model)), np.float32)), targets

    def texts(self, texts: list[str]) -> np.ndarray:
        """Normalised float32 embeddings of ``texts``, in order (batches of similar length)."""
        return encode_texts(self.model, self.tokenizer, texts, self.device, self.batch_size * 2)

    def class_weights(self, classnames: tuple[str, ...], templates: tuple[str, ...]) -> np.ndarray:
        """One row per class: the mean of its prompts' normalised embeddings, normalised
        (prompt ensembling, as CLIP and CLIP_benchmark do it)."""
        prompts = [t.format(c=c) for c in classnames for t in templates]
        emb = self.texts(prompts).reshape(len(classnames), len(templates), -1).mean(axis=1)
        return emb / np.linalg.norm(emb, axis=1, keepdims=True)


def _batched(it: Iterator, n: int) -> Iterator[list]:
    while batch := list(itertools.islice(it, n)):
        yield batch


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
