"""Where a held-out (colour, shape) pair is lost: the image tower or the text tower.

    python bench/zeroshot_composition.py RUN/checkpoints/last.pt [--heldout FOLDER]

The zero-shot check of issue 31 asks a model for pairs it never saw together ("a green star").
This prints three readings of the same held-out images (FOLDER/<colour>_<shape>/*.jpg, as
`bench/train_tiny_generators.py` writes them; every class folder, empty or not, is a label):

- **plain**: each class's own prompt, ``a <colour> <shape>``, as `grassroots eval` does with
  one template;
- **shape only**: the prompts ``a <shape>``, scored on the shape alone (chance 1 in the shapes);
- **analogy**: each class's text embedding replaced by the mean over seen pairs of
  T(colour, s') + T(c', shape) - T(c', s') (normalised), built from pairs the captions
  did show together. Where this beats *plain*, the text tower composes an unseen pair worse
  than its parts; what *analogy* reaches is what the image features allow under text that
  composes additively.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
HELDOUT = ROOT / "bench" / "_work" / "generators" / "shapes-heldout-100"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="a `grassroots train` checkpoint (it records its architecture)")
    ap.add_argument("--heldout", default=str(HELDOUT), help="folder of <colour>_<shape>/ image folders")
    args = ap.parse_args()

    import numpy as np
    import torch
    import torch.nn.functional as F

    from grassroots.models.clip import checkpoint_arch, encode_text, register_configs
    from grassroots.train.data import decode

    arch = checkpoint_arch(args.checkpoint)
    if arch is None:
        raise SystemExit(f"{args.checkpoint}: not a `grassroots train` checkpoint (no architecture recorded)")
    open_clip = register_configs(arch)
    model = open_clip.create_model(arch, pretrained=args.checkpoint).eval()
    size = model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    tokenizer = open_clip.get_tokenizer(arch)
    classes = sorted(d for d in os.listdir(args.heldout) if os.path.isdir(os.path.join(args.heldout, d)))
    pairs = [tuple(c.split("_", 1)) for c in classes]
    held = {p for p, c in zip(pairs, classes) if any(f.endswith(".jpg") for f in os.listdir(os.path.join(args.heldout, c)))}
    colours, shapes = sorted({p[0] for p in pairs}), sorted({p[1] for p in pairs})
    images, truth = [], []
    for pair, c in zip(pairs, classes):
        for f in sorted(os.listdir(os.path.join(args.heldout, c))):
            if f.endswith(".jpg"):
                images.append(decode(Path(args.heldout, c, f).read_bytes(), size))
                truth.append(pair)
    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1)

    with torch.no_grad():
        x = (torch.from_numpy(np.stack(images)).float() / 255 - mean) / std
        img = F.normalize(model.encode_image(x), dim=-1)

        def text(words: list[str]) -> torch.Tensor:
            return F.normalize(encode_text(model, tokenizer([f"a {w}" for w in words])), dim=-1)

        def top1(weights: torch.Tensor, labels: list) -> list:
            return [labels[i] for i in (img @ weights.T).argmax(1).tolist()]

        plain = text([f"{c} {s}" for c, s in pairs])
        own = {p: plain[i] for i, p in enumerate(pairs)}
        analogy = []
        for colour, shape in pairs:
            terms = [own[(colour, s)] + own[(c, shape)] - own[(c, s)] for c in colours for s in shapes
                     if c != colour and s != shape and not {(colour, s), (c, shape), (c, s)} & held]
            analogy.append(F.normalize(torch.stack(terms).mean(0), dim=0))
        readings = {
            "plain (a <colour> <shape>)": np.mean([p == t for p, t in zip(top1(plain, pairs), truth)]),
            "shape only (a <shape>), the shape right": np.mean(
                [p == t[1] for p, t in zip(top1(text(shapes), shapes), truth)]),
            "analogy from seen pairs": np.mean([p == t for p, t in zip(top1(torch.stack(analogy), pairs), truth)]),
        }
    print(f"{args.checkpoint} ({arch}): {len(truth)} images of {len(held)} held-out pairs, {len(pairs)} labels")
    for name, acc in readings.items():
        print(f"  {name}: {acc:.1%}")


if __name__ == "__main__":
    main()
