"""Batched 2-D geometry on shapes ``(N, P, 2)``: boxes, box initialisation, similarity fits.

Transforms are affine matrices ``(N, 2, 3)`` acting on column vectors ``[x, y, 1]``.
The torch twin used inside DAN lives in ``faceeval_methods.dan.geometry_torch`` and is tested
against these functions.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import affine_transform


#: The protocol's training perturbations of the initial shape (DAN release): translation
#: ~ N(0, sigma x mean-shape width/height), rotation ~ N(0, sigma degrees), scale ~ N(1, sigma).
TRAIN_TRANSLATION_SIGMA = 0.2
TRAIN_ROTATION_SIGMA_DEG = 20.0
TRAIN_SCALE_SIGMA = 0.25


def shape_boxes(shapes: np.ndarray) -> np.ndarray:
    """Tight boxes ``[x_min, y_min, x_max, y_max]`` ``(N, 4)`` around each shape."""
    s = np.asarray(shapes, dtype=np.float64)
    return np.concatenate([s.min(axis=-2), s.max(axis=-2)], axis=-1)


def fit_shape_to_boxes(template: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Place a template shape ``(P, 2)`` in each box ``(N, 4)``, as the DAN protocol does.

    The template is scaled by the mean of (box width / template width, box height /
    template height) and its bounding-box centre is put on the box centre.

    >>> t = np.array([[0., 0.], [2., 0.], [2., 1.], [0., 1.]])
    >>> fit_shape_to_boxes(t, np.array([[10., 10., 14., 12.]]))[0].tolist()
    [[10.0, 10.0], [14.0, 10.0], [14.0, 12.0], [10.0, 12.0]]
    """
    t = np.asarray(template, dtype=np.float64)
    b = np.atleast_2d(np.asarray(boxes, dtype=np.float64))
    t_min, t_max = t.min(axis=0), t.max(axis=0)
    t_size, t_centre = t_max - t_min, (t_min + t_max) / 2
    b_size = b[:, 2:] - b[:, :2]
    b_centre = (b[:, :2] + b[:, 2:]) / 2
    scale = (b_size / t_size).mean(axis=1)                       # (N,)
    return (t - t_centre)[None] * scale[:, None, None] + b_centre[:, None, :]


def crop_window(box: np.ndarray, margin: float, image_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """Integer pixel window ``(x0, y0, x1, y1)`` of ``box`` grown by ``margin`` x its larger side
    on every side, clipped to an image of ``image_shape`` (H, W[, C]); may be empty.

    Methods crop to it so that per-image work touches only the face's surroundings.

    >>> crop_window(np.array([10., 10., 20., 30.]), 0.5, (100, 100))
    (0, 0, 30, 40)
    """
    b = np.asarray(box, dtype=np.float64)
    grow = margin * float(np.max(b[2:] - b[:2]))
    h, w = image_shape[:2]
    x0, y0 = (max(int(np.floor(v - grow)), 0) for v in b[:2])
    x1, y1 = int(min(np.ceil(b[2] + grow), w)), int(min(np.ceil(b[3] + grow), h))
    return x0, y0, x1, y1


def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (scale, rotation, translation) mapping ``src`` onto ``dst``.

    ``src`` and ``dst`` are ``(N, P, 2)`` or ``(P, 2)`` (broadcast); returns ``(N, 2, 3)``.
    Closed form: with centred points, ``a = sum(s.d) / |s|^2``, ``b = sum(s x d) / |s|^2``
    and the linear part is ``[[a, -b], [b, a]]``.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    src, dst = np.broadcast_arrays(src if src.ndim == 3 else src[None], dst if dst.ndim == 3 else dst[None])
    mu_s, mu_d = src.mean(axis=1), dst.mean(axis=1)
    s, d = src - mu_s[:, None], dst - mu_d[:, None]
    norm = np.einsum("npk,npk->n", s, s)
    a = np.einsum("npk,npk->n", s, d) / norm
    b = (s[..., 0] * d[..., 1] - s[..., 1] * d[..., 0]).sum(axis=1) / norm
    m = np.empty((src.shape[0], 2, 3))
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = a, -b, b, a
    m[:, :, 2] = mu_d - np.einsum("nij,nj->ni", m[:, :, :2], mu_s)
    return m


def apply_affine(shapes: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """Apply ``(N, 2, 3)`` (or one ``(2, 3)``) affine matrices to shapes ``(N, P, 2)``."""
    s = np.asarray(shapes, dtype=np.float64)
    m = np.asarray(matrices, dtype=np.float64)
    return np.einsum("...ij,...pj->...pi", m[..., :, :2], s) + m[..., None, :, 2]


def invert_affine(matrices: np.ndarray) -> np.ndarray:
    """Inverse of ``(..., 2, 3)`` affine matrices."""
    m = np.asarray(matrices, dtype=np.float64)
    lin_inv = np.linalg.inv(m[..., :, :2])
    out = np.empty_like(m)
    out[..., :, :2] = lin_inv
    out[..., :, 2] = -np.einsum("...ij,...j->...i", lin_inv, m[..., :, 2])
    return out


def similarity_matrix(scale, angle, tx, ty) -> np.ndarray:
    """Affine matrices ``(N, 2, 3)`` from scale, rotation angle (radians, counter-clockwise) and translation."""
    scale, angle, tx, ty = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, dtype=np.float64))
                                                 for v in (scale, angle, tx, ty)))
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    return np.stack([np.stack([c, -s, tx], -1), np.stack([s, c, ty], -1)], -2)


def warp_image(image: np.ndarray, matrix: np.ndarray, shape: tuple[int, int], order: int = 1,
               mode: str = "constant") -> np.ndarray:
    """Resample ``image`` on an output grid of ``shape`` (H, W) through an affine map.

    ``matrix`` ``(2, 3)`` maps output pixel coordinates (x, y) to input coordinates,
    i.e. ``out(p) = image(matrix @ [p, 1])``; outside the image the output is 0 (``mode="constant"``)
    or the nearest edge pixel (``mode="nearest"``).
    Grey ``(H, W)`` and RGB ``(H, W, 3)`` uint8 images keep their dtype.

    >>> img = np.arange(12, dtype=np.uint8).reshape(3, 4)
    >>> shift = np.array([[1., 0., 1.], [0., 1., 0.]])          # out(x, y) = img(x + 1, y)
    >>> warp_image(img, shift, (3, 3)).tolist()
    [[1, 2, 3], [5, 6, 7], [9, 10, 11]]
    """
    img = np.asarray(image)
    m = np.asarray(matrix, dtype=np.float64).reshape(2, 3)
    # scipy works in (row, col) = (y, x): swap both axes of the linear part and the offset.
    lin = m[::-1, :2][:, ::-1]
    offset = m[::-1, 2]
    channels = [img] if img.ndim == 2 else [img[..., c] for c in range(img.shape[2])]
    warped = [affine_transform(ch.astype(np.float32), lin, offset=offset, output_shape=tuple(shape),
                                       order=order, mode=mode, cval=0.0) for ch in channels]
    out = warped[0] if img.ndim == 2 else np.stack(warped, axis=-1)
    if np.issubdtype(img.dtype, np.integer):
        info = np.iinfo(img.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(img.dtype, copy=False)
