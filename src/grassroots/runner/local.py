"""Local runner: a process pool (the default), or inline when processes == 1."""

from __future__ import annotations

import contextlib
import multiprocessing
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator


@dataclass(frozen=True)
class LocalRunner:
    processes: int = 1

    def describe(self) -> dict:
        return {"runner": "local", "processes": self.processes}

    @contextlib.contextmanager
    def session(self):
        yield self

    def map(self, fn: Callable, items: Iterable) -> Iterator:
        items = list(items)
        if self.processes <= 1 or len(items) <= 1:
            for item in items:
                yield fn(item)
            return
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(self.processes, len(items)), mp_context=ctx) as pool:
            pending = {pool.submit(fn, item) for item in items}
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        yield fut.result()
            except BaseException:
                for fut in pending:
                    fut.cancel()
                raise
