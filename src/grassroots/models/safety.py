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

The screen (``precision="auto"``, where the CPU computes bf16 natively and OpenVINO
is installed): most images have no detection at all, so a bf16 pass of the same
model (OpenVINO, ~1.8x faster per core than fp32 on AVX512-BF16) sorts them first.
An image where no class reaches SCREEN anywhere gets zeros, which is what fp32
gives it too as long as bf16 is within NMS_SCORE - SCREEN (0.125) of fp32 (on 3,000
clip-art images the largest difference where fp32 scores 0.2-0.3 was 0.066, and the
highest fp32 score of an image the screen cleared 0.13); every other image
is run again in fp32 with onnxruntime, NudeNet's own runtime, and takes those
scores. So every score is NudeNet's bit for bit; the screen only decides which
images need the fp32 pass. Where more than CONFIRM_CEILING of a shard's images need
it once CONFIRM_WARMUP are screened (photos full of people), the screen costs more
than it saves and the rest of the shard runs fp32 alone. The screen takes the
uint8 images and converts them inside its graph; only the images fp32 runs on are
made into NudeNet's float input (``blob``).
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
SCREEN = 0.125  # a bf16 class score >= this anywhere in the image sends it to the fp32 pass
CONFIRM_CEILING = 0.45  # the screen saves time while fewer than this share of images need fp32
CONFIRM_WARMUP = 64  # images of a shard screened before that share is judged
PRECISIONS = ("auto", "fp32")

_MISSING = ("the safety step needs {what} (it ships with the project's dependencies): "
            "reinstall with `make install` or `pip install {pkg}`")


