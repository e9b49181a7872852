"""Patch descriptors for the SDM regressors, chosen by name so a saved model can name its own.

menpofit calls the feature on every landmark patch (an array ``(channels, h, w)``) at
every cascade step, so these are plain numpy and cheap. A saved model stores only the
name; loading looks it up here (no code is ever unpickled).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np

_EPS = 1e-6


@lru_cache(maxsize=32)
def _cell_bin_offsets(h: int, w: int, cells: int, bins: int) -> np.ndarray:
    """First histogram index of each pixel's cell, ``(h, w)``."""
    cell_y = np.minimum(np.arange(h) * cells // h, cells - 1)
    cell_x = np.minimum(np.arange(w) * cells // w, cells - 1)
    return (cell_y[:, None] * cells + cell_x[None, :]) * bins


def orientation_histograms(patch: np.ndarray, cells: int = 2, bins: int = 8) -> np.ndarray:
    """A small HOG-like descriptor: gradient-magnitude-weighted histograms of unsigned gradient
    orientation in ``cells x cells`` cells, L2-normalised over the patch. Length ``cells**2 * bins``.

    Gradients are central differences on the patch's interior (menpofit calls this on every
    landmark patch at every cascade step, so it is kept to a few numpy calls).

    >>> orientation_histograms(np.tile(np.arange(8.), (8, 1))[None]).reshape(4, 8).argmax(axis=1).tolist()
    [0, 0, 0, 0]
    """
    p = np.asarray(patch, dtype=np.float64)
    if p.ndim == 3:
        p = p[0] if p.shape[0] == 1 else p.mean(axis=0)
    gx = p[1:-1, 2:] - p[1:-1, :-2]
    gy = p[2:, 1:-1] - p[:-2, 1:-1]
    magnitude = np.hypot(gx, gy)
    orientation = np.arctan2(gy, gx) % np.pi                                # unsigned, 0..pi
    bin_index = np.minimum((orientation * (bins / np.pi)).astype(np.intp), bins - 1)
    index = _cell_bin_offsets(*gx.shape, cells, bins) + bin_index
    hist = np.bincount(index.ravel(), weights=magnitude.ravel(), minlength=cells * cells * bins)
    return hist / (np.sqrt(hist @ hist) + _EPS)


def standardised_pixels(patch: np.ndarray) -> np.ndarray:
    """The patch's grey pixels, zero mean and unit standard deviation (illumination-invariant)."""
    p = np.asarray(patch, dtype=np.float64)
    if p.ndim == 3:
        p = p[0] if p.shape[0] == 1 else p.mean(axis=0)
    return ((p - p.mean()) / (p.std() + _EPS)).ravel()


#: Version of each feature's computation, stored with a model: a model is refused if the feature
#: it was trained with has changed since (bump the number when changing a feature's output).
FEATURE_VERSIONS: dict[str, int] = {"hog": 1, "pixels": 1}

#: Name -> patch feature; the names are what saved models store.
PATCH_FEATURES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "hog": orientation_histograms,
    "pixels": standardised_pixels,
}


def patch_feature(name: str) -> Callable[[np.ndarray], np.ndarray]:
    if name not in PATCH_FEATURES:
        raise ValueError(f"unknown SDM patch feature {name!r}; choose one of {', '.join(PATCH_FEATURES)}")
    return PATCH_FEATURES[name]
