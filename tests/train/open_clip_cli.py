"""open_clip's own trainer (`open_clip_train.main`, from open_clip_torch[training]) as a
command, and the per-step lines of its log: shared by the interop test and
bench/train_vs_open_clip.py.

It runs in a child process because its logging set-up turns every logger of the
process to INFO. Our model configs are registered first, in that process, so
``--model grassroots-train-tiny`` means the same model as in ``grassroots train``.
"""

from __future__ import annotations

import os
import re
import sys

_MAIN = ("import sys; from grassroots.models.clip import register_configs; register_configs(); "
         "from open_clip_train.main import main; main(sys.argv[1:])")

_STEP = re.compile(r"Train Epoch: (?P<epoch>\d+) \[\s*(?P<seen>\d+)/(?P<of>\d+) \(\d+%\)\] "
                   r"Data \(t\): (?P<data_s>[\d.]+) Batch \(t\): (?P<batch_s>[\d.]+),.* Loss: (?P<loss>[\d.]+)")


def command(shards: str, logs: str, name: str, *, samples: int, batch_size: int, model: str = "grassroots-train-tiny",
            workers: int = 0, extra: tuple[str, ...] = ()) -> list[str]:
    """``python -m open_clip_train.main`` on our webdataset tars, fp32 on the CPU, one log line a step."""
    return [sys.executable, "-c", _MAIN, "--train-data", shards, "--dataset-type", "webdataset",
            "--train-num-samples", str(samples), "--batch-size", str(batch_size), "--epochs", "1",
            "--workers", str(workers), "--device", "cpu", "--precision", "fp32", "--model", model,
            "--logs", logs, "--name", name, "--log-every-n-steps", "1", "--report-to", "none", *extra]


def env() -> dict[str, str]:
    """The child sees this checkout's grassroots, as the parent does."""
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.pathsep.join([os.path.join(here, "src"), here, os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path.rstrip(os.pathsep)}


def steps(out_log: str) -> list[dict]:
    """One dict per logged training step: epoch, seen, of, data_s, batch_s, loss."""
    with open(out_log) as f:
        found = [m.groupdict() for m in map(_STEP.search, f) if m]
    return [{k: (float(v) if "." in v else int(v)) for k, v in d.items()} for d in found]
