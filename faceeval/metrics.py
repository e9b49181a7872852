"""The one metrics implementation: normalised point-to-point error, CED, AUC_alpha, failure rate.

All functions are vectorised over shapes ``(N, P, 2)`` (x, y, 0-based pixels) of any registered
landmark scheme (:mod:`faceeval.protocol`: 68 points by default, the scheme of another count
found by it, or given as ``scheme=``) and follow the protocol in ``docs/protocol.md``:

* error = mean Euclidean point distance / a normaliser computed from the ground truth (a
  registered :class:`~faceeval.protocol.Normaliser`, by name);
* CED(x) = fraction of images with error <= x;
* AUC_alpha = Simpson integral of the CED sampled on 0, 1e-4, ..., alpha, divided by alpha;
* failure rate = fraction with error > alpha (the released DAN code), or >= alpha on request.

Because the CED is a mean of per-image step functions and Simpson's rule is linear, AUC_alpha is
also a mean of per-image contributions (:func:`auc_contributions`); the bootstrap in
:mod:`faceeval.stats` resamples those instead of re-integrating 10,000 curves.

Bad input never turns into a silent NaN: it raises :class:`MetricInputError` naming the image.
"""
from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from scipy.integrate import simpson, trapezoid

from .errors import MetricInputError
from .protocol import ALPHA, AUC_RULES, NORMALISERS, Normaliser, Protocol, Scheme, normaliser_names
from .protocol import scheme as _registered_scheme
from .protocol import scheme_for_points
from .protocol.schemes import IBUG68

#: The normalisations of the 68-point tables (every registered one: :func:`faceeval.protocol.normaliser_names`).
NORMALISATIONS = ("inter-ocular", "inter-pupil", "bbox-diagonal", "bbox-size")
#: The CED grid step of the protocol.
GRID_STEP = 1e-4
N_POINTS = IBUG68.n_points

#: ALPHA (from :mod:`faceeval.protocol`) is the protocol's threshold of AUC_alpha and of the failure
#: rate for eye-normalised errors on 300W ...
#: ... and for box-diagonal errors (Menpo).
ALPHA_BBOX_DIAGONAL = 0.03
#: Shapes per chunk: 4096 shapes keep each chunk's temporaries (2 MiB) in cache, which
#: matters more than anything else here (``benchmarks/metrics.py``), and let threads share the work.
_CHUNK = 4096


def _name(ids: Sequence[str] | None, i: int) -> str:
    return f"image {ids[i]!r}" if ids is not None else f"image #{i}"


def _numbers(values, what: str) -> np.ndarray:
    """``values`` as a real float64 array, or a :class:`MetricInputError` (ragged, text, complex, objects)."""
    try:
        arr = np.asarray(values)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"dtype {arr.dtype}")
        return arr.astype(np.float64, copy=False)
    except (TypeError, ValueError, OverflowError) as exc:
        raise MetricInputError(f"{what}: expected real numbers, got {type(values).__name__} ({exc})") from None


def check_alpha(alpha: float, what: str = "alpha") -> float:
    """``alpha`` as a float in (0, 1], or a :class:`MetricInputError`: alpha is a fraction of the
    normalising distance (0.08 = 8%), so 5 is a percentage typed by mistake.

    >>> check_alpha(0.08)
    0.08
    """
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise MetricInputError(f"{what} must be a number, got {alpha!r}") from None
    if not 0 < value <= 1:           # NaN fails too
        hint = f"; it is a fraction of the normalising distance: {value / 100:g} means {value:g}%" if value > 1 else ""
        raise MetricInputError(f"{what} must be in (0, 1], got {alpha!r}{hint}")
    return value


