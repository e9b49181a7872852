"""Benchmark the metrics core: errors + CED + AUC + failure rate for 1,000,000 shapes, and the
bootstrap intervals (mean, median, AUC, failure) for 689 images x 10,000 resamples and for
1,000,000 shapes x 1,000 resamples.

The baseline is the obvious per-image Python loop (one normaliser, one mean distance
and one comparison per image, then the CED by counting) timed on a sample and
extrapolated per shape. Both paths score the same shapes; the script checks that the
sample's numbers agree before printing timings. The bootstrap's baseline is the obvious
loop over resamples (draw indices, ``summarize`` the resample), timed on a few resamples
and extrapolated; its numbers are checked against the vectorised ones for the same indices.

Run::

    python benchmarks/metrics.py            # 1,000,000 shapes, 20,000 for the loop
    python benchmarks/metrics.py --n 200000 --loop-n 5000 --boot-big-n 100000

The last lines are ``key=value`` figures (``metrics_1m_seconds``, ``speedup_vs_loop``,
``bootstrap_689x10000_seconds``, ``bootstrap_1mx1000_seconds``...).
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from faceeval.metrics import ALPHA, ced, ced_grid, point_to_point_error, summarize
from faceeval.stats import Bootstrap, bootstrap_samples, summary_intervals


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


def bootstrap_loop(errors: np.ndarray, resamples: int, seed: int, alpha: float) -> dict:
    """The baseline: one ``summarize`` per resample, drawing the same indices (into the sorted
    errors) as :func:`faceeval.stats.bootstrap_samples` does."""
    e = np.sort(errors)
    rng = np.random.default_rng(seed)
    out = {k: [] for k in ("mean_error", "median_error", "auc", "failure_rate")}
    for _ in range(resamples):
        s = summarize(e[rng.integers(0, e.size, size=e.size)], alpha)
        for k in out:
            out[k].append(getattr(s, k))
    return {k: np.array(v) for k, v in out.items()}


def time_bootstrap(errors: np.ndarray, resamples: int, loop_resamples: int, repeats: int, alpha: float) -> dict:
    """Best-of-``repeats`` time of the intervals, the loop's time extrapolated, after checking that
    both give the same numbers on the loop's resamples."""
    check = Bootstrap(resamples=loop_resamples, seed=1)
    got = bootstrap_samples(errors, alpha, bootstrap=check)
    ref = bootstrap_loop(errors, loop_resamples, 1, alpha)
    for k, v in ref.items():
        np.testing.assert_allclose(got[k], v, rtol=1e-9, atol=1e-12)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        summary_intervals(errors, alpha, bootstrap=Bootstrap(resamples=resamples, seed=0))
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    bootstrap_loop(errors, loop_resamples, 2, alpha)
    loop_s = (time.perf_counter() - t0) / loop_resamples * resamples
    return {"seconds": min(times), "all": times, "loop_extrapolated": loop_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="shapes for the vectorised path")
    parser.add_argument("--loop-n", type=int, default=20_000, help="shapes for the per-image loop")
    parser.add_argument("--repeats", type=int, default=3, help="vectorised repeats (best is reported)")
    parser.add_argument("--alpha", type=float, default=ALPHA)
    parser.add_argument("--boot-n", type=int, default=689, help="images for the first bootstrap timing")
    parser.add_argument("--boot-resamples", type=int, default=10_000)
    parser.add_argument("--boot-big-n", type=int, default=1_000_000, help="shapes for the second bootstrap timing")
    parser.add_argument("--boot-big-resamples", type=int, default=1_000)
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

    errors = out["errors"]
    small = time_bootstrap(errors[:args.boot_n], args.boot_resamples, 500, args.repeats, args.alpha)
    big_errors = errors[:args.boot_big_n] if args.boot_big_n <= errors.size else \
        np.resize(errors, args.boot_big_n)
    big = time_bootstrap(big_errors, args.boot_big_resamples, 3, 1, args.alpha)
    print(f"bootstrap: {args.boot_n} images x {args.boot_resamples} resamples in {small['seconds']:.3f} s (best of "
          f"{args.repeats}: {', '.join(f'{t:.3f}' for t in small['all'])}); a loop of summarize() per resample "
          f"would take {small['loop_extrapolated']:.1f} s")
    print(f"bootstrap: {args.boot_big_n} shapes x {args.boot_big_resamples} resamples in {big['seconds']:.2f} s; "
          f"the loop would take {big['loop_extrapolated']:.1f} s")
    tag_small = f"{args.boot_n}x{args.boot_resamples}"
    tag_big = f"{args.boot_big_n // 1_000_000}mx{args.boot_big_resamples}" if args.boot_big_n % 1_000_000 == 0 \
        else f"{args.boot_big_n}x{args.boot_big_resamples}"
    print(f"bootstrap_{tag_small}_seconds={small['seconds']:.4f}")
    print(f"bootstrap_{tag_small}_loop_extrapolated_seconds={small['loop_extrapolated']:.2f}")
    print(f"bootstrap_{tag_small}_speedup_vs_loop={small['loop_extrapolated'] / small['seconds']:.1f}")
    print(f"bootstrap_{tag_big}_seconds={big['seconds']:.3f}")
    print(f"bootstrap_{tag_big}_loop_extrapolated_seconds={big['loop_extrapolated']:.1f}")
    print(f"bootstrap_{tag_big}_speedup_vs_loop={big['loop_extrapolated'] / big['seconds']:.1f}")


if __name__ == "__main__":
    main()
