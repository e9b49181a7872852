"""The paper's figures, from stored runs: CED curves (Fig. 6), the worst images of a subset
(Fig. 4), DAN's internals (Fig. 3) and Menpo results with their initial boxes (Fig. 5).

Every figure is written as PNG and PDF (atomically) at a fixed pixel size, so reports and
tests can rely on it: a grid of ``c`` columns and ``r`` rows is ``c * PANEL_PX`` by
``r * PANEL_PX`` pixels. Errors come from :mod:`faceeval.metrics`.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..metrics import evaluate
from .ced import Curve, curve_from_errors, plot_ced

#: Pixels per panel side of the image grids, and the resolution they are drawn at.
PANEL_PX = 300
DPI = 100
#: Pixel size of a CED plot (plot_ced draws 6.4 x 4.8 inches at 120 dpi).
CED_PX = (768, 576)
#: The keys DAN's ``internals`` hook returns, drawn left to right (Fig. 3).
INTERNALS_KEYS = ("input", "warped", "heatmap", "feature")
INTERNALS_TITLES = {"input": "input image", "warped": "image normalised by T2",
                    "heatmap": "landmark heatmap", "feature": "feature image"}


class FigureSkipped(RuntimeError):
    """A figure that cannot be drawn here (no images, no hook); the message says why."""


@dataclass
class Panel:
    """One face of an image grid: pixels, shapes to draw (optional) and a caption."""

    image: np.ndarray
    prediction: np.ndarray | None = None
    ground_truth: np.ndarray | None = None
    box: np.ndarray | None = None
    text: str = ""
    crop: bool = True


@dataclass
class FigureResult:
    """Files written for one figure and its pixel size (width, height)."""

    kind: str
    title: str
    paths: list[Path]
    size: tuple[int, int]
    notes: list[str] = field(default_factory=list)

    @property
    def png(self) -> Path:
        return next(p for p in self.paths if p.suffix == ".png")


def grid_size(n_panels: int, ncols: int | None = None) -> tuple[int, int]:
    """(columns, rows) of a grid of ``n_panels``.

    By default up to 4 panels sit in one row; more fill rows of 4 or 3, whichever leaves
    fewer empty places (4 on a tie), so the paper's 9 worst faces make a 3 x 3 grid.

    >>> [grid_size(n) for n in (3, 5, 8, 9, 12)]
    [(3, 1), (3, 2), (4, 2), (3, 3), (4, 3)]
    """
    if n_panels < 1:
        raise ValueError("a grid needs at least one panel")
    if ncols is None:
        ncols = 4 if n_panels <= 4 else min((4, 3), key=lambda c: -n_panels % c)
    cols = min(n_panels, ncols)
    return cols, math.ceil(n_panels / cols)


def grid_pixels(n_panels: int, ncols: int | None = None) -> tuple[int, int]:
    """Pixel size (width, height) of the image written for a grid of ``n_panels``."""
    cols, rows = grid_size(n_panels, ncols)
    return cols * PANEL_PX, rows * PANEL_PX


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _stem(path: str | os.PathLike) -> Path:
    """``path`` without a ``.png`` / ``.pdf`` suffix; other dots stay (``test@two-step,fraction=0.46``)."""
    path = Path(path)
    return path.with_suffix("") if path.suffix.lower() in (".png", ".pdf") else path


def _save(fig, path: Path) -> list[Path]:
    from ..io import atomic_write

    stem = _stem(path)
    targets = [stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".pdf")]
    for target in targets:
        with atomic_write(target, "wb") as fh:
            fig.savefig(fh, format=target.suffix[1:], dpi=DPI)
    return targets


def _crop_window(panel: Panel) -> tuple[float, float, float, float]:
    h, w = panel.image.shape[:2]
    pts = [s for s in (panel.prediction, panel.ground_truth) if s is not None]
    if panel.box is not None:
        b = np.asarray(panel.box, dtype=np.float64)
        pts.append(np.array([[b[0], b[1]], [b[2], b[3]]]))
    if not panel.crop or not pts:
        return 0, w, h, 0
    allp = np.concatenate(pts)
    lo, hi = allp.min(axis=0), allp.max(axis=0)
    centre, half = (lo + hi) / 2, max(hi - lo) * 0.65 + 2
    x0, x1 = max(centre[0] - half, 0), min(centre[0] + half, w)
    y0, y1 = max(centre[1] - half, 0), min(centre[1] + half, h)
    return x0, x1, y1, y0


def face_grid(panels: Sequence[Panel], path: str | os.PathLike, title: str = "", ncols: int | None = None) -> list[Path]:
    """Draw faces in a grid (ground truth green, prediction red, box yellow) to PNG + PDF."""
    plt = _pyplot()
    cols, rows = grid_size(len(panels), ncols)
    fig = plt.figure(figsize=(cols * PANEL_PX / DPI, rows * PANEL_PX / DPI), dpi=DPI)
    top = 1 - 0.28 / (rows * PANEL_PX / DPI) if title else 1
    for i, p in enumerate(panels):
        r, c = divmod(i, cols)
        ax = fig.add_axes([c / cols + 0.005, (rows - 1 - r) / rows * top + 0.005, 1 / cols - 0.01,
                           top / rows - 0.06 / rows])
        img = p.image
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="bilinear")
        if p.box is not None:
            x0, y0, x1, y1 = np.asarray(p.box, dtype=np.float64)
            ax.plot([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0], color="yellow", linewidth=1.2)
        if p.ground_truth is not None:
            ax.scatter(p.ground_truth[:, 0], p.ground_truth[:, 1], s=4, c="lime", linewidths=0, label="ground truth")
        if p.prediction is not None:
            ax.scatter(p.prediction[:, 0], p.prediction[:, 1], s=4, c="red", linewidths=0, label="prediction")
        x0, x1, y1, y0 = _crop_window(p)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y1, y0)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(p.text, fontsize=7, pad=2)
    if title:
        fig.suptitle(title, fontsize=9, y=0.995, va="top")
    paths = _save(fig, Path(path))
    plt.close(fig)
    return paths


def photo_overlay(image: np.ndarray, shapes: np.ndarray, boxes: np.ndarray, path: str | os.PathLike,
                  labels: Sequence[str] = (), max_side: int = 1600) -> Path:
    """A whole photo with its faces drawn, written as one PNG (``faceeval predict --overlay``):
    each face's box in yellow, its 68 points in red, its label (``1``, ``2``, ...) above the box.
    The photo keeps its aspect; its longer side is drawn at ``min(its pixels, max_side)``."""
    from ..io import atomic_write

    plt = _pyplot()
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    fig = plt.figure(figsize=(w * scale / DPI, h * scale / DPI), dpi=DPI)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="bilinear")
    for k, (shape, box) in enumerate(zip(np.asarray(shapes).reshape(-1, 68, 2), np.asarray(boxes).reshape(-1, 4))):
        x0, y0, x1, y1 = box
        side = max(x1 - x0, y1 - y0) * scale                  # drawn pixels: dots and text follow the face
        ax.plot([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0], color="yellow", linewidth=max(1.0, side / 150))
        ax.scatter(shape[:, 0], shape[:, 1], s=max(2.0, side / 40) ** 2 / 4, c="red", linewidths=0)
        if k < len(labels):
            ax.text(x0, y0, labels[k], color="yellow", fontsize=max(7.0, side / 20), va="bottom")
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.axis("off")
    path = Path(path)
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=DPI)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------
# Fig. 6: CED curves


def ced_figure(entries: Sequence[tuple[str, np.ndarray]], path: str | os.PathLike, alpha: float,
               norm: str = "inter-ocular", references: Sequence[Curve] = (), title: str | None = None,
               x_max: float | None = None) -> FigureResult:
    """CED curves of (label, per-image errors) entries, beside published reference curves."""
    curves = [curve_from_errors(label, errors, alpha, x_max) for label, errors in entries]
    curves += list(references)
    if not curves:
        raise FigureSkipped("no curves to draw")
    paths = plot_ced(curves, _stem(path), alpha, norm, title)
    return FigureResult("ced", title or f"CED ({norm})", paths, CED_PX)


# ---------------------------------------------------------------------------------------------
# Fig. 4: the k worst images


def worst_images(errors: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest errors, worst first."""
    order = np.argsort(-np.asarray(errors), kind="stable")
    return order[:k]


