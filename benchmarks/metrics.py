"""Benchmark the metrics core: errors + CED + AUC + failure rate for 1,000,000 shapes.

The baseline is the obvious per-image Python loop (one normaliser, one mean distance
and one comparison per image, then the CED by counting) timed on a sample and
extrapolated per shape. Both paths score the same shapes; the script checks that the
sample's numbers agree before printing timings.

Run::

    python benchmarks/metrics.py            # 1,000,000 shapes, 20,000 for the loop
    python benchmarks/metrics.py --n 200000 --loop-n 5000

The last lines are ``key=value`` figures (``metrics_1m_seconds``, ``speedup_vs_loop``...).
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from faceeval.metrics import ced, ced_grid, point_to_point_error, summarize


def make_shapes(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth = the DAN mean face scaled, moved and jittered per image; predictions =
    ground truth + per-image noise whose size spreads the errors over about 1%-15% (IOD)."""
    from faceeval.resources import dan_mean_shape

    rng = np.random.default_rng(seed)
    template = dan_mean_shape()
    scale = rng.uniform(0.5, 2.0, (n, 1, 1))
    offset = rng.uniform(100, 400, (n, 1, 2))
    gt = template[None] * scale + offset
    gt += rng.normal(0, 1.0, gt.shape)
    noise_px = scale * np.exp(rng.normal(np.log(2.5), 0.5, (n, 1, 1)))
    pred = gt + rng.normal(0, 1.0, gt.shape) * noise_px
    return pred, gt


def vectorised(pred: np.ndarray, gt: np.ndarray, alpha: float) -> dict:
    """What ``faceeval eval`` does: errors, the CED on the protocol grid, AUC and failure."""
    errors = point_to_point_error(pred, gt, "inter-ocular")
    grid = ced_grid(alpha)
    curve = ced(errors, grid)
    summary = summarize(errors, alpha)
    return {"errors": errors, "ced": curve, "auc": summary.auc, "failure": summary.failure_rate}


def python_loop(pred: np.ndarray, gt: np.ndarray, alpha: float) -> dict:
    """The per-image baseline: a Python loop over images and over CED thresholds."""
    errors = []
    for p, g in zip(pred, gt):
        iod = float(np.linalg.norm(g[36] - g[45]))
        errors.append(float(np.mean(np.sqrt(((p - g) ** 2).sum(axis=1)))) / iod)
    errors = np.array(errors)
    grid = ced_grid(alpha)
    curve = np.array([np.count_nonzero(errors <= t) / errors.size for t in grid])
    from scipy.integrate import simpson

    return {"errors": errors, "ced": curve, "auc": float(simpson(curve, x=grid) / alpha),
            "failure": float(np.count_nonzero(errors > alpha) / errors.size)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="shapes for the vectorised path")
    parser.add_argument("--loop-n", type=int, default=20_000, help="shapes for the per-image loop")
    parser.add_argument("--repeats", type=int, default=3, help="vectorised repeats (best is reported)")
    parser.add_argument("--alpha", type=float, default=0.08)
    args = parser.parse_args()

    pred, gt = make_shapes(args.n)                      # generated outside the timed part
    # Agreement check on the loop's sample (not timed).
    sample = slice(0, min(args.loop_n, args.n))
    ref = python_loop(pred[sample], gt[sample], args.alpha)
    got = vectorised(pred[sample], gt[sample], args.alpha)
    np.testing.assert_allclose(got["errors"], ref["errors"], rtol=1e-12)
    np.testing.assert_array_equal(got["ced"], ref["ced"])
    assert abs(got["auc"] - ref["auc"]) < 1e-12 and got["failure"] == ref["failure"]

    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        out = vectorised(pred, gt, args.alpha)
        times.append(time.perf_counter() - t0)
    vec_s = min(times)

    t0 = time.perf_counter()
    python_loop(pred[sample], gt[sample], args.alpha)
    loop_s = time.perf_counter() - t0
    loop_per_shape = loop_s / (sample.stop - sample.start)
    loop_extrapolated = loop_per_shape * args.n

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}")
    print(f"vectorised: {args.n} shapes in {vec_s:.3f} s (best of {args.repeats}: "
          f"{', '.join(f'{t:.3f}' for t in times)}); AUC {out['auc']:.4f}, failure {out['failure']:.4f}")
    print(f"per-image loop: {sample.stop - sample.start} shapes in {loop_s:.3f} s "
          f"-> {loop_extrapolated:.1f} s extrapolated to {args.n}")
    print(f"n_shapes={args.n}")
    print(f"loop_sample={sample.stop - sample.start}")
    print(f"loop_seconds_per_shape={loop_per_shape:.3e}")
    print(f"loop_extrapolated_seconds={loop_extrapolated:.2f}")
    print(f"metrics_seconds={vec_s:.4f}")
    print(f"metrics_1m_seconds={vec_s * 1_000_000 / args.n:.4f}")
    print(f"speedup_vs_loop={loop_extrapolated / vec_s:.1f}")


if __name__ == "__main__":
    main()
