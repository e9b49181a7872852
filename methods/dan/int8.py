"""The int8 storage format of DAN weights: per-output-channel symmetric int8 with a float32 scale.

Pure tensor functions, used by :mod:`.weights` (loading dequantises) and :mod:`.quantize` (the
command that writes and measures quantised weights); they sit apart so neither imports the other's
module for them.
"""
from __future__ import annotations

import torch

QUANT_SUFFIX = ".int8"
SCALE_SUFFIX = ".scale"


def quantize_tensors(tensors: dict[str, torch.Tensor], min_elements: int = 4096) -> dict[str, torch.Tensor]:
    """Per-output-channel symmetric int8 for weight matrices/kernels; the rest unchanged."""
    out = {}
    for name, t in tensors.items():
        if name.endswith(".weight") and t.is_floating_point() and t.dim() >= 2 and t.numel() > min_elements:
            w = t.detach().float().reshape(t.shape[0], -1)
            scale = w.abs().amax(dim=1).clamp(min=1e-12) / 127.0
            q = torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8)
            out[name + QUANT_SUFFIX] = q.reshape(t.shape).contiguous()
            out[name + SCALE_SUFFIX] = scale.contiguous()
        else:
            out[name] = t.detach().float().contiguous() if t.is_floating_point() else t.contiguous()
    return out


def dequantize_tensors(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The float32 state dict of :func:`quantize_tensors`' output (plain tensors pass through)."""
    out = {}
    for name, t in tensors.items():
        if name.endswith(SCALE_SUFFIX):
            continue
        if name.endswith(QUANT_SUFFIX):
            base = name[: -len(QUANT_SUFFIX)]
            scale = tensors[base + SCALE_SUFFIX].float()
            out[base] = t.float() * scale.view((-1,) + (1,) * (t.dim() - 1))
        else:
            out[name] = t
    return out


def is_quantized(tensors: dict[str, torch.Tensor]) -> bool:
    return any(k.endswith(QUANT_SUFFIX) for k in tensors)


__all__ = ["QUANT_SUFFIX", "SCALE_SUFFIX", "quantize_tensors", "dequantize_tensors", "is_quantized"]
