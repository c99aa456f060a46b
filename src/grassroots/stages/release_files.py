"""The artifact families of a release, one function each. ``select`` and ``takedown``
write a release shard by shard through these, so every family is subset the same way
and a new family is added in one place:

    shards      shards/NNNNN.tar (raw byte copy of the kept samples' members)
                + shards/NNNNN.parquet (the ledger: every candidate of the release)
    attributes  attributes/<name>/NNNNN.parquet (the kept keys' rows)
    embeddings  embeddings/<model-id>/{img,txt,keys}/NNNNN (the kept keys' rows; keys/ is
                the key map of the vectors) and model.json

The vector index (``index/``) is per release, not per shard: a takedown rebuilds it
(grassroots.releases.rebuild_index); nothing here copies it.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from grassroots import io
from grassroots.embeddings import embedding_models, read_embeddings, write_embeddings
from grassroots.errors import ShardError
from grassroots.layout import DatasetDir
from grassroots.ledger import kept_rows
from grassroots.samples import IMAGE_EXTS
from grassroots.schema import Reason, Status
from grassroots.writer import ShardWriter

NOT_ATTRIBUTES = ("dedup",)  # attribute folders that are not per-shard key tables
# Ledger columns a removed sample keeps: identity and hashes (what the audit and the
# blocklist need). Every other nullable column (caption, page, rights, sizes) is blanked;
# for illegal content the URLs and domain go too (the audit keeps hashes only).
KEPT_ON_REMOVAL = ("key", "url", "status", "reason", "error_message", "domain", "sha256", "md5", "pdq",
                   "pdq_quality")
URL_COLUMNS = ("url", "final_url", "page_url", "domain")


def attribute_tables(layout: DatasetDir) -> list[str]:
    names = [p.rstrip("/").rsplit("/", 1)[-1] for p in io.glob(layout.attribute_tables_glob())]
    return [n for n in names if n not in NOT_ATTRIBUTES and io.glob(layout.attribute_shards_glob(n))]


def outputs(parent: DatasetDir, release: DatasetDir) -> list[str]:
    """Every folder a release of ``parent`` writes (for the driver's temp clean-up)."""
    return [release.shards_dir, *(release.attributes_dir(t) for t in attribute_tables(parent)),
            *(release.embedding_dir(m, k) for m in embedding_models(parent) for k in ("img", "txt", "keys"))]


def copy_model_info(parent: DatasetDir, release: DatasetDir) -> None:
    for model in embedding_models(parent):
        info = parent.model_info(model)
        if io.exists(info):
            io.write_text_atomic(release.model_info(model), io.read_text(info))


def kept_ledger(parent: DatasetDir, shard: int) -> pa.Table:
    """The parent's kept samples of one shard, in ledger order, without image columns:
    the candidates of a release made from it (taken-down samples included: the release
    writes them as refused rows, see ``mark_removed``)."""
    ledger = kept_rows(parent, shard, taken_down=True)
    return ledger.drop_columns([c for c in IMAGE_EXTS if c in ledger.column_names])


def set_columns(ledger: pa.Table, values: dict[str, list]) -> pa.Table:
    """``ledger`` with whole columns replaced (types kept)."""
    for name, column in values.items():
        i = ledger.schema.get_field_index(name)
        ledger = ledger.set_column(i, ledger.schema.field(i), pa.array(column, ledger.schema.field(i).type))
    return ledger


def mark_removed(ledger: pa.Table, removed: list[bool], messages: list[str | None],
                 illegal: list[bool] | None = None) -> pa.Table:
    """``ledger`` with the ``removed`` rows made ``refused``/``takedown`` rows: ``messages``
    say why, every column but KEPT_ON_REMOVAL blanked, and for ``illegal`` rows the URL
    columns too (a non-nullable URL becomes ""). Other rows are left as they are."""
    illegal = illegal or [False] * len(removed)
    values = {}
    for f in ledger.schema:
        old = ledger.column(f.name).to_pylist()
        if f.name == "status":
            values[f.name] = [Status.REFUSED.value if gone else v for v, gone in zip(old, removed)]
        elif f.name == "reason":
            values[f.name] = [Reason.TAKEDOWN.value if gone else v for v, gone in zip(old, removed)]
        elif f.name == "error_message":
            values[f.name] = [m if gone else v for v, m, gone in zip(old, messages, removed)]
        elif f.name in URL_COLUMNS:
            blank = None if f.nullable else ""
            values[f.name] = [blank if gone and bad else v for v, gone, bad in zip(old, removed, illegal)]
        elif f.nullable and f.name not in KEPT_ON_REMOVAL:
            values[f.name] = [None if gone else v for v, gone in zip(old, removed)]
    return set_columns(ledger, values)


def write_shards(parent: DatasetDir, release: DatasetDir, shard: int, keep: set[str], ledger: pa.Table) -> int:
    """shards family: the kept samples' tar members copied as stored, and ``ledger``; bytes written."""
    with ShardWriter(release.root, shard, schema=ledger.schema) as w:
        missing = keep - w.copy_samples(parent, shard, keep)
        if missing:
            raise ShardError(f"{parent.shard_parquet(shard)}: {len(missing)} kept samples have no stored files "
                             f"(e.g. {min(missing)}; a damaged parent: rerun its download)")
        w.set_table(ledger)
    return w.bytes_written


def subset_attributes(parent: DatasetDir, release: DatasetDir, shard: int, keep: set[str]) -> None:
    """attributes family: every per-shard table, the kept keys' rows only."""
    for name in attribute_tables(parent):
        path = parent.attribute(name, shard)
        if not io.exists(path):
            continue
        with io.open_file(path) as f:
            t = pq.read_table(f)
        mask = pa.array([k in keep for k in t.column("key").to_pylist()], pa.bool_())
        with io.atomic_write(release.attribute(name, shard), "wb") as f:
            pq.write_table(t.filter(mask), f)


def subset_embeddings(parent: DatasetDir, release: DatasetDir, shard: int, keep: set[str]) -> None:
    """embeddings family: image and text vectors and their key map, the kept keys' rows only."""
    for model in embedding_models(parent):
        if not io.exists(parent.embedding(model, "keys", shard)):
            continue
        keys, img, txt = read_embeddings(parent, model, shard)
        idx = [i for i, k in enumerate(keys) if k in keep]
        write_embeddings(release, model, shard, [keys[i] for i in idx], img[idx], txt[idx])


def write_release_shard(parent: DatasetDir, release: DatasetDir, shard: int, keep: set[str],
                        ledger: pa.Table) -> int:
    """Every per-shard family of one release shard; bytes written by the shards family."""
    written = write_shards(parent, release, shard, keep, ledger)
    subset_attributes(parent, release, shard, keep)
    subset_embeddings(parent, release, shard, keep)
    return written
