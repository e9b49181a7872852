"""The paper's published numbers and the 300W challenge winners' published CED curves.

``published_results.csv`` (package data) lists every number printed in the DAN paper's
Tables 2-6, for every method (ESR, SDM, LBF, cGPRT, CFSS, Kowalski et al. 2016, RAR, MDM,
DAN, DAN-Menpo), one value per line: table, method, subset, normalisation, metric
(``mean_error``, ``auc``, ``failure``), alpha, the value in percent as printed, where it is
printed (``source``) and the method's own paper (``reference``).

The challenge curves (``300w_challenge_ced.json``) give each entry's CED on the private set;
:func:`challenge_curves` reads AUC_0.08 and the failure rate off them (Table 4's "from
published CED" rows).
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from ..metrics import ALPHA, MetricInputError, auc_of_curve
from ..resources import challenge_ced, data_text
from .ced import Curve

#: Reference curve sets that ``faceeval ced --reference`` accepts.
REFERENCES = ("300w-challenge",)


def published_results() -> pd.DataFrame:
    """Every published number, one per row (values in percent, as the paper prints them).

    >>> df = published_results()
    >>> float(df.query("table == 4 and method == 'DAN' and metric == 'auc'").value.iloc[0])
    47.0
    """
    return pd.read_csv(io.StringIO(data_text("published_results.csv")), comment="#")


#: Published subsets by the (dataset, subset) faceeval scores: the paper's 300W subsets are faceeval's.
_PUBLISHED_SETS = {("300w", s): s for s in ("common", "challenging", "full", "private")}
#: Summary statistics by the metric names of ``published_results.csv``.
METRICS = {"mean_error": "mean_error", "auc": "auc", "failure_rate": "failure"}


@dataclass(frozen=True)
class PublishedValue:
    """One number as the paper prints it (percent), and which row of which table it is."""

    value: float
    method: str
    table: int
    source: str


def published_value(names: Sequence[str], dataset: str, subset: str, norm: str, statistic: str,
                    alpha: float | None = None) -> PublishedValue | None:
    """The published counterpart of one of our numbers, or None: the first row (table order) of a
    method in ``names`` (compared case-insensitively, e.g. ``("DAN", "DAN 2 stages")``) for the same
    images, normalisation and statistic (``mean_error``, ``auc``, ``failure_rate``), at ``alpha``
    where the statistic has one.

    >>> published_value(["dan"], "300w", "full", "inter-ocular", "mean_error").value
    3.59
    >>> published_value(["dan"], "300w", "full", "inter-ocular", "auc", 0.08).value
    55.33
    >>> published_value(["dan"], "menpo", "test", "bbox-diagonal", "mean_error") is None   # other images
    True
    """
    subset_name = _PUBLISHED_SETS.get((dataset, subset))
    metric = METRICS.get(statistic)
    if subset_name is None or metric is None:
        return None
    wanted = {n.lower() for n in names}
    df = published_results()
    rows = df[(df.method.str.lower().isin(wanted)) & (df.subset == subset_name) & (df.norm == norm)
              & (df.metric == metric)]
    if metric != "mean_error" and alpha is not None:
        rows = rows[np.isclose(rows.alpha.astype(float), alpha)]
    if rows.empty:
        return None
    first = rows.sort_values("table", kind="stable").iloc[0]
    return PublishedValue(float(first.value), str(first.method), int(first.table), str(first.source))


def curve_auc(x: np.ndarray, y: np.ndarray, alpha: float) -> float:
    """AUC_alpha of a published CED curve, by the metrics core's convention (see :func:`auc_of_curve`)."""
    return auc_of_curve(x, y, alpha)


def curve_failure(x: np.ndarray, y: np.ndarray, alpha: float) -> float:
    """Failure rate read off a published curve: 1 - CED(alpha), CED linearly interpolated."""
    return float(1.0 - np.interp(alpha, np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)))


def challenge_curves(subset: str = "private", alpha: float = ALPHA, x_max: float | None = None) -> list[Curve]:
    """The 300W challenge winners' published curves (inter-ocular) as dashed reference curves.

    ``x_max`` crops the curves (default: alpha); AUC and failure are computed at ``alpha``.
    """
    data = challenge_ced()["subsets"]
    if subset not in data:
        raise MetricInputError(f"no published challenge curves for subset {subset!r}; have {', '.join(data)}")
    x = np.asarray(data[subset]["x"], dtype=np.float64)
    keep = x <= (x_max or alpha) + 1e-12
    curves = []
    for label, values in data[subset]["curves"].items():
        y = np.asarray(values, dtype=np.float64)
        curves.append(Curve(f"{label} (published)", x[keep], y[keep], curve_auc(x, y, alpha),
                            curve_failure(x, y, alpha), published=True))
    return curves


def reference_curves(name: str, alpha: float = ALPHA, x_max: float | None = None, norm: str = "inter-ocular",
                     subset: str = "private") -> list[Curve]:
    """Reference curves by the name ``faceeval ced --reference`` takes."""
    if name not in REFERENCES:
        raise MetricInputError(f"unknown reference {name!r}; choose one of {', '.join(REFERENCES)}")
    if norm != "inter-ocular":
        raise MetricInputError(f"the 300W challenge curves are normalised by inter-ocular distance, not {norm}")
    return challenge_curves(subset, alpha, x_max)
