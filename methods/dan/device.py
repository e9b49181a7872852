"""Where DAN runs and in which arithmetic: shared by inference (:class:`faceeval_methods.dan.DAN`) and training.

Inference imports only this, not :mod:`faceeval_methods.dan.train` (click commands, checkpoints, the loop).
"""
from __future__ import annotations

from pathlib import Path

import torch


def cpu_has_bf16() -> bool:
    """True when this CPU has native bf16 (AVX512-BF16 or AMX), where bf16 autocast pays off."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


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
