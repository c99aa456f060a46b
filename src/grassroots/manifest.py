"""manifest.json: one entry per run — stage, full config, code version, inputs,
start/end and totals — so a dataset states how it was made."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import fields, is_dataclass
from pathlib import Path

from grassroots import __version__, io
from grassroots.layout import DatasetDir
from grassroots.stats import ShardStats


def code_version() -> dict:
    out = {"package": "grassroots", "version": __version__, "git_commit": None}
    here = Path(__file__).resolve().parent
    try:
        res = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        if res.returncode == 0:
            out["git_commit"] = res.stdout.strip()
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=here, capture_output=True, text=True, timeout=5,
            )
            out["git_dirty"] = bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def config_dict(obj) -> dict:
    """A JSON-able view of a (nested) frozen dataclass config, for manifest.json.
    Fields declared with ``repr=False`` (test hooks such as a socket factory) are left out;
    a value with ``public_config()`` is written as that (what a published file may say)."""

    def conv(v):
        if hasattr(v, "public_config"):
            return conv(v.public_config())
        if is_dataclass(v) and not isinstance(v, type):
            return {f.name: conv(getattr(v, f.name)) for f in fields(v) if f.repr}
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if hasattr(v, "value"):
            return v.value
        if isinstance(v, float) and v == float("inf"):
            return "inf"
        return v

    return conv(obj)


def read_manifest(dataset: str) -> dict:
    path = DatasetDir(dataset).manifest
    if not io.exists(path):
        return {"format": 1, "runs": []}
    return json.loads(io.read_text(path))


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def record_run(
    dataset: str,
    *,
    stage: str,
    config: dict,
    runner: dict,
    inputs: list[str],
    started: float,
    ended: float,
    totals: ShardStats,
) -> dict:
    manifest = read_manifest(dataset)
    entry = {
        "stage": stage,
        "config": config,
        "runner": runner,
        "code": code_version(),
        "inputs": list(inputs),
        "started": _iso(started),
        "ended": _iso(ended),
        "seconds": round(ended - started, 3),
        "totals": totals.to_dict(),
    }
    manifest.setdefault("runs", []).append(entry)
    io.makedirs(dataset)
    io.write_text_atomic(DatasetDir(dataset).manifest, json.dumps(manifest, indent=1, default=str))
    return entry
