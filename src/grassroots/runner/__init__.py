"""Runners map shard tasks onto workers. Resume, retry, stats and completion
markers live once, in core.py; local.py and ray.py differ only in how they map."""

import enum

from grassroots.step import Resources, Runner, ShardTask, Step
from grassroots.runner.core import RetryPolicy, run_shard, run_step
from grassroots.runner.local import LocalRunner
from grassroots.runner.ray import RayRunner

__all__ = ["LocalRunner", "RayRunner", "Resources", "RetryPolicy", "Runner", "ShardTask", "Step", "run_shard",
           "run_step", "make_runner", "RunnerKind"]


class RunnerKind(str, enum.Enum):
    LOCAL = "local"
    RAY = "ray"


def make_runner(kind: str = "local", processes: int = 1, ray_address: str | None = None) -> Runner:
    """The runner the CLI's ``--runner/--processes/--ray-address`` flags ask for."""
    if kind == "local":
        return LocalRunner(processes=processes)
    if kind == "ray":
        return RayRunner(processes=processes, address=ray_address)
    raise ValueError(f"unknown runner {kind!r}: use 'local' or 'ray'")
