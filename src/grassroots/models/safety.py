"""The safety detectors that ship inside their packages (no download): NudeNet's
320n.onnx (exposed and covered body parts, YOLOv8n, run with onnxruntime) and
alt-profanity-check's linear model for captions.

NudeNet's own ``NudeDetector().detect()`` decodes, pads and runs one image at a
time and post-processes 2100 candidate boxes in a Python loop. Here the same
preprocessing (cv2 decode as stored, colour conversion, bottom/right black
padding to a square, linear resize to 320, the same channel order) fills a
batch, one onnxruntime session per worker process runs it with the threads the
runner gives it, and the post-processing (score >= 0.2, boxes in image
coordinates, class-agnostic NMS at 0.25/0.45 with cv2, as NudeNet) is numpy.
What a sample gets: per class, the highest score of a detection that survives
NMS (0 when none). ``nsfw`` is the highest of the EXPLICIT classes.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

from grassroots.errors import FatalError

LABELS = (  # NudeNet 3.4's class order (nudenet/nudenet.py)
    "FEMALE_GENITALIA_COVERED", "FACE_FEMALE", "BUTTOCKS_EXPOSED", "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED", "MALE_BREAST_EXPOSED", "ANUS_EXPOSED", "FEET_EXPOSED", "BELLY_COVERED",
    "FEET_COVERED", "ARMPITS_COVERED", "ARMPITS_EXPOSED", "FACE_MALE", "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED", "ANUS_COVERED", "FEMALE_BREAST_COVERED", "BUTTOCKS_COVERED",
)
# The exposed classes that make an image sexually explicit: nsfw = the highest of these.
# Not counted: MALE_BREAST_EXPOSED, FEET/BELLY/ARMPITS_EXPOSED (ordinary photos show them), faces, covered parts.
EXPLICIT = ("FEMALE_BREAST_EXPOSED", "FEMALE_GENITALIA_EXPOSED", "MALE_GENITALIA_EXPOSED",
            "BUTTOCKS_EXPOSED", "ANUS_EXPOSED")
COLUMNS = tuple(label.lower() for label in LABELS)
SIZE = 320  # the model's input: NudeNet pads to a square and resizes to this
CANDIDATE, NMS_SCORE, NMS_IOU = 0.2, 0.25, 0.45  # NudeNet's thresholds

_MISSING = ("the safety step needs {what} (it ships with the project's dependencies): "
            "reinstall with `make install` or `pip install {pkg}`")


def versions() -> dict[str, str]:
    """The detectors' package versions, for manifests and cards."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("nudenet", "alt-profanity-check", "onnxruntime"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "missing"
    return out


def model_path() -> str:
    try:
        import nudenet
    except ImportError:
        raise FatalError(_MISSING.format(what="nudenet", pkg="nudenet")) from None
    return os.path.join(os.path.dirname(nudenet.__file__), "320n.onnx")


@lru_cache(maxsize=2)
def session(threads: int):
    """One onnxruntime session per worker process (and thread count)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise FatalError(_MISSING.format(what="onnxruntime", pkg="onnxruntime")) from None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, threads)
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(model_path(), opts, providers=["CPUExecutionProvider"])


def preprocess(data: bytes) -> tuple[np.ndarray, int, int] | None:
    """NudeNet's _read_image on stored bytes: (3x320x320 float32, width, height), or None
    when the bytes do not decode."""
    import cv2

    mat = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    if mat is None or mat.size == 0:
        return None
    if mat.dtype != np.uint8:  # 16-bit PNG: NudeNet would feed 0..65535/255; scale to 8 bits
        mat = (mat / 257).astype(np.uint8)
    h, w = mat.shape[:2]
    if mat.ndim == 2 or mat.shape[2] == 1:
        mat = cv2.cvtColor(mat, cv2.COLOR_GRAY2BGR)
    bgr = cv2.cvtColor(mat, cv2.COLOR_RGBA2BGR)  # as NudeNet: on a BGR(A) decode this swaps R and B
    side = max(h, w)
    padded = cv2.copyMakeBorder(bgr, 0, side - h, 0, side - w, cv2.BORDER_CONSTANT)
    # = cv2.dnn.blobFromImage(padded, 1/255, (320, 320), swapRB=True): resize, swap, scale, CHW
    small = cv2.resize(padded, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
    blob = small[:, :, ::-1].transpose(2, 0, 1).astype(np.float32) * np.float32(1 / 255.0)
    return blob, w, h


def class_scores(output: np.ndarray, width: int, height: int) -> np.ndarray:
    """NudeNet's _postprocess of one image's output (22 x N), vectorised: per class the
    highest score among the detections NMS keeps (0 when none)."""
    import cv2

    rows = output.T
    scores = rows[:, 4:]
    best = scores.max(axis=1)
    pick = best >= CANDIDATE
    out = np.zeros(len(LABELS), np.float32)
    if not pick.any():
        return out
    rows, best, cls = rows[pick], best[pick], scores[pick].argmax(axis=1)
    side = max(width, height)  # NudeNet: (width + x_pad) == (height + y_pad) == the padded side
    x = (rows[:, 0] - rows[:, 2] / 2) * side / SIZE
    y = (rows[:, 1] - rows[:, 3] / 2) * side / SIZE
    w = rows[:, 2] * side / SIZE
    h = rows[:, 3] * side / SIZE
    x = np.clip(x, 0, width)
    y = np.clip(y, 0, height)
    w = np.minimum(w, width - x)
    h = np.minimum(h, height - y)
    boxes = np.stack([x, y, w, h], axis=1).tolist()
    keep = np.asarray(cv2.dnn.NMSBoxes(boxes, best.tolist(), NMS_SCORE, NMS_IOU), dtype=np.int64).reshape(-1)
    np.maximum.at(out, cls[keep], best[keep])
    return out


def detect(blobs: list[np.ndarray], sizes: list[tuple[int, int]], threads: int = 1,
           batch: int = 16) -> np.ndarray:
    """Per-class scores (len(blobs) x 18) of preprocessed images, in batches."""
    sess = session(threads)
    name = sess.get_inputs()[0].name
    out = np.zeros((len(blobs), len(LABELS)), np.float32)
    for i in range(0, len(blobs), batch):
        pred = sess.run(None, {name: np.stack(blobs[i:i + batch])})[0]
        for j, (w, h) in enumerate(sizes[i:i + batch]):
            out[i + j] = class_scores(pred[j], w, h)
    return out


def nsfw_of(scores: np.ndarray) -> np.ndarray:
    return scores[:, [LABELS.index(c) for c in EXPLICIT]].max(axis=1, initial=0.0)


def offensive(captions: list[str]) -> np.ndarray:
    """alt-profanity-check's probability that each caption is offensive (0-1)."""
    if not captions:
        return np.zeros(0, np.float32)
    try:
        from profanity_check import predict_prob
    except ImportError:
        raise FatalError(_MISSING.format(what="alt-profanity-check", pkg="alt-profanity-check")) from None
    return np.asarray(predict_prob(captions), np.float32)