def versions() -> dict[str, str]:
    """The detectors' package versions, for manifests and cards."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("nudenet", "alt-profanity-check", "onnxruntime", "openvino"):
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
    # onnxruntime's threads spin after each run by default, taking the cores from the bf16 screen
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model_path(), opts, providers=["CPUExecutionProvider"])


@lru_cache(maxsize=2)
def screen(threads: int):
    """The bf16 screen (an OpenVINO infer request on this CPU), or None where the CPU has no
    native bf16 or OpenVINO is not installed (then every image goes through fp32)."""
    try:
        import openvino as ov
    except ImportError:
        return None
    try:
        core = ov.Core()
        if "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
            return None
        from openvino.preprocess import PrePostProcessor

        ppp = PrePostProcessor(core.read_model(model_path()))  # uint8 NHWC in: the /255 and CHW run in the graph
        ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
        ppp.input().model().set_layout(ov.Layout("NCHW"))
        ppp.input().preprocess().convert_element_type(ov.Type.f32).scale(255.0)
        compiled = core.compile_model(ppp.build(), "CPU", {
            "INFERENCE_NUM_THREADS": max(1, threads), "INFERENCE_PRECISION_HINT": "bf16",
            "PERFORMANCE_HINT": "LATENCY"})
    except RuntimeError:  # OpenVINO cannot read or compile the model here: fp32 only, as on a CPU without bf16
        return None
    return compiled.create_infer_request()


def backend(precision: str, threads: int) -> str:
    """What ``detect`` runs for this precision on this machine, in words (for model.json)."""
    if precision == "auto" and screen(threads) is not None:
        return f"openvino bf16 screen (class score >= {SCREEN} anywhere -> fp32 onnxruntime), fp32 onnxruntime"
    return "fp32 onnxruntime"


def preprocess(data: bytes) -> tuple[np.ndarray, int, int] | None:
    """NudeNet's _read_image on stored bytes up to the resize: (320x320x3 uint8 in the
    channel order NudeNet feeds after its swap, width, height), or None when the bytes do
    not decode. ``blob`` makes the model's float input of it."""
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
    # = cv2.dnn.blobFromImage(padded, 1/255, (320, 320), swapRB=True): resize, swap, (blob:) scale, CHW
    small = cv2.resize(padded, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
    return cv2.cvtColor(small, cv2.COLOR_BGR2RGB), w, h


def blob(images: list[np.ndarray]) -> np.ndarray:
    """The model's input (N x 3 x 320 x 320 float32, /255) of ``preprocess``'s images,
    bit for bit what cv2.dnn.blobFromImage gives NudeNet."""
    return np.stack(images).transpose(0, 3, 1, 2).astype(np.float32) * np.float32(1 / 255.0)


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


def detect(images: list[np.ndarray], sizes: list[tuple[int, int]], threads: int = 1,
           batch: int = 16, precision: str = "auto") -> tuple[np.ndarray, int]:
    """Per-class scores (len(images) x 18) of ``preprocess``'s images, in batches: NudeNet's
    fp32 answers, the images with nothing in them sorted out by the bf16 screen first (see
    above); and how many images the fp32 pass ran on. The screen runs over all images, then
    fp32 over the ones it did not clear, in full batches (the runtimes take turns twice)."""
    sess = session(threads)
    name = sess.get_inputs()[0].name
    request = screen(threads) if precision == "auto" else None
    out = np.zeros((len(images), len(LABELS)), np.float32)
    todo = list(range(len(images)))
    if request is not None:
        again: list[int] = []
        for start in range(0, len(images), batch):
            if start >= CONFIRM_WARMUP and len(again) > CONFIRM_CEILING * start:
                again += list(range(start, len(images)))  # most images need fp32: the screen would cost more
                break
            pred = next(iter(request.infer({0: np.stack(images[start:start + batch])}).values()))
            again += [start + j for j in np.flatnonzero(pred[:, 4:].max(axis=(1, 2)) >= SCREEN)]
        todo = again
    for start in range(0, len(todo), batch):
        idx = todo[start:start + batch]
        pred = sess.run(None, {name: blob([images[i] for i in idx])})[0]
        for j, i in enumerate(idx):
            out[i] = class_scores(pred[j], *sizes[i])
    return out, len(todo)


def nsfw_of(scores: np.ndarray) -> np.ndarray:
    return scores[:, [LABELS.index(c) for c in EXPLICIT]].max(axis=1, initial=0.0)


def offensive(captions: list[str]) -> np.ndarray:
    """alt-profanity-check's probability that each caption is offensive (0-1): its own
    ``predict_prob``, computed from its model's arrays (see CaptionModel)."""
    if not captions:
        return np.zeros(0, np.float32)
    return caption_model().predict(captions).astype(np.float32)


class CaptionModel:
    """alt-profanity-check's model as arrays: its TfidfVectorizer (lower-case, tokens of 2+
    word characters, English stop words, l2-normalised tf-idf) and its CalibratedClassifierCV
    (the mean over 5 LinearSVCs of a sigmoid of each one's decision). ``predict`` gives what
    ``profanity_check.predict_prob`` gives (to 1e-12; a test compares them), without
    importing scikit-learn in every worker (1.5 s a process, longer than a shard's captions
    take): the arrays are read from the package's joblib files once, with scikit-learn, and
    kept in the user's cache (grassroots.usercache), one entry per package version."""

    TOKEN = r"(?u)\b\w\w+\b"  # TfidfVectorizer's default token_pattern, which the package uses

    def __init__(self, words: list[str], idf: np.ndarray, coef: np.ndarray, intercept: np.ndarray,
                 a: np.ndarray, b: np.ndarray):
        import re

        self.vocab = {w: i for i, w in enumerate(words)}
        self.idf, self.coef, self.intercept, self.a, self.b = idf, coef, intercept, a, b
        self.tokens = re.compile(self.TOKEN).findall

    def predict(self, texts: list[str]) -> np.ndarray:
        rows: list[int] = []
        cols: list[int] = []
        for r, text in enumerate(texts):
            ids = [i for i in map(self.vocab.get, self.tokens(text.lower())) if i is not None]
            cols += ids
            rows += [r] * len(ids)
        n, width = len(texts), len(self.idf)
        pairs, counts = np.unique(np.asarray(rows, np.int64) * width + np.asarray(cols, np.int64), return_counts=True)
        row, col = pairs // width, pairs % width
        tfidf = counts * self.idf[col]
        norm = np.sqrt(np.bincount(row, tfidf * tfidf, minlength=n))
        norm[norm == 0] = 1.0
        decision = np.stack([np.bincount(row, tfidf * c[col], minlength=n) for c in self.coef], axis=1)
        decision = decision / norm[:, None] + self.intercept  # texts x classifiers
        return (1.0 / (1.0 + np.exp(self.a * decision + self.b))).mean(axis=1)

    ARRAYS = ("words", "idf", "coef", "intercept", "a", "b")

    @classmethod
    def from_package(cls) -> "CaptionModel":
        """Read the package's joblib files (imports scikit-learn)."""
        try:
            from profanity_check import profanity_check as pc
        except ImportError:
            raise FatalError(_MISSING.format(what="alt-profanity-check", pkg="alt-profanity-check")) from None
        vec, model = pc.vectorizer, pc.model
        words = sorted(vec.vocabulary_, key=vec.vocabulary_.get)
        clfs = model.calibrated_classifiers_
        if (model.method != "sigmoid" or vec.ngram_range != (1, 1) or vec.norm != "l2" or vec.sublinear_tf
                or not vec.lowercase or vec.token_pattern != cls.TOKEN or len(model.classes_) != 2):
            raise FatalError("alt-profanity-check's model is not the one models/safety.py reads "
                             "(a TfidfVectorizer of words and a sigmoid-calibrated linear SVM): "
                             "install alt-profanity-check 1.9")
        return cls(words, np.asarray(vec.idf_, np.float64),
                   np.stack([c.estimator.coef_[0] for c in clfs]).astype(np.float64),
                   np.array([c.estimator.intercept_[0] for c in clfs], np.float64),
                   np.array([c.calibrators[0].a_ for c in clfs], np.float64),
                   np.array([c.calibrators[0].b_ for c in clfs], np.float64))

    def save(self, path) -> None:
        tmp = f"{path}.{os.getpid()}.tmp.npz"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        arrays = {k: getattr(self, k) for k in self.ARRAYS[1:]}
        np.savez(tmp, words=np.array(sorted(self.vocab, key=self.vocab.get)), **arrays)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path) -> "CaptionModel":
        with np.load(path, allow_pickle=False) as z:
            return cls(z["words"].tolist(), *(z[k] for k in cls.ARRAYS[1:]))


@lru_cache(maxsize=1)
def caption_model() -> CaptionModel:
    """The caption model, from the user's cache when an entry for this package version exists."""
    from grassroots.usercache import cache_path

    path = None
    try:
        from importlib.metadata import version
        from importlib.util import find_spec

        spec = find_spec("profanity_check")  # not imported: importing it loads the model with scikit-learn
        data = os.path.join(os.path.dirname(spec.origin), "data", "model.joblib")
        st = os.stat(data)
        path = cache_path(f"profanity-check-{version('alt-profanity-check')}-{st.st_size}-{st.st_mtime_ns}.npz")
    except (ImportError, OSError, ValueError, AttributeError, TypeError):
        pass  # the package is missing (from_package says so in one line) or its files are elsewhere
    if path is not None and path.exists():
        try:
            return CaptionModel.load(path)
        except (OSError, ValueError, KeyError):
            pass  # a damaged entry: rebuilt below
    model = CaptionModel.from_package()
    if path is not None:
        try:
            model.save(path)
        except OSError:
            pass  # a read-only cache folder: the next process reads the package again
    return model
