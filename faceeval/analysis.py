"""Where a method fails: per-landmark and per-region errors, percentiles, and a per-folder breakdown.

One mean error hides which points, which faces and which source images go wrong.
:func:`analyse` splits the same normalised errors the metrics core computes
(:func:`faceeval.metrics.point_errors`) along the three axes a researcher asks about:

* per landmark (P values) and per face region (the regions of the landmark scheme,
  :attr:`faceeval.protocol.Scheme.regions`: jaw, brows, nose, eyes, mouth on 68 points); both
  are means of the same point errors, so the mean of the per-landmark values is the mean error;
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

from .metrics import (ALPHA, Summary, error_percentiles, point_errors, point_to_point_error, resolve_scheme,
                      summarize)
from .protocol import Scheme
from .protocol.schemes import IBUG68
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
    #: The landmark scheme the regions and landmark indices refer to.
    scheme: Scheme = IBUG68

    @property
    def worst_region(self) -> str:
        return max(self.regions, key=self.regions.get)

    def as_dict(self) -> dict:
        """JSON-ready: ``per_landmark`` (P values), ``regions``, ``percentiles``, ``per_source``."""
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
            lines.append(f"{name:12s} {value * 100:6.2f}   ({_index_text(self.scheme.region_indices(name))})")
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


def _index_text(idx: np.ndarray) -> str:
    """``36-47`` for a run of indices, else the runs joined: ``8, 10, 12-17``."""
    runs, start = [], idx[0]
    for prev, cur in zip(idx[:-1], idx[1:]):
        if cur != prev + 1:
            runs.append((start, prev))
            start = cur
    runs.append((start, idx[-1]))
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


def landmark_errors(point_error: np.ndarray) -> np.ndarray:
    """Mean normalised error of each landmark over the images ``(P,)``; their mean is the mean error."""
    return np.asarray(point_error, dtype=np.float64).mean(axis=0)


def region_errors(point_error: np.ndarray, scheme: Scheme | str | None = None) -> dict[str, float]:
    """Mean normalised error of the points of each face region of ``scheme`` (default: the one of the
    point count), over images and the region's points."""
    pe = np.asarray(point_error, dtype=np.float64)
    found = resolve_scheme(pe[..., None].repeat(2, axis=-1) if scheme is None else None, scheme)
    return {name: float(pe[:, found.region_indices(name)].mean()) for name in found.regions}


def analyse(predictions: np.ndarray, ground_truth: np.ndarray, ids: Sequence[str] | None = None,
            norm: str = "inter-ocular", alpha: float = ALPHA, inclusive_failure: bool = False,
            bootstrap: Bootstrap | None = None, visible: np.ndarray | None = None, *,
            scheme: Scheme | str | None = None, box_size: np.ndarray | None = None, protocol=None) -> Analysis:
    """Per-landmark, per-region, percentile and per-source breakdown of one set of predictions.

    ``bootstrap``: also give intervals (overall and per source), else none. ``visible``: the
    per-image errors (summary, percentiles, sources) average over visible points only; the
    per-landmark and per-region errors stay over every point. ``scheme`` (default: the one of the
    point count) gives the regions; ``box_size``: the dataset's, for ``dataset-box``; ``protocol``
    (a :class:`~faceeval.protocol.Protocol`) replaces ``norm``, ``alpha`` and ``inclusive_failure``.
    """
    if protocol is not None:
        norm, alpha, inclusive_failure = protocol.norm, protocol.alpha, protocol.inclusive_failure
    found = resolve_scheme(np.asarray(ground_truth), scheme)
    errors = point_to_point_error(predictions, ground_truth, norm, ids, visible, scheme=found,   # what `eval` prints
                                  box_size=box_size)
    pe = point_errors(predictions, ground_truth, norm, ids, scheme=found, box_size=box_size)
    summary = summarize(errors, alpha, norm, inclusive_failure)
    intervals = summary_intervals(errors, alpha, inclusive_failure, bootstrap) if bootstrap else None
    per_source = {}
    if ids is not None:
        sources = np.array([source_of(i) for i in ids])
        for name in sorted(set(sources.tolist())):
            e = errors[sources == name]
            per_source[name] = SourceRow(summarize(e, alpha, norm, inclusive_failure),
                                         summary_intervals(e, alpha, inclusive_failure, bootstrap) if bootstrap else None)
    return Analysis(summary, intervals, landmark_errors(pe), region_errors(pe, found),
                    error_percentiles(errors, PERCENTILES), per_source, found)


__all__ = ["Analysis", "SourceRow", "analyse", "landmark_errors", "region_errors", "source_of", "PERCENTILES"]
