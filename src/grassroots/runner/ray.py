"""Ray runner: the same shard calls as the local runner, mapped as Ray tasks.

Starts a local Ray (num_cpus = processes) when no cluster address is given,
and shuts it down afterwards; joins an existing cluster with ``address``.
Ray's own task retries are off: retries happen once, in run_shard. A step's
``resources`` become the task's ``num_cpus``/``num_gpus``/``memory``; GPUs asked
of a cluster that has none are dropped (with a note) rather than waited for forever.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from grassroots.step import Resources


@dataclass(frozen=True)
class RayRunner:
    processes: int = 1
    address: str | None = None

    def describe(self) -> dict:
        return {"runner": "ray", "processes": self.processes, "address": self.address}

    def _init(self) -> bool:
        import ray

        if ray.is_initialized():
            return False
        if self.address:
            ray.init(address=self.address, log_to_driver=True)
        else:
            # Workers of a local Ray see the driver's import path, so stages
            # defined outside the installed package (tests, user code) resolve.
            # Through the environment the local Ray inherits, not a runtime_env:
            # that made Ray start a separate worker pool for it.
            path = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
            saved = os.environ.get("PYTHONPATH")
            os.environ["PYTHONPATH"] = path
            try:
                ray.init(
                    _node_ip_address="127.0.0.1",  # a local Ray never needs another interface
                    num_cpus=max(1, self.processes),
                    include_dashboard=False,
                    log_to_driver=True,
                )
            finally:
                if saved is None:
                    os.environ.pop("PYTHONPATH", None)
                else:
                    os.environ["PYTHONPATH"] = saved
        return True

    @contextlib.contextmanager
    def session(self):
        """Keep one Ray up across several stages (the demo runs two)."""
        import ray

        started_here = self._init()
        try:
            yield self
        finally:
            if started_here:
                ray.shutdown()

    def map(self, fn: Callable, items: Iterable, resources: Resources = Resources()) -> Iterator:
        import ray
        from ray.exceptions import RayTaskError

        started_here = self._init()
        try:
            remote = ray.remote(max_retries=0, **ray_options(resources, ray.cluster_resources()))(_call)
            pending = [remote.remote(fn, item) for item in items]
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                try:
                    yield ray.get(done[0])
                except RayTaskError as e:
                    cause = e.as_instanceof_cause()
                    raise (getattr(e, "cause", None) or cause) from None
        finally:
            if started_here:
                ray.shutdown()


def ray_options(resources: Resources, cluster: dict) -> dict:
    """Ray task options for a step's resources on a cluster with ``cluster`` resources."""
    opts: dict = {"num_cpus": resources.cpus}
    if resources.gpus > 0:
        if cluster.get("GPU", 0) >= resources.gpus:  # else the step runs on CPUs (never waits forever)
            opts["num_gpus"] = resources.gpus
    if resources.memory:
        opts["memory"] = resources.memory
    return opts


def _call(fn: Callable, item):
    return fn(item)
