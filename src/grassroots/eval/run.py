"""``grassroots eval``: zero-shot classification and retrieval of a CLIP
checkpoint, written as CLIP_benchmark result files.

Each task is one JSON object with CLIP_benchmark's keys and nesting, so its
``clip_benchmark build`` and people's tables and plots read our results::

    {"dataset": "heldout", "model": "grassroots-tiny", "pretrained": "run/checkpoints/last.pt",
     "task": "zeroshot_classification",
     "metrics": {"acc1": 0.61, "acc5": 0.93, "mean_per_class_recall": 0.60}, "language": "en"}

    {"dataset": "v1", ..., "task": "zeroshot_retrieval",
     "metrics": {"image_retrieval_recall@1": ..., "text_retrieval_recall@1": ..., ... @5, @10}, ...}

The output path may hold CLIP_benchmark's ``--output`` placeholders ({dataset},
{model}, {pretrained}, {task}, {language}); with both tasks it must hold
{task}: one file per task, as CLIP_benchmark writes them.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
from dataclasses import dataclass, field

import numpy as np

from grassroots import io
from grassroots.errors import InputError
from grassroots.eval.data import ZeroShotSpec, load_classification, load_retrieval
from grassroots.eval.metrics import classification_metrics, retrieval_metrics
from grassroots.eval.templates import default_templates, load_templates
from grassroots.models.clip import ModelSpec

RECALL_KS = (1, 5, 10)


class Task(str, enum.Enum):
    ZEROSHOT_CLASSIFICATION = "zeroshot_classification"
    ZEROSHOT_RETRIEVAL = "zeroshot_retrieval"


@dataclass(frozen=True)
class EvalConfig:
    model: ModelSpec
    output: str  # a path, or a CLIP_benchmark --output template
    zeroshot: ZeroShotSpec | None = None
    retrieval: str | None = None  # a dataset or release directory
    templates: str | None = None  # a name or a file; None: the eval folder's own file, else "openai"
    device: str = "auto"
    precision: str = "auto"
    batch_size: int = 64
    language: str = "en"
    progress: bool = True


@dataclass(frozen=True)
class TaskResult:
    dataset: str
    model: str
    pretrained: str
    task: Task
    metrics: dict[str, float]
    language: str = "en"
    path: str = ""  # where it was written
    notes: tuple[str, ...] = field(default=())  # for the console: templates used, skipped samples

    def to_json(self) -> dict:
        """CLIP_benchmark's result object (clip_benchmark/cli.py ``dump``), key for key."""
        return {"dataset": self.dataset, "model": self.model, "pretrained": self.pretrained,
                "task": self.task.value, "metrics": self.metrics, "language": self.language}


def output_path(template: str, dataset: str, spec: ModelSpec, task: Task, language: str) -> str:
    """CLIP_benchmark's output naming: a local checkpoint is named by its file name."""
    pretrained = os.path.basename(spec.checkpoint) if spec.checkpoint else (spec.pretrained or "")
    try:
        return template.format(dataset=dataset.replace("/", "_"), model=spec.arch, pretrained=pretrained,
                               task=task.value, language=language)
    except (KeyError, IndexError, ValueError) as e:
        raise InputError(f"-o {template}", f"unknown placeholder {e}",
                         "use {dataset}, {model}, {pretrained}, {task} or {language}") from None


def check(config: EvalConfig) -> None:
    """Every problem with the request that can be found before a model is loaded."""
    from grassroots.models.clip import validate

    if config.zeroshot is None and config.retrieval is None:
        raise InputError("grassroots eval", "nothing to evaluate", "pass --zeroshot SPEC and/or --retrieval DATASET")
    if config.zeroshot is not None and config.retrieval is not None and "{task}" not in config.output:
        raise InputError(f"-o {config.output}", "two tasks write two result files (CLIP_benchmark's format)",
                         "put {task} in the path, e.g. -o results_{task}.json")
    if config.batch_size < 1:
        raise InputError("--batch-size", f"must be >= 1, got {config.batch_size}")
    validate(config.model)
    if config.templates is not None:
        load_templates(config.templates)


def evaluate(config: EvalConfig, log=print) -> list[TaskResult]:
    """Run the asked tasks, write one CLIP_benchmark JSON file per task, return the results."""
    from grassroots.eval.encode import encode_samples
    from grassroots.models.device import choose
    from grassroots.models.encode import Encoder

    check(config)
    classification = load_classification(config.zeroshot) if config.zeroshot else None  # data errors first
    retrieval = load_retrieval(config.retrieval) if config.retrieval else None
    place = choose(config.device, config.precision)
    encoder = Encoder.load(config.model, place.device, place.precision, config.batch_size)
    log(f"eval {config.model.arch} on {place.why}")
    pretrained = config.model.checkpoint or config.model.pretrained or ""
    results = []
    if classification is not None:
        if config.templates is not None:
            templates, source = load_templates(config.templates), config.templates
        else:
            templates, source = default_templates(classification.folder)
        weights = encoder.class_weights(classification.classnames, templates)
        images, targets = encode_samples(encoder, classification.samples, len(classification.samples),
                                         f"zero-shot {classification.name}", config.progress)
        metrics = classification_metrics(images @ weights.T, np.asarray(targets))
        notes = (f"{len(targets)} images, {len(classification.classnames)} classes, "
                 f"{len(templates)} templates ({source})",)
        if classification.skipped:
            notes += (f"{classification.skipped} samples without a label were left out",)
        results.append(TaskResult(classification.name, config.model.arch, pretrained,
                                  Task.ZEROSHOT_CLASSIFICATION, metrics, config.language, notes=notes))
    if retrieval is not None:
        images, captions = encode_samples(encoder, retrieval.samples, len(retrieval.samples),
                                          f"retrieval {retrieval.name}", config.progress)
        texts = encoder.texts(list(captions))
        metrics = retrieval_metrics(images, texts, np.arange(len(captions)), RECALL_KS)
        results.append(TaskResult(retrieval.name, config.model.arch, pretrained, Task.ZEROSHOT_RETRIEVAL,
                                  metrics, config.language, notes=(f"{len(captions)} image-caption pairs",)))
    written = []
    for r in results:
        path = output_path(config.output, r.dataset, config.model, r.task, r.language)
        write_result(path, r)
        written.append(dataclasses.replace(r, path=path))
    return written


def write_result(path: str, result: TaskResult) -> None:
    """The result as CLIP_benchmark writes it (json.dump: NaN for a missing acc5)."""
    parent = os.path.dirname(path)
    if parent:
        io.makedirs(parent)
    io.write_text_atomic(path, json.dumps(result.to_json()))
