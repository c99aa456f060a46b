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
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from grassroots.errors import InputError

CONFIGS = Path(__file__).parent / "configs"
_registered = False


def register_configs() -> None:
    """Make our architectures (configs/*.json) known to open_clip, once per process."""
    global _registered
    if not _registered:
        import open_clip

        open_clip.add_model_config(CONFIGS)
        _registered = True


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
    import open_clip

    register_configs()
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
    import open_clip

    validate(spec)
    weights = spec.checkpoint or spec.pretrained
    hashing = concurrent.futures.ThreadPoolExecutor(1)  # hashlib releases the GIL: hash while the model is built
    sha = hashing.submit(file_sha256, spec.checkpoint) if spec.checkpoint else None
    hashing.shutdown(wait=False)
    try:
        with _no_random_init():  # the (strict) load overwrites every weight
            model, _, preprocess = open_clip.create_model_and_transforms(
                spec.arch, pretrained=weights, device=device, precision=precision, load_weights=True)
    except RuntimeError as e:
        if "state_dict" in str(e) or "size mismatch" in str(e) or "Missing key" in str(e):
            first = "; ".join(line.strip() for line in str(e).splitlines()[:3])
            raise InputError(weights, f"its weights do not fit {spec.arch}: {first[:300]}",
                             "pass the --model the checkpoint was trained with") from None
        raise
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


@contextlib.contextmanager
def _no_random_init():
    """torch.nn.init's in-place initialisers as no-ops, for building a model whose every
    weight a strict checkpoint load then overwrites (~0.9 s of a ViT-B-32 on a CPU). Not
    thread-safe: meant for a process's model load."""
    import torch

    saved = {n: f for n, f in vars(torch.nn.init).items() if n.endswith("_") and not n.startswith("_") and callable(f)}
    for name in saved:
        setattr(torch.nn.init, name, lambda tensor, *a, **k: tensor)
    try:
        yield
    finally:
        for name, f in saved.items():
            setattr(torch.nn.init, name, f)


def create_random(arch: str, **kwargs):
    """open_clip.create_model with random weights, without open_clip's warning that no
    pretrained weights were loaded (random weights are what we asked for)."""
    import logging

    import open_clip

    register_configs()
    logging.disable(logging.WARNING)
    try:
        return open_clip.create_model(arch, pretrained=None, **kwargs)
    finally:
        logging.disable(logging.NOTSET)


def init_checkpoint(arch: str, path: str, seed: int = 0) -> str:
    """Write random-initialised weights of ``arch`` to ``path`` (open_clip state_dict); its sha256."""
    import open_clip
    import torch

    register_configs()
    if arch not in open_clip.list_models():
        raise InputError("--model", f"unknown architecture {arch!r}")
    torch.manual_seed(seed)
    model = create_random(arch)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict()}, path)
    return file_sha256(path)


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