def check_shapes(shapes: np.ndarray, what: str = "shapes", ids: Sequence[str] | None = None,
                 scheme: Scheme | str | None = None) -> np.ndarray:
    """Return ``shapes`` as float64 ``(N, P, 2)`` of ``scheme`` (default the 68-point one) or raise a
    :class:`MetricInputError`.

    >>> check_shapes(np.zeros((2, 68, 2))).shape
    (2, 68, 2)
    """
    n_points = (IBUG68 if scheme is None else _registered_scheme(scheme)).n_points
    arr = _numbers(shapes, what)
    if arr.ndim == 2 and arr.shape[1] == 2:
        raise MetricInputError(f"{what}: got a single shape of {arr.shape[0]} points; pass an array (N, {n_points}, 2)")
    if arr.ndim != 3 or arr.shape[2] != 2:
        raise MetricInputError(f"{what}: expected an array (N, {n_points}, 2), got shape {arr.shape}")
    if arr.shape[1] != n_points:
        raise MetricInputError(f"{what}: expected {n_points} points per shape, got {arr.shape[1]}"
                               + (f" (first image {ids[0]!r})" if ids is not None and len(ids) else ""))
    if ids is not None and len(ids) != arr.shape[0]:
        raise MetricInputError(f"{what}: {arr.shape[0]} shapes but {len(ids)} ids")
    return arr.astype(np.float64, copy=False)


def resolve_scheme(shapes, scheme: Scheme | str | None = None) -> Scheme:
    """``scheme`` as a :class:`~faceeval.protocol.Scheme`; when None, the registered scheme with as many
    points as ``shapes`` have, else the 68-point one (whose check then names the count expected).

    >>> resolve_scheme(np.zeros((1, 98, 2))).name, resolve_scheme(np.zeros((1, 67, 2))).name
    ('wflw98', 'ibug68')
    """
    if scheme is not None:
        return _registered_scheme(scheme)
    shape = np.shape(shapes) if isinstance(shapes, np.ndarray) else ()
    if len(shape) == 3 and shape[2] == 2 and shape[1] != IBUG68.n_points:
        try:
            return scheme_for_points(shape[1])
        except MetricInputError:
            pass
    return IBUG68


def _normaliser(norm: str | Normaliser) -> Normaliser:
    if isinstance(norm, Normaliser):
        return norm
    if norm not in NORMALISERS:
        raise MetricInputError(f"unknown normalisation {norm!r}; choose one of {', '.join(normaliser_names())}")
    return NORMALISERS.get(norm)


def normalisers(ground_truth: np.ndarray, norm: str = "inter-ocular", ids: Sequence[str] | None = None,
                scheme: Scheme | str | None = None, box_size: np.ndarray | None = None) -> np.ndarray:
    """Per-image normalising distance ``(N,)`` computed from the ground truth.

    ``norm`` names a registered normaliser (:mod:`faceeval.protocol.normalisers`): on 68 points
    ``inter-ocular`` is the distance of the outer eye corners (points 36 and 45), ``inter-pupil``
    that of the means of points 36-41 and 42-47, ``bbox-diagonal`` the diagonal of the tight box of
    the points, ``bbox-size`` sqrt(w * h) of that box (SPIGA's ``lnd_bbox``, used for the 300W private
    set and COFW-68 by SPIGA and LUVLi); other schemes name their own reference points. ``box_size``:
    the dataset's own box size per face (``dataset-box``).

    >>> gt = np.zeros((1, 68, 2)); gt[0, 45, 0] = 4.0
    >>> normalisers(gt, "inter-ocular")
    array([4.])
    >>> gt[0, 8, 1] = 9.0                  # the tight box is now 4 wide and 9 high
    >>> normalisers(gt, "bbox-size"), normalisers(gt, "bbox-diagonal").round(6)     # sqrt(4 * 9), sqrt(16 + 81)
    (array([6.]), array([9.848858]))
    """
    values = ground_truth if isinstance(ground_truth, np.ndarray) else _numbers(ground_truth, "ground truth")
    found = resolve_scheme(values, scheme)
    gt = check_shapes(values, "ground truth", ids, found)
    if box_size is not None:
        box_size = _numbers(box_size, "dataset box sizes").reshape(-1)
        if box_size.shape != (gt.shape[0],):
            raise MetricInputError(f"{box_size.size} dataset box sizes for {gt.shape[0]} shapes")
    return _normaliser(norm)(gt, found, box_size, ids)


