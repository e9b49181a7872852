"""Where DAN's CPU inference time goes, per precision: what separates each speed from its roofline.

    python benchmarks/dan_profile.py [--precision bf16 int8] [--batch 256] [--threads N]

Profiles one batched forward (``DAN.predict_frames``, after a warm-up) with ``torch.profiler`` and
sorts the time into: each convolution (with its GMAC/s against the precision's matmul peak from
``roofline.py``), fc1, pooling, the stage input (padding, quantising), the connection layers
(similarity fit, warp, heatmap, feature image) and the rest. The last lines are ``key=value``:
``<precision>_<part>_share`` (fractions of the forward) and ``<precision>_conv_efficiency`` (the
convolutions' own GMAC/s over the peak).
"""
from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from pathlib import Path

# as `faceeval run` does (faceeval.cli.common.sleeping_openmp_waits): OpenMP threads sleep at barriers
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dan_speed import device_name, make_model  # noqa: E402
from faceeval.datasets import load_dataset  # noqa: E402
from faceeval_methods.dan import DAN  # noqa: E402
from faceeval_methods.dan.augment import Canvases, sample_perturbations  # noqa: E402
from roofline import matmul_peak_gmac_s  # noqa: E402

CONV_OPS = ("mkldnn::_convolution_pointwise", "onednn::qconv_pointwise", "aten::mkldnn_convolution")
LINEAR_OPS = ("onednn::qlinear_pointwise", "aten::addmm", "aten::linear", "aten::mm", "mkldnn::_linear_pointwise")
CONNECTION_OPS = ("aten::grid_sampler_2d", "aten::scatter_reduce", "aten::linalg_vector_norm", "aten::bmm",
                  "aten::upsample_nearest2d", "aten::affine_grid_generator", "aten::floor", "aten::reciprocal")
INPUT_OPS = ("aten::round", "aten::clamp_", "aten::fill_", "aten::zeros", "aten::new_zeros", "aten::div",
             "aten::sub", "aten::_to_copy", "aten::to")


def classify(name: str, shapes: list) -> str:
    if name in CONV_OPS:
        return "conv"
    if name in LINEAR_OPS:
        # fc1 reads the flattened 7x7 map; fc2 and the connection's feature layer read fc1's 256 numbers
        return "fc1" if any(len(s) == 2 and s[-1] > 4096 for s in shapes) else "fc2_feature"
    if name == "aten::maximum":
        return "pool"
    if name in CONNECTION_OPS:
        return "connection"
    if name in INPUT_OPS:
        return "input"
    if name in ("aten::copy_", "aten::cat", "aten::contiguous", "aten::clone"):
        return "copies"
    return "other"


def profile(dan: DAN, frames: torch.Tensor) -> tuple[dict, list, float]:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    dan.predict_frames(frames)
    with torch_profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        dan.predict_frames(frames)
    parts: dict[str, float] = defaultdict(float)
    convs: dict[tuple, list] = {}
    for ev in prof.key_averages(group_by_input_shape=True):
        seconds = ev.self_cpu_time_total / 1e6
        shapes = [list(s) for s in ev.input_shapes]
        part = classify(ev.key, shapes)
        parts[part] += seconds
        if part == "conv":
            key = tuple(shapes[0][1:]) + (shapes[3][0] if ev.key == "onednn::qconv_pointwise" else shapes[1][0],)
            entry = convs.setdefault(key, [0.0, 0, 0])
            entry[0] += seconds
            entry[1] += ev.count
            w = shapes[3] if ev.key == "onednn::qconv_pointwise" else shapes[1]
            entry[2] += ev.count * shapes[0][0] * shapes[0][2] * shapes[0][3] * w[0] * w[1] * w[2] * w[3]
    total = sum(parts.values())
    return dict(parts), sorted(convs.items(), key=lambda kv: -kv[1][0]), total


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None)
    ap.add_argument("--stages", type=int, default=2)
    ap.add_argument("--precision", nargs="+", default=["bf16", "int8"], choices=["fp32", "bf16", "int8"])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    model, origin = make_model(args, torch.device("cpu"))
    print(f"device: {device_name(torch.device('cpu'))}  torch {torch.__version__}; model: {origin}")
    ds = load_dataset("builtin")
    images = [s.load_image() for s in ds.samples]
    frame_shape = model.mean_shape.double().numpy()
    canv = Canvases(images, ds.ground_truth, frame_shape, model.cfg.image_size, torch.device("cpu"))
    n = args.batch
    frames, _ = canv.batch(torch.arange(n) % len(canv), torch.arange(n) % 2 == 1,
                           sample_perturbations(n, torch.Generator().manual_seed(0), frame_shape))
    res: dict = {}
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "int8": torch.int8}
    for prec in args.precision:
        extra = {}
        if prec == "int8":
            from dan_speed import int8_calibration

            extra["calibration"] = int8_calibration(args, model, frames)
        dan = DAN(model, device="cpu", precision=prec, **extra)
        parts, convs, total = profile(dan, frames)
        peak = matmul_peak_gmac_s("cpu", dtypes[prec])
        conv_s = sum(v[0] for _, v in convs)
        conv_gmac = sum(v[2] for _, v in convs) / 1e9
        print(f"\n{prec}: forward of {n} frames, {total:.3f} s profiled ({n / total:.1f} img/s); "
              f"matmul peak {peak:.0f} GMAC/s")
        for part, seconds in sorted(parts.items(), key=lambda kv: -kv[1]):
            print(f"  {part:12s} {seconds:8.3f} s  {seconds / total:6.1%}")
            res[f"{prec}_{part}_share"] = seconds / total
        print("  convolutions (input C x H x W -> output channels): time, GMAC/s, fraction of the peak")
        for key, (seconds, count, macs) in convs:
            rate = macs / seconds / 1e9 if seconds > 0 else 0.0
            print(f"    {key[0]:4d}x{key[1]:3d}x{key[2]:3d} -> {key[3]:4d}  x{count}  {seconds:7.3f} s  "
                  f"{rate:7.0f} GMAC/s  {rate / peak:6.1%}")
        res[f"{prec}_conv_efficiency"] = conv_gmac / conv_s / peak if conv_s > 0 else 0.0
        res[f"{prec}_matmul_peak_gmac_s"] = peak
        print(f"  all convolutions: {conv_gmac / conv_s:.0f} GMAC/s = {res[f'{prec}_conv_efficiency']:.1%} of the peak")
    for k, v in res.items():
        print(f"{k}={v:.4g}")
    return res


if __name__ == "__main__":
    main()
