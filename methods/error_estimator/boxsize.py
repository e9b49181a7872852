"""Choosing the Menpo box fraction with the error estimator (no ground truth needed).

For every candidate fraction f the two-step procedure (:func:`faceeval.twostep.two_step_predict`)
runs on a subset of images; the estimator scores each final shape, and the fraction
with the lowest mean estimated error wins. Where ground truth exists the true mean
error per fraction is computed too, so the choice can be checked (the paper chose 46%).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from faceeval.plugin import atomic_write
from faceeval.plugin import point_to_point_error
from faceeval.plugin import two_step_predict

#: fn(images, shapes (N, 68, 2)) -> estimated errors (N,)
EstimateFn = Callable[[Sequence[np.ndarray], np.ndarray], np.ndarray]


def parse_fractions(text: str) -> np.ndarray:
    """``"0.30:0.60:0.02"`` (start:stop:step, stop included) or ``"0.4,0.46,0.5"``.

    >>> parse_fractions("0.30:0.40:0.05").tolist()
    [0.3, 0.35, 0.4]
    """
    try:
        if ":" in text:
            start, stop, step = (float(v) for v in text.split(":"))
            if step <= 0 or stop < start:
                raise ValueError
            n = int(np.floor((stop - start) / step + 1e-9)) + 1
            values = np.round(start + step * np.arange(n), 10)
        else:
            values = np.array([float(v) for v in text.split(",") if v.strip()])
    except ValueError:
        raise ValueError(f"fractions {text!r}: expected start:stop:step (e.g. 0.30:0.60:0.02) "
                         f"or a comma list (e.g. 0.4,0.46)") from None
    if values.size == 0 or not ((values > 0) & (values <= 2)).all():
        raise ValueError(f"fractions {text!r}: need values in (0, 2]")
    return values


@dataclass
class SweepResult:
    fractions: np.ndarray            # (F,)
    estimated: np.ndarray            # (F, N) estimated error per fraction and image
    true: np.ndarray | None          # (F, N) true inter-ocular error, where ground truth exists
    ids: list[str]

    @property
    def mean_estimated(self) -> np.ndarray:
        return self.estimated.mean(axis=1)

    @property
    def mean_true(self) -> np.ndarray | None:
        return None if self.true is None else self.true.mean(axis=1)

    @property
    def best(self) -> float:
        """The fraction with the lowest mean estimated error."""
        return float(self.fractions[int(np.argmin(self.mean_estimated))])

    @property
    def best_true(self) -> float | None:
        return None if self.true is None else float(self.fractions[int(np.argmin(self.mean_true))])

    def table(self) -> str:
        head = f"{'fraction':>8s} {'estimated %':>12s}" + (f" {'true %':>8s}" if self.true is not None else "")
        rows = [head, "-" * len(head)]
        for i, f in enumerate(self.fractions):
            mark = "  <- best" if f == self.best else ""
            true = f" {self.mean_true[i] * 100:8.2f}" if self.true is not None else ""
            rows.append(f"{f:8.3f} {self.mean_estimated[i] * 100:12.2f}{true}{mark}")
        rows.append(f"best fraction by estimate: {self.best:.3f}"
                    + (f"; by true error: {self.best_true:.3f}" if self.true is not None else ""))
        return "\n".join(rows)

    def write_csv(self, path) -> None:
        with atomic_write(path) as fh:
            fh.write("fraction,mean_estimated_error,mean_true_error,best\n")
            for i, f in enumerate(self.fractions):
                true = f"{self.mean_true[i]:.6f}" if self.true is not None else ""
                fh.write(f"{f:.4f},{self.mean_estimated[i]:.6f},{true},{int(f == self.best)}\n")


def sweep_box_fractions(method, images: Sequence[np.ndarray], fractions: Sequence[float], estimate: EstimateFn,
                        ground_truth: np.ndarray | None = None, ids: Sequence[str] | None = None,
                        progress: bool = True) -> SweepResult:
    """Two-step predictions for each fraction, scored by ``estimate`` (and by ground truth if given).

    Examples
    --------
    >>> from faceeval.methods import load_method
    >>> imgs = [np.zeros((100, 100), np.uint8)] * 2
    >>> size = lambda images, shapes: np.abs((shapes[:, :, 1].max(1) - shapes[:, :, 1].min(1)) / 100 - 0.4)
    >>> sweep_box_fractions(load_method("meanshape"), imgs, [0.3, 0.4, 0.5], size, progress=False).best
    0.4
    """
    images = list(images)
    fractions = np.asarray(fractions, dtype=np.float64)
    ids = list(ids) if ids is not None else [f"#{i}" for i in range(len(images))]
    if not images:
        raise ValueError("no images to sweep over")
    estimated = np.empty((len(fractions), len(images)))
    true = None if ground_truth is None else np.empty((len(fractions), len(images)))
    steps = range(len(fractions))
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc="box fractions", unit="fraction", leave=False)
    for i in steps:
        shapes = two_step_predict(method, images, float(fractions[i]))
        estimated[i] = np.asarray(estimate(images, shapes), dtype=np.float64)
        if true is not None:
            true[i] = point_to_point_error(shapes, ground_truth, "inter-ocular", ids=ids)
    return SweepResult(fractions, estimated, true, ids)


__all__ = ["parse_fractions", "SweepResult", "sweep_box_fractions"]