def _mean_point_distance_chunk(pred: np.ndarray, gt: np.ndarray, out: np.ndarray) -> None:
    d = np.subtract(pred, gt)
    np.multiply(d, d, out=d)
    sq = d[..., 0] + d[..., 1]
    np.sqrt(sq, out=sq)
    np.mean(sq, axis=1, out=out)


def mean_point_distance(predictions: np.ndarray, ground_truth: np.ndarray) -> np.ndarray:
    """Mean Euclidean distance over the points, per image, in pixels ``(N,)``.

    Large inputs are split in chunks that run on all cores (numpy releases the GIL).
    """
    n = predictions.shape[0]
    out = np.empty(n, dtype=np.float64)
    starts = range(0, n, _CHUNK)

    def work(s: int) -> None:
        _mean_point_distance_chunk(predictions[s:s + _CHUNK], ground_truth[s:s + _CHUNK], out[s:s + _CHUNK])

    if n <= 4 * _CHUNK:                 # small inputs: threads would cost more than they save
        for s in starts:
            work(s)
        return out
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(work, starts))
    return out


def point_to_point_error(predictions: np.ndarray, ground_truth: np.ndarray, norm: str = "inter-ocular",
                         ids: Sequence[str] | None = None, visible: np.ndarray | None = None, *,
                         scheme: Scheme | str | None = None, box_size: np.ndarray | None = None) -> np.ndarray:
    """Per-image normalised point-to-point error ``(N,)`` (a fraction: 0.05 is 5%).

    ``visible`` (``(N, P)`` booleans): average over the visible points of each image only
    (COFW-68's second evaluation); the normaliser still comes from all the ground truth.
    ``scheme``: the landmark scheme (default: found from the number of points, see
    :func:`resolve_scheme`); ``box_size``: the dataset's box size per face, for ``dataset-box``.

    >>> gt = np.random.default_rng(0).normal(size=(3, 68, 2)) * 50
    >>> pred = gt + [3.0, 4.0]          # every point moved by 5 pixels
    >>> np.allclose(point_to_point_error(pred, gt, "bbox-diagonal") * normalisers(gt, "bbox-diagonal"), 5)
    True
    """
    pred, gt, found = _pair(predictions, ground_truth, ids, scheme)
    if visible is not None:
        return (point_errors(pred, gt, norm, ids, visible, scheme=found, box_size=box_size).sum(axis=1)
                / _visible_counts(visible, pred.shape[0], ids))
    with np.errstate(over="ignore", invalid="ignore"):       # overflow gives inf, refused just below
        errors = mean_point_distance(pred, gt) / normalisers(gt, norm, ids, found, box_size)
    _check_finite(errors, pred, ids)
    return errors


def _visible_counts(visible: np.ndarray, n: int, ids: Sequence[str] | None) -> np.ndarray:
    """Visible points per image ``(n,)``; an image with none cannot be scored on its visible points."""
    counts = np.asarray(visible, dtype=bool).reshape(n, -1).sum(axis=1)
    if (counts == 0).any():
        i = int(np.flatnonzero(counts == 0)[0])
        raise MetricInputError(f"{_name(ids, i)}: no visible point to score")
    return counts


def _check_visible(visible: np.ndarray, n: int, n_points: int = N_POINTS) -> np.ndarray:
    vis = np.asarray(visible)
    if vis.shape != (n, n_points) or vis.dtype.kind not in "biu":
        raise MetricInputError(f"visibility: expected booleans of shape ({n}, {n_points}), got {vis.dtype} {vis.shape}")
    return vis.astype(bool)


