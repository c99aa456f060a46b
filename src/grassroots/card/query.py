"""Every number in a release's cards, computed here and nowhere else: DuckDB over the
ledger parquet (the dataset's shards/*.parquet and each release's), plus the manifests
and takedown records that say how the ledger came to be.

A release's *chain* is the release, its parent, and so on down to the dataset: the
dataset's ledger holds every candidate ever downloaded (kept, failed, refused,
filtered); each release's ledger holds its parent's kept samples, selected or dropped.
"Kept content" is the success rows of the release's own ledger.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property

import pyarrow.parquet as pq

from grassroots import io
from grassroots.layout import DatasetDir
from grassroots.accounting import stage_totals
from grassroots.manifest import read_manifest
from grassroots.schema import Reason, Status
from grassroots.takedown.record import TakedownRecord

SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"))


@dataclass(frozen=True)
class Link:
    """One release of the chain: how it was made from its parent, and what its ledger says."""

    name: str  # release name (v2) or "dataset"
    how: str  # select | takedown | download
    where: str | None  # select: its expression
    takedown: TakedownRecord | None  # takedown: its record
    candidates: int
    kept: int
    drops: dict[str, int] = field(default_factory=dict)  # reason -> rows


@dataclass
class CardQuery:
    dataset: str
    release: str  # release name (v1, v2 ...)

    def __post_init__(self) -> None:
        import duckdb

        self.root = DatasetDir(self.dataset)
        self.rel = self.root.release(self.release)
        self.con = duckdb.connect()
        for name, layout in (("dataset_ledger", self.root), ("release_ledger", self.rel)):
            files = sorted(io.glob(layout.shard_parquets_glob()))
            if not files:
                from grassroots.errors import InputError

                raise InputError(layout.root, "has no ledger (shards/*.parquet)", "run download, then select")
            self.con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({files!r}, union_by_name=true)")
        self.con.execute(f"CREATE VIEW kept AS SELECT * FROM release_ledger WHERE status = '{Status.SUCCESS.value}'")

    def rows(self, sql: str) -> list[tuple]:
        return self.con.execute(sql).fetchall()

    def one(self, sql: str):
        return self.con.execute(sql).fetchone()[0]

    # --- composition ----------------------------------------------------------------
    @cached_property
    def kept(self) -> int:
        return self.one("SELECT count(*) FROM kept")

    @cached_property
    def kept_bytes(self) -> int:
        return int(self.one("SELECT coalesce(sum(bytes), 0) FROM kept"))

    def size_category(self) -> str:
        return next((name for bound, name in SIZE_CATEGORIES if self.kept < bound), "n>1B")

    def eu_size_bin(self) -> str:
        """The template's image-count bin (specs/rights.md section 7)."""
        return ("Less than 1 million images" if self.kept < 1_000_000
                else "1 million to 1 billion images" if self.kept <= 1_000_000_000 else "More than 1 billion images")

    def top_domains(self) -> tuple[list[tuple[str, int, float]], int]:
        """(the top 10% of registrable domains by share of kept samples, N rounded up, ties at the
        cut-off included: [(domain, samples, share)], how many distinct domains)."""
        counts = self.rows("SELECT coalesce(domain, '(none)') d, count(*) n FROM kept GROUP BY d ORDER BY n DESC, d")
        if not counts:
            return [], 0
        n = math.ceil(len(counts) * 0.10)
        cut = counts[n - 1][1]
        return [(d, c, c / self.kept) for d, c in counts if c >= cut], len(counts)

    def domain_counts(self, limit: int = 15) -> list[tuple[str, int]]:
        return self.rows(f"SELECT coalesce(domain, '(none)') d, count(*) n FROM kept GROUP BY d "
                         f"ORDER BY n DESC, d LIMIT {int(limit)}")

    def languages(self) -> list[tuple[str, int, float]]:
        return [(lang, n, n / self.kept) for lang, n in self.rows(
            "SELECT coalesce(page_lang, 'unknown') l, count(*) n FROM kept GROUP BY l ORDER BY n DESC, l")]

    def licences(self) -> list[tuple[str, int]]:
        return self.rows("SELECT coalesce(license, 'none found') l, count(*) n FROM kept GROUP BY l ORDER BY n DESC, l")

    def image_sizes(self) -> list[tuple[int, int]]:
        """(original width, original height) of every kept sample with both known."""
        return self.rows("SELECT original_width, original_height FROM kept "
                         "WHERE original_width IS NOT NULL AND original_height IS NOT NULL")

    def size_summary(self) -> dict[str, float | None]:
        row = self.con.execute("SELECT median(original_width), median(original_height), median(width), median(height), "
                           "median(length(caption)), avg(length(caption)) FROM kept").fetchone()
        return dict(zip(("original_width", "original_height", "width", "height", "caption_chars",
                         "caption_chars_mean"), row))

    def caption_lengths(self) -> list[int]:
        return [r[0] for r in self.rows("SELECT length(caption) FROM kept WHERE caption IS NOT NULL")]

    # --- collection -------------------------------------------------------------------
    def collection_period(self) -> tuple[str | None, str | None]:
        """First and last fetch time of any downloaded candidate (ISO dates)."""
        lo, hi = self.con.execute("SELECT min(fetched_at), max(fetched_at) FROM dataset_ledger").fetchone()
        return (lo.date().isoformat() if lo else None, hi.date().isoformat() if hi else None)

    def candidates(self) -> int:
        return self.one("SELECT count(*) FROM dataset_ledger")

    def outcomes(self) -> list[tuple[str, str | None, int]]:
        """(status, reason, rows) of every downloaded candidate."""
        return self.rows("SELECT status, reason, count(*) n FROM dataset_ledger GROUP BY ALL ORDER BY status, n DESC")

    def refusals(self) -> list[tuple[str, int]]:
        """Rows refused at download, by the protocol that refused them (one reason per row,
        so a sample refused by several signals counts once), and the samples taken down along
        the chain, each once (a takedown marks it in the dataset and every release it purges)."""
        out = Counter(dict(self.rows(f"SELECT reason, count(*) FROM dataset_ledger WHERE status = "
                                     f"'{Status.REFUSED.value}' AND reason <> '{Reason.TAKEDOWN.value}' GROUP BY reason")))
        taken = {k for (k,) in self.rows(f"SELECT key FROM dataset_ledger WHERE reason = '{Reason.TAKEDOWN.value}'")}
        for link in self.chain()[:-1]:
            if link.drops.get("takedown"):
                layout = DatasetDir(self.dataset).release(link.name)
                for path in io.glob(layout.shard_parquets_glob()):
                    with io.open_file(path) as f:
                        t = pq.read_table(f, columns=["key", "reason"])
                    taken |= {r["key"] for r in t.to_pylist() if r["reason"] == Reason.TAKEDOWN.value}
        if taken:
            out["takedown"] = len(taken)
        return sorted(out.items(), key=lambda kv: (-kv[1], kv[0]))

    def download_runs(self) -> list[dict]:
        return [r for r in read_manifest(self.dataset).get("runs", []) if r.get("stage") == "download"]

    def input_runs(self) -> list[dict]:
        return [r for r in read_manifest(self.dataset).get("runs", []) if r.get("stage") in ("extract", "import")]

    def stage_totals(self) -> dict:
        """Per step of the dataset (extract, dedup, download, hash, embed, score ...): marker totals."""
        return stage_totals(self.dataset)

    # --- releases, filters, takedowns ----------------------------------------------------
    def chain(self) -> list[Link]:
        """The release, its parent ... down to the dataset (last)."""
        links, layout, seen = [], self.rel, set()
        while layout.root not in seen:
            seen.add(layout.root)
            info = read_manifest(layout.root).get("release")
            if not info:
                break
            record = TakedownRecord.read(layout)
            ledger = f"read_parquet({sorted(io.glob(layout.shard_parquets_glob()))!r}, union_by_name=true)"
            drops = dict(self.con.execute(f"SELECT reason, count(*) FROM {ledger} WHERE status <> 'success' "
                                          "GROUP BY reason ORDER BY reason").fetchall())
            rows, kept = self.con.execute(f"SELECT count(*), count(*) FILTER (status = 'success') "
                                          f"FROM {ledger}").fetchone()  # now: a takedown may have purged it since
            links.append(Link(layout.root.rsplit("/", 1)[-1], "takedown" if record else "select",
                              info.get("where"), record, int(rows), int(kept), drops))
            layout = DatasetDir(info["parent"])
        downloaded = dict(self.rows("SELECT reason, count(*) FROM dataset_ledger WHERE status <> 'success' "
                                    "GROUP BY reason ORDER BY reason"))
        links.append(Link("dataset", "download", None, None, self.candidates(),
                          self.one("SELECT count(*) FROM dataset_ledger WHERE status = 'success'"), downloaded))
        return links

    def select_where(self) -> str | None:
        return next((link.where for link in self.chain() if link.how == "select"), None)

    def takedowns(self) -> list[tuple[str, TakedownRecord]]:
        """(release name, its record) of every takedown in this release's line, newest first."""
        return [(link.name, link.takedown) for link in self.chain() if link.takedown is not None]

    def takedown_removed(self) -> int:
        """Samples removed by the takedowns in this release's line."""
        return sum(rec.counts.removed for _, rec in self.takedowns())

    def takedown_illegal(self) -> int:
        """Of those, removed as illegal content (their URLs are withheld everywhere)."""
        return sum(rec.counts.illegal_content for _, rec in self.takedowns())

    def thresholds(self) -> dict[str, tuple[str, float]]:
        """column -> (operator, value) of the simple comparisons in the select expression."""
        where = self.select_where() or ""
        return {m[0]: (m[1], float(m[2]))
                for m in re.findall(r"\b([A-Za-z_]\w*)\s*(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)", where)}

    def attribute_values(self, table: str, column: str) -> list[float]:
        """A score of every kept sample of the dataset, before selection (for histograms)."""
        files = sorted(io.glob(self.root.attribute_shards_glob(table)))
        if not files:
            return []
        return [r[0] for r in self.rows(f"SELECT \"{column}\" FROM read_parquet({files!r}) WHERE \"{column}\" IS NOT NULL")]

    def concepts(self, limit: int = 15) -> list[tuple[str, int, int]]:
        """(entry, samples of the dataset matching it, of those in the release) for the
        ``limit`` entries the dataset matches most (the concepts step's table: every kept
        sample of the dataset when it ran), most first; empty when the step never ran."""
        files = sorted(io.glob(self.root.attribute_shards_glob("concepts")))
        if not files:
            return []
        return [(e, int(n), int(r)) for e, n, r in self.rows(
            "SELECT entry, count(*) AS n, count(*) FILTER (WHERE k.key IS NOT NULL) AS r FROM "
            f"(SELECT key, unnest(concepts) AS entry FROM read_parquet({files!r})) c LEFT JOIN kept k USING (key) "
            f"GROUP BY entry ORDER BY n DESC, entry LIMIT {int(limit)}")]

    def balance(self) -> dict | None:
        """The balancing of the select in this release's line (T, seed ...), or None."""
        for link in self.chain():
            if link.how == "select":
                info = read_manifest(self.root.release(link.name).root).get("release", {})
                if info.get("balance"):
                    return info["balance"]
        return None

    def safety_heads(self) -> list[tuple[str, str]]:
        """(head name, file) of every safety head the dataset was scored with."""
        heads = []
        for run in read_manifest(self.dataset).get("runs", []):
            if run.get("stage") == "score":
                heads += [tuple(h) for h in run.get("config", {}).get("heads", [])]
        return list(dict.fromkeys(heads))

    def hash_list_refusals(self) -> tuple[int, int]:
        """(rows refused at download by a hash list, of them by an illegal-content list: hashes only)."""
        return tuple(int(v or 0) for v in self.rows(
            "SELECT count(*), count(*) FILTER (WHERE error_message LIKE '%illegal-content list%') "
            f"FROM dataset_ledger WHERE reason = '{Reason.HASH_BLOCKLIST.value}'")[0])

    def safety_flags(self) -> list[tuple[str, str, str, int, int]]:
        """(detector with its version, column, rule, samples of the dataset flagged by the rule,
        of those not in the release) for the safety step's scores (attributes/safety). The rule
        is the release's threshold on the column, or ``>= 0.5`` when it sets none."""
        files = sorted(io.glob(self.root.attribute_shards_glob("safety")))
        if not files:
            return []
        info_path = self.root.attribute_info("safety")
        found = json.loads(io.read_text(info_path)).get("detectors", {}) if io.exists(info_path) else {}
        limits = self.thresholds()
        out = []
        for column, pkg in (("nsfw", "nudenet"), ("caption_offensive", "alt-profanity-check")):
            op, value = limits.get(column, (">=", 0.5))
            # a sample is flagged where the rule would drop it: the opposite side of a '<' threshold
            flag = {"<": ">=", "<=": ">", ">": "<=", ">=": "<"}[op] if column in limits else ">="
            flagged, excluded = self.con.execute(
                f"SELECT count(*), count(*) FILTER (WHERE k.key IS NULL) FROM read_parquet({files!r}) s "
                f"LEFT JOIN kept k ON k.key = s.key WHERE s.\"{column}\" {flag} {value}").fetchone()
            rule = f"{column} {op} {value:g}" if column in limits else f"{column} >= 0.5 flagged, not thresholded"
            out.append((f"{pkg} {found.get(pkg, '?')}", column, rule, int(flagged), int(excluded)))
        return out

    def takedown_requests(self) -> tuple[int, int]:
        """(requests received in takedowns/requests.jsonl, requests handled by any takedown release)."""
        path = self.root.takedown_requests
        received = {json.loads(ln).get("id") for ln in io.read_text(path).splitlines() if ln.strip()} \
            if io.exists(path) else set()
        handled = set()
        for path in io.glob(self.root.takedown_records_glob()):
            record = TakedownRecord.read(DatasetDir(path.rsplit("/", 1)[0]))
            handled |= {r["id"] for r in (record.requests if record else ())}
        return len(received), len(received & handled)

    def takedown_list_lines(self) -> dict[str, int]:
        out = {}
        for kind, path in (("registry", self.root.takedown_registry), ("blocklist", self.root.takedown_blocklist)):
            lines = io.read_text(path).splitlines() if io.exists(path) else []
            out[kind] = sum(1 for ln in lines if ln.strip() and not ln.startswith("#"))
        return out
