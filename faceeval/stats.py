"""How sure a benchmark number is: a seeded percentile bootstrap over images, and paired tests.

The challenging subset of 300W has 135 faces, so one face moves its failure rate by 0.74
points. Every number faceeval prints can carry a 95% interval from resampling the images
with replacement (:func:`summary_intervals`), and two methods scored on the same images
can be compared face by face (:func:`paired_comparison`).

Resampling is done with counts: one resample of ``n`` images is a row of ``n`` counts that
sum to ``n``. Mean error, AUC_alpha and failure rate are means of per-image values (the
AUC through :func:`faceeval.metrics.auc_contributions`), so every resample's statistics are
one matrix product; the median is read off the cumulative counts of the sorted errors. A
block of resamples is drawn at a time so the counts stay in cache (10,000 resamples of
689 images take about 0.15 s on a 2-core CPU; ``benchmarks/metrics.py``).

>>> e = np.random.default_rng(0).gamma(2.0, 0.02, 135)
>>> ci = summary_intervals(e, resamples=2000)
>>> bool(ci.mean_error.low < e.mean() < ci.mean_error.high)
True
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .metrics import ALPHA, MetricInputError, auc_contributions, check_errors, failure_indicators

#: Defaults recorded with every interval.
DEFAULT_RESAMPLES = 10_000
DEFAULT_SEED = 0
DEFAULT_LEVEL = 0.95
#: Count-matrix entries drawn per block: 2^19 int64 (4 MiB) keeps the temporaries in cache.
_BLOCK_ENTRIES = 1 << 19
#: The statistics :func:`summary_intervals` gives, by their names in :class:`faceeval.metrics.Summary`.
STATISTICS = ("mean_error", "median_error", "auc", "failure_rate")


@dataclass(frozen=True)
class Bootstrap:
    """How intervals are computed: resample count, seed and confidence level (recorded with them)."""

    resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_SEED
    level: float = DEFAULT_LEVEL

    def __post_init__(self):
        if int(self.resamples) < 2:
            raise MetricInputError(f"bootstrap resamples must be at least 2, got {self.resamples!r}")
        if not 0.0 < float(self.level) < 1.0:
            raise MetricInputError(f"confidence level must be between 0 and 1, got {self.level!r}")

    def as_dict(self) -> dict:
        return {"method": "percentile bootstrap over images", "resamples": int(self.resamples),
                "seed": int(self.seed), "level": float(self.level)}


@dataclass(frozen=True)
class Interval:
    """A confidence interval ``[low, high]``."""

    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def as_list(self) -> list[float]:
        return [self.low, self.high]

    def text(self, scale: float = 100.0, digits: int = 2) -> str:
        """``[4.95, 5.58]`` (values times ``scale``: percent by default)."""
        return f"[{self.low * scale:.{digits}f}, {self.high * scale:.{digits}f}]"


def format_with_interval(value: float, interval: Interval | None, scale: float = 100.0, digits: int = 2) -> str:
    """``5.24 [4.95, 5.58]``, or ``5.24`` without an interval: the compact form tables print.

    >>> format_with_interval(0.0524, Interval(0.0495, 0.0558))
    '5.24 [4.95, 5.58]'
    """
    head = f"{value * scale:.{digits}f}"
    return head if interval is None else f"{head} {interval.text(scale, digits)}"


def percentile_interval(samples: np.ndarray, level: float = DEFAULT_LEVEL) -> Interval:
    """The central ``level`` interval of bootstrap ``samples`` (numpy's linear percentile)."""
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(np.asarray(samples, dtype=np.float64), [tail, 100.0 - tail])
    return Interval(float(low), float(high))


def resample_counts(n: int, resamples: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Blocks ``(b, n)`` of counts: row ``r`` says how often each image appears in resample ``r``.

    Draws ``n`` uniform indices per resample from ``rng`` in order, so the same seed gives the
    same resamples whatever the block size.
    """
    if n < 1:
        raise MetricInputError("no images to resample (N = 0)")
    rows = max(1, _BLOCK_ENTRIES // n)
    for start in range(0, resamples, rows):
        b = min(rows, resamples - start)
        idx = rng.integers(0, n, size=(b, n))
        idx += np.arange(0, b * n, n)[:, None]
        yield np.bincount(idx.ravel(), minlength=b * n).reshape(b, n)


def _order_statistic(cumulative: np.ndarray, j: int) -> np.ndarray:
    """Per row, the sorted position holding the ``j``-th (0-based) value of the resample: the
    number of cumulative counts <= j (a binary search per row when rows are few and long)."""
    if cumulative.shape[0] <= 8:
        return np.array([np.searchsorted(row, j, side="right") for row in cumulative])
    return np.count_nonzero(cumulative <= j, axis=1)


def bootstrap_samples(errors: np.ndarray, alpha: float = ALPHA, inclusive_failure: bool = False,
                      bootstrap: Bootstrap = Bootstrap()) -> dict[str, np.ndarray]:
    """The bootstrap distribution ``(resamples,)`` of each statistic in :data:`STATISTICS`.

    Every resample is scored by the metrics core's own definitions: mean, median, AUC_alpha
    (mean of :func:`~faceeval.metrics.auc_contributions`) and failure rate (mean of
    :func:`~faceeval.metrics.failure_indicators`).
    """
    e = np.sort(np.asarray(errors, dtype=np.float64).ravel())
    n = e.size
    linear = np.stack([e, auc_contributions(e, alpha), failure_indicators(e, alpha, inclusive_failure)], axis=1)
    rng = np.random.default_rng(bootstrap.seed)
    out = {k: np.empty(int(bootstrap.resamples)) for k in STATISTICS}
    lo_j, hi_j = (n - 1) // 2, n // 2          # the middle order statistics (equal when n is odd)
    r = 0
    for counts in resample_counts(n, int(bootstrap.resamples), rng):
        b = counts.shape[0]
        means = (counts @ linear) / n
        cumulative = np.cumsum(counts, axis=1)
        median = e[_order_statistic(cumulative, lo_j)]
        if hi_j != lo_j:
            median = (median + e[_order_statistic(cumulative, hi_j)]) / 2.0
        out["mean_error"][r:r + b] = means[:, 0]
        out["auc"][r:r + b] = means[:, 1]
        out["failure_rate"][r:r + b] = means[:, 2]
        out["median_error"][r:r + b] = median
        r += b
    return out


@dataclass(frozen=True)
class SummaryIntervals:
    """Intervals of mean error, median error, AUC_alpha and failure rate (fractions, like Summary)."""

    mean_error: Interval
    median_error: Interval
    auc: Interval
    failure_rate: Interval
    bootstrap: Bootstrap

    def __getitem__(self, statistic: str) -> Interval:
        return getattr(self, statistic)

    def as_dict(self) -> dict:
        """``{"mean_error_ci": [low, high], ..., "bootstrap": {...}}``: keys added beside a summary's."""
        return {**{f"{k}_ci": self[k].as_list() for k in STATISTICS}, "bootstrap": self.bootstrap.as_dict()}


def summary_intervals(errors: np.ndarray, alpha: float = ALPHA, inclusive_failure: bool = False,
                      bootstrap: Bootstrap | None = None, resamples: int | None = None) -> SummaryIntervals:
    """Percentile-bootstrap intervals of the four summary statistics of per-image ``errors``."""
    boot = bootstrap or Bootstrap(**({"resamples": resamples} if resamples else {}))
    samples = bootstrap_samples(check_errors(errors), alpha, inclusive_failure, boot)
    return SummaryIntervals(**{k: percentile_interval(samples[k], boot.level) for k in STATISTICS}, bootstrap=boot)


# ---------------------------------------------------------------------------------------------
# Two methods on the same images


@dataclass(frozen=True)
class PairedComparison:
    """Method A against method B on the same ``n`` images; differences are A − B (negative: A better)."""

    name_a: str
    name_b: str
    n: int
    mean_difference: float
    interval: Interval
    wilcoxon_p: float
    a_better: float
    b_better: float
    ties: float
    bootstrap: Bootstrap

    @property
    def significant(self) -> bool:
        """True when the interval of the mean difference excludes 0."""
        return not self.interval.contains(0.0)

    @property
    def verdict(self) -> str:
        """What the interval of the mean difference says, and where the image-by-image count
        disagrees with it (a few large errors can decide a mean that most images contradict)."""
        level = f"{self.bootstrap.level * 100:g}%"
        if not self.significant:
            return f"no significant difference at {level}"
        better, other = (self.name_a, self.name_b) if self.mean_difference < 0 else (self.name_b, self.name_a)
        wins_other = self.b_better if other == self.name_b else self.a_better
        text = f"{better} has the lower mean error at {level}"
        return text + (f", but {other} is better on {wins_other * 100:.0f}% of images" if wins_other > 0.5 else "")

    def as_dict(self) -> dict:
        return {"a": self.name_a, "b": self.name_b, "n": self.n, "mean_difference": self.mean_difference,
                "mean_difference_ci": self.interval.as_list(), "wilcoxon_p": self.wilcoxon_p,
                "a_better": self.a_better, "b_better": self.b_better, "ties": self.ties,
                "significant": self.significant, "verdict": self.verdict, "bootstrap": self.bootstrap.as_dict()}


def wilcoxon_p(differences: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired differences (scipy); 1.0 when all are 0."""
    from scipy.stats import wilcoxon

    d = np.asarray(differences, dtype=np.float64)
    if not np.any(d != 0):
        return 1.0
    return float(wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)


def paired_comparison(errors_a: np.ndarray, errors_b: np.ndarray, name_a: str = "A", name_b: str = "B",
                      bootstrap: Bootstrap | None = None) -> PairedComparison:
    """Compare two methods image by image: mean difference with a paired bootstrap interval
    (the same resampled images for both), Wilcoxon signed-rank p, and how often each wins.

    >>> a = np.linspace(0.02, 0.10, 135); b = a * 0.95
    >>> paired_comparison(a, b, "A", "B", Bootstrap(resamples=1000)).verdict
    'B has the lower mean error at 95%'
    """
    a, b = check_errors(errors_a), check_errors(errors_b)
    if a.shape != b.shape:
        raise MetricInputError(f"paired comparison needs the same images: {name_a} has {a.size} errors, "
                               f"{name_b} has {b.size}")
    boot = bootstrap or Bootstrap()
    d = a - b
    rng = np.random.default_rng(boot.seed)
    means = np.concatenate([counts @ d for counts in resample_counts(d.size, int(boot.resamples), rng)]) / d.size
    return PairedComparison(name_a, name_b, int(d.size), float(d.mean()), percentile_interval(means, boot.level),
                            wilcoxon_p(d), float(np.mean(d < 0)), float(np.mean(d > 0)), float(np.mean(d == 0)),
                            boot)


__all__ = ["Bootstrap", "Interval", "SummaryIntervals", "PairedComparison", "summary_intervals",
           "bootstrap_samples", "paired_comparison", "percentile_interval", "resample_counts",
           "format_with_interval", "wilcoxon_p", "STATISTICS", "DEFAULT_RESAMPLES", "DEFAULT_SEED",
           "DEFAULT_LEVEL"]
