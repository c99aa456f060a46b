"""Device and precision: chosen by what the machine has and, for precision on
a CPU, by measuring it (a CPU may list bf16 in its flags and still run bf16
matmuls slower than fp32 without AMX)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from grassroots.errors import InputError

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class Placement:
    device: str  # cpu | cuda
    precision: str  # fp32 | bf16 | fp16
    why: str  # one line for the console


def choose(device: str = "auto", precision: str = "auto") -> Placement:
    import torch

    if device not in DEVICES:
        raise InputError("--device", f"unknown device {device!r}", f"use one of {', '.join(DEVICES)}")
    if precision not in PRECISIONS:
        raise InputError("--precision", f"unknown precision {precision!r}", f"use one of {', '.join(PRECISIONS)}")
    has_cuda = torch.cuda.is_available()
    if device == "cuda" and not has_cuda:
        raise InputError("--device cuda", "CUDA was asked for but no CUDA device is visible",
                         "use --device cpu (or auto), or check the driver and CUDA_VISIBLE_DEVICES")
    dev = "cuda" if device == "cuda" or (device == "auto" and has_cuda) else "cpu"
    why = f"{dev}: " + ("asked for" if device != "auto" else "a CUDA device is visible" if has_cuda
                        else "no CUDA device")
    if precision != "auto":
        if dev == "cpu" and precision == "fp16":
            raise InputError("--precision fp16", "fp16 is not supported on the CPU", "use fp32 or bf16")
        return Placement(dev, precision, f"{why}; {precision} asked for")
    if dev == "cuda":
        return Placement(dev, "fp16", f"{why}; fp16 (tensor cores; cosine >= 0.99 against fp32)")
    ratio = bf16_speedup()
    if ratio >= 1.2:
        return Placement(dev, "bf16", f"{why}; bf16 measured {ratio:.1f}x faster than fp32 here")
    return Placement(dev, "fp32", f"{why}; fp32 (bf16 measured {ratio:.2f}x of fp32 here)")


def bf16_speedup(n: int = 384, repeats: int = 6) -> float:
    """How much faster a bf16 matmul is than fp32 on this CPU (>1: faster)."""
    import torch

    def best(dtype) -> float:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - t0)
        return min(times)

    try:
        return best(torch.float32) / best(torch.bfloat16)
    except RuntimeError:  # bf16 matmul not supported at all
        return 0.0
