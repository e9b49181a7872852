"""The boxless two-step initialisation used for Menpo (no detector boxes).

Step 1 runs a method from a square box centred in the image whose side is a
fraction of the image height (the DAN paper found 46% best on Menpo, choosing it
with a learned error estimator). Step 2 removes the pose that step 1 found: the
image is warped so that step 1's landmarks match the canonical shape (the DAN mean
shape) in rotation and position (the scale is kept at 1, so is the resolution), the
method runs again from the tight box of the warped landmarks (the protocol's
``gt-box``-style box of an upright face), and its answer is mapped back with the
inverse transform.

The fraction defaults to :data:`DEFAULT_FRACTION`. It is part of a run's key, so it is
resolved once, before a run starts (:func:`resolve_options`); nothing here reads the
environment. (The command line's ``--box-fraction`` also reads ``$FACEEVAL_TWO_STEP_FRACTION``.)

This module works with any :class:`~faceeval.methods.LandmarkMethod` and never
imports a method package.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .errors import OptionError
from .geometry import apply_affine, estimate_similarity, invert_affine, shape_boxes, warp_image
from .resources import dan_mean_shape

#: The box fraction of the paper's Menpo entry.
DEFAULT_FRACTION = 0.46
#: Valid box fractions: ``FRACTION_RANGE[0] < fraction <= FRACTION_RANGE[1]``.
FRACTION_RANGE = (0.0, 2.0)
#: The environment variable that ``--box-fraction`` of the command line falls back on.
FRACTION_ENV = "FACEEVAL_TWO_STEP_FRACTION"
#: Side of the step-2 canvas, in units of the larger side of the canonical shape's box.
CANVAS_FACTOR = 2.0


def _check_fraction(fraction) -> float:
    try:
        value = float(fraction)
    except (TypeError, ValueError):
        raise OptionError(f"two-step box fraction {fraction!r} is not a number (e.g. {DEFAULT_FRACTION})") from None
    low, high = FRACTION_RANGE
    if not (np.isfinite(value) and low < value <= high):
        raise OptionError(f"two-step box fraction must be in ({low:g}, {high:g}] (box side / image height), "
                          f"got {fraction!r}")
    return value


def resolve_options(options: Mapping | None = None) -> dict:
    """The two-step options, validated, with the default filled in: ``{"fraction": f}``.

    >>> resolve_options({})
    {'fraction': 0.46}
    >>> resolve_options({"fraction": "0.3"})
    {'fraction': 0.3}
    """
    options = dict(options or {})
    unknown = sorted(set(options) - {"fraction"})
    if unknown:
        raise OptionError(f"--init two-step takes the option fraction only, got {', '.join(unknown)}")
    fraction = options.get("fraction")
    return {"fraction": DEFAULT_FRACTION if fraction is None else _check_fraction(fraction)}


def centred_boxes(images: Sequence[np.ndarray], fraction: float) -> np.ndarray:
    """Square boxes ``(N, 4)`` centred in each image, side = ``fraction`` × image height.

    >>> centred_boxes([np.zeros((100, 200))], 0.5).tolist()
    [[74.5, 24.5, 124.5, 74.5]]
    """
    _check_fraction(fraction)
    out = np.empty((len(images), 4))
    for i, image in enumerate(images):
        h, w = np.asarray(image).shape[:2]
        cx, cy, half = (w - 1) / 2, (h - 1) / 2, fraction * h / 2
        out[i] = cx - half, cy - half, cx + half, cy + half
    return out


def canonical_frames(shapes: np.ndarray, template: np.ndarray | None = None,
                     canvas_factor: float = CANVAS_FACTOR) -> tuple[np.ndarray, np.ndarray]:
    """Rigid maps ``(N, 2, 3)`` (image -> upright frame) and square canvas sides ``(N,)``.

    The rotation is that of the least-squares similarity from each shape onto
    ``template`` (default: the DAN mean shape); the scale is left at 1, so the warp
    removes rotation and position but keeps the resolution. The shape's centroid goes
    to the centre of a canvas of side ``canvas_factor`` × the larger side of its box.
    """
    s = np.asarray(shapes, dtype=np.float64)
    t = dan_mean_shape() if template is None else np.asarray(template, dtype=np.float64)
    fit = estimate_similarity(s, t - t.mean(axis=0))
    rotation = fit[:, :, :2] / np.sqrt(np.abs(np.linalg.det(fit[:, :, :2])))[:, None, None]
    centroid = s.mean(axis=1)
    rotated = np.einsum("nij,npj->npi", rotation, s - centroid[:, None])
    extent = (rotated.max(axis=1) - rotated.min(axis=1)).max(axis=1)
    sides = np.maximum(np.ceil(canvas_factor * extent), 8).astype(int)
    frames = np.concatenate([rotation, ((sides - 1) / 2)[:, None, None]
                             - np.einsum("nij,nj->ni", rotation, centroid)[:, :, None]], axis=2)
    return frames, sides


def two_step_predict(method, images: Sequence[np.ndarray], fraction: float | None = None,
                     return_first: bool = False):
    """Landmarks ``(N, 68, 2)`` for faces with no box: centred box, then an upright re-run.

    Parameters
    ----------
    method : LandmarkMethod
        Any method; it is called twice with ``predict(images, boxes)``.
    images : sequence of uint8 arrays
        Grey ``(H, W)`` or RGB ``(H, W, 3)``.
    fraction : float, optional
        Side of the centred step-1 box as a fraction of the image height; default
        :data:`DEFAULT_FRACTION` (0.46).
    return_first : bool
        Also return step 1's shapes (to measure what step 2 adds).

    Examples
    --------
    >>> from faceeval.methods import load_method
    >>> shapes = two_step_predict(load_method("meanshape"), [np.zeros((200, 300), np.uint8)], 0.5)
    >>> shapes.shape
    (1, 68, 2)
    """
    fraction = DEFAULT_FRACTION if fraction is None else _check_fraction(fraction)
    if getattr(method, "scheme", "ibug68") != "ibug68":
        raise OptionError(f"--init two-step aligns to the 68-point DAN mean shape; method "
                          f"{getattr(method, 'name', method)!r} predicts {method.scheme} shapes")
    images = list(images)
    if not images:
        empty = np.zeros((0, 68, 2))
        return (empty, empty) if return_first else empty
    first = np.asarray(method.predict(images, centred_boxes(images, fraction)), dtype=np.float64)
    if first.shape != (len(images), 68, 2):
        raise ValueError(f"method {getattr(method, 'name', method)!r} returned shape {first.shape} "
                         f"for {len(images)} images")
    spread = first.std(axis=1).sum(axis=-1)
    bad = ~(np.isfinite(first).all(axis=(1, 2)) & (spread > 0))
    if bad.any():
        raise ValueError(f"two-step: step 1 of method {getattr(method, 'name', method)!r} gave a non-finite or "
                         f"collapsed shape for image #{int(np.flatnonzero(bad)[0])} ({int(bad.sum())} in all)")
    to_frame, sides = canonical_frames(first)
    from_frame = invert_affine(to_frame)
    warped = [warp_image(img, m, (side, side)) for img, m, side in zip(images, from_frame, sides)]
    boxes = shape_boxes(apply_affine(first, to_frame))
    second = np.asarray(method.predict(warped, boxes), dtype=np.float64)
    result = apply_affine(second, from_frame)
    return (result, first) if return_first else result


__all__ = ["DEFAULT_FRACTION", "FRACTION_RANGE", "FRACTION_ENV", "resolve_options", "centred_boxes",
           "canonical_frames", "two_step_predict"]