def _pair(predictions: np.ndarray, ground_truth: np.ndarray, ids: Sequence[str] | None,
          scheme: Scheme | str | None = None) -> tuple[np.ndarray, np.ndarray, Scheme]:
    values = ground_truth if isinstance(ground_truth, np.ndarray) else _numbers(ground_truth, "ground truth")
    found = resolve_scheme(values, scheme)
    pred = check_shapes(predictions, "predictions", ids, found)
    gt = check_shapes(values, "ground truth", ids, found)
    if pred.shape[0] != gt.shape[0]:
        raise MetricInputError(f"{pred.shape[0]} predictions but {gt.shape[0]} ground-truth shapes")
    if pred.shape[0] == 0:
        raise MetricInputError("no images to evaluate (N = 0)")
    return pred, gt, found


def _check_finite(errors: np.ndarray, pred: np.ndarray, ids: Sequence[str] | None) -> None:
    bad = ~np.isfinite(errors.reshape(errors.shape[0], -1)).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        which = "prediction" if not np.isfinite(pred[i]).all() else "ground truth"
        raise MetricInputError(f"{_name(ids, i)}: {which} has non-finite points"
                               + (f"; {int(bad.sum())} such images in all" if bad.sum() > 1 else ""))


def point_errors(predictions: np.ndarray, ground_truth: np.ndarray, norm: str = "inter-ocular",
                 ids: Sequence[str] | None = None, visible: np.ndarray | None = None, *,
                 scheme: Scheme | str | None = None, box_size: np.ndarray | None = None) -> np.ndarray:
    """Per-point normalised distances ``(N, P)``; their mean over the points is
    :func:`point_to_point_error`, so per-landmark and per-region errors average back to it.
    With ``visible`` (``(N, 68)`` booleans) the hidden points are 0.

    >>> gt = np.zeros((1, 68, 2)); gt[0, 45, 0] = 10.0
    >>> pred = gt.copy(); pred[0, 0] = [3.0, 4.0]       # one point 5 px off, inter-ocular 10 px
    >>> float(point_errors(pred, gt)[0, 0]), float(point_errors(pred, gt)[0, 1:].max())
    (0.5, 0.0)
    """
    pred, gt, found = _pair(predictions, ground_truth, ids, scheme)
    with np.errstate(over="ignore", invalid="ignore"):       # overflow gives inf, refused just below
        errors = np.linalg.norm(pred - gt, axis=-1) / normalisers(gt, norm, ids, found, box_size)[:, None]
    if visible is not None:
        errors = np.where(_check_visible(visible, pred.shape[0], pred.shape[1]), errors, 0.0)
    _check_finite(errors, pred, ids)
    return errors


def check_errors(errors: np.ndarray) -> np.ndarray:
    """``errors`` as a flat float64 array, or a :class:`MetricInputError` (empty, non-finite)."""
    e = _numbers(errors, "errors").ravel()
    if e.size == 0:
        raise MetricInputError("no errors given (N = 0)")
    if not np.isfinite(e).all():
        raise MetricInputError(f"errors contain non-finite values at positions {np.flatnonzero(~np.isfinite(e))[:5].tolist()}")
    return e


def ced_grid(alpha: float, step: float = GRID_STEP) -> np.ndarray:
    """The grid 0, step, ..., alpha (inclusive) on which the CED is sampled."""
    alpha = check_alpha(alpha, "the end of the CED grid (alpha or x_max)")
    return np.linspace(0.0, alpha, int(round(alpha / step)) + 1)


