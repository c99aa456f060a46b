"""DatasetDir: every path inside a dataset directory, computed in one place.

No other module builds dataset paths by string editing.

    DATASET/
      manifest.json
      candidates/NNNNN.parquet
      shards/NNNNN.tar  shards/NNNNN.parquet
      _runs/<stage>/NNNNN.json         (completion marker + stats)
      _runs/<stage>/NNNNN.failed.json  (last failure of a shard; not a marker)
      _runs/<stage>/plan.json          (which input each shard number stands for)
"""

from __future__ import annotations

from dataclasses import dataclass

SHARD_DIGITS = 5


def shard_name(shard: int) -> str:
    return f"{shard:0{SHARD_DIGITS}d}"


@dataclass(frozen=True)
class DatasetDir:
    root: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", str(self.root).rstrip("/") or "/")

    def _join(self, *parts: str) -> str:
        return "/".join((self.root, *parts))

    @property
    def manifest(self) -> str:
        return self._join("manifest.json")

    @property
    def candidates_dir(self) -> str:
        return self._join("candidates")

    def candidates(self, shard: int) -> str:
        return self._join("candidates", f"{shard_name(shard)}.parquet")

    @property
    def shards_dir(self) -> str:
        return self._join("shards")

    def shard_tar(self, shard: int) -> str:
        return self._join("shards", f"{shard_name(shard)}.tar")

    def shard_parquet(self, shard: int) -> str:
        return self._join("shards", f"{shard_name(shard)}.parquet")

    def runs_dir(self, stage: str) -> str:
        return self._join("_runs", stage)

    def run_marker(self, stage: str, shard: int) -> str:
        return self._join("_runs", stage, f"{shard_name(shard)}.json")

    def run_failure(self, stage: str, shard: int) -> str:
        return self._join("_runs", stage, f"{shard_name(shard)}.failed.json")

    def run_progress(self, stage: str, shard: int) -> str:
        """Rows done so far by a running shard (removed when it ends)."""
        return self._join("_runs", stage, f"{shard_name(shard)}.progress")

    def progress_glob(self, stage: str) -> str:
        return self._join("_runs", stage, "*.progress")

    def run_plan(self, stage: str) -> str:
        return self._join("_runs", stage, "plan.json")

    def candidates_glob(self) -> str:
        return self._join("candidates", "*.parquet")

    def shard_parquets_glob(self) -> str:
        return self._join("shards", "*.parquet")

    def markers_glob(self, stage: str) -> str:
        """Completion markers and failure records (``.failed.json``) of a stage."""
        return self._join("_runs", stage, "[0-9]*.json")

    def failures_glob(self, stage: str) -> str:
        return self._join("_runs", stage, "[0-9]*.failed.json")

    def stages_glob(self) -> str:
        return self._join("_runs", "*")

    @staticmethod
    def shard_of(path: str) -> int:
        """The shard number in a path this class made (``.../00012.parquet`` -> 12)."""
        stem = path.rsplit("/", 1)[-1].split(".", 1)[0]
        if not stem.isdigit():
            raise ValueError(f"not a shard path: {path}")
        return int(stem)
