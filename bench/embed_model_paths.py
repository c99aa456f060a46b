#!/usr/bin/env python3
"""Model-path options for `grassroots embed` on this CPU, side by side.

    .venv/bin/python bench/embed_model_paths.py [--images 128] [--passes 3]

ViT-B-32 with the random-weights checkpoint of bench/embed_vs_clip_retrieval.py,
on pre-decoded images and tokenised captions of its dataset (built there): image
forward passes in batches of 64 plus captions along our text path (each distinct
caption once, batches cut to their longest caption). Every option against eager
fp32, the same inputs, in alternating passes (the best pass per option is kept:
the machine is shared), with its minimum cosine against fp32 over every image and
caption. Options:

  fp32            eager open_clip, what `grassroots embed` runs
  channels-last   fp32, the image tower and input in channels-last memory format
  bf16-weights    the model cast to bfloat16, no autocast
  int8-dynamic    torch.ao dynamic quantisation of the nn.Linear layers (qint8)
  compile         torch.compile (inductor) of the image tower and text transformer;
                  its compile time is reported apart
  onnxruntime     torch.onnx export + ONNX Runtime CPU (installed with
                  `pip install --target bench/_work/onnx-pkgs onnxruntime onnx onnxscript`);
                  the dynamo exporter first, the TorchScript one where it fails
  openvino        openvino.convert_model of both towers + the CPU plugin with its
                  default inference precision (installed with
                  `pip install --target bench/_work/openvino-pkgs openvino`)

Keep an option only where it is clearly faster at cosine >= 0.99.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from embed_vs_clip_retrieval import ARCH, CHECKPOINT, sample_pairs  # noqa: E402

ONNX_PKGS = HERE / "_work" / "onnx-pkgs"
OPENVINO_PKGS = HERE / "_work" / "openvino-pkgs"


def inputs(preprocess, tokenizer, n: int):
    import torch

    images, captions = sample_pairs(preprocess, n)
    distinct = list(dict.fromkeys(captions))
    tokens = tokenizer(distinct)
    tokens = tokens[torch.argsort((tokens != 0).sum(dim=1), stable=True)]
    return torch.stack(images), tokens


def cut_batches(tokens, bs: int):
    """Our text path's batches: sorted by length, each cut to its longest caption."""
    out = []
    for i in range(0, len(tokens), bs):
        t = tokens[i:i + bs]
        out.append(t[:, :int((t != 0).sum(dim=1).max())])
    return out


def torch_option(model, image_fn=None, text_model=None, x_fmt=None, dtype=None):
    """(encode images, encode a cut token batch) for a torch model variant."""

    from grassroots.models.clip import encode_text

    def img(x):
        x = x.to(dtype) if dtype else x
        x = x.contiguous(memory_format=x_fmt) if x_fmt else x
        return (image_fn if image_fn is not None else model.encode_image)(x).float()

    def txt(t):
        return encode_text(text_model if text_model is not None else model, t).float()

    return img, txt


def text_module(model, tokens):
    """The text tower as a module of its own (for exporters), and a cut token batch to trace it with."""
    import torch

    from grassroots.models.clip import encode_text

    class Text(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, t):
            return encode_text(self.m, t)

    return Text(model), tokens[-2:, :int((tokens[-2:] != 0).sum(dim=1).max())]


def onnx_option(model, x, tokens, threads: int):
    import torch

    sys.path.append(str(ONNX_PKGS))  # after the venv's site-packages: its numpy wins
    import onnxruntime as ort

    d = HERE / "_work" / "onnx"
    d.mkdir(parents=True, exist_ok=True)
    B, L = torch.export.Dim("batch"), torch.export.Dim("length", min=2, max=77)
    t0 = time.perf_counter()
    text, sample = text_module(model, tokens)
    for name, module, args, dyn, legacy_axes in [
            ("visual", model.visual, (x[:2],), {"x": {0: B}}, {"x": {0: "batch"}}),
            ("text", text, (sample,), {"t": {0: B, 1: L}}, {"t": {0: "batch", 1: "length"}})]:
        inp = next(iter(dyn))
        try:
            torch.onnx.export(module, args, str(d / f"{name}.onnx"), input_names=[inp], dynamic_shapes=dyn,
                              dynamo=True)
        except Exception as e:  # noqa: BLE001 - torch.export fails on some graphs; the older exporter may not
            print(f"onnxruntime: the dynamo exporter failed on the {name} tower ({type(e).__name__}); "
                  f"using the TorchScript exporter", flush=True)
            torch.onnx.export(module, args, str(d / f"{name}.onnx"), input_names=[inp], dynamic_axes=legacy_axes,
                              dynamo=False, opset_version=17)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    vis = ort.InferenceSession(str(d / "visual.onnx"), opts, providers=["CPUExecutionProvider"])
    txt = ort.InferenceSession(str(d / "text.onnx"), opts, providers=["CPUExecutionProvider"])
    setup = time.perf_counter() - t0
    return (lambda xb: torch.from_numpy(vis.run(None, {"x": xb.numpy()})[0]),
            lambda tb: torch.from_numpy(txt.run(None, {"t": tb.numpy()})[0])), setup


