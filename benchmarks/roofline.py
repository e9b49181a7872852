"""The roofline a speed is judged against: multiply-accumulates per image and the machine's matmul peak.

A figure such as "61 img/s" means little alone; as a fraction of what the arithmetic allows on
the same machine (peak GMAC/s of a large matrix product, over the model's GMAC per image) it
says how much speed is left to find. Used by ``dan_speed.py``.

    python benchmarks/roofline.py [--threads 1]   # the matmul peak of this machine, fp32, bf16 and int8
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


def clock() -> float:
    """The benchmarks' clock: wall time, or with one thread (``torch.set_num_threads(1)``) on the CPU the
    CPU time of the calling thread, which other processes sharing the cores do not inflate (the work of
    one thread is all on it; wall time on a busy 2-core machine varied 3x between runs)."""
    return time.thread_time() if torch.get_num_threads() == 1 else time.perf_counter()


def _rate(fn, macs: int, repeat: int, sync=lambda: None) -> float:
    """GMAC/s of ``fn`` (``macs`` multiply-accumulates a call): median of ``repeat`` calls after one warm-up."""
    fn()
    sync()
    times = []
    for _ in range(repeat):
        t = clock()
        fn()
        sync()
        times.append(clock() - t)
    return macs / statistics.median(times) / 1e9


def matmul_peak_gmac_s(device: torch.device | str = "cpu", dtype: torch.dtype = torch.bfloat16,
                       size: int | tuple[int, ...] = (1024, 2048, 4096), repeat: int = 3) -> float:
    """The practical peak of the machine's matrix units: GMAC/s of a square matrix product, the best of
    the ``size``s (median of ``repeat`` calls each). Small products can beat large ones where the large
    ones wait on memory (seen at 4096 on a 2-core AMX machine), so several sizes are tried.

    ``torch.int8`` (CPU only): oneDNN's uint8 x int8 product, weights reordered once, uint8 output
    with per-channel scales: the arithmetic of DAN's int8 layers. bf16 on the CPU: the faster of
    ``a @ b`` and oneDNN's linear on weights reordered once (what the fused bf16 kernels use)."""
    device = torch.device(device)
    sizes = (size,) if isinstance(size, int) else tuple(size)
    return max(_product_rate(device, dtype, n, repeat) for n in sizes)


def _product_rate(device: torch.device, dtype: torch.dtype, size: int, repeat: int) -> float:
    macs = size ** 3
    if dtype == torch.int8:
        if device.type != "cpu":
            raise ValueError("the int8 peak is measured on the CPU only")
        x = torch.randint(0, 256, (size, size), dtype=torch.uint8)
        w = torch.randint(-127, 128, (size, size), dtype=torch.int8)
        packed = torch.ops.onednn.qlinear_prepack(w, None)
        scales, zeros = torch.full((size,), 1e-3), torch.zeros(size, dtype=torch.int64)
        return _rate(lambda: torch.ops.onednn.qlinear_pointwise(x, 0.05, 128, packed, scales, zeros, None, 1.0, 0,
                                                                None, "none", [], ""), macs, repeat)
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    rate = _rate(lambda: a @ b, macs, repeat, sync)
    # oneDNN's packed bf16 path, where this CPU runs it (AVX512-BW/VL/DQ, AVX-NE-CONVERT or AMX; not AVX2 only)
    if device.type == "cpu" and dtype == torch.bfloat16 and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        packed = torch.ops.mkldnn._reorder_linear_weight(b.t().contiguous(), None)
        rate = max(rate, _rate(lambda: torch.ops.mkldnn._linear_pointwise(a, packed, None, "none", [], ""),
                               macs, repeat))
    return rate


if __name__ == "__main__":
    import sys

    if "--threads" in sys.argv:
        torch.set_num_threads(int(sys.argv[sys.argv.index("--threads") + 1]))
    print(f"threads={torch.get_num_threads()}")
    for dt in (torch.float32, torch.bfloat16, torch.int8):
        print(f"{str(dt).removeprefix('torch.')}_matmul_peak_gmac_s={matmul_peak_gmac_s('cpu', dt):.0f}")
