"""Why two tools print different numbers for the same predictions: conventions, checked and explained.

Most "why does my NME not match the paper" questions come down to a handful of choices
made silently: which normaliser, > or >= alpha for a failure, how the CED is integrated,
how "full" is averaged, and whether ``.pts`` coordinates are 0- or 1-based (x, y) or (y, x).

* :func:`check_conventions` looks for the two mistakes that leave fingerprints in the data:
  predictions shifted by about one pixel on both axes against the ground truth (a 0/1-based
  mix-up), and x and y swapped. Each warning carries its evidence: the error as given and
  with the fix.
* :func:`explain` scores the same predictions under every commonly mixed-up convention and
  gives each value beside the protocol's (``faceeval eval --explain``).

Every number comes from :mod:`faceeval.metrics`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from .metrics import ALPHA, NORMALISATIONS, auc, auc_histogram, failure_rate, point_to_point_error

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

    kind: str                 # "shift", "swap" or "frame"
    message: str
    error_as_given: float
    error_fixed: float
    fix: str

    def as_dict(self) -> dict:
        return asdict(self)


def _mean_error(pred: np.ndarray, gt: np.ndarray, norm: str, ids) -> float:
    return float(point_to_point_error(pred, gt, norm, ids).mean())


def check_conventions(predictions: np.ndarray, ground_truth: np.ndarray, ids: Sequence[str] | None = None,
                      norm: str = "inter-ocular", one_based: bool | None = None,
                      yx: bool = False, as_original: np.ndarray | None = None) -> list[ConventionWarning]:
    """Warnings for a one-pixel shift or an x/y swap of ``predictions`` against ``ground_truth``, and
    (given ``as_original``, the predictions mapped as if they were in the original photos' pixels of
    a re-cut pack) for predictions in the wrong frame.

    ``one_based`` / ``yx``: how the predictions were read (to name the option that fixes it).
    The offset is estimated robustly (medians, so failed faces do not drag it): a shift is
    reported when it is close to (+1, +1) or (-1, -1) (:data:`SHIFT_TOLERANCE_PX`,
    :data:`SHIFT_AXIS_TOLERANCE_PX`), systematic (:data:`SHIFT_MAX_STANDARD_ERROR_PX`) and
    removing it lowers the mean error; a swap when swapping x and y more than halves it.
    """
    pred = np.asarray(predictions, dtype=np.float64)
    gt = np.asarray(ground_truth, dtype=np.float64)
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
    return warnings


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


def explain(predictions: np.ndarray, ground_truth: np.ndarray, ids: Sequence[str] | None = None,
            norm: str = "inter-ocular", alpha: float = ALPHA, inclusive_failure: bool = False) -> list[ConventionLine]:
    """The same predictions under every convention people mix up, each beside the protocol's value.

    The protocol: ``norm``, AUC_alpha by Simpson's rule on the 1e-4 grid, failure as error >
    alpha (>= with ``inclusive_failure``), "full" over the concatenated images, coordinates as read.
    """
    from .analysis import source_of

    pred = np.asarray(predictions, dtype=np.float64)
    gt = np.asarray(ground_truth, dtype=np.float64)
    errors = {n: point_to_point_error(pred, gt, n, ids) for n in NORMALISATIONS}
    e = errors[norm]
    mean = float(e.mean())
    fail = failure_rate(e, alpha, inclusive_failure)
    area = auc(e, alpha)
    lines = [ConventionLine(f"protocol: {norm}", "mean error", mean, mean)]
    lines += [ConventionLine(f"{other} normaliser", "mean error", float(errors[other].mean()), mean)
              for other in NORMALISATIONS if other != norm]
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
    subsets = [W300_TEST_SUBSET_OF_FOLDER.get(source_of(i)) for i in ids] if ids is not None else []
    present = sorted({s for s in subsets if s})
    if present == ["challenging", "common"] and all(subsets):
        sub = np.array(subsets)
        mean_of_means = float(np.mean([e[sub == s].mean() for s in ("common", "challenging")]))
        lines.append(ConventionLine("full = mean of the common and challenging means", "mean error", mean_of_means,
                                    mean, f"protocol: the {len(e)} images concatenated"))
    else:
        lines.append(ConventionLine("full = mean of the common and challenging means", "mean error", None, mean,
                                    "not applicable: needs 300W common and challenging faces, and only those"))
    for shift, why in ((+1.0, "the score if the values were 0-based but read as 1-based, e.g. 0-based .pts"),
                       (-1.0, "the score if the values were 1-based but read as 0-based")):
        lines.append(ConventionLine(f"coordinates {shift:+.0f} px on x and y", "mean error",
                                    float(point_to_point_error(pred + shift, gt, norm, ids).mean()), mean, why))
    return lines


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
            diff = "" if line.convention.startswith("protocol") else f"{line.difference * 100:+12.4f}"
        out.append(f"{line.convention:{width}s}  {line.statistic:12s} {value:>9s} {diff:>12s}"
                   + (f"  ({line.note})" if line.note else ""))
    return "\n".join(out)


__all__ = ["ConventionWarning", "ConventionLine", "check_conventions", "explain", "explain_text",
           "SHIFT_TOLERANCE_PX", "SWAP_RATIO"]
