"""download --shard-by-host: every URL of a registrable domain goes to one shard.

Per-host politeness (grassroots.fetch.politeness: ``--host-concurrency``,
``--host-rps``) is enforced inside one worker process. When a site's URLs are
spread over many shards, every worker that holds some of them opens its own
connections, and the site sees ``processes x host-concurrency``. Assigning each
site to exactly one shard makes one worker own it, so the caps hold crawl-wide.

The unit is the registrable domain (eTLD+1 by the bundled public-suffix list,
``grassroots.urls.registrable_domain``), not the host name: ``img1.example.com``
and ``img2.example.com`` are usually one operator's servers, and a site that
shards its images over many sub-domains would otherwise get one worker's budget
per sub-domain. Platforms whose users have their own sub-domains are public
suffixes (``blogspot.com``, ``github.io``), so each user is still their own
domain. The fetcher keys its caps by host; a domain in one shard means each of
its hosts is in that shard too.

Task P of N takes the candidates (as dedup left them) whose domain hashes to P
(blake2b, stable across processes and runs), in candidate-file then row order,
so a resumed run sees the same rows under the same keys. N is the candidate
count over ``samples_per_shard``: shards balance when domains far outnumber
shards; a domain's rows are never split, so a very large site makes one large
shard (key width grows with it). Each task reads every candidate file; at
crawl scale the same assignment is a shuffle (docs/scale.md).
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pyarrow as pa

from grassroots.layout import DatasetDir
from grassroots.step import ShardTask
from grassroots.urls import registrable_domain


def domain_partition(urls: list[str | None], parts: int) -> np.ndarray:
    """The partition of each URL: a stable hash of its registrable domain, mod ``parts``
    (URLs without a host, which download records as invalid, share one partition)."""
    cache: dict[str | None, int] = {}
    out = np.empty(len(urls), np.int64)
    for i, url in enumerate(urls):
        domain = registrable_domain(url) if url else None
        p = cache.get(domain)
        if p is None:
            digest = hashlib.blake2b((domain or "").encode(), digest_size=8).digest()
            p = cache[domain] = int.from_bytes(digest, "little") % parts
        out[i] = p
    return out


def plan_by_host(dataset: str, source: str, counts: list[tuple[int, int]], rows_per_shard: int) -> list[ShardTask]:
    """N tasks over every candidate file of ``source``; task P owns domain partition P."""
    src = DatasetDir(source)
    inputs = tuple(src.candidates(s) for s, _ in counts)
    parts = max(1, math.ceil(sum(n for _, n in counts) / rows_per_shard))
    return [ShardTask(p, dataset, inputs, partition=(p, parts)) for p in range(parts)]


def read_by_host(task: ShardTask) -> pa.Table:
    """The candidates of the task's domain partition, in (candidate file, row) order."""
    from grassroots.stages.dedup import read_candidates

    part, parts = task.partition
    tables = []
    for path in task.inputs:
        table = read_candidates(*DatasetDir.candidates_owner(path))
        mine = domain_partition(table.column("url").to_pylist(), parts) == part
        tables.append(table.filter(pa.array(mine)))
    return pa.concat_tables(tables, promote_options="default")
