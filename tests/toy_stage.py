"""A small real stage for runner tests: reads candidates/NNNNN.parquet, keeps
captions of at least ``min_chars`` characters, drops duplicates, writes a
webdataset tar + parquet ledger. Knobs inject failures the runners must survive."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import ClassVar

import pyarrow as pa
import pyarrow.parquet as pq

from grassroots import io
from grassroots.errors import RetryableError, ShardError
from grassroots.layout import DatasetDir
from grassroots.inputs import candidate_shards
from grassroots.step import parquet_rows
from grassroots.runner import Resources, ShardTask
from grassroots.schema import CANDIDATE_SCHEMA, Reason, Status, make_key
from grassroots.stats import ShardStats
from grassroots.writer import ShardWriter


@dataclass(frozen=True)
class ToyStage:
    name: ClassVar[str] = "toy"
    resources: ClassVar[Resources] = Resources()
    ledger: ClassVar[str | None] = "shards"
    min_chars: int = 5
    sleep_in_shard: int = -1  # this shard sleeps `sleep_seconds` after writing half its tar
    sleep_seconds: float = 0.0
    fail_shard: int = -1  # raises ShardError
    flaky_flag_dir: str = ""  # first attempt of every shard raises RetryableError
    crash_mid_write_shard: int = -1  # raises RuntimeError in the middle of writing
    lose_row: int = -1  # this row silently vanishes (a bug the runner must catch)
    unstored_row: int = -1  # this row is a success in the ledger but its sample is never written

    def plan(self, dataset: str) -> list[ShardTask]:
        layout = DatasetDir(dataset)
        return [ShardTask(s, dataset, (layout.candidates(s),), (0, parquet_rows(layout.candidates(s))))
                for s in candidate_shards(dataset)]

    def outputs(self, layout: DatasetDir) -> list[str]:
        return [layout.shards_dir]

    def __call__(self, task: ShardTask) -> ShardStats:
        layout = DatasetDir(task.dataset)
        if task.shard == self.fail_shard:
            raise ShardError(f"shard {task.shard} is broken on purpose")
        if self.flaky_flag_dir:
            flag = os.path.join(self.flaky_flag_dir, f"{task.shard}.tried")
            if not os.path.exists(flag):
                open(flag, "w").close()
                raise RetryableError("first try fails on purpose")
        with io.open_file(layout.candidates(task.shard)) as f:
            rows = pq.read_table(f).to_pylist()
        stats = ShardStats(candidates=len(rows))
        seen: set[str] = set()
        with ShardWriter(task.dataset, task.shard) as w:
            for i, row in enumerate(rows):
                if i == len(rows) // 2:
                    if task.shard == self.sleep_in_shard:
                        with open(os.path.join(task.dataset, f"started-{task.shard}"), "a") as f:
                            f.write(f"{os.getpid()}\n")  # one line per attempt: the worker running it
                        time.sleep(self.sleep_seconds)
                    if task.shard == self.crash_mid_write_shard:
                        raise RuntimeError("crash in the middle of the shard")
                if i == self.lose_row:
                    continue
                key = make_key(task.shard, i)
                caption = row["caption"] or ""
                base = {"key": key, "url": row["url"], "caption": caption}
                if len(caption) < self.min_chars:
                    reason = Reason.CAPTION_TOO_SHORT
                elif caption in seen:
                    reason = Reason.DUPLICATE
                else:
                    reason = None
                seen.add(caption)
                if reason is None:
                    if i != self.unstored_row:
                        w.add_sample(key, {"txt": caption, "json": base})
                    w.add_row({**base, "status": Status.SUCCESS.value})
                    stats.keep()
                else:
                    w.add_row({**base, "status": reason.status.value, "reason": reason.value})
                    stats.drop(reason)
        stats.bytes_written = w.bytes_written
        return stats


def make_candidates(dataset: str, shards: int = 3, rows: int = 20) -> None:
    """Write deterministic candidate shards with some short and duplicate captions."""
    layout = DatasetDir(dataset)
    io.makedirs(layout.candidates_dir)
    for s in range(shards):
        data = []
        for r in range(rows):
            caption = ["ok", f"a caption number {r % 4} of shard {s}", f"picture {s}-{r}"][r % 3]
            data.append({"url": f"http://127.0.0.1:1/{s}/{r}.jpg", "caption": caption})
        table = pa.Table.from_pylist(data, schema=CANDIDATE_SCHEMA)
        pq.write_table(table, layout.candidates(s))
