"""Figures that show where and by how much methods differ: per-landmark errors drawn on the
mean face, and per-image errors of two methods against each other.

Both are written as PNG and PDF (atomically) at a fixed pixel size, like the other figures.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..protocol import Scheme, scheme as registered_scheme
from ..protocol.schemes import IBUG68
from .figures import DPI, FigureResult, _pyplot, _save

#: Pixel sizes (width, height) of the two figures.
LANDMARK_PX = (600, 600)
SCATTER_PX = (600, 600)


def landmark_error_figure(per_landmark: np.ndarray, path: str | os.PathLike, norm: str = "inter-ocular",
                          title: str = "", mean_shape: np.ndarray | None = None,
                          scheme: Scheme | str = IBUG68) -> FigureResult:
    """The mean face with each point of ``scheme`` coloured and sized by its mean error (percent),
    the scheme's groups drawn as outlines.

    ``mean_shape``: where to draw the points (default: the DAN release's mean shape, for 68 points;
    other schemes must give one, e.g. the mean of the ground truth).
    """
    from ..resources import dan_mean_shape

    scheme = registered_scheme(scheme)
    values = np.asarray(per_landmark, dtype=np.float64) * 100
    if values.shape != (scheme.n_points,):
        raise ValueError(f"per-landmark errors must have {scheme.n_points} values, got shape {values.shape}")
    if mean_shape is None and scheme.name != IBUG68.name:
        raise ValueError(f"a {scheme.name} figure needs the mean shape to draw on")
    shape = np.asarray(dan_mean_shape() if mean_shape is None else mean_shape, dtype=np.float64)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(LANDMARK_PX[0] / DPI, LANDMARK_PX[1] / DPI), dpi=DPI)
    for name, idx in scheme.groups.items():
        pts = shape[list(idx) + ([idx[0]] if name in scheme.closed_groups else [])]
        ax.plot(pts[:, 0], pts[:, 1], color="0.8", linewidth=1.0, zorder=1)
    span = max(values.max() - values.min(), 1e-12)
    sizes = 20 + 280 * (values - values.min()) / span
    dots = ax.scatter(shape[:, 0], shape[:, 1], c=values, s=sizes, cmap="viridis", edgecolors="k",
                      linewidths=0.4, zorder=2)
    worst = np.argsort(values)[::-1][:3]
    for i in worst:
        ax.annotate(f"{i}", shape[i], textcoords="offset points", xytext=(6, 6), fontsize=8)
    fig.colorbar(dots, ax=ax, fraction=0.046, pad=0.04, label=f"mean error (% of {norm} distance)")
    ax.set_aspect("equal")
    ax.invert_yaxis()                     # image coordinates: y grows downwards
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"Mean error per landmark ({norm})", fontsize=10)
    fig.tight_layout()
    paths = _save(fig, Path(path))
    plt.close(fig)
    return FigureResult("landmarks", title or "Mean error per landmark", paths, LANDMARK_PX,
                        [f"worst points (0-based): {', '.join(str(i) for i in worst)}"])


def paired_scatter(errors_a: np.ndarray, errors_b: np.ndarray, name_a: str, name_b: str, path: str | os.PathLike,
                   norm: str = "inter-ocular", subtitle: str = "") -> FigureResult:
    """Per-image errors of A (x) against B (y) on log axes, with the diagonal: points above it are
    images where A is better."""
    a = np.asarray(errors_a, dtype=np.float64) * 100
    b = np.asarray(errors_b, dtype=np.float64) * 100
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired_scatter needs two error vectors of one length, got {a.shape} and {b.shape}")
    floor = max(min(a[a > 0].min(initial=np.inf), b[b > 0].min(initial=np.inf)) / 2, 1e-3)
    a, b = np.maximum(a, floor), np.maximum(b, floor)
    lo, hi = min(a.min(), b.min()) / 1.2, max(a.max(), b.max()) * 1.2
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(SCATTER_PX[0] / DPI, SCATTER_PX[1] / DPI), dpi=DPI)
    ax.plot([lo, hi], [lo, hi], color="0.4", linewidth=1.0, linestyle="--", label="equal error", zorder=1)
    ax.scatter(a, b, s=12, alpha=0.6, color="tab:blue", edgecolors="none", zorder=2)
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):            # plain numbers at 1, 2, 5 x 10^k
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FormatStrFormatter("%g"))
        axis.set_minor_formatter(NullFormatter())
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel(f"{name_a}: error (% of {norm} distance)")
    ax.set_ylabel(f"{name_b}: error (% of {norm} distance)")
    above = int(np.count_nonzero(b > a))
    ax.text(0.03, 0.97, f"{name_a} better on {above} of {a.size} images (above the diagonal)",
            transform=ax.transAxes, va="top", fontsize=8)
    import textwrap

    ax.set_title("\n".join([f"{name_a} vs {name_b}", *textwrap.wrap(subtitle, 80)]), fontsize=9)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    paths = _save(fig, Path(path))
    plt.close(fig)
    return FigureResult("paired", f"{name_a} vs {name_b}", paths, SCATTER_PX)


__all__ = ["landmark_error_figure", "paired_scatter", "LANDMARK_PX", "SCATTER_PX"]