def _ced_sorted(sorted_errors: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    return np.searchsorted(sorted_errors, np.asarray(thresholds, dtype=np.float64), side="right") / sorted_errors.size


def _auc_sorted(sorted_errors: np.ndarray, alpha: float, step: float = GRID_STEP, rule: str = "simpson") -> float:
    grid = ced_grid(alpha, step)
    return _area_over_alpha(_ced_sorted(sorted_errors, grid), grid, alpha, rule)


def _area_over_alpha(ced_values: np.ndarray, grid: np.ndarray, alpha: float, rule: str = "simpson") -> float:
    """The protocol's integral: Simpson's rule over the grid, divided by alpha (or the trapezoid
    rule, which other tools use, for ``faceeval eval --explain``)."""
    if rule == "simpson":
        return float(simpson(ced_values, x=grid) / alpha)
    if rule == "trapezoid":
        return float(trapezoid(ced_values, x=grid) / alpha)
    raise MetricInputError(f"unknown AUC rule {rule!r}; choose one of {', '.join(AUC_RULES)}")


@functools.lru_cache(maxsize=16)
def _quadrature_weights(alpha: float, step: float) -> np.ndarray:
    """Weights ``w`` with ``w @ y == simpson(y, x=grid)`` for every ``y`` on the protocol grid.

    Obtained by integrating the unit vectors with the very call :func:`auc` makes, so they are
    the same rule (including scipy's treatment of an odd number of intervals), not a re-derivation.
    """
    grid = ced_grid(alpha, step)
    w = simpson(np.eye(grid.size), x=grid, axis=1)
    w.flags.writeable = False
    return w


def auc_contributions(errors: np.ndarray, alpha: float = ALPHA, step: float = GRID_STEP) -> np.ndarray:
    """Per-image terms whose mean is :func:`auc` of ``errors`` (exact up to rounding).

    CED(t) is the mean over images of [e_i <= t] and Simpson's rule is a weighted sum over the
    grid, so AUC = mean_i c(e_i) with c(e) = sum of the weights of grid points t >= e, over alpha.
    This makes AUC_alpha of any resample of the images one weighted mean (:mod:`faceeval.stats`).

    >>> e = np.random.default_rng(0).gamma(2.0, 0.02, 1000)
    >>> bool(abs(auc_contributions(e).mean() - auc(e)) < 1e-12)
    True
    """
    e = check_errors(errors)
    tail = np.append(np.cumsum(_quadrature_weights(float(alpha), float(step))[::-1])[::-1], 0.0) / alpha
    return tail[np.searchsorted(ced_grid(alpha, step), e, side="left")]


def auc_of_curve(x: np.ndarray, y: np.ndarray, alpha: float = ALPHA, step: float = GRID_STEP) -> float:
    """AUC_alpha of a CED given as a curve (e.g. a published one) rather than as errors.

    The curve is linearly interpolated onto the protocol grid and integrated exactly as
    :func:`auc` integrates a measured CED, so published and measured rows compare.

    >>> round(auc_of_curve([0.0, 1.0], [0.0, 1.0], alpha=0.1), 4)
    0.05
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or x.size < 2:
        raise MetricInputError(f"a curve needs matching 1-D x and y, got {x.shape} and {y.shape}")
    if x[-1] < alpha:
        raise MetricInputError(f"curve ends at {x[-1]:g}, before alpha = {alpha:g}")
    grid = ced_grid(alpha, step)
    return _area_over_alpha(np.interp(grid, x, y), grid, alpha)


def _simpson_even_average(y: np.ndarray, x: np.ndarray) -> float:
    """Simpson's rule as scipy computed it before 1.11 (``simps``, ``even="avg"``), the version SPIGA's
    figures come from: with an even number of samples, the mean of Simpson on the first n - 1 samples
    plus a trapezoid on the last interval and a trapezoid on the first plus Simpson on the last n - 1.

    >>> x = np.arange(4.0); y = x ** 3        # exact: 81 / 4; the trapezoid ends overshoot more than today's scipy
    >>> _simpson_even_average(y, x), float(simpson(y, x=x))
    (21.0, 20.5)
    """
    if y.size % 2 == 1 or y.size < 3:
        return float(simpson(y, x=x)) if y.size > 1 else 0.0
    first = simpson(y[:-1], x=x[:-1]) + (x[-1] - x[-2]) * (y[-1] + y[-2]) / 2
    last = (x[1] - x[0]) * (y[0] + y[1]) / 2 + simpson(y[1:], x=x[1:])
    return float((first + last) / 2)


def auc_histogram(errors: np.ndarray, alpha: float = ALPHA, bins: int = 10000) -> tuple[float, float]:
    """AUC_alpha and failure rate by SPIGA's rule, to explain why its figures differ from the protocol's.

    SPIGA (andresprados/SPIGA, ``spiga/eval/benchmark/metrics/landmarks.py``) bins the errors into
    ``bins`` equal bins over their own range (min to max, not 0 to alpha), takes the running share
    of images up to the end of each bin, pairs it with the bin's *left* edge, keeps the bins whose
    left edge is below alpha, integrates with Simpson's rule (as scipy < 1.11 did, which SPIGA ran
    on: :func:`_simpson_even_average`) and divides by alpha; when every image
    falls in the kept bins it adds the rest of the square, (alpha - last left edge) / alpha. The
    failure rate is 1 minus the last kept share. Fractions, as :func:`auc` returns.

    Errors uniform on [0, 0.2]: the protocol's AUC_0.1 is 0.25, SPIGA's the same but for the grid:

    >>> e = np.linspace(0, 0.2, 100001)
    >>> a, f = auc_histogram(e, 0.1)
    >>> round(a, 4), round(auc(e, 0.1), 4), round(f, 4)
    (0.25, 0.25, 0.5)
    """
    e = check_errors(errors)
    alpha = check_alpha(alpha)
    counts, edges = np.histogram(e, bins=bins)
    share = np.cumsum(counts) / e.size
    kept = edges[:-1] < alpha
    if not kept.any():
        return 0.0, 1.0
    base, share = edges[:-1][kept], share[kept]
    area = _simpson_even_average(share, base) / alpha if base.size > 1 else 0.0
    if base[-1] < alpha and share[-1] == 1:
        area += (alpha - base[-1]) / alpha
    return area, float(1.0 - share[-1])


def _failure_sorted(sorted_errors: np.ndarray, alpha: float, inclusive: bool) -> float:
    # count of e > alpha (or >= alpha) = n - count of e <= alpha (or < alpha)
    kept = np.searchsorted(sorted_errors, alpha, side="left" if inclusive else "right")
    return float((sorted_errors.size - kept) / sorted_errors.size)


def ced(errors: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Cumulative error distribution: fraction of images with error <= each threshold."""
    return _ced_sorted(np.sort(check_errors(errors)), thresholds)


