"""HOG descriptors at the 68 landmarks of a shape, in a face frame of fixed size.

Each shape is mapped by a least-squares similarity onto the canonical shape (the DAN
mean shape scaled to a face width of ``face_size`` pixels), so the descriptor does not
depend on the image size, the face size or the in-plane rotation. Around every
transformed landmark a ``patch_size`` square is resampled from the grey image
(bilinear, after a Gaussian pre-blur when the face is shrunk, against aliasing) and
described with scikit-image's :func:`skimage.feature.hog`. The 68 descriptors are
concatenated: the feature length is fixed by the :class:`HogConfig` alone.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from scipy import ndimage

from faceeval.plugin import estimate_similarity, invert_affine
from faceeval.plugin import to_gray
from faceeval.plugin import dan_mean_shape


@dataclass(frozen=True)
class HogConfig:
    """How landmark HOG features are computed (stored with a trained estimator).

    ``face_size``: width in pixels of the canonical face the shape is mapped onto;
    ``patch_size``: side of the square patch around each landmark, in those pixels;
    ``orientations``, ``cell_size``, ``block_size``: passed to ``skimage.feature.hog``.
    """

    face_size: float = 96.0
    patch_size: int = 32
    orientations: int = 9
    cell_size: int = 16
    block_size: int = 2

    def __post_init__(self):
        if self.patch_size % self.cell_size or self.patch_size // self.cell_size < self.block_size:
            raise ValueError(f"patch_size {self.patch_size} must be a multiple of cell_size {self.cell_size} "
                             f"holding at least block_size {self.block_size} cells")
        if self.face_size <= 0 or self.orientations < 1:
            raise ValueError("face_size must be > 0 and orientations >= 1")

    @property
    def length_per_landmark(self) -> int:
        cells = self.patch_size // self.cell_size
        blocks = cells - self.block_size + 1
        return blocks * blocks * self.block_size ** 2 * self.orientations

    @property
    def length(self) -> int:
        """Feature length per shape (68 landmarks)."""
        return 68 * self.length_per_landmark

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "HogConfig":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def _canonical_shape(config: HogConfig) -> np.ndarray:
    t = dan_mean_shape()
    t = t - t.mean(axis=0)
    return t * (config.face_size / (t[:, 0].max() - t[:, 0].min()))


def _patch_offsets(config: HogConfig) -> np.ndarray:
    """(P*P, 2) pixel-centre offsets (x, y) of a patch centred on a landmark."""
    r = np.arange(config.patch_size) - (config.patch_size - 1) / 2
    yy, xx = np.meshgrid(r, r, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=-1)


def _sample_patches(gray: np.ndarray, points: np.ndarray, shrink: float) -> np.ndarray:
    """Bilinear samples of ``gray`` at ``points`` (..., 2) (x, y), pre-blurred when ``shrink`` > 1."""
    h, w = gray.shape
    flat = points.reshape(-1, 2)
    if shrink > 1.25:
        sigma = 0.5 * np.sqrt(shrink ** 2 - 1)
        pad = int(np.ceil(3 * sigma)) + 2
        x0 = int(np.clip(np.floor(flat[:, 0].min()) - pad, 0, w))
        x1 = int(np.clip(np.ceil(flat[:, 0].max()) + pad + 1, 0, w))
        y0 = int(np.clip(np.floor(flat[:, 1].min()) - pad, 0, h))
        y1 = int(np.clip(np.ceil(flat[:, 1].max()) + pad + 1, 0, h))
        if x1 > x0 and y1 > y0:
            gray = ndimage.gaussian_filter(gray[y0:y1, x0:x1], sigma)
            flat = flat - [x0, y0]
        else:   # the patches lie outside the image: all samples are 0 anyway
            gray = np.zeros((1, 1), np.float32)
            flat = np.full_like(flat, -10.0)
    values = ndimage.map_coordinates(gray, [flat[:, 1], flat[:, 0]], order=1, mode="constant", cval=0.0)
    return values.reshape(points.shape[:-1])


def landmark_hog(image: np.ndarray, shapes: np.ndarray, config: HogConfig = HogConfig()) -> np.ndarray:
    """HOG features ``(N, config.length)`` float32 of the shapes ``(N, 68, 2)`` on one image.

    Examples
    --------
    >>> from faceeval.datasets import load_dataset
    >>> sample = load_dataset("builtin").samples[2]
    >>> landmark_hog(sample.load_image(), sample.ground_truth[None]).shape
    (1, 2448)
    """
    from skimage.feature import hog          # the 'estimator' extra (its commands check it up front)

    shapes = np.asarray(shapes, dtype=np.float64)
    if shapes.ndim == 2:
        shapes = shapes[None]
    if shapes.ndim != 3 or shapes.shape[1:] != (68, 2):
        raise ValueError(f"shapes must be (N, 68, 2), got {shapes.shape}")
    out = np.zeros((len(shapes), config.length), dtype=np.float32)
    if not len(shapes):
        return out
    if not np.isfinite(shapes).all():
        raise ValueError("shapes contain non-finite coordinates")
    gray = to_gray(image)
    canonical = _canonical_shape(config)
    to_face = estimate_similarity(shapes, canonical)              # image -> canonical face frame
    to_image = invert_affine(to_face)
    offsets = _patch_offsets(config)
    hog_args = dict(orientations=config.orientations, pixels_per_cell=(config.cell_size,) * 2,
                    cells_per_block=(config.block_size,) * 2, block_norm="L2-Hys", feature_vector=True)
    for n in range(len(shapes)):
        landmarks = to_face[n, :, :2] @ shapes[n].T + to_face[n, :, 2:]          # (2, 68)
        grid = landmarks.T[:, None, :] + offsets[None]                            # (68, P*P, 2)
        points = grid @ to_image[n, :, :2].T + to_image[n, :, 2]
        shrink = float(np.sqrt(abs(np.linalg.det(to_image[n, :, :2]))))          # image px per face px
        patches = _sample_patches(gray, points, shrink).reshape(68, config.patch_size, config.patch_size)
        out[n] = np.concatenate([hog(p, **hog_args) for p in patches])
    return out


def features_for(images: Sequence[np.ndarray], shapes: np.ndarray, config: HogConfig = HogConfig(),
                 progress: bool = False) -> np.ndarray:
    """Features ``(N, config.length)`` for one shape per image."""
    shapes = np.asarray(shapes, dtype=np.float64)
    if len(images) != len(shapes):
        raise ValueError(f"{len(images)} images but {len(shapes)} shapes")
    rows = range(len(images))
    if progress:
        from tqdm.auto import tqdm

        rows = tqdm(rows, desc="HOG features", unit="face", leave=False)
    out = np.zeros((len(images), config.length), dtype=np.float32)
    for i in rows:
        out[i] = landmark_hog(images[i], shapes[i][None], config)[0]
    return out


__all__ = ["HogConfig", "landmark_hog", "features_for"]
