"""The CLI's compositions of steps, for tests that call the library directly:
a URL list is imported, then downloaded; extract is followed by dedup."""

from __future__ import annotations

import dataclasses
import time

from grassroots.inputs import UrlListSpec
from grassroots.runner import run_step
from grassroots.stages import Dedup, Download, Extract, Import


def download(source, dataset: str, stage: Download, runner, progress: bool = False):
    """(totals of the download step, wall seconds)."""
    started = time.monotonic()
    if isinstance(source, UrlListSpec):
        run_step(Import(source, stage.config.samples_per_shard), dataset, runner, progress=False)
    elif str(source) != str(dataset):
        stage = dataclasses.replace(stage, source=str(source))
    return run_step(stage, dataset, runner, progress=progress), time.monotonic() - started


def extract(inputs: list[str], dataset: str, stage: Extract, runner, dedup: bool = True, progress: bool = False):
    """(extract totals, dedup totals or None)."""
    totals = run_step(dataclasses.replace(stage, inputs=tuple(inputs)), dataset, runner, progress=progress)
    return totals, (run_step(Dedup(), dataset, runner, progress=False) if dedup else None)


def extract_only(inputs: list[str], dataset: str, stage: Extract = Extract(), runner=None, progress: bool = False):
    """extract alone (no dedup), on a local runner by default: its totals."""
    from grassroots.runner import LocalRunner

    return run_step(dataclasses.replace(stage, inputs=tuple(inputs)), dataset, runner or LocalRunner(),
                    progress=progress)
