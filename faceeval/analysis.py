"""Where a method fails: per-landmark and per-region errors, percentiles, and a per-folder breakdown.

One mean error hides which points, which faces and which source images go wrong.
:func:`analyse` splits the same normalised errors the metrics core computes
(:func:`faceeval.metrics.point_errors`) along the three axes a researcher asks about:

* per landmark (68 values) and per face region (:data:`faceeval.landmarks.REGIONS`); both are
  means of the same point errors, so the mean of the 68 per-landmark values is the mean error;
* percentiles P50 / P90 / P95 / P99 of the per-image errors;
* per source folder (``afw``, ``lfpw/testset``, ``helen/testset``, ``ibug``...: the part of
  the sample id before its last ``/``), each with its own summary (and intervals).

>>> from faceeval.resources import dan_mean_shape
>>> gt = np.stack([dan_mean_shape() * 100 + 200] * 4)
>>> pred = gt.copy(); pred[:, 36:48] += 3.0                    # only the eyes are off
>>> a = analyse(pred, gt, ["afw/1", "afw/2", "ibug/1", "ibug/2"])
>>> a.worst_region, sorted(a.per_source)
('eyes', ['afw', 'ibug'])
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .landmarks import REGIONS, region_indices
from .metrics import ALPHA, Summary, error_percentiles, point_errors, point_to_point_error, summarize
from .stats import Bootstrap, SummaryIntervals, format_with_interval, summary_intervals

#: Percentiles reported for the per-image errors.
PERCENTILES = (50, 90, 95, 99)
#: Source name of ids without a folder part.
TOP_LEVEL = "."


def source_of(sample_id: str) -> str:
    """The source folder of a sample id: ``lfpw/testset/image_0001`` -> ``lfpw/testset``.

    >>> source_of("ibug/image_003_1"), source_of("einstein")
    ('ibug', '.')
    """
    folder, sep, _ = str(sample_id).rpartition("/")
    return folder if sep else TOP_LEVEL


@dataclass
class SourceRow:
    """Summary of the faces from one source folder."""

    summary: Summary
    intervals: SummaryIntervals | None = None

    def as_dict(self) -> dict:
        d = self.summary.as_dict()
        out = {k: d[k] for k in ("n", "mean_error", "median_error", "auc", "failure_rate")}
        return {**out, **(self.intervals.as_dict() if self.intervals else {})}


@dataclass
class Analysis:
    """Everything :func:`analyse` finds; errors are fractions (0.05 = 5%)."""

    summary: Summary
    intervals: SummaryIntervals | None
    per_landmark: np.ndarray
    regions: dict[str, float]
    percentiles: dict[str, float]
    per_source: dict[str, SourceRow] = field(default_factory=dict)

    @property
    def worst_region(self) -> str:
        return max(self.regions, key=self.regions.get)

    def as_dict(self) -> dict:
        """JSON-ready: ``per_landmark`` (68 values), ``regions``, ``percentiles``, ``per_source``."""
        return {"per_landmark": [float(v) for v in self.per_landmark], "regions": dict(self.regions),
                "percentiles": dict(self.percentiles),
                "per_source": {k: row.as_dict() for k, row in self.per_source.items()}}

    def to_text(self) -> str:
        """Plain-text tables (percent) for the terminal."""
        s = self.summary
        lines = [f"{s.n} faces, errors normalised by {s.norm} distance (percent)", "",
                 "percentiles:  " + "  ".join(f"{k.upper()} {v * 100:.2f}" for k, v in self.percentiles.items()),
                 "", "region       mean %   (points)"]
        for name, value in self.regions.items():
            idx = region_indices(name)
            lines.append(f"{name:12s} {value * 100:6.2f}   ({idx[0]}-{idx[-1]})")
        worst = np.argsort(self.per_landmark)[::-1][:5]
        lines += ["", "worst landmarks (0-based index: mean %): "
                  + ", ".join(f"{i}: {self.per_landmark[i] * 100:.2f}" for i in worst), ""]
        head = f"{'source':16s} {'n':>5s} {'mean %':>18s} {'median %':>9s} {'AUC':>7s} {'failure %':>10s}"
        lines += [head, "-" * len(head)]
        for name, row in self.per_source.items():
            r, ci = row.summary, row.intervals
            lines.append(f"{name:16s} {r.n:5d} {format_with_interval(r.mean_error, ci.mean_error if ci else None):>18s} "
                         f"{r.median_error * 100:9.2f} {r.auc * 100:7.2f} {r.failure_rate * 100:10.2f}")
        lines.append(f"(AUC and failure at alpha = {s.alpha:g}" + ("; mean with its "
                     f"{self.intervals.bootstrap.level * 100:g}% interval)" if self.intervals else ")"))
        return "\n".join(lines)


def landmark_errors(point_error: np.ndarray) -> np.ndarray:
    """Mean normalised error of each landmark over the images ``(68,)``; their mean is the mean error."""
    return np.asarray(point_error, dtype=np.float64).mean(axis=0)


def region_errors(point_error: np.ndarray) -> dict[str, float]:
    """Mean normalised error of the points of each face region, over images and the region's points."""
    pe = np.asarray(point_error, dtype=np.float64)
    return {name: float(pe[:, region_indices(name)].mean()) for name in REGIONS}


def analyse(predictions: np.ndarray, ground_truth: np.ndarray, ids: Sequence[str] | None = None,
            norm: str = "inter-ocular", alpha: float = ALPHA, inclusive_failure: bool = False,
            bootstrap: Bootstrap | None = None, visible: np.ndarray | None = None) -> Analysis:
    """Per-landmark, per-region, percentile and per-source breakdown of one set of predictions.

    ``bootstrap``: also give intervals (overall and per source), else none. ``visible``: the
    per-image errors (summary, percentiles, sources) average over visible points only; the
    per-landmark and per-region errors stay over every point.
    """
    errors = point_to_point_error(predictions, ground_truth, norm, ids, visible)   # the numbers `eval` prints
    pe = point_errors(predictions, ground_truth, norm, ids)
    summary = summarize(errors, alpha, norm, inclusive_failure)
    intervals = summary_intervals(errors, alpha, inclusive_failure, bootstrap) if bootstrap else None
    per_source = {}
    if ids is not None:
        sources = np.array([source_of(i) for i in ids])
        for name in sorted(set(sources.tolist())):
            e = errors[sources == name]
            per_source[name] = SourceRow(summarize(e, alpha, norm, inclusive_failure),
                                         summary_intervals(e, alpha, inclusive_failure, bootstrap) if bootstrap else None)
    return Analysis(summary, intervals, landmark_errors(pe), region_errors(pe),
                    error_percentiles(errors, PERCENTILES), per_source)


__all__ = ["Analysis", "SourceRow", "analyse", "landmark_errors", "region_errors", "source_of", "PERCENTILES"]
