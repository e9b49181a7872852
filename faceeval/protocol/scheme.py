"""A landmark scheme as a value: its points, named groups and regions, reference points and mirror pairs.

Every part of faceeval that needs to know which point is which (normalisers, mirroring,
per-region errors, figures) asks the :class:`Scheme` it is handed, never a global. The schemes
faceeval ships are in :mod:`faceeval.protocol.schemes`; third parties register theirs in the
entry-point group ``faceeval.schemes``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np



@dataclass(frozen=True, eq=False)
class Scheme:
    """A landmark scheme: ``n_points`` points, 0-based.

    ``groups`` name index groups (the anatomical parts of the markup); ``regions`` are unions of
    groups used to report where a method fails; ``outer_eye_corners`` are the two points of the
    inter-ocular distance; ``eye_centres`` are two groups whose means are the eye centres (one
    point each where the scheme marks the pupils); ``mirror_pairs`` are swapped by a horizontal
    flip (every other point maps to itself); ``closed_groups`` are drawn as closed outlines.
    ``source`` says where the indices come from.
    """

    name: str
    n_points: int
    description: str
    groups: Mapping[str, tuple[int, ...]]
    regions: Mapping[str, tuple[str, ...]]
    mirror_pairs: tuple[tuple[int, int], ...] = ()
    outer_eye_corners: tuple[int, int] | None = None
    eye_centres: tuple[tuple[int, ...], tuple[int, ...]] | None = None
    closed_groups: frozenset = frozenset()
    source: str = ""
    _perm: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        n = self.n_points
        covered = sorted(i for idx in self.groups.values() for i in idx)
        if covered != list(range(n)):
            raise ValueError(f"scheme {self.name}: the groups must cover the points 0..{n - 1} once each")
        for region, parts in self.regions.items():
            unknown = [g for g in parts if g not in self.groups]
            if unknown:
                raise ValueError(f"scheme {self.name}: region {region!r} names unknown groups {unknown}")
        perm = np.arange(n)
        for a, b in self.mirror_pairs:
            if perm[a] != a or perm[b] != b:
                raise ValueError(f"scheme {self.name}: point {a} or {b} is in two mirror pairs")
            perm[a], perm[b] = b, a
        perm.flags.writeable = False
        object.__setattr__(self, "_perm", perm)
        for pts in [self.outer_eye_corners or ()] + list(self.eye_centres or ()):
            if any(not 0 <= i < n for i in pts):
                raise ValueError(f"scheme {self.name}: reference point outside 0..{n - 1}")

    def __repr__(self) -> str:
        return f"Scheme({self.name!r}, {self.n_points} points)"

    @property
    def mirror_permutation(self) -> np.ndarray:
        """``mirrored[:, i] = reflect(shape[:, perm[i]])``; an involution."""
        return self._perm

    def group_indices(self, group: str) -> np.ndarray:
        return np.asarray(self.groups[group], dtype=np.intp)

    def region_indices(self, region: str) -> np.ndarray:
        """0-based point indices of a region, in group order."""
        return np.concatenate([self.group_indices(g) for g in self.regions[region]])

    def mirror(self, shapes: np.ndarray, image_width: float | np.ndarray) -> np.ndarray:
        """Shapes mirrored horizontally in an image of the given width: x -> width - 1 - x, and
        the points re-indexed by :attr:`mirror_permutation` so each keeps its anatomical label."""
        shapes = np.asarray(shapes, dtype=np.float64)
        width = np.asarray(image_width, dtype=np.float64).reshape(-1, 1) if shapes.ndim == 3 else image_width
        out = shapes[..., self._perm, :].copy()
        out[..., 0] = (width - 1.0) - out[..., 0]
        return out

    def as_dict(self) -> dict:
        return {"name": self.name, "n_points": self.n_points, "description": self.description,
                "outer_eye_corners": self.outer_eye_corners, "eye_centres": self.eye_centres,
                "regions": {r: self.region_indices(r).tolist() for r in self.regions}}


def ranges(**named: tuple[int, int]) -> dict[str, tuple[int, ...]]:
    """Groups from half-open ranges: ``ranges(jaw=(0, 17))`` -> ``{"jaw": (0, ..., 16)}``."""
    return {name: tuple(range(a, b)) for name, (a, b) in named.items()}


__all__ = ["Scheme", "ranges"]
