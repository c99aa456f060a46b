"""Loading an open_clip model, its identity, and encoding images and captions.

A model is named by its architecture (any open_clip name, or one of ours in
configs/) and its weights: a local checkpoint (an open_clip ``state_dict``
file, or a checkpoint written by ``grassroots train``) or an open_clip
pretrained tag (downloads from a hub: never in tests, the demo or the bench).
The identity (architecture, checkpoint sha256, preprocessing, precision) names
the output folder, so embeddings of two different models never mix.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import importlib
import importlib.util
import json
import os
import pickle
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from grassroots.errors import InputError

CONFIGS = Path(__file__).parent / "configs"
_registered = False
_hf_skipped = False  # this process imported open_clip without transformers


def register_configs(arch: str | None = None):
    """open_clip, with our architectures (configs/*.json) made known to it once per process.

    Given the ``arch`` about to be used, the process's first import of open_clip skips
    HuggingFace ``transformers`` where that architecture's config needs none (no ``hf_``
    text tower, not CoCa): open_clip imports it whenever it is installed, ~0.9 s of a
    command's start. An architecture that needs it later in the same process gets
    open_clip's HF module imported again, with it."""
    global _registered, _hf_skipped
    if "open_clip" not in sys.modules and "transformers" not in sys.modules and arch and not _needs_hf(arch):
        sys.modules["transformers"] = None  # open_clip's optional `import transformers` fails at once
        try:
            import open_clip  # noqa: F401
        finally:
            if "transformers" in sys.modules and sys.modules["transformers"] is None:
                del sys.modules["transformers"]  # anyone else may still import it
        _hf_skipped = True
    import open_clip

    if _hf_skipped and arch and _needs_hf(arch) and importlib.util.find_spec("transformers"):
        hf = importlib.reload(open_clip.hf_model)
        open_clip.model.HFTextEncoder = hf.HFTextEncoder
        _hf_skipped = False
    if not _registered:
        open_clip.add_model_config(CONFIGS)
        _registered = True
    return open_clip


def arch_config(arch: str) -> dict | None:
    """An architecture's JSON config (ours in configs/, else open_clip's), read without
    importing open_clip or torch; None where no readable one is found."""
    found = importlib.util.find_spec("open_clip")
    dirs = [CONFIGS] + [Path(p) / "model_configs" for p in ((found.submodule_search_locations or []) if found else [])]
    for d in dirs:
        try:
            cfg = json.loads((d / f"{arch}.json").read_text())
        except (OSError, ValueError):
            continue
        if isinstance(cfg, dict):
            return cfg
    return None


def _needs_hf(arch: str) -> bool:
    """Whether open_clip needs ``transformers`` to build ``arch`` (unknown: assume so)."""
    cfg = arch_config(arch)
    text = cfg.get("text_cfg", {}) if cfg else {}
    return cfg is None or "multimodal_cfg" in cfg or any(k.startswith("hf_") for k in text)


@dataclass(frozen=True)
class ModelSpec:
    arch: str
    checkpoint: str | None = None  # a local file
    pretrained: str | None = None  # an open_clip pretrained tag (hub)


@dataclass(frozen=True)
class ModelIdentity:
    arch: str
    checkpoint: str | None
    checkpoint_sha256: str | None
    pretrained: str | None
    precision: str
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str
    resize_mode: str
    embed_dim: int

    @property
    def model_id(self) -> str:
        """Folder name under embeddings/: architecture + weights, filesystem-safe."""
        weights = self.checkpoint_sha256[:12] if self.checkpoint_sha256 else (self.pretrained or "random")
        return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{self.arch}-{weights}")

    def to_dict(self) -> dict:
        return asdict(self)


def checkpoint_arch(path: str | None) -> str | None:
    """The architecture a `grassroots train` checkpoint records ("arch"); None for a
    plain open_clip state_dict or a missing file."""
    if not path or not os.path.isfile(path):
        return None
    import torch

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 — not ours to judge here; load() says what is wrong
        return None
    return ckpt.get("arch") if isinstance(ckpt, dict) and isinstance(ckpt.get("arch"), str) else None


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def validate(spec: ModelSpec) -> None:
    """Clear errors before any model is built."""
    open_clip = register_configs(spec.arch)
    if spec.arch not in open_clip.list_models():
        raise InputError("--model", f"unknown architecture {spec.arch!r}",
                         "use an open_clip name (open_clip.list_models()) such as ViT-B-32, or grassroots-tiny")
    if spec.checkpoint and spec.pretrained:
        raise InputError("--checkpoint", "give --checkpoint or --pretrained, not both")
    if not spec.checkpoint and not spec.pretrained:
        raise InputError("--checkpoint", "no weights given",
                         "pass --checkpoint FILE (e.g. from `grassroots model init` or `grassroots train`) "
                         "or --pretrained TAG")
    if spec.checkpoint and not os.path.isfile(spec.checkpoint):
        raise InputError(spec.checkpoint, "no such checkpoint file")


def load(spec: ModelSpec, device: str = "cpu", precision: str = "fp32"):
    """(model in eval mode, preprocess transform, tokenizer, identity)."""
    validate(spec)
    open_clip = register_configs(spec.arch)
    weights = spec.checkpoint or spec.pretrained
    hashing = concurrent.futures.ThreadPoolExecutor(1)  # hashlib releases the GIL: hash while the model is built
    sha = hashing.submit(file_sha256, spec.checkpoint) if spec.checkpoint else None
    hashing.shutdown(wait=False)
    try:
        with _no_random_init(), _mmap_load(spec.checkpoint):  # the (strict) load overwrites every weight
            model, _, preprocess = open_clip.create_model_and_transforms(
                spec.arch, pretrained=weights, device=device, precision=precision, load_weights=True)
    except RuntimeError as e:
        if "state_dict" in str(e) or "size mismatch" in str(e) or "Missing key" in str(e):
            first = "; ".join(line.strip() for line in str(e).splitlines()[:3])
            raise InputError(weights, f"its weights do not fit {spec.arch}: {first[:300]}",
                             "pass the --model the checkpoint was trained with") from None
        if "PytorchStreamReader" in str(e) or "zip archive" in str(e):  # a damaged torch.save zip
            raise _unreadable(weights, e) from None
        raise
    except (pickle.UnpicklingError, EOFError) as e:  # not a torch.save file at all
        raise _unreadable(weights, e) from None
    except (ValueError, OSError) as e:
        raise InputError(weights, f"cannot load weights: {e}") from None
    model.eval()
    cfg = model.visual.preprocess_cfg if hasattr(model.visual, "preprocess_cfg") else {}
    size = cfg.get("size", model.visual.image_size)
    identity = ModelIdentity(
        arch=spec.arch, checkpoint=os.path.abspath(spec.checkpoint) if spec.checkpoint else None,
        checkpoint_sha256=sha.result() if sha else None, pretrained=spec.pretrained,
        precision=precision, image_size=int(size[0] if isinstance(size, (tuple, list)) else size),
        mean=tuple(cfg.get("mean", open_clip.OPENAI_DATASET_MEAN)),
        std=tuple(cfg.get("std", open_clip.OPENAI_DATASET_STD)),
        interpolation=str(cfg.get("interpolation", "bicubic")), resize_mode=str(cfg.get("resize_mode", "shortest")),
        embed_dim=int(model.text_projection.shape[-1] if getattr(model, "text_projection", None) is not None
                      else model.visual.output_dim),
    )
    return model, preprocess, open_clip.get_tokenizer(spec.arch), identity


def _unreadable(weights: str, e: BaseException) -> InputError:
    """A checkpoint torch.load cannot read: a damaged zip (torch's first sentence says
    where) or not a torch.save file at all (torch's text would suggest an unsafe load)."""
    if isinstance(e, RuntimeError):
        what = f"a damaged or truncated checkpoint ({str(e).split('. ')[0].strip()[:160]})"
    else:
        what = "not a checkpoint torch.save wrote"
    return InputError(weights, f"cannot read its weights: {what}",
                      "pass an open_clip state_dict file (torch.save), or one written by "
                      "`grassroots model init` or `grassroots train`")


@contextlib.contextmanager
def _no_random_init():
    """torch.nn.init's in-place initialisers as no-ops (also where torch's modules imported
    them by name), for building a model whose every weight a strict checkpoint load then
    overwrites (~1 s of a ViT-B-32 on a CPU). Not thread-safe: meant for a process's model load."""
    import torch
    import torch.nn.modules.activation as activation

    inits = {id(f) for n, f in vars(torch.nn.init).items() if n.endswith("_") and not n.startswith("_") and callable(f)}
    saved = [(mod, name, f) for mod in (torch.nn.init, activation) for name, f in vars(mod).items() if id(f) in inits]
    for mod, name, _ in saved:
        setattr(mod, name, lambda tensor, *a, **k: tensor)
    try:
        yield
    finally:
        for mod, name, f in saved:
            setattr(mod, name, f)


@contextlib.contextmanager
def _mmap_load(path: str | None):
    """torch.load of a zip checkpoint (what torch.save writes) memory-maps it instead of
    reading a copy: the strict load copies each tensor into the model once, from the page cache."""
    import zipfile

    from torch.utils.serialization import config

    before = config.load.mmap
    config.load.mmap = bool(path) and os.path.isfile(path) and zipfile.is_zipfile(path)
    try:
        yield
    finally:
        config.load.mmap = before


def create_random(arch: str, **kwargs):
    """open_clip.create_model with random weights, without open_clip's warning that no
    pretrained weights were loaded (random weights are what we asked for)."""
    import logging

    open_clip = register_configs(arch)
    logging.disable(logging.WARNING)
    try:
        return open_clip.create_model(arch, pretrained=None, **kwargs)
    finally:
        logging.disable(logging.NOTSET)


def init_checkpoint(arch: str, path: str, seed: int = 0) -> str:
    """Write random-initialised weights of ``arch`` to ``path`` (open_clip state_dict); its sha256."""
    import torch

    open_clip = register_configs(arch)
    if arch not in open_clip.list_models():
        raise InputError("--model", f"unknown architecture {arch!r}")
    torch.manual_seed(seed)
    model = create_random(arch)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict()}, path)
    return file_sha256(path)


def features(model, images, tokens, text_fp32: bool = False):
    """(image features, text features, logit scale) of a training batch, unnormalised
    (open_clip's losses normalise them); captions cut to the batch's longest (``encode_text``).
    ``text_fp32``: the text tower outside any autocast around the call."""
    import torch

    with torch.autocast(images.device.type, enabled=False) if text_fp32 else contextlib.nullcontext():
        text = encode_text(model, tokens)
    return model.encode_image(images), text, model.logit_scale.exp()


def encode_text(model, tokens):
    """Text embeddings (unnormalised) of a batch cut to its longest caption.

    The text tower is causal and pools at the end-of-text token, so the padding
    after the longest caption changes nothing (max difference ~1e-6) and costs
    ~43% of a ViT-B-32 pair at 77 tokens. Models that pool otherwise get the
    full length."""
    import torch

    longest = int((tokens != 0).sum(dim=1).max().item()) if tokens.numel() else 0
    if getattr(model, "text_pool_type", None) != "argmax" or not hasattr(model, "attn_mask") or longest == 0:
        return model.encode_text(tokens)
    from open_clip.transformer import text_global_pool

    tokens = tokens[:, :longest]
    cast = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast) + model.positional_embedding[:longest].to(cast)
    x = model.transformer(x, attn_mask=model.attn_mask[:longest, :longest])
    x = model.ln_final(x)
    x = text_global_pool(x, tokens, "argmax")
    if model.text_projection is not None:
        x = model.text_projection(x) if isinstance(model.text_projection, torch.nn.Linear) else x @ model.text_projection
    return x
