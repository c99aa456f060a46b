"""Resources, GPU pinning, the per-worker model cache and the error classes,
through the real runners."""

from __future__ import annotations

import errno
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar


from grassroots.layout import DatasetDir
from grassroots.runner import LocalRunner, Resources, RetryPolicy, ShardTask, run_step
from grassroots.runner.local import visible_gpus
from grassroots.runner.ray import ray_options
from grassroots.runner.worker import cached
from grassroots.stats import ShardStats

LOADS: list[int] = []


@dataclass(frozen=True)
class ProbeStep:
    """Records, per task, the worker's pid and CUDA_VISIBLE_DEVICES; waits until
    ``wait_for`` tasks have started, so every worker of the pool gets one."""

    name: ClassVar[str] = "probe"
    resources: ClassVar[Resources] = Resources(cpus=1, gpus=1)
    ledger: ClassVar[str | None] = None
    tasks: int = 4
    wait_for: int = 2

    def plan(self, dataset: str) -> list[ShardTask]:
        return [ShardTask(i, dataset) for i in range(self.tasks)]

    def outputs(self, layout: DatasetDir) -> list[str]:
        return [layout.attributes_dir("probe")]

    def __call__(self, task: ShardTask) -> ShardStats:
        out = Path(DatasetDir(task.dataset).attributes_dir("probe"))
        model = cached(("model", "probe"), lambda: LOADS.append(1) or os.getpid())
        (out / f"{task.shard}.json").write_text(json.dumps(
            {"pid": os.getpid(), "gpu": os.environ.get("CUDA_VISIBLE_DEVICES"), "model": model, "loads": len(LOADS)}))
        deadline = time.monotonic() + 30
        while len(list(out.glob("*.json"))) < self.wait_for and time.monotonic() < deadline:
            time.sleep(0.05)
        return ShardStats()


def probes(ds: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((ds / "attributes" / "probe").glob("*.json"))]


def test_local_runner_pins_one_worker_per_visible_gpu(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert visible_gpus() == ["3", "5"]
    ds = tmp_path / "ds"
    totals = run_step(ProbeStep(), str(ds), LocalRunner(processes=1), progress=False)
    assert totals.shards == 4 and totals.failed_shards == 0
    seen = probes(ds)
    by_pid: dict[int, set] = {}
    for p in seen:
        by_pid.setdefault(p["pid"], set()).add(p["gpu"])
    assert len(by_pid) == 2  # one worker per GPU, even with --processes 1
    assert sorted(g for gpus in by_pid.values() for g in gpus) == ["3", "5"]  # each worker keeps its own GPU
    assert all(p["model"] == p["pid"] and p["loads"] <= 2 for p in seen)  # loaded once per worker


def test_without_gpus_a_gpu_step_runs_on_the_configured_processes_with_a_cached_model(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []
    LOADS.clear()
    ds = tmp_path / "ds"
    run_step(ProbeStep(tasks=3, wait_for=1), str(ds), LocalRunner(processes=1), progress=False)
    seen = probes(ds)
    assert {p["pid"] for p in seen} == {os.getpid()} and [p["loads"] for p in seen] == [1, 1, 1]


def test_ray_options_follow_resources_and_never_wait_for_missing_gpus():
    r = Resources(cpus=2, gpus=1, memory=1 << 30)
    assert ray_options(r, {"CPU": 8, "GPU": 2}) == {"num_cpus": 2, "num_gpus": 1, "memory": 1 << 30}
    assert ray_options(r, {"CPU": 8}) == {"num_cpus": 2, "memory": 1 << 30}
    assert ray_options(Resources(), {}) == {"num_cpus": 1}


@dataclass(frozen=True)
class FailingStep:
    name: ClassVar[str] = "failing"
    resources: ClassVar[Resources] = Resources()
    ledger: ClassVar[str | None] = None
    error: str = "eio"  # eio: transient once; missing: a file that is not there
    flags: str = ""

    def plan(self, dataset: str) -> list[ShardTask]:
        return [ShardTask(0, dataset), ShardTask(1, dataset)]

    def outputs(self, layout: DatasetDir) -> list[str]:
        return []

    def __call__(self, task: ShardTask) -> ShardStats:
        if task.shard == 1:
            flag = Path(self.flags) / "tried"
            if self.error == "missing":
                open(Path(self.flags) / "no-such-file.parquet", "rb")
            if not flag.exists():
                flag.write_text("1")
                raise OSError(errno.EIO, "object store hiccup")
        return ShardStats()


def test_transient_io_errors_are_retried_and_missing_files_fail_the_shard_not_the_run(tmp_path):
    ds = tmp_path / "ds"
    totals = run_step(FailingStep(flags=str(tmp_path)), str(ds), LocalRunner(),
                      retry=RetryPolicy(retries=2, backoff_seconds=0.01), progress=False)
    assert totals.failed_shards == 0 and totals.shards == 2  # EIO once, then done
    other = tmp_path / "other"
    totals = run_step(FailingStep(error="missing", flags=str(tmp_path)), str(other), LocalRunner(),
                      retry=RetryPolicy(retries=3, backoff_seconds=5), progress=False)
    assert totals.failed_shards == 1 and totals.shards == 2  # shard 0 still ran
    failure = json.loads(Path(DatasetDir(str(other)).run_failure("failing", 1)).read_text())
    assert failure["attempts"] == 1 and "FileNotFoundError" in failure["error"]  # not retried: no 5 s waits


def test_a_changed_task_is_no_longer_done(tmp_path):
    from grassroots.step import load_plan, save_plan

    ds = str(tmp_path / "ds")
    layout = DatasetDir(ds)
    run_step(ProbeStep(tasks=2, wait_for=1), ds, LocalRunner(), progress=False)
    assert os.path.exists(layout.run_marker("probe", 1))
    save_plan(ds, "probe", [ShardTask(0, ds), ShardTask(1, ds, inputs=("new-input",))])
    assert os.path.exists(layout.run_marker("probe", 0)) and not os.path.exists(layout.run_marker("probe", 1))
    assert load_plan(ds, "probe")[1].inputs == ("new-input",)