def worst_figure(run, samples: dict, path: str | os.PathLike, k: int = 9, norm: str = "inter-ocular",
                 label: str | None = None, ncols: int | None = None) -> FigureResult:
    """Grid of the ``k`` worst images of a run, prediction and ground truth drawn, error printed.

    ``samples`` maps a sample id to its :class:`~faceeval.datasets.Sample` (for the pixels).
    """
    if run.ground_truth is None:
        raise FigureSkipped(f"{run.path}: no ground truth stored, no errors to rank")
    _, errors = evaluate(run.predictions, run.ground_truth, norm, ids=run.ids)
    idx = worst_images(errors, k)
    missing = [run.ids[i] for i in idx if run.ids[i] not in samples]
    if missing:
        raise FigureSkipped(f"images of {len(missing)} faces not found (first {missing[0]!r}); pass --data-root")
    panels = [Panel(samples[run.ids[i]].load_image(), run.predictions[i], run.ground_truth[i],
                    text=f"{run.ids[i]}\nerror {errors[i] * 100:.2f}% ({norm})") for i in idx]
    label = label or run.meta.get("method", "?")
    partial = getattr(run, "partial_label", "")
    title = (f"{label}: {len(idx)} worst of {run.meta.get('dataset')}/{run.meta.get('subset')}"
             f"{f' ({partial})' if partial else ''} ({norm}); green ground truth, red prediction")
    paths = face_grid(panels, path, title, ncols)
    return FigureResult("worst", title, paths, grid_pixels(len(panels), ncols))


