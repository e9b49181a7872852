"""The roofline a speed is judged against: multiply-accumulates per image and the machine's matmul peak.

A figure such as "61 img/s" means little alone; as a fraction of what the arithmetic allows on
the same machine (peak GMAC/s of a large matrix product, over the model's GMAC per image) it
says how much speed is left to find. Used by ``dan_speed.py``.

    python benchmarks/roofline.py     # the matmul peak of this machine, fp32 and bf16
"""
from __future__ import annotations

import statistics
import time

import torch


def count_macs(module: torch.nn.Module, *inputs, **kwargs) -> int:
    """Multiply-accumulates of the convolutions and linear layers in one forward call (what
    dominates a CNN; element-wise work and warps are left out)."""
    total = 0

    def conv(m, args, out):
        nonlocal total
        kh, kw = m.kernel_size
        total += out.numel() * (m.in_channels // m.groups) * kh * kw

    def linear(m, args, out):
        nonlocal total
        total += out.numel() * m.in_features

    hooks = []
    for m in module.modules():
        if isinstance(m, torch.nn.Conv2d):
            hooks.append(m.register_forward_hook(conv))
        elif isinstance(m, torch.nn.Linear):
            hooks.append(m.register_forward_hook(linear))
    try:
        with torch.inference_mode():
            module(*inputs, **kwargs)
    finally:
        for h in hooks:
            h.remove()
    return total


def matmul_peak_gmac_s(device: torch.device | str = "cpu", dtype: torch.dtype = torch.bfloat16,
                       size: int = 4096, repeat: int = 3) -> float:
    """Median GMAC/s of a ``size``² matrix product: the practical peak of the machine's matrix units."""
    device = torch.device(device)
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    a @ b
    sync()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        a @ b
        sync()
        times.append(time.perf_counter() - t)
    return size ** 3 / statistics.median(times) / 1e9


if __name__ == "__main__":
    print(f"threads={torch.get_num_threads()}")
    for dt in (torch.float32, torch.bfloat16):
        print(f"{str(dt).removeprefix('torch.')}_matmul_peak_gmac_s={matmul_peak_gmac_s('cpu', dt):.0f}")
