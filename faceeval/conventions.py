"""Why two tools print different numbers for the same predictions: conventions, checked and explained.

Most "why does my NME not match the paper" questions come down to a handful of choices
made silently: which normaliser, > or >= alpha for a failure, how the CED is integrated,
how "full" is averaged, and whether ``.pts`` coordinates are 0- or 1-based (x, y) or (y, x).
The reference code of the field differs in exactly these (the survey in the project's
``benchmarks.md`` cites each with file and line): COFW is divided by the pupils in STAR, ADNet,
SLPT and AWing but by the outer eye corners in HRNet, mmpose and PIPNet; 300W ground truth is
1-based in HRNet and mmpose, 0-based in SPIGA; PIPNet's and STAR's CED grid
``np.arange(0, thr + 1e-4, 1e-4)`` ends past alpha; HRNet's predictions are whole pixels;
mmpose pools the errors of all visible points; SAN and the COFW-68 benchmark average over
visible points only; ADNet's ``evaluate.py`` divides the sum of errors by N - 1.

* :func:`check_conventions` looks for the mistakes that leave fingerprints in the data:
  predictions shifted by about one pixel on both axes against the ground truth (a 0/1-based
  mix-up), x and y swapped, and predictions that are all whole numbers (quantised). Each
  warning carries its evidence: the error as given and with the fix.
* :func:`explain` scores the same predictions under each of those conventions and gives each
  value beside the protocol's (``faceeval eval --explain``).

Every number comes from :mod:`faceeval.metrics`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from .errors import MetricInputError
from .metrics import (ALPHA, _area_over_alpha, auc, auc_histogram, ced as ced_curve, failure_rate, point_errors,
                      point_to_point_error, resolve_scheme)

#: A one-pixel shift: the typical offset (median over faces of each face's median point offset)
#: averaged over x and y is within this of ±1 px...
SHIFT_TOLERANCE_PX = 0.3
#: ...each axis within this (a method's own sub-pixel bias adds to the shift)...
SHIFT_AXIS_TOLERANCE_PX = 0.6
#: ...and its standard error is below this on both axes (the offset is systematic, not noise).
SHIFT_MAX_STANDARD_ERROR_PX = 0.15
#: x/y look swapped when swapping them cuts the mean error to below this fraction.
SWAP_RATIO = 0.5


@dataclass(frozen=True)
class ConventionWarning:
    """A likely convention mix-up, with the numbers that show it."""

    kind: str                 # "shift", "swap", "frame" or "whole-pixels"
    message: str
    error_as_given: float
    error_fixed: float
    fix: str

    def as_dict(self) -> dict:
        return asdict(self)


def check_conventions(predictions: np.ndarray, ground_truth: np.ndarray, ids: Sequence[str] | None = None,
                      norm: str = "inter-ocular", one_based: bool | None = None,
                      yx: bool = False, as_original: np.ndarray | None = None, *, scheme=None,
                      box_size: np.ndarray | None = None) -> list[ConventionWarning]:
    """Warnings for a one-pixel shift, an x/y swap or whole-number ``predictions`` against ``ground_truth``,
    and (given ``as_original``, the predictions mapped as if they were in the original photos' pixels of
    a re-cut pack) for predictions in the wrong frame. ``scheme`` and ``box_size``: as the metrics take them.

    ``one_based`` / ``yx``: how the predictions were read (to name the option that fixes it).
    The offset is estimated robustly (medians, so failed faces do not drag it): a shift is
    reported when it is close to (+1, +1) or (-1, -1) (:data:`SHIFT_TOLERANCE_PX`,
    :data:`SHIFT_AXIS_TOLERANCE_PX`), systematic (:data:`SHIFT_MAX_STANDARD_ERROR_PX`) and
    removing it lowers the mean error; a swap when swapping x and y more than halves it; whole
    pixels when every coordinate of every prediction is an integer (HRNet's are: truncated).
    """
    pred = np.asarray(predictions, dtype=np.float64)
    gt = np.asarray(ground_truth, dtype=np.float64)

    def _mean_error(p, g, n, i):                 # the scheme and box sizes of this call
        return float(point_to_point_error(p, g, n, i, scheme=scheme, box_size=box_size).mean())

    given = _mean_error(pred, gt, norm, ids)
    warnings = []
    per_image = np.median(pred - gt, axis=1)                   # (N, 2) typical offset of each face
    offset = np.median(per_image, axis=0)
    # standard error of a median: 1.2533 sigma / sqrt(N), sigma from the median absolute deviation
    spread = 1.4826 * np.median(np.abs(per_image - offset), axis=0)
    stderr = 1.2533 * spread / np.sqrt(len(pred)) if len(pred) > 1 else np.full(2, np.inf)
    for sign in (1.0, -1.0):
        close = abs(offset.mean() - sign) < SHIFT_TOLERANCE_PX and np.all(np.abs(offset - sign) < SHIFT_AXIS_TOLERANCE_PX)
        if close and np.all(stderr < SHIFT_MAX_STANDARD_ERROR_PX):
            fixed = _mean_error(pred - sign, gt, norm, ids)
            if fixed < given:
                if sign > 0:
                    fix, why = ("--one-based" if not one_based else "no --one-based (the values are 0-based)",
                                "1-based coordinates read as 0-based")
                else:
                    fix, why = ("--zero-based" if one_based else "no --zero-based (the values are 1-based)",
                                "0-based coordinates read as 1-based (e.g. 0-based values written into .pts)")
                warnings.append(ConventionWarning(
                    "shift",
                    f"predictions sit ({offset[0]:+.2f}, {offset[1]:+.2f}) px from the ground truth (median over "
                    f"{len(pred)} faces, standard error {max(stderr):.2f} px), which looks like {why}: mean "
                    f"error {given * 100:.2f}% as given, {fixed * 100:.2f}% shifted by ({-sign:+.0f}, {-sign:+.0f}) "
                    f"px; if so, rerun with {fix}", given, fixed, fix))
    if as_original is not None:
        mapped = _mean_error(np.asarray(as_original, dtype=np.float64), gt, norm, ids)
        if mapped < SWAP_RATIO * given:
            warnings.append(ConventionWarning(
                "frame", f"the predictions look like they are in the original photos' pixels, not in the ground "
                         f"truth's crops: mean error {given * 100:.2f}% as given, {mapped * 100:.2f}% mapped from the "
                         f"original photos with the pack's transforms.json; if so, rerun with --frame original",
                given, mapped, "--frame original"))
    swapped = _mean_error(pred[..., ::-1], gt, norm, ids)
    if swapped < SWAP_RATIO * given:
        fix = "--yx" if not yx else "no --yx (the values are (x, y))"
        warnings.append(ConventionWarning(
            "swap", f"x and y look swapped: mean error {given * 100:.2f}% as given, {swapped * 100:.2f}% with x and "
                    f"y exchanged; if the file lists (y, x), rerun with {fix}", given, swapped, fix))
    if whole_pixels(pred):
        centred = _mean_error(pred + 0.5, gt, norm, ids)
        warnings.append(ConventionWarning(
            "whole-pixels", f"every predicted coordinate is a whole number ({pred.shape[0]} faces): the predictions "
                            f"were quantised (HRNet's are truncated to whole pixels), which is part of their error: "
                            f"mean error {given * 100:.2f}% as given, {centred * 100:.2f}% with 0.5 px added to each "
                            f"coordinate (the middle of the pixel a truncation lands in); use predictions before "
                            f"rounding if you have them", given, centred, "predictions before rounding"))
    return warnings


def whole_pixels(predictions: np.ndarray) -> bool:
    """True when every coordinate of every prediction is an integer (quantised predictions).

    >>> whole_pixels(np.array([[[1.0, 2.0]]])), whole_pixels(np.array([[[1.0, 2.5]]]))
    (True, False)
    """
    p = np.asarray(predictions, dtype=np.float64)
    return bool(p.size) and bool(np.all(p == np.round(p)))


# ---------------------------------------------------------------------------------------------
# --explain


@dataclass(frozen=True)
class ConventionLine:
    """One convention's value of one statistic beside the protocol's (fractions)."""

    convention: str
    statistic: str
    value: float | None
    protocol: float
    note: str = ""

    @property
    def difference(self) -> float | None:
        return None if self.value is None else self.value - self.protocol

    def as_dict(self) -> dict:
        return {"convention": self.convention, "statistic": self.statistic, "value": self.value,
                "protocol": self.protocol, "difference": self.difference, "note": self.note}


#: 300W test subsets by source folder, for "full as the mean of the subset means".
W300_TEST_SUBSET_OF_FOLDER = {"lfpw/testset": "common", "helen/testset": "common", "ibug": "challenging"}


def overshoot_grid(alpha: float, step: float = 1e-4) -> np.ndarray:
    """PIPNet's and STAR's CED grid, ``np.arange(0, alpha + step, step)``: it may end past alpha
    (0.0701 for 0.07) because of floating-point rounding (``benchmarks.md`` section 0.2).

    >>> float(overshoot_grid(0.07)[-1]) > 0.07
    True
    """
    return np.arange(0, alpha + step, step)


def explain(predictions: np.ndarray, ground_truth: np.ndarray, ids: Sequence[str] | None = None,
            norm: str = "inter-ocular", alpha: float = ALPHA, inclusive_failure: bool = False, *,
            scheme=None, box_size: np.ndarray | None = None, visible: np.ndarray | None = None,
            norms: Sequence[str] | None = None, protocol=None) -> list[ConventionLine]:
    """The same predictions under every convention the field's reference code differs in, each beside
    the protocol's value.

    The protocol: ``norm``, AUC_alpha by Simpson's rule on the 1e-4 grid, failure as error >
    alpha (>= with ``inclusive_failure``), mean over images of the per-image mean over all points,
    "full" over the concatenated images, coordinates as read. ``norms``: the other normalisers to
    score (default: every registered one the scheme and the data allow); ``box_size``: the
    dataset's own box sizes; ``visible``: per-point visibility ``(N, P)`` where the dataset has it;
    ``protocol`` (a :class:`~faceeval.protocol.Protocol`) replaces ``norm``, ``alpha`` and ``inclusive_failure``.
    """
    from .analysis import source_of

    if protocol is not None:
        norm, alpha, inclusive_failure = protocol.norm, protocol.alpha, protocol.inclusive_failure
    from .protocol import NORMALISERS

    pred = np.asarray(predictions, dtype=np.float64)
    gt = np.asarray(ground_truth, dtype=np.float64)
    found = resolve_scheme(gt, scheme)

    def errors_by(name: str, shapes: np.ndarray = pred) -> np.ndarray:
        return point_to_point_error(shapes, gt, name, ids, scheme=found, box_size=box_size)

    e = errors_by(norm)
    mean = float(e.mean())
    fail = failure_rate(e, alpha, inclusive_failure)
    area = auc(e, alpha)
    lines = [ConventionLine(f"protocol: {norm}", "mean error", mean, mean)]
    others = [n for n in (norms if norms is not None else NORMALISERS.names()) if n != norm]
    for other in others:
        try:
            value = float(errors_by(other).mean())
        except MetricInputError:           # the scheme has no such points, or no dataset box sizes
            continue
        lines.append(ConventionLine(f"{other} normaliser", "mean error", value, mean, _NORM_NOTES.get(other, "")))
    other_rule = ">" if inclusive_failure else ">="
    lines += [ConventionLine(f"protocol: failure = error {'>=' if inclusive_failure else '>'} {alpha:g}",
                             "failure rate", fail, fail),
              ConventionLine(f"failure = error {other_rule} {alpha:g}", "failure rate",
                             failure_rate(e, alpha, not inclusive_failure), fail,
                             "differs only where an error equals alpha exactly"),
              ConventionLine(f"protocol: AUC_{alpha:g}, Simpson on the 1e-4 grid", "AUC", area, area),
              ConventionLine(f"AUC_{alpha:g}, trapezoid rule on the 1e-4 grid", "AUC", auc(e, alpha, rule="trapezoid"),
                             area)]
    spiga_auc, spiga_failure = auc_histogram(e, alpha)
    lines += [ConventionLine(f"AUC_{alpha:g}, SPIGA's rule (10,000-bin histogram of the errors)", "AUC", spiga_auc,
                             area, "bins over the errors' own range, each paired with its left edge"),
              ConventionLine(f"failure, SPIGA's rule (1 - the histogram's share below {alpha:g})", "failure rate",
                             spiga_failure, fail, "the share up to the end of the last bin starting below alpha")]
    grid = overshoot_grid(alpha)
    ced = ced_curve(e, grid)
    lines += [ConventionLine(f"AUC_{alpha:g} on PIPNet/STAR's grid np.arange(0, {alpha:g}+1e-4, 1e-4)", "AUC",
                             _area_over_alpha(ced, grid, alpha), area,
                             f"the grid ends at {grid[-1]:.10g}, integrated past alpha but divided by alpha"),
              ConventionLine(f"failure at PIPNet/STAR's last grid point {grid[-1]:.6g}", "failure rate",
                             float(1.0 - ced[-1]), fail, "1 - CED at the grid's last point")]
    if found.name == "ibug68":
        lines.append(_full_mean_of_means(e, mean, ids, source_of))
    for shift, why in ((+1.0, "the score if the values were 0-based but read as 1-based, e.g. 0-based .pts"),
                       (-1.0, "the score if the values were 1-based but read as 0-based")):
        lines.append(ConventionLine(f"coordinates {shift:+.0f} px on x and y", "mean error",
                                    float(errors_by(norm, pred + shift).mean()), mean, why))
    lines += _whole_pixel_lines(pred, errors_by, norm, mean)
    pe = point_errors(pred, gt, norm, ids, scheme=found, box_size=box_size)
    if visible is None:
        lines += [ConventionLine("errors pooled over all visible points (mmpose)", "mean error", float(pe.mean()), mean,
                                 "no visibility flags: every point counts, so pooling equals the per-image mean"),
                  ConventionLine("mean over visible points only (SAN, COFW-68's second evaluation)", "mean error",
                                 None, mean, "not applicable: the ground truth has no visibility flags")]
    else:
        vis = np.asarray(visible, dtype=bool).reshape(pe.shape)
        counts = vis.sum(axis=1)
        per_image = np.divide((pe * vis).sum(axis=1), counts, out=np.full(len(pe), np.nan), where=counts > 0)
        lines += [ConventionLine("errors pooled over all visible points (mmpose)", "mean error",
                                 float((pe * vis).sum() / max(vis.sum(), 1)), mean,
                                 f"{int(vis.sum())} of {vis.size} points visible"),
                  ConventionLine("mean over visible points only (SAN, COFW-68's second evaluation)", "mean error",
                                 float(np.nanmean(per_image)) if np.isfinite(per_image).any() else None, mean,
                                 "per image over its visible points, then over images"
                                 + (f"; {int((counts == 0).sum())} faces with none left out" if (counts == 0).any()
                                    else ""))]
    n = len(e)
    lines.append(ConventionLine("sum of errors / (N - 1) (ADNet's evaluate.py)", "mean error",
                                float(e.sum() / (n - 1)) if n > 1 else None, mean,
                                "divides by the last 0-based index instead of N" if n > 1 else "not applicable: N = 1"))
    return lines


#: Where each normaliser is the published convention (``benchmarks.md``).
_NORM_NOTES = {
    "inter-pupil": "published by STAR, ADNet, SLPT, AWing on COFW; AWing on 300W",
    "inter-ocular": "published by HRNet, mmpose, PIPNet, STAR, ADNet on 300W and WFLW; HRNet, mmpose, PIPNet on COFW",
    "bbox-size": "published by SPIGA (lnd_bbox) and LUVLi",
    "bbox-diagonal": "the Menpo benchmark's",
    "dataset-box": "published by HRNet on AFLW (its box_size column)",
}


def _full_mean_of_means(e: np.ndarray, mean: float, ids, source_of) -> ConventionLine:
    subsets = [W300_TEST_SUBSET_OF_FOLDER.get(source_of(i)) for i in ids] if ids is not None else []
    present = sorted({s for s in subsets if s})
    if present == ["challenging", "common"] and all(subsets):
        sub = np.array(subsets)
        mean_of_means = float(np.mean([e[sub == s].mean() for s in ("common", "challenging")]))
        return ConventionLine("full = mean of the common and challenging means", "mean error", mean_of_means,
                              mean, f"protocol: the {len(e)} images concatenated")
    return ConventionLine("full = mean of the common and challenging means", "mean error", None, mean,
                          "not applicable: needs 300W common and challenging faces, and only those")


def _whole_pixel_lines(pred: np.ndarray, errors_by, norm: str, mean: float) -> list[ConventionLine]:
    """What whole-pixel predictions (HRNet's) do to the score: rounded and truncated predictions, and
    for predictions that already are whole numbers the score with the truncation's half pixel back."""
    if whole_pixels(pred):
        return [ConventionLine("whole-pixel predictions + 0.5 px on x and y", "mean error",
                               float(errors_by(norm, pred + 0.5).mean()), mean,
                               "every prediction is a whole number (HRNet truncates): the middle of the pixel")]
    return [ConventionLine("predictions rounded to whole pixels", "mean error",
                           float(errors_by(norm, np.round(pred)).mean()), mean, "quantised as an integer output"),
            ConventionLine("predictions truncated to whole pixels (HRNet's astype(int))", "mean error",
                           float(errors_by(norm, np.trunc(pred)).mean()), mean, "HRNet's final predictions")]


def explain_text(lines: Sequence[ConventionLine]) -> str:
    """``--explain`` as a table: value and difference from the protocol, in percent."""
    width = max(len(line.convention) for line in lines)
    head = f"{'convention':{width}s}  {'statistic':12s} {'value %':>9s} {'vs protocol':>12s}"
    out = [head, "-" * len(head)]
    for line in lines:
        if line.value is None:
            value, diff = "n/a", ""
        else:
            value = f"{line.value * 100:9.4f}"
            d = line.difference * 100
            diff = "" if line.convention.startswith("protocol") else f"{0.0 if abs(d) < 5e-5 else d:+12.4f}"
        out.append(f"{line.convention:{width}s}  {line.statistic:12s} {value:>9s} {diff:>12s}"
                   + (f"  ({line.note})" if line.note else ""))
    return "\n".join(out)


__all__ = ["ConventionWarning", "ConventionLine", "check_conventions", "explain", "explain_text", "whole_pixels",
           "overshoot_grid", "SHIFT_TOLERANCE_PX", "SWAP_RATIO"]
