"""Evaluation data: labelled images for zero-shot classification, captioned
images for retrieval. Both are read lazily, in a fixed order, one image's bytes
at a time; every problem is an InputError naming the file (and row).

Zero-shot SPEC forms (``ZeroShotSpec.path``):
- a folder with one subfolder per class (torchvision's ImageFolder): the class
  name is the subfolder's name with ``_`` read as a space (``red_square`` ->
  "red square"); classes are in sorted folder order; an empty subfolder is a
  class without images (it still competes in the classification);
- a CSV file with a header ``path,label``: paths relative to the CSV's folder;
- a dataset or release directory (it has ``shards/``): the samples of its
  finished shards, labelled by a column of the ledger parquet (``label`` unless
  told otherwise; ``grassroots download --keep-cols label`` keeps one).
CSV and shards classes are the sorted distinct labels, or the lines of
``classnames`` when given (then every label must be one of them).
"""

from __future__ import annotations

import csv
import enum
import os
from dataclasses import dataclass
from typing import Iterator

import pyarrow.parquet as pq

from grassroots import io
from grassroots.errors import InputError
from grassroots.layout import DatasetDir
from grassroots.samples import IMAGE_EXTS, iter_sample_files

# torchvision's ImageFolder extensions, so a folder counts the same images as CLIP_benchmark.
FOLDER_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


class SpecKind(str, enum.Enum):
    FOLDER = "folder"
    CSV = "csv"
    SHARDS = "shards"


@dataclass(frozen=True)
class ZeroShotSpec:
    path: str
    label_column: str = "label"  # shards: the ledger column holding each sample's class
    classnames: str | None = None  # CSV/shards: a file, one class name per line

    @property
    def kind(self) -> SpecKind:
        if os.path.isdir(self.path):
            return SpecKind.SHARDS if os.path.isdir(os.path.join(self.path, "shards")) else SpecKind.FOLDER
        if os.path.isfile(self.path):
            if self.path.lower().endswith(".csv"):
                return SpecKind.CSV
            raise InputError(self.path, "is not a folder, a .csv file or a dataset directory",
                             "pass a folder of class subfolders, a path,label CSV, or a dataset/release with shards/")
        raise InputError(self.path, "no such file or folder")

    @property
    def name(self) -> str:
        """The "dataset" of the results: the folder's or file's name."""
        base = os.path.basename(os.path.normpath(self.path))
        return base[:-4] if base.lower().endswith(".csv") else base


@dataclass(frozen=True)
class Sample:
    where: str  # file path, or "shard tar:key": what an error message names
    image: bytes
    target: int | str  # class index (classification) or caption (retrieval)


@dataclass(frozen=True)
class FileSamples:
    paths: tuple[str, ...]
    targets: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self) -> Iterator[Sample]:
        for path, target in zip(self.paths, self.targets):
            with open(path, "rb") as f:
                yield Sample(path, f.read(), target)


@dataclass(frozen=True)
class ShardSamples:
    """Kept samples of a shard family, in stored order, with a target per key."""
    dataset: str
    shards: tuple[int, ...]
    targets: tuple[tuple[str, int | str], ...]  # (key, target), every sample to read
    caption_from_txt: bool = False  # retrieval: KEY.txt (what open_clip trains on) over the ledger's caption

    def __len__(self) -> int:
        return len(self.targets)

    def __iter__(self) -> Iterator[Sample]:
        layout, wanted = DatasetDir(self.dataset), dict(self.targets)
        seen = 0
        for shard in self.shards:
            for key, files in iter_sample_files(layout, shard, keys=set(wanted)):
                if key not in wanted:
                    continue
                where = f"{layout.shard_tar(shard)}:{key}"
                image = next((files[e] for e in IMAGE_EXTS if e in files), None)
                if image is None:
                    raise InputError(where, "has no image (jpg, png or webp) member")
                target = wanted[key]
                if self.caption_from_txt and "txt" in files:
                    target = files["txt"].decode("utf-8", "replace")
                seen += 1
                yield Sample(where, image, target)
        if seen != len(wanted):
            raise InputError(self.dataset, f"{len(wanted) - seen} kept samples of its ledger have no stored sample",
                             f"run `grassroots stats {self.dataset}` to see which shards are broken")


@dataclass(frozen=True)
class ClassificationSet:
    name: str
    classnames: tuple[str, ...]
    samples: FileSamples | ShardSamples
    folder: str | None = None  # an image folder (it may carry its own templates file)
    skipped: int = 0  # shards: samples without a label


@dataclass(frozen=True)
class RetrievalSet:
    name: str
    samples: ShardSamples  # targets: captions


def load_classification(spec: ZeroShotSpec) -> ClassificationSet:
    kind = spec.kind
    if kind is SpecKind.FOLDER:
        if spec.classnames:
            raise InputError("--classnames", "an image folder names its classes by its subfolders",
                             "rename the subfolders instead (red_square -> \"red square\")")
        return _from_folder(spec)
    names = _read_classnames(spec.classnames) if spec.classnames else None
    if kind is SpecKind.CSV:
        return _from_csv(spec, names)
    return _from_shards(spec, names)


