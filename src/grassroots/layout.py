"""DatasetDir: every path inside a dataset directory, computed in one place.

No other module builds dataset paths by string editing.

    DATASET/
      manifest.json
      candidates/NNNNN.parquet
      shards/NNNNN.tar  shards/NNNNN.parquet        (the "shards" family)
      embeddings/<model-id>/{img,txt}/NNNNN.npy  keys/NNNNN.parquet  model.json
      attributes/<name>/NNNNN.parquet            (key + columns, one file per shard)
      attributes/dedup/partition-NNNNN.parquet   (dedup: one file per digest partition)
      attributes/neardup/pairs-NNNNN.parquet  centroids-<model-id>.npy   (neardup's working files)
      releases/<vN>/  shards/ (a family)  embeddings/  attributes/  index/  card/  manifest.json
      takedowns/requests.jsonl  registry.txt  blocklist.txt   (requests in; what later downloads refuse)
      takedowns/removed.csv           (every key any takedown removed: what every step skips)
      releases/<vN>/takedown.json  takedown_removed.txt        (a takedown release: what was asked, keys removed)
      _runs/<step>/plan.json          (the step's tasks, one format for every step)
      _runs/<step>/NNNNN.json         (completion marker + stats)
      _runs/<step>/NNNNN.failed.json  (last failure of a task; not a marker)

A *shard family* is a directory of ``NNNNN.tar`` + ``NNNNN.parquet`` pairs
(``shards`` or ``releases/v1/shards``); ``ShardWriter`` writes any family.
"""

from __future__ import annotations

from dataclasses import dataclass

SHARD_DIGITS = 5


def shard_name(shard: int) -> str:
    return f"{shard:0{SHARD_DIGITS}d}"