# ---------------------------------------------------------------------------------------------
# Fig. 5: Menpo results with the initial boxes


def initial_boxes(run, images: Sequence[np.ndarray]) -> np.ndarray | None:
    """The boxes a run started from: stored ones, or the centred step-1 boxes of ``two-step``."""
    if run.boxes is not None and len(run.boxes) == len(run.ids):
        return run.boxes
    if run.meta.get("init") == "two-step":
        from ..twostep import DEFAULT_FRACTION, centred_boxes

        fraction = (run.meta.get("init_options") or {}).get("fraction") or DEFAULT_FRACTION
        return centred_boxes(images, float(fraction))
    return None


def results_figure(run, samples: dict, path: str | os.PathLike, k: int = 8, norm: str = "bbox-diagonal",
                   label: str | None = None, ncols: int | None = None, truth: bool = False,
                   crop: bool = False) -> FigureResult:
    """Example results (spread over the error range) with their initial boxes drawn (Fig. 5 style);
    ``truth``: the ground truth too, where the run has it; ``crop``: each panel zoomed on its face
    (both for ``faceeval run --overlay``)."""
    n = len(run.ids)
    if run.ground_truth is not None:
        _, errors = evaluate(run.predictions, run.ground_truth, norm, ids=run.ids)
        order = np.argsort(errors, kind="stable")
        idx = order[np.unique(np.linspace(0, n - 1, min(k, n)).round().astype(int))]
    else:
        errors, idx = None, np.arange(min(k, n))
    missing = [run.ids[i] for i in idx if run.ids[i] not in samples]
    if missing:
        raise FigureSkipped(f"images of {len(missing)} faces not found (first {missing[0]!r}); pass --data-root")
    images = [samples[run.ids[i]].load_image() for i in idx]
    boxes = initial_boxes(run, images) if run.boxes is None or len(run.boxes) != n else run.boxes[idx]
    notes = [] if boxes is not None else ["no initial boxes stored with this run"]
    gt = run.ground_truth if truth else None
    panels = [Panel(img, run.predictions[i], None if gt is None else gt[i], None if boxes is None else boxes[j],
                    crop=crop,
                    text=run.ids[i] + ("" if errors is None else f"\nerror {errors[i] * 100:.2f}% ({norm})"))
              for j, (i, img) in enumerate(zip(idx, images))]
    label = label or run.meta.get("method", "?")
    title = (f"{label} on {run.meta.get('dataset')}/{run.meta.get('subset')} (init {run.meta.get('init')}); "
             f"red prediction, {'green ground truth, ' if gt is not None else ''}yellow initial box")
    paths = face_grid(panels, path, title, ncols)
    return FigureResult("results", title, paths, grid_pixels(len(panels), ncols), notes)


# ---------------------------------------------------------------------------------------------
# Fig. 3: DAN internals