def _from_folder(spec: ZeroShotSpec) -> ClassificationSet:
    root = spec.path
    folders = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    if not folders:
        raise InputError(root, "has no class subfolders",
                         "put each class's images in a subfolder named after it (red_square/0001.jpg ...)")
    paths, targets = [], []
    for index, folder in enumerate(folders):
        for name in sorted(os.listdir(os.path.join(root, folder))):
            if name.lower().endswith(FOLDER_IMAGE_SUFFIXES):
                paths.append(os.path.join(root, folder, name))
                targets.append(index)
    if not paths:
        raise InputError(root, f"its {len(folders)} class subfolders hold no images",
                         f"images end in {', '.join(FOLDER_IMAGE_SUFFIXES)}")
    classnames = tuple(f.replace("_", " ") for f in folders)
    return ClassificationSet(spec.name, classnames, FileSamples(tuple(paths), tuple(targets)), folder=root)


def _read_classnames(path: str) -> tuple[str, ...]:
    if not os.path.isfile(path):
        raise InputError(path, "no such class names file")
    with open(path, encoding="utf-8") as f:
        names = tuple(line.strip() for line in f if line.strip())
    if not names:
        raise InputError(path, "holds no class names", "one class name per line")
    if len(set(names)) != len(names):
        raise InputError(path, "names a class twice")
    return names


def _class_index(names: tuple[str, ...] | None, labels: list[str], where) -> tuple[tuple[str, ...], list[int]]:
    """(class names, each label's index); ``where(i)`` names label i for an error."""
    names = names or tuple(sorted(set(labels)))
    index = {n: i for i, n in enumerate(names)}
    for i, label in enumerate(labels):
        if label not in index:
            path, row = where(i)
            raise InputError(path, f"label {label!r} is not one of the {len(names)} class names", row=row)
    return names, [index[label] for label in labels]


def _from_csv(spec: ZeroShotSpec, names) -> ClassificationSet:
    base = os.path.dirname(os.path.abspath(spec.path))
    paths, labels, lines = [], [], []
    with open(spec.path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields = [c.strip().lower() for c in reader.fieldnames or []]
        if "path" not in fields or "label" not in fields:
            raise InputError(spec.path, f"needs a header with columns path,label (found {','.join(fields) or 'none'})",
                             row=1)
        reader.fieldnames = fields
        for row in reader:
            line = reader.line_num
            path, label = (row.get("path") or "").strip(), (row.get("label") or "").strip()
            if not path or not label:
                raise InputError(spec.path, "empty path or label", row=line)
            full = path if os.path.isabs(path) else os.path.join(base, path)
            if not os.path.isfile(full):
                raise InputError(spec.path, f"image file {path} does not exist (looked for {full})", row=line)
            paths.append(full)
            labels.append(label)
            lines.append(line)
    if not paths:
        raise InputError(spec.path, "has no rows", "one row per image: path,label")
    classnames, targets = _class_index(names, labels, lambda i: (spec.path, lines[i]))
    return ClassificationSet(spec.name, classnames, FileSamples(tuple(paths), tuple(targets)))


def _kept_rows(dataset: str, columns: list[str], what: str) -> tuple[tuple[int, ...], list[tuple[int, dict]]]:
    """(finished shards, (shard, ledger row) of every kept sample) of a dataset or release."""
    from grassroots.ledger import finished_shards, kept_rows

    layout = DatasetDir(dataset)
    shards = tuple(finished_shards(dataset))
    rows = []
    for shard in shards:
        with io.open_file(layout.shard_parquet(shard)) as f:
            names = pq.read_schema(f).names
            missing = [c for c in columns if c not in names]
            if missing:
                raise InputError(layout.shard_parquet(shard), f"has no {missing[0]!r} column for {what}",
                                 f"its columns: {', '.join(names)}")
        kept = kept_rows(layout, shard, ["key", "status", *[c for c in columns if c not in ("key", "status")]])
        rows += [(shard, r) for r in kept.to_pylist()]
    return shards, rows


def _from_shards(spec: ZeroShotSpec, names) -> ClassificationSet:
    col = spec.label_column
    try:
        shards, rows = _kept_rows(spec.path, [col], "zero-shot labels")
    except InputError as e:
        if f"no {col!r} column" in e.problem:
            raise InputError(e.path, e.problem, f"{e.hint}; keep one at download (--keep-cols {col}) "
                             "or name it with --label-column") from None
        raise
    labelled = [(s, r) for s, r in rows if r[col] is not None and str(r[col]).strip()]
    if not labelled:
        raise InputError(spec.path, f"none of its {len(rows)} kept samples has a {col!r} label")
    labels = [str(r[col]).strip() for _, r in labelled]
    layout = DatasetDir(spec.path)
    classnames, targets = _class_index(
        names, labels, lambda i: (f"{layout.shard_parquet(labelled[i][0])} key {labelled[i][1]['key']}", None))
    samples = ShardSamples(spec.path, shards, tuple((r["key"], t) for (_, r), t in zip(labelled, targets)))
    return ClassificationSet(spec.name, classnames, samples, skipped=len(rows) - len(labelled))


def load_retrieval(dataset: str) -> RetrievalSet:
    """Every kept sample of a dataset or release with its caption (KEY.txt, as
    open_clip reads it; the ledger's caption where a sample has no txt)."""
    if not os.path.isdir(dataset):
        raise InputError(dataset, "no such dataset directory")
    if not os.path.isdir(os.path.join(dataset, "shards")):
        raise InputError(dataset, "has no shards/", "pass a dataset or a release directory (releases/vN)")
    shards, rows = _kept_rows(dataset, ["caption"], "retrieval")
    if not rows:
        raise InputError(dataset, "has no kept samples")
    targets = tuple((r["key"], r["caption"] or "") for _, r in rows)
    name = os.path.basename(os.path.normpath(dataset))
    return RetrievalSet(name, ShardSamples(dataset, shards, targets, caption_from_txt=True))