@dataclass(frozen=True)
class IndexDir:
    """``releases/vN/index/<model-id>/``: one vector index of a release and its files."""

    root: str

    @property
    def model_id(self) -> str:
        return self.root.rstrip("/").rsplit("/", 1)[-1]

    @property
    def doc(self) -> str:
        """index.json: what the index is (written last: its presence means complete)."""
        return f"{self.root}/index.json"

    @property
    def items(self) -> str:
        return f"{self.root}/items.arrow"

    def faiss(self, kind: str) -> str:
        """``kind``: img or txt."""
        return f"{self.root}/{kind}.faiss"


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

    def shard_tar(self, shard: int, family: str = "shards") -> str:
        return self._join(family, f"{shard_name(shard)}.tar")

    def shard_parquet(self, shard: int, family: str = "shards") -> str:
        return self._join(family, f"{shard_name(shard)}.parquet")

    def shard_folder(self, shard: int, family: str = "shards") -> str:
        """The samples of a shard written with ``--output-format files``."""
        return self._join(family, shard_name(shard))

    def family_dir(self, family: str = "shards") -> str:
        return self._join(family)

    # --- milestone 2 artifacts ------------------------------------------------
    def embeddings_dir(self, model_id: str) -> str:
        return self._join("embeddings", model_id)

    def embedding(self, model_id: str, kind: str, shard: int) -> str:
        """``kind``: img or txt (``.npy``), keys (``.parquet``)."""
        ext = "parquet" if kind == "keys" else "npy"
        return self._join("embeddings", model_id, kind, f"{shard_name(shard)}.{ext}")

    def embedding_dir(self, model_id: str, kind: str) -> str:
        """``kind``: img, txt or keys."""
        return self._join("embeddings", model_id, kind)

    def embedding_keys_glob(self, model_id: str) -> str:
        return self._join("embeddings", model_id, "keys", "*.parquet")

    def model_info(self, model_id: str) -> str:
        """``embeddings/<model-id>/model.json``: the identity of the model that made them."""
        return self._join("embeddings", model_id, "model.json")

    def embedding_models_glob(self) -> str:
        return self._join("embeddings", "*")

    def attributes_dir(self, name: str) -> str:
        return self._join("attributes", name)

    def attribute(self, name: str, shard: int) -> str:
        return self._join("attributes", name, f"{shard_name(shard)}.parquet")

    def attribute_info(self, name: str) -> str:
        """``attributes/<name>/model.json``: what made a model-scored table (its model id)."""
        return self._join("attributes", name, "model.json")

    def attribute_tables_glob(self) -> str:
        return self._join("attributes", "*")

    def attribute_shards_glob(self, name: str) -> str:
        """The per-shard files of one attribute table (not dedup's partitions or neardup's pairs)."""
        return self._join("attributes", name, "[0-9]*.parquet")

    def attributes_of_shard_glob(self, shard: int) -> str:
        """Every attribute table's file of one shard."""
        return self._join("attributes", "*", f"{shard_name(shard)}.parquet")

    def neardup_pairs(self, part: int) -> str:
        """Near-duplicate pairs found by one task of the neardup step."""
        return self._join("attributes", "neardup", f"pairs-{shard_name(part)}.parquet")

    @property
    def concept_entries(self) -> str:
        """``attributes/concepts/entries.txt``: the entry list the concepts step matched."""
        return self._join("attributes", "concepts", "entries.txt")

    @property
    def balance_counts(self) -> str:
        """In a release made with ``select --balance``: samples per entry in the parent
        (read by every task) and, after the run, in the release."""
        return self._join("balance.json")

    def neardup_pairs_glob(self) -> str:
        return self._join("attributes", "neardup", "pairs-*.parquet")

    def neardup_centroids(self, model_id: str) -> str:
        return self._join("attributes", "neardup", f"centroids-{model_id}.npy")

    def dedup_partition(self, partition: int) -> str:
        return self._join("attributes", "dedup", f"partition-{shard_name(partition)}.parquet")

    def dedup_partitions_glob(self) -> str:
        return self._join("attributes", "dedup", "partition-*.parquet")

    @property
    def releases_dir(self) -> str:
        return self._join("releases")

    def release(self, version: str) -> "DatasetDir":
        """A release is laid out like a dataset (shards/, embeddings/, attributes/ ...)."""
        return DatasetDir(self._join("releases", version))

    def takedown_records_glob(self) -> str:
        """takedown.json of every release made by a takedown."""
        return self._join("releases", "*", "takedown.json")

    @property
    def index_dir(self) -> str:
        return self._join("index")

    def index(self, model_id: str) -> IndexDir:
        return IndexDir(self._join("index", model_id))

    def index_docs_glob(self) -> str:
        """index.json of every index of a release."""
        return self._join("index", "*", "index.json")

    @property
    def card_dir(self) -> str:
        return self._join("card")

    @property
    def takedowns_dir(self) -> str:
        return self._join("takedowns")

    @property
    def takedown_requests(self) -> str:
        return self._join("takedowns", "requests.jsonl")

    @property
    def takedown_registry(self) -> str:
        """URLs and domains taken down: an opt-out registry (grassroots.rights.registry)."""
        return self._join("takedowns", "registry.txt")

    @property
    def takedown_blocklist(self) -> str:
        """Hashes taken down: a hash blocklist (grassroots.rights.blocklist)."""
        return self._join("takedowns", "blocklist.txt")

    @property
    def takedown_removed_all(self) -> str:
        """Every sample key any takedown removed, the one list every step reads
        (grassroots.taken_down: ``key,release,reason`` lines)."""
        return self._join("takedowns", "removed.csv")

    @property
    def dataset_root(self) -> str:
        """The dataset this directory belongs to: itself, or DATASET for DATASET/releases/<vN>."""
        head, _, name = self.root.rpartition("/")
        parent, _, folder = head.rpartition("/")
        return parent if folder == "releases" and name and parent else self.root

    def releases_glob(self) -> str:
        return self._join("releases", "v*")

    @property
    def runs_root(self) -> str:
        return self._join("_runs")

    @property
    def takedown_record(self) -> str:
        """In a release made by a takedown: what was asked, what matched, counts, request ids."""
        return self._join("takedown.json")

    @property
    def takedown_removed(self) -> str:
        """In a release made by a takedown: the keys removed from its parent, one per line."""
        return self._join("takedown_removed.txt")

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

    def shard_parquets_glob(self, family: str = "shards") -> str:
        return self._join(family, "*.parquet")

    def markers_glob(self, stage: str) -> str:
        """Completion markers and failure records (``.failed.json``) of a stage."""
        return self._join("_runs", stage, "[0-9]*.json")

    def failures_glob(self, stage: str) -> str:
        return self._join("_runs", stage, "[0-9]*.failed.json")

    def stages_glob(self) -> str:
        return self._join("_runs", "*")

    @staticmethod
    def candidates_owner(path: str) -> tuple[str, int]:
        """(dataset root, shard) of a path made by ``candidates(shard)``."""
        root, folder, _ = path.rsplit("/", 2)
        if folder != "candidates":
            raise ValueError(f"not a candidates path: {path}")
        return root, DatasetDir.shard_of(path)

    @staticmethod
    def shard_of(path: str) -> int:
        """The shard number in a path this class made (``.../00012.parquet`` -> 12,
        ``.../partition-00003.parquet`` -> 3)."""
        stem = path.rsplit("/", 1)[-1].split(".", 1)[0].rsplit("-", 1)[-1]
        if not stem.isdigit():
            raise ValueError(f"not a shard path: {path}")
        return int(stem)
