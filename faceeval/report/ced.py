"""CED plots: several methods on one axis, legend with AUC and failure rate."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..metrics import auc, ced, ced_grid, failure_rate


@dataclass
class Curve:
    """A CED curve to draw: measured (from errors) or published (x, fraction)."""

    label: str
    x: np.ndarray
    y: np.ndarray
    auc: float
    failure: float
    published: bool = False


def curve_from_errors(label: str, errors: np.ndarray, alpha: float, x_max: float | None = None,
                      inclusive_failure: bool = False) -> Curve:
    grid = ced_grid(x_max or alpha)
    return Curve(label, grid, ced(errors, grid), auc(errors, alpha),
                 failure_rate(errors, alpha, inclusive_failure))


def plot_ced(curves: Sequence[Curve], path: str | os.PathLike, alpha: float, norm: str = "inter-ocular",
             title: str | None = None, warning: str | None = None) -> list[Path]:
    """Draw the curves and save them to ``path`` (a suffix matplotlib writes, e.g. ``.png`` or ``.pdf``,
    picks the format; without one, ``path.png`` and ``path.pdf`` are written, so a stem may hold
    dots, as ``full@two-step,fraction=0.46`` does). Returns the files written.

    The legend sits below the axes, so it never hides a curve or the α label, whatever the
    number of curves; ``warning`` (e.g. published curves on another set of images) is written
    in red inside the figure, so it travels with the image."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io import atomic_write

    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=120, layout="constrained")
    for c in curves:
        ax.plot(c.x * 100, c.y, linestyle="--" if c.published else "-", linewidth=1.6,
                label=f"{c.label}: AUC {c.auc * 100:.2f}, fail {c.failure * 100:.2f}%")
    ax.axvline(alpha * 100, color="0.5", linewidth=0.8, linestyle=":")
    ax.annotate(f"α = {alpha:g}", xy=(alpha * 100, 0.02), xytext=(-3, 0), textcoords="offset points",
                ha="right", fontsize=8, color="0.35")
    ax.set_xlim(0, max(float(c.x[-1]) for c in curves) * 100 if curves else alpha * 100)
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"point-to-point error normalised by {norm} distance (%)")
    ax.set_ylabel("fraction of images")
    fig.suptitle("\n".join(textwrap.wrap(title or f"CED ({norm}), AUC and failure at {alpha * 100:g}%", 80)),
                 fontsize=10)
    ax.grid(alpha=0.3)
    if warning:                      # between the title and the axes: it covers nothing
        ax.set_title("\n".join(textwrap.wrap(f"warning: {warning}", 100)), fontsize=7.5, color="#b00020")
    if curves:       # below the x label: constrained layout shrinks the axes to make room
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncols=2 if len(curves) > 3 else 1, fontsize=7.5,
                  frameon=False)
    path = Path(path)
    formats = fig.canvas.get_supported_filetypes()
    targets = ([path] if path.suffix[1:].lower() in formats
               else [path.with_name(path.name + ".png"), path.with_name(path.name + ".pdf")])
    for target in targets:
        fmt = target.suffix.lstrip(".").lower() or "png"
        with atomic_write(target, "wb") as fh:
            fig.savefig(fh, format=fmt)
    plt.close(fig)
    return targets
