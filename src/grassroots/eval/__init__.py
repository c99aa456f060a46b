"""Evaluation of CLIP checkpoints: zero-shot classification and retrieval,
written in CLIP_benchmark's result format (see run.py).

data.py      eval sets: an image folder per class, a path,label CSV, shards with a label column
templates.py prompt templates (named sets, files) for prompt ensembling
encode.py    batched image / caption / class embeddings of a loaded model
metrics.py   acc1, acc5, mean per-class recall, recall@k — on plain arrays
run.py       EvalConfig -> one CLIP_benchmark JSON file per task
"""

from grassroots.eval.data import ZeroShotSpec
from grassroots.eval.run import EvalConfig, Task, TaskResult, evaluate

__all__ = ["EvalConfig", "Task", "TaskResult", "ZeroShotSpec", "evaluate"]