def auc(errors: np.ndarray, alpha: float = ALPHA, step: float = GRID_STEP, rule: str = "simpson") -> float:
    """Area under the CED from 0 to ``alpha``, divided by ``alpha`` (0..1), Simpson's rule
    (``rule="trapezoid"``: the trapezoid rule on the same grid, a convention other tools use).

    Errors uniform on [0, 1] give ``alpha / 2``:

    >>> round(auc(np.linspace(0, 1, 100001), alpha=0.1), 4)
    0.05
    """
    return _auc_sorted(np.sort(check_errors(errors)), check_alpha(alpha), step, rule)


def failure_indicators(errors: np.ndarray, alpha: float = ALPHA, inclusive: bool = False) -> np.ndarray:
    """1.0 where an image fails (error > ``alpha``, or >= with ``inclusive``), else 0.0; the mean is
    :func:`failure_rate`."""
    e = check_errors(errors)
    alpha = check_alpha(alpha)
    return (e >= alpha if inclusive else e > alpha).astype(np.float64)


def error_percentiles(errors: np.ndarray, q: Sequence[float] = (50, 90, 95, 99)) -> dict[str, float]:
    """``{"p50": ..., "p90": ...}``: percentiles of the per-image errors (numpy's linear interpolation).

    >>> error_percentiles(np.arange(101) / 100, q=(50, 90))
    {'p50': 0.5, 'p90': 0.9}
    """
    e = check_errors(errors)
    return {f"p{k:g}": float(v) for k, v in zip(q, np.percentile(e, q))}


