"""Getting faces into menpofit's format, and the similarity warps used to train on tiny sets."""
from __future__ import annotations

from typing import Iterable, Iterator, Sequence

import numpy as np

from faceeval.plugin import apply_affine, crop_window, invert_affine, shape_boxes, similarity_matrix, warp_image
from faceeval.plugin import shape_to_menpo, to_gray

#: Context kept around a face box when cropping (fraction of the box's larger side, each way).
CROP_MARGIN = 0.6


def crop_around_box(image: np.ndarray, box: np.ndarray, margin: float = CROP_MARGIN) -> tuple[np.ndarray, np.ndarray]:
    """Grey float image (0..1) cropped to ``box`` grown by ``margin``; returns (crop, (x0, y0) offset).

    Fitting touches only the face, so cropping first keeps menpo's whole-image rescale cheap.
    """
    grey = to_gray(image) / 255.0
    x0, y0, x1, y1 = crop_window(box, margin, grey.shape)
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise ValueError(f"box {np.round(box, 1).tolist()} lies outside the image {grey.shape[::-1]}")
    return grey[y0:y1, x0:x1], np.array([x0, y0], dtype=np.float64)


def to_menpo_training_image(image: np.ndarray, shape: np.ndarray, diagonal: float):
    """A menpo image of the face, cropped and scaled so its ground-truth box diagonal is ``diagonal``,
    with the points in the landmark group ``"PTS"``."""
    from menpo.image import Image

    box = shape_boxes(shape[None])[0]
    crop, offset = crop_around_box(image, box)
    menpo_image = Image(crop[None].astype(np.float32), copy=False)
    menpo_image.landmarks["PTS"] = shape_to_menpo(shape - offset)
    return menpo_image.rescale_landmarks_to_diagonal_range(diagonal, group="PTS")


def similarity_warps(image: np.ndarray, shape: np.ndarray, n: int, rng: np.random.Generator,
                     size: int = 160, rotation_deg: float = 15.0, scale_sd: float = 0.1,
                     shift_sd: float = 0.05) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``n`` random similarity warps of a face: grey uint8 ``(size, size)`` images and their shapes.

    The face's box is first centred in the output with its larger side ``size / 2``;
    then rotation ~ N(0, rotation_deg), scale ~ N(1, scale_sd) and shift ~ N(0, shift_sd
    * size) are drawn per warp. Used to train and test SDM on the few builtin faces.
    """

    grey = to_gray(image)
    box = shape_boxes(shape[None])[0]
    centre = (box[:2] + box[2:]) / 2
    base = size / 2 / float(np.max(box[2:] - box[:2]))
    for _ in range(n):
        angle = np.deg2rad(rng.normal(0.0, rotation_deg))
        scale = base * max(rng.normal(1.0, scale_sd), 0.5)
        shift = size / 2 + rng.normal(0.0, shift_sd * size, 2)
        c, s = scale * np.cos(angle), scale * np.sin(angle)
        t = shift - np.array([[c, -s], [s, c]]) @ centre
        forward = similarity_matrix(scale, angle, t[0], t[1])[0]       # image -> warp
        inverse = invert_affine(forward)                                # warp -> image, (x, y)
        warped = warp_image(grey, inverse, (size, size), order=1, mode="nearest")
        yield np.clip(np.rint(warped), 0, 255).astype(np.uint8), apply_affine(shape, forward)


def warped_faces(images: Sequence[np.ndarray], shapes: Iterable[np.ndarray], per_face: int, seed: int,
                 size: int = 160) -> tuple[list[np.ndarray], np.ndarray]:
    """``per_face`` similarity warps of every face: (images, shapes ``(N, 68, 2)``)."""
    rng = np.random.default_rng(seed)
    out_images, out_shapes = [], []
    for image, shape in zip(images, shapes):
        for warped, warped_shape in similarity_warps(image, shape, per_face, rng, size=size):
            out_images.append(warped)
            out_shapes.append(warped_shape)
    return out_images, np.stack(out_shapes) if out_shapes else np.zeros((0, 68, 2))
