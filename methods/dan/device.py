"""Where DAN runs and in which arithmetic: shared by inference (:class:`faceeval_methods.dan.DAN`) and training.

Inference imports only this, not :mod:`faceeval_methods.dan.train` (click commands, checkpoints, the loop).
"""
from __future__ import annotations

from pathlib import Path

import torch


def cpu_flags() -> set[str]:
    """The instruction-set flags of this CPU (``/proc/cpuinfo``; empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_has_bf16() -> bool:
    """True when this CPU has native bf16 (AVX512-BF16 or AMX), where bf16 autocast pays off."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def cpu_has_fused_bf16() -> bool:
    """True when oneDNN's bf16 convolutions run on this CPU (AVX512-BW/VL/DQ, AVX-NE-CONVERT or AMX), as
    the fused bf16 kernels (:mod:`faceeval_methods.dan.fused`) need; an AVX2-only CPU has none of them."""
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    if check is not None:
        try:
            return bool(check())
        except RuntimeError:  # pragma: no cover - a build without oneDNN
            return False
    flags = cpu_flags()  # pragma: no cover - older torch: the instruction sets oneDNN asks for
    return {"avx512bw", "avx512vl", "avx512dq"} <= flags or bool(flags & {"avx_ne_convert", "amx_bf16"})


#: Instruction sets with int8 dot products (uint8 x int8 -> int32), which oneDNN's int8 kernels need
#: to beat bf16: AVX512-VNNI (Cascade Lake+, AMD Zen 4+), AVX-VNNI (Alder Lake+), AMX-INT8.
INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def cpu_has_int8() -> bool:
    """True when this CPU has int8 dot-product instructions (:data:`INT8_FLAGS`)."""
    return bool(cpu_flags() & set(INT8_FLAGS))


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else the CPU; anything else as ``torch.device`` reads it."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def use_bf16(precision: str, device: torch.device) -> bool:
    """Whether to autocast to bf16: ``"auto"`` where the hardware has it natively, else as asked."""
    if precision == "auto":
        return torch.cuda.is_bf16_supported() if device.type == "cuda" else cpu_has_bf16()
    return precision == "bf16"
