"""Eval's side of encoding (grassroots.models.encode.Encoder, as the embed step uses it):
the images of eval samples with a progress bar, where an image that does not decode
stops the evaluation with its file (a benchmark set must be whole)."""

from __future__ import annotations

import itertools
from typing import Iterable

import numpy as np

from grassroots.errors import InputError
from grassroots.eval.data import Sample
from grassroots.models.encode import Encoder, batched, embedding_dim


def encode_samples(encoder: Encoder, samples: Iterable[Sample], total: int, label: str,
                   progress: bool = True) -> tuple[np.ndarray, list]:
    """(normalised float32 embeddings, targets), in the samples' order."""
    batches, to_decode = itertools.tee(batched(samples, encoder.batch_size))
    out, targets = [], []
    with _bar(label, total, progress) as advance:
        encoded = encoder.decoded([s.image for s in b] for b in to_decode)
        for batch, (emb, ok) in zip(batches, encoded):
            if not ok.all():
                bad = next(s for s, good in zip(batch, ok) if not good)
                raise InputError(bad.where, "cannot decode the image")
            out.append(emb)
            targets += [s.target for s in batch]
            advance(len(batch))
    return (np.concatenate(out) if out else np.zeros((0, embedding_dim(encoder.model)), np.float32)), targets


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