def failure_rate(errors: np.ndarray, alpha: float = ALPHA, inclusive: bool = False) -> float:
    """Fraction of images whose error is > ``alpha`` (``inclusive=True``: >= ``alpha``)."""
    return float(failure_indicators(errors, alpha, inclusive).mean())


@dataclass(frozen=True)
class Summary:
    """The numbers a table row needs; errors and rates are fractions, not percentages."""

    n: int
    mean_error: float
    median_error: float
    auc: float
    failure_rate: float
    alpha: float
    norm: str = "inter-ocular"
    #: True when failure counts error >= alpha, False for error > alpha (the default).
    inclusive_failure: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def summarize(errors: np.ndarray, alpha: float = ALPHA, norm: str = "inter-ocular",
              inclusive_failure: bool = False, auc_rule: str = "simpson") -> Summary:
    """n, mean, median, AUC_alpha and failure rate of a set of per-image errors."""
    e = check_errors(errors)
    alpha = check_alpha(alpha)
    s = np.sort(e)          # sorted once for the median, the CED and the failure count
    return Summary(n=int(e.size), mean_error=float(e.mean()), median_error=float(np.median(s)),
                   auc=_auc_sorted(s, alpha, rule=auc_rule), failure_rate=_failure_sorted(s, alpha, inclusive_failure),
                   alpha=float(alpha), norm=norm, inclusive_failure=bool(inclusive_failure))


def align_by_ids(pred_ids: Sequence[str], gt_ids: Sequence[str]) -> np.ndarray:
    """Index into the predictions that puts them in ground-truth order; ids must match exactly."""
    pred_pos = {k: i for i, k in enumerate(pred_ids)}
    if len(pred_pos) != len(pred_ids):
        dup = sorted({k for k in pred_ids if list(pred_ids).count(k) > 1})
        raise MetricInputError(f"duplicate prediction ids: {dup[:5]}")
    missing = [k for k in gt_ids if k not in pred_pos]
    extra = sorted(set(pred_ids) - set(gt_ids))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"no prediction for {len(missing)} images (first: {missing[:3]})")
        if extra:
            parts.append(f"{len(extra)} predictions without ground truth (first: {extra[:3]})")
        raise MetricInputError("prediction/ground-truth id mismatch: " + "; ".join(parts))
    return np.array([pred_pos[k] for k in gt_ids], dtype=np.intp)


def evaluate(predictions: np.ndarray, ground_truth: np.ndarray, norm: str = "inter-ocular",
             alpha: float = ALPHA, ids: Sequence[str] | None = None,
             inclusive_failure: bool = False, visible: np.ndarray | None = None, *,
             scheme: Scheme | str | None = None, box_size: np.ndarray | None = None) -> tuple[Summary, np.ndarray]:
    """Score predictions against ground truth: the summary and the per-image errors
    (``visible``: over each image's visible points only, see :func:`point_to_point_error`)."""
    errors = point_to_point_error(predictions, ground_truth, norm, ids, visible, scheme=scheme, box_size=box_size)
    return summarize(errors, alpha, norm, inclusive_failure), errors


def score(predictions: np.ndarray, ground_truth: np.ndarray, protocol: Protocol, ids: Sequence[str] | None = None,
          scheme: Scheme | str | None = None, box_size: np.ndarray | None = None) -> tuple[Summary, np.ndarray]:
    """:func:`evaluate` under a :class:`~faceeval.protocol.Protocol` (normaliser, alpha, failure and AUC rules).

    >>> gt = np.random.default_rng(1).normal(size=(4, 98, 2)) * 40
    >>> summary, _ = score(gt + 1.0, gt, Protocol("inter-ocular", 0.1))
    >>> summary.n, summary.alpha
    (4, 0.1)
    """
    errors = point_to_point_error(predictions, ground_truth, protocol.norm, ids, scheme=scheme, box_size=box_size)
    return summarize(errors, protocol.alpha, protocol.norm, protocol.inclusive_failure, protocol.auc_rule), errors
