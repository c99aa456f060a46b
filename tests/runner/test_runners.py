"""The runners: parity between local and Ray, resume, retry, failure records, atomicity."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from grassroots import io
from grassroots.errors import FatalError
from grassroots.layout import DatasetDir
from grassroots.accounting import stage_totals
from grassroots.ledger import shard_stats
from grassroots.manifest import read_manifest
from grassroots.runner import LocalRunner, RayRunner, RetryPolicy, run_step
from tests.conftest import assert_accounted
from tests.toy_stage import ToyStage, make_candidates

FAST_RETRY = RetryPolicy(retries=2, backoff_seconds=0.01)


def output_digest(dataset: Path) -> dict[str, str]:
    """sha256 of every shard output file (tars are written with a fixed mtime per run,
    so compare the tar member contents rather than the tar bytes)."""
    import tarfile

    out = {}
    for p in sorted((dataset / "shards").iterdir()):
        if p.suffix == ".tar":
            with tarfile.open(p) as t:
                for m in t.getmembers():
                    out[f"{p.name}/{m.name}"] = hashlib.sha256(t.extractfile(m).read()).hexdigest()
        else:
            import pyarrow.parquet as pq

            out[p.name] = hashlib.sha256(str(pq.read_table(p).to_pylist()).encode()).hexdigest()
    return out


def run_toy(dataset: Path, runner, stage=ToyStage()):
    return run_step(stage, str(dataset), runner, retry=FAST_RETRY, progress=False)


@pytest.mark.slow
def test_local_and_ray_give_identical_outputs_and_stats(tmp_path):
    a, b = tmp_path / "local", tmp_path / "ray"
    make_candidates(str(a))
    make_candidates(str(b))
    ta = run_toy(a, LocalRunner(processes=2))
    tb = run_toy(b, RayRunner(processes=2))
    assert output_digest(a) == output_digest(b)
    assert len(output_digest(a)) > 6
    da, db = ta.to_dict(), tb.to_dict()
    for d in (da, db):
        d.pop("seconds")
    assert da == db
    assert ta.kept > 0 and ta.reasons["caption_too_short"] > 0 and ta.reasons["duplicate"] > 0
    assert_accounted(a)
    assert_accounted(b)
    runs = read_manifest(str(b))["runs"]
    assert runs[-1]["runner"]["runner"] == "ray" and runs[-1]["totals"]["kept"] == ta.kept


@pytest.mark.slow
@pytest.mark.timeout(180)  # without backups the frozen copy is waited for without end
def test_a_silent_task_gets_a_backup_and_its_zombie_cannot_spoil_the_shard(tmp_path):
    """A worker that stops answering (frozen with SIGSTOP, as a node cut off from the network
    or a hung worker; Ray's health checks see nothing wrong) is not waited for: its task's
    pings stop, a backup copy runs and the step finishes. When the frozen copy wakes up after
    the step, its writes leave the shard as the backup wrote it: no half file, no temp file."""
    import threading

    ref, ds = tmp_path / "ref", tmp_path / "ds"
    for d in (ref, ds):
        make_candidates(str(d))
    stage = ToyStage(sleep_in_shard=1, sleep_seconds=1.5)
    run_toy(ref, LocalRunner(processes=1), stage)
    frozen: list[int] = []

    def freeze() -> None:  # the first copy of shard 1, mid-write (half its tar written)
        started = ds / "started-1"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if started.exists() and started.read_text().endswith("\n"):
                pid = int(started.read_text().split()[0])
                os.kill(pid, signal.SIGSTOP)
                frozen.append(pid)
                return
            time.sleep(0.02)

    runner = RayRunner(processes=2, heartbeats=True, silent_seconds=2.0)
    with runner.session():
        watcher = threading.Thread(target=freeze, daemon=True)
        watcher.start()
        try:
            totals = run_toy(ds, runner, stage)
        finally:
            watcher.join(5)
            for pid in frozen:
                os.kill(pid, signal.SIGCONT)  # the zombie goes on (or sees its cancellation)
        assert frozen, "the first copy of shard 1 never started"
        assert runner.stats["backups"] == 1 and runner.stats["retried"] == [1], runner.stats
        assert runner.stats["nodes_lost"] == 0  # nothing Ray itself would have noticed
        time.sleep(stage.sleep_seconds + 2)  # the zombie's time to finish, or to stop
    assert len((ds / "started-1").read_text().split()) == 2  # two copies of shard 1 ran
    assert output_digest(ds) == output_digest(ref)
    assert totals.kept == stage_totals(str(ref))["toy"].kept
    assert not [p for p in (ds / "shards").iterdir() if not p.name.split(".")[0].isdigit()]  # no temp files
    assert_accounted(ds)
    (run,) = read_manifest(str(ds))["runs"]
    assert run["runner"]["backups"] == 1


def _dies_once_then_logs(item, *, flags: Path):
    """A task that kills its own worker process the first time it runs item 0 (a system failure:
    Ray reports the worker crashed), and logs the order in which items finish."""
    first = flags / f"ran-{item}"
    if item == 0 and not first.exists():
        first.write_text("once")
        os._exit(1)
    time.sleep(0.3)
    with open(flags / "order", "a") as f:
        f.write(f"{item}\n")
    return item


@pytest.mark.slow
def test_a_task_whose_worker_died_runs_again_before_the_tasks_not_started(tmp_path):
    """A task lost with its worker (or node) is run again at the front of the line: handed to
    Ray all at once, it queued behind every other task of the step and ran last, alone."""
    import functools

    runner = RayRunner(processes=1)
    with runner.session():
        got = list(runner.map(functools.partial(_dies_once_then_logs, flags=tmp_path), range(8)))
    order = [int(x) for x in (tmp_path / "order").read_text().split()]
    assert sorted(got) == sorted(order) == list(range(8))
    assert runner.stats["retries"] == 1 and runner.stats["retried"] == [0], runner.stats
    assert order.index(0) <= 2, order  # one slot, one task queued beside it: at most two ahead of it


def test_ray_hands_out_as_many_tasks_as_the_cluster_has_slots():
    from grassroots.runner.ray import slots
    from grassroots.step import Resources

    assert slots(Resources(), {"CPU": 3.0}) == 3
    assert slots(Resources(cpus=2), {"CPU": 5.0}) == 2
    assert slots(Resources(gpus=1), {"CPU": 8.0, "GPU": 2.0}) == 2
    assert slots(Resources(gpus=1), {"CPU": 8.0}) == 8  # no GPU in the cluster: the step runs on CPUs
    assert slots(Resources(memory=2**30), {"CPU": 8.0, "memory": 3 * 2**30}) == 3
    assert slots(Resources(), {}) == 0  # no node: the runner still hands out one (the starved check)


@pytest.mark.slow
def test_ray_honours_resume_and_retry_like_local(tmp_path):
    flags = tmp_path / "flags"
    flags.mkdir()
    ds = tmp_path / "ds"
    make_candidates(str(ds))
    first = run_toy(ds, RayRunner(processes=2), ToyStage(flaky_flag_dir=str(flags), fail_shard=2))
    assert first.failed_shards == 1 and first.shards == 3
    assert sorted(p.name for p in flags.iterdir()) == ["0.tried", "1.tried"]  # shard 2 fails before
    again = run_toy(ds, RayRunner(processes=2))
    assert again.skipped_shards == 2  # shards 0 and 1 were done
    assert again.failed_shards == 0
    assert_accounted(ds)


def test_retryable_error_is_retried_and_shard_error_recorded(tmp_path):
    flags = tmp_path / "flags"
    flags.mkdir()
    ds = tmp_path / "ds"
    make_candidates(str(ds))
    total = run_toy(ds, LocalRunner(), ToyStage(flaky_flag_dir=str(flags), fail_shard=1))
    assert total.failed_shards == 1
    layout = DatasetDir(str(ds))
    assert io.exists(layout.run_marker("toy", 0)) and io.exists(layout.run_marker("toy", 2))
    assert not io.exists(layout.run_marker("toy", 1))
    failure = json.loads(Path(layout.run_failure("toy", 1)).read_text())
    assert "broken on purpose" in failure["error"]
    # A rerun retries the failed shard only, and clears its failure record.
    total = run_toy(ds, LocalRunner())
    assert total.skipped_shards == 2 and total.failed_shards == 0
    assert not io.exists(layout.run_failure("toy", 1))
    assert_accounted(ds)


def test_retries_are_bounded(tmp_path):
    ds = tmp_path / "ds"
    make_candidates(str(ds), shards=1)
    flags = tmp_path / "f"
    flags.mkdir()
    # retries=0: the single RetryableError attempt becomes a failed shard, not a hang or a crash.
    total = run_step(ToyStage(flaky_flag_dir=str(flags)), str(ds), LocalRunner(),
                     retry=RetryPolicy(retries=0), progress=False)
    assert total.failed_shards == 1
    assert "first try fails" in Path(DatasetDir(str(ds)).run_failure("toy", 0)).read_text()


def test_crash_mid_write_leaves_no_file_under_final_name(tmp_path):
    ds = tmp_path / "ds"
    make_candidates(str(ds), shards=2)
    with pytest.raises(RuntimeError, match="crash in the middle"):
        run_toy(ds, LocalRunner(), ToyStage(crash_mid_write_shard=1))
    shards = ds / "shards"
    assert (shards / "00000.tar").exists() and (shards / "00000.parquet").exists()
    assert not (shards / "00001.tar").exists() and not (shards / "00001.parquet").exists()
    assert not [p for p in shards.iterdir() if ".tmp-" in p.name], "temporary files left behind"


RUN_SCRIPT = textwrap.dedent(
    """
    import sys
    from grassroots.runner import LocalRunner, run_step
    from tests.toy_stage import ToyStage
    ds = sys.argv[1]
    stage = ToyStage(sleep_in_shard=int(sys.argv[2]), sleep_seconds=60)
    run_step(stage, ds, LocalRunner(processes=1), progress=False)
    """
)


def test_resume_after_sigkill_skips_finished_shards_and_matches_uninterrupted(tmp_path):
    ds, ref = tmp_path / "ds", tmp_path / "ref"
    make_candidates(str(ds))
    make_candidates(str(ref))
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-c", RUN_SCRIPT, str(ds), "1"], cwd=root,
                            env={**os.environ, "PYTHONPATH": str(root)})
    layout = DatasetDir(str(ds))
    deadline = time.monotonic() + 60
    while not (ds / "started-1").exists():
        assert proc.poll() is None, "runner exited early"
        assert time.monotonic() < deadline, "shard 1 never started"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert io.exists(layout.run_marker("toy", 0))
    assert not io.exists(layout.run_marker("toy", 1))
    assert not (ds / "shards" / "00001.tar").exists()  # half-written, under a temporary name only
    marker0 = Path(layout.run_marker("toy", 0)).stat().st_mtime_ns
    tar0 = (ds / "shards" / "00000.tar").stat().st_mtime_ns

    resumed = run_toy(ds, LocalRunner())
    assert resumed.skipped_shards == 1
    assert Path(layout.run_marker("toy", 0)).stat().st_mtime_ns == marker0  # not rewritten
    assert (ds / "shards" / "00000.tar").stat().st_mtime_ns == tar0  # shard 0 not written twice
    assert not [p for p in (ds / "shards").iterdir() if ".tmp-" in p.name]

    uninterrupted = run_toy(ref, LocalRunner())
    assert output_digest(ds) == output_digest(ref)
    assert stage_totals(str(ds))["toy"].to_dict() | {"seconds": 0} == uninterrupted.to_dict() | {
        "seconds": 0, "shards": 3, "skipped_shards": 0}
    assert_accounted(ds)


def test_accounting_helper_catches_a_lost_row(tmp_path):
    ds = tmp_path / "ds"
    make_candidates(str(ds), shards=1)
    run_toy(ds, LocalRunner())
    assert_accounted(ds)
    marker = Path(DatasetDir(str(ds)).run_marker("toy", 0))
    doc = json.loads(marker.read_text())
    doc["candidates"] += 1  # one row vanished from kept + dropped
    marker.write_text(json.dumps(doc))
    with pytest.raises(AssertionError, match="accounting invariant broken"):
        assert_accounted(ds)


def test_a_stage_that_loses_a_row_is_a_fatal_bug(tmp_path):
    ds = tmp_path / "ds"
    make_candidates(str(ds), shards=1)
    with pytest.raises(FatalError, match="lost rows: 20 candidates but 10 kept \\+ 9 dropped"):
        run_toy(ds, LocalRunner(), ToyStage(lose_row=4))
    assert not io.exists(DatasetDir(str(ds)).run_marker("toy", 0))


def test_the_driver_checks_the_ledger_of_what_a_step_wrote(tmp_path):
    """Stats that add up are not enough: a success row whose sample was never stored
    stops the run with the accounting problem named (the driver's check, every step
    with a ledger); a rerun that skips the shard does not hide it from `stats`."""
    ds = tmp_path / "ds"
    make_candidates(str(ds), shards=2)
    with pytest.raises(FatalError, match="accounting check failed .*toy shard 1: stored samples differ"):
        run_toy(ds, LocalRunner(), ToyStage(unstored_row=2))
    with pytest.raises(AssertionError, match="stored samples differ"):
        assert_accounted(ds)


def test_ledger_check_catches_a_missing_parquet_row(tmp_path):
    import pyarrow.parquet as pq

    ds = tmp_path / "ds"
    make_candidates(str(ds), shards=1)
    run_toy(ds, LocalRunner())
    path = DatasetDir(str(ds)).shard_parquet(0)
    table = pq.read_table(path)
    pq.write_table(table.slice(0, table.num_rows - 1), path)
    with pytest.raises(AssertionError, match="parquet has 19 rows"):
        assert_accounted(ds)


def test_manifest_records_each_run(tmp_path):
    ds = tmp_path / "ds"
    make_candidates(str(ds), shards=2)
    run_toy(ds, LocalRunner())
    run_toy(ds, LocalRunner())
    runs = read_manifest(str(ds))["runs"]
    assert [r["stage"] for r in runs] == ["toy", "toy"]
    assert runs[0]["config"]["min_chars"] == 5 and runs[0]["config"]["fail_shard"] == -1
    assert runs[0]["code"]["version"]
    assert runs[1]["totals"]["skipped_shards"] == 2
    assert runs[0]["started"] <= runs[0]["ended"]
    assert shard_stats(str(ds), "toy")[1].shard == 1