def openvino_option(model, x, tokens, threads: int):
    import torch

    sys.path.append(str(OPENVINO_PKGS))  # after the venv's site-packages: its numpy wins
    import openvino as ov

    t0 = time.perf_counter()
    core = ov.Core()
    cfg = {"INFERENCE_NUM_THREADS": threads}
    text, sample = text_module(model, tokens)
    vis = core.compile_model(ov.convert_model(model.visual, example_input=x[:2],
                                              input=[ov.PartialShape([-1, *x.shape[1:]])]), "CPU", cfg)
    txt = core.compile_model(ov.convert_model(text, example_input=sample,
                                              input=[(ov.PartialShape([-1, -1]), ov.Type.i64)]), "CPU", cfg)
    print(f"openvino {ov.__version__}: CPU inference precision {vis.get_property('INFERENCE_PRECISION_HINT')}",
          flush=True)
    setup = time.perf_counter() - t0
    return (lambda xb: torch.from_numpy(vis(xb.numpy())[0].copy()),
            lambda tb: torch.from_numpy(txt(tb.numpy())[0].copy())), setup


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=128)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated option names")
    a = ap.parse_args()
    import torch

    from grassroots.models.clip import ModelSpec, load

    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    model, preprocess, tokenizer, _ = load(ModelSpec(ARCH, str(CHECKPOINT)), "cpu", "fp32")
    x, tokens = inputs(preprocess, tokenizer, a.images)
    img_batches, txt_batches = list(x.split(64)), cut_batches(tokens, 128)
    print(f"{ARCH}, {len(x)} images in batches of 64, {len(tokens)} distinct captions "
          f"(lengths {[b.shape[1] for b in txt_batches]}), {threads} threads, torch {torch.__version__}")

    builders = {
        "fp32": lambda: (torch_option(model), 0.0),
        "channels-last": lambda: (torch_option(copy.deepcopy(model).to(memory_format=torch.channels_last),
                                               x_fmt=torch.channels_last), 0.0),
        "bf16-weights": lambda: (torch_option(copy.deepcopy(model).to(torch.bfloat16), dtype=torch.bfloat16), 0.0),
        "int8-dynamic": lambda: (torch_option(int8(model)), 0.0),
        "compile": lambda: compiled(model),
        "onnxruntime": lambda: onnx_option(model, x, tokens, threads),
        "openvino": lambda: openvino_option(model, x, tokens, threads),
    }
    if a.only:
        builders = {k: v for k, v in builders.items() if k in a.only.split(",")}

    def int8(m):
        q = torch.ao.quantization.quantize_dynamic(copy.deepcopy(m), {torch.nn.Linear}, dtype=torch.qint8)
        q.transformer.get_cast_dtype = lambda: torch.float32  # its c_fc.weight is now a method
        return q

    def compiled(m):
        c = copy.deepcopy(m)
        c.transformer = torch.compile(c.transformer, dynamic=True)
        fns = torch_option(c, image_fn=torch.compile(c.visual), text_model=c)
        t0 = time.perf_counter()
        with torch.inference_mode():
            fns[0](img_batches[0])
            for b in txt_batches:
                fns[1](b)
        return fns, time.perf_counter() - t0

    options, results = {}, {}
    for name, build in builders.items():
        try:
            with torch.inference_mode():
                options[name], setup = build()
                emb_i = torch.cat([options[name][0](b) for b in img_batches])  # also the warm-up
                emb_t = torch.cat([options[name][1](b) for b in txt_batches])
            results[name] = {"setup": setup, "times": [], "i": emb_i, "t": emb_t}
        except Exception as e:  # noqa: BLE001 - an option that fails is reported, not fatal
            print(f"{name:14s} failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}", flush=True)
    for p in range(a.passes):
        for name, (img, txt) in options.items():
            with torch.inference_mode():
                t0 = time.perf_counter()
                for b in img_batches:
                    img(b)
                ti = time.perf_counter() - t0
                t0 = time.perf_counter()
                for b in txt_batches:
                    txt(b)
                tt = time.perf_counter() - t0
            results[name]["times"].append((ti, tt))
    base = results["fp32"]
    cos = torch.nn.functional.cosine_similarity
    n = len(x)
    print(f"{'option':14s} {'pairs/s':>8s} {'vs fp32':>8s} {'img/s':>7s} {'text/s':>7s} {'min cos img':>12s} "
          f"{'min cos txt':>12s} {'setup s':>8s}  (best of {a.passes} passes)")
    best_fp32 = min(sum(t) for t in base["times"])
    for name, r in results.items():
        ti, tt = min(r["times"], key=sum)
        ci = cos(r["i"], base["i"]).min().item()
        ct = cos(r["t"], base["t"]).min().item()
        print(f"{name:14s} {n / (ti + tt):8.1f} {best_fp32 / (ti + tt):7.2f}x {n / ti:7.1f} "
              f"{len(tokens) / tt:7.1f} {ci:12.5f} {ct:12.5f} {r['setup']:8.1f}", flush=True)


if __name__ == "__main__":
    main()
