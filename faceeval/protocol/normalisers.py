"""Normalisers as values: a distance per face computed from its ground truth, its scheme and the
dataset's own box, with the threshold alpha that goes with it.

=====================  =====================================================================  =====
name                   distance                                                               alpha
=====================  =====================================================================  =====
``inter-ocular``       the scheme's outer eye corners (68: 36/45; 98: 60/72; 29: 8/9; 19: 6/11)  0.08
``inter-pupil``        the means of the scheme's two eye-centre groups (68: 36-41 / 42-47;    0.08
                       98: the pupils 96/97; 29: the pupils 16/17)
``bbox-diagonal``      the diagonal of the tight box of the ground-truth points (Menpo)       0.03
``bbox-size``          sqrt(w * h) of that box (SPIGA's ``lnd_bbox``, LUVLi)                   0.07
``dataset-box``        the face-box size the dataset ships with each face (AFLW's             0.07
                       ``box_size`` column, which HRNet divides by)
=====================  =====================================================================  =====

A zero or non-finite distance is a :class:`~faceeval.errors.MetricInputError` naming the face.
Third parties register theirs in the entry-point group ``faceeval.normalisers``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..errors import MetricInputError
from .scheme import Scheme

#: fn(ground truth (N, P, 2), scheme, dataset box sizes (N,) or None) -> distances (N,)
NormFunction = Callable[[np.ndarray, Scheme, "np.ndarray | None"], np.ndarray]


@dataclass(frozen=True, eq=False)
class Normaliser:
    """A named normalising distance and its default threshold alpha."""

    name: str
    fn: NormFunction
    alpha: float
    description: str
    #: Short name for table headers (IO, IP, BD, BS, DB).
    short: str = ""

    def __repr__(self) -> str:
        return f"Normaliser({self.name!r})"

    def __call__(self, ground_truth: np.ndarray, scheme: Scheme, box_size: np.ndarray | None = None,
                 ids: Sequence[str] | None = None) -> np.ndarray:
        """Per-face distances ``(N,)``; each must be finite and positive."""
        d = np.asarray(self.fn(ground_truth, scheme, box_size), dtype=np.float64)
        bad = ~(np.isfinite(d) & (d > 0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            name = f"image {ids[i]!r}" if ids is not None else f"image #{i}"
            why = ("non-finite points" if not np.isfinite(ground_truth[i]).all()
                   else "a dataset box size that is not positive" if box_size is not None and self.name == "dataset-box"
                   else "coincident reference points")
            raise MetricInputError(f"{name}: {self.name} normaliser is {float(d[i])!r} (ground truth has {why})"
                                   + (f"; {int(bad.sum())} such images in all" if bad.sum() > 1 else ""))
        return d


def _inter_ocular(gt: np.ndarray, scheme: Scheme, box_size=None) -> np.ndarray:
    if scheme.outer_eye_corners is None:
        raise MetricInputError(f"inter-ocular needs the outer eye corners; scheme {scheme.name} has none "
                               f"(use bbox-diagonal or bbox-size)")
    a, b = scheme.outer_eye_corners
    return np.linalg.norm(gt[:, a] - gt[:, b], axis=-1)


def _inter_pupil(gt: np.ndarray, scheme: Scheme, box_size=None) -> np.ndarray:
    if scheme.eye_centres is None:
        raise MetricInputError(f"inter-pupil needs the eye centres; scheme {scheme.name} has none "
                               f"(use bbox-diagonal or bbox-size)")
    a, b = (np.asarray(g, dtype=np.intp) for g in scheme.eye_centres)
    return np.linalg.norm(gt[:, a].mean(axis=1) - gt[:, b].mean(axis=1), axis=-1)


def _extent(gt: np.ndarray) -> np.ndarray:
    return gt.max(axis=1) - gt.min(axis=1)


def _bbox_diagonal(gt: np.ndarray, scheme: Scheme, box_size=None) -> np.ndarray:
    extent = _extent(gt)
    return np.hypot(extent[:, 0], extent[:, 1])


def _bbox_size(gt: np.ndarray, scheme: Scheme, box_size=None) -> np.ndarray:
    extent = _extent(gt)
    with np.errstate(invalid="ignore"):
        return np.sqrt(extent[:, 0] * extent[:, 1])


def _dataset_box(gt: np.ndarray, scheme: Scheme, box_size=None) -> np.ndarray:
    if box_size is None:
        raise MetricInputError("dataset-box needs the box size the dataset ships with each face (AFLW's box_size "
                               "column); this ground truth has none: give --gt aflw:SUBSET, or another --norm")
    return np.asarray(box_size, dtype=np.float64).reshape(-1)


INTER_OCULAR = Normaliser("inter-ocular", _inter_ocular, 0.08, "distance of the outer eye corners", "IO")
INTER_PUPIL = Normaliser("inter-pupil", _inter_pupil, 0.08, "distance of the eye centres (pupils)", "IP")
BBOX_DIAGONAL = Normaliser("bbox-diagonal", _bbox_diagonal, 0.03,
                           "diagonal of the tight box of the ground-truth points", "BD")
BBOX_SIZE = Normaliser("bbox-size", _bbox_size, 0.07, "sqrt(w * h) of the tight box of the ground-truth points", "BS")
DATASET_BOX = Normaliser("dataset-box", _dataset_box, 0.07,
                         "the face-box size the dataset ships (AFLW's box_size column)", "DB")

BUILTIN_NORMALISERS = (INTER_OCULAR, INTER_PUPIL, BBOX_DIAGONAL, BBOX_SIZE, DATASET_BOX)

__all__ = ["Normaliser", "NormFunction", "INTER_OCULAR", "INTER_PUPIL", "BBOX_DIAGONAL", "BBOX_SIZE", "DATASET_BOX",
           "BUILTIN_NORMALISERS"]