def internals_figure(model, images: Sequence[np.ndarray], boxes: np.ndarray, path: str | os.PathLike,
                     ids: Sequence[str] | None = None) -> FigureResult:
    """One row per image: input, image normalised by T2, heatmap and feature image (Fig. 3 style).

    ``model`` must provide ``internals(images, boxes) -> dict`` with arrays ``(N, H, W)`` under
    :data:`INTERNALS_KEYS` (the inputs of DAN's second stage).
    """
    hook = getattr(model, "internals", None)
    if not callable(hook):
        raise FigureSkipped(f"method {getattr(model, 'name', model)!r} has no internals(images, boxes) hook; "
                            f"it should return a dict with {', '.join(INTERNALS_KEYS)} arrays (N, H, W)")
    out = hook(list(images), np.asarray(boxes, dtype=np.float64))
    absent = [k for k in INTERNALS_KEYS if k not in out]
    if absent:
        raise FigureSkipped(f"internals() returned no {', '.join(absent)} (got {', '.join(out)})")
    arrays = {k: np.asarray(out[k], dtype=np.float64) for k in INTERNALS_KEYS}
    n = len(images)
    for k, a in arrays.items():
        if a.ndim == 4 and a.shape[1] == 1:
            arrays[k] = a = a[:, 0]
        if a.ndim != 3 or a.shape[0] != n:
            raise FigureSkipped(f"internals()[{k!r}] has shape {a.shape}, expected ({n}, H, W)")
    plt = _pyplot()
    cols = len(INTERNALS_KEYS)
    fig = plt.figure(figsize=(cols * PANEL_PX / DPI, n * PANEL_PX / DPI), dpi=DPI)
    for r in range(n):
        for c, key in enumerate(INTERNALS_KEYS):
            ax = fig.add_axes([c / cols + 0.005, (n - 1 - r) / n + 0.005, 1 / cols - 0.01, 1 / n - 0.06 / n])
            ax.imshow(arrays[key][r], cmap="gray" if key in ("input", "warped") else "viridis")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(INTERNALS_TITLES[key] + (f" ({ids[r]})" if ids is not None and c == 0 else ""), fontsize=7, pad=2)
    paths = _save(fig, Path(path))
    plt.close(fig)
    return FigureResult("internals", "DAN internals (stage 2 inputs)", paths, (cols * PANEL_PX, n * PANEL_PX))


# ---------------------------------------------------------------------------------------------
# Learning curve of a trained method


#: Pixel size of the learning-curve plot.
CURVE_PX = (768, 480)


def learning_curve_figure(rows: Sequence[dict], path: str | os.PathLike, title: str = "DAN learning curve",
                          metric: str = "val_inter_ocular") -> FigureResult:
    """Validation error against samples seen, one line per training phase (stage1, stage2, ...).

    ``rows`` are a trainer's curve records with ``phase``, ``samples_seen`` and ``metric``
    (a fraction; drawn in percent). The best point of each phase is marked.
    """
    phases: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        try:
            phases.setdefault(str(r["phase"]), []).append((float(r["samples_seen"]), float(r[metric])))
        except (KeyError, TypeError, ValueError) as exc:
            raise FigureSkipped(f"learning-curve record without a usable {exc}: {r}") from None
    if not phases:
        raise FigureSkipped("no learning-curve records (the trainer writes curve.csv beside its weights)")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(CURVE_PX[0] / DPI, CURVE_PX[1] / DPI), dpi=DPI)
    for phase, pts in phases.items():
        x, y = np.array(pts).T
        line, = ax.plot(x / 1e6, y * 100, marker=".", markersize=3, linewidth=1.2, label=phase)
        best = int(np.argmin(y))
        ax.scatter([x[best] / 1e6], [y[best] * 100], s=30, color=line.get_color(), zorder=3)
        ax.annotate(f"{y[best] * 100:.2f}", (x[best] / 1e6, y[best] * 100), textcoords="offset points",
                    xytext=(4, 4), fontsize=7)
    ax.set_xlabel("training samples seen (millions)")
    ax.set_ylabel(f"validation error, {metric.replace('val_', '').replace('_', '-')} (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths = _save(fig, Path(path))
    plt.close(fig)
    return FigureResult("learning_curve", title, paths, CURVE_PX)


__all__ = ["Panel", "FigureResult", "FigureSkipped", "face_grid", "ced_figure", "worst_figure", "results_figure",
           "internals_figure", "learning_curve_figure", "worst_images", "grid_pixels", "grid_size", "initial_boxes",
           "PANEL_PX", "DPI", "CED_PX", "CURVE_PX", "INTERNALS_KEYS"]
