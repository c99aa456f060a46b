"""Local runner: a process pool (the default), or inline when one process will do.

A step whose resources ask for GPUs gets one worker per visible GPU, each with
``CUDA_VISIBLE_DEVICES`` set to its own device before anything is imported, so
a model loaded in a worker (cached there by grassroots.runner.worker) sees one GPU.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import subprocess
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from grassroots.step import Resources


def visible_gpus() -> list[str]:
    """CUDA device ids this process may use: CUDA_VISIBLE_DEVICES when set, else
    what ``nvidia-smi -L`` lists, else none."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip() and d.strip() != "-1"]
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(ln for ln in out.splitlines() if ln.startswith("GPU "))]


def _init_worker(devices) -> None:
    """Pool initializer: Ctrl-C is the parent's to handle (it stops the workers);
    with GPUs, take one device id from the queue for this worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if devices is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = devices.get()


@dataclass(frozen=True)
class LocalRunner:
    processes: int = 1

    def describe(self) -> dict:
        return {"runner": "local", "processes": self.processes}

    def notes(self) -> list[str]:
        return []

    @contextlib.contextmanager
    def session(self):
        yield self

    def inline(self, resources: Resources = Resources()) -> bool:
        """Whether tasks of a step with these resources run in this process (one process, no GPU)."""
        return self.processes <= 1 and not (visible_gpus() if resources.gpus > 0 else [])

    def map(self, fn: Callable, items: Iterable, resources: Resources = Resources()) -> Iterator:
        items = list(items)
        gpus = visible_gpus() if resources.gpus > 0 else []
        workers = len(gpus) if gpus else self.processes
        if not gpus and (workers <= 1 or len(items) <= 1):
            for item in items:
                yield fn(item)
            return
        ctx = multiprocessing.get_context("spawn")
        devices = None
        if gpus:
            devices = ctx.Queue()
            for d in gpus:
                devices.put(d)
        pool = ProcessPoolExecutor(max_workers=max(1, min(workers, len(items))), mp_context=ctx,
                                   initializer=_init_worker, initargs=(devices,))
        pending: set = set()
        try:  # submitting is inside: an interrupt between two submits stops the workers too
            pending = {pool.submit(fn, item) for item in items}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
        except BaseException:
            # Ctrl-C, SIGTERM or a fatal error: stop the workers now instead of
            # joining them (their unfinished shards stay unfinished; a rerun redoes them).
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.terminate()
            manager = getattr(pool, "_executor_manager_thread", None)
            pool.shutdown(wait=False, cancel_futures=True)
            # Let the pool's manager thread see its dead workers and close its wakeup
            # pipe now: at exit, Python 3.11 wakes it without a lock and can race that
            # close ("Exception ignored ... Bad file descriptor"; bench/interrupt_stress.py).
            if manager is not None:
                manager.join(5)
            raise
        pool.shutdown(wait=True)
