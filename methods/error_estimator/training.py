"""Training data for the error estimator: a method's predictions from perturbed starts.

Each face starts from the protocol's training initialisation (the mean shape in the
tight box of the ground truth) moved by random similarities drawn as in DAN's
training set: translation ~ N(0, 0.2 × shape width/height), rotation ~ N(0, 20°),
scale ~ N(1, 0.25). Methods take boxes, not shapes, so a perturbation P is applied
to the image instead: the method sees ``I'(y) = I(P(y))`` from the unperturbed box,
which relative to the face is the start P(S0), and its answer is mapped back by P.
The spread of starts makes the errors span good fits and failures alike.

Generation is chunked and cached (``cache``), so a killed job resumes.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from faceeval.plugin import Dataset
from faceeval.plugin import (TRAIN_ROTATION_SIGMA_DEG, TRAIN_SCALE_SIGMA, TRAIN_TRANSLATION_SIGMA, apply_affine,
                               fit_shape_to_boxes, shape_boxes, similarity_matrix, warp_image)
from faceeval.plugin import DataError, save_npz
from faceeval.plugin import point_to_point_error
from faceeval.plugin import dan_mean_shape

from .features import HogConfig, landmark_hog
from .model import DEFAULT_ALPHAS, ErrorEstimator, fit_ridge, quality

#: The protocol's training perturbations (DAN release).
TRANSLATION_STD = TRAIN_TRANSLATION_SIGMA
ROTATION_STD_DEG = TRAIN_ROTATION_SIGMA_DEG
SCALE_STD = TRAIN_SCALE_SIGMA
#: Scales below this are clipped (a Gaussian of std 0.25 can reach 0 and below).
MIN_SCALE = 0.4
#: Side of the canvas a perturbed face is resampled into, in units of its box side.
CANVAS_FACTOR = 2.5
#: Larger faces are shrunk to this box side (pixels) in the perturbed views.
MAX_FACE_SIDE = 256
#: Images per cached chunk.
CHUNK = 32


def perturbations(init_shape: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` random similarities ``(k, 2, 3)`` about the centre of ``init_shape`` (68, 2)."""
    lo, hi = init_shape.min(axis=0), init_shape.max(axis=0)
    centre, size = (lo + hi) / 2, hi - lo
    shift = rng.normal(0.0, TRANSLATION_STD, size=(k, 2)) * size
    angle = np.deg2rad(rng.normal(0.0, ROTATION_STD_DEG, size=k))
    scale = np.maximum(rng.normal(1.0, SCALE_STD, size=k), MIN_SCALE)
    m = similarity_matrix(scale, angle, 0.0, 0.0)
    m[:, :, 2] = centre + shift - np.einsum("kij,j->ki", m[:, :, :2], centre)
    return m


def perturbed_predictions(method, image: np.ndarray, ground_truth: np.ndarray, k: int,
                          rng: np.random.Generator) -> np.ndarray:
    """``k`` predictions ``(k, 68, 2)`` of ``method`` on one image from perturbed starts.

    Each perturbed view is resampled into a canvas of :data:`CANVAS_FACTOR` box sides,
    with faces larger than :data:`MAX_FACE_SIDE` pixels shrunk to it (cheaper warps;
    the methods resample the face to their own input size anyway).
    """
    box = shape_boxes(ground_truth[None])[0]
    init = fit_shape_to_boxes(dan_mean_shape(), box[None])[0]
    box_side = max(box[2] - box[0], box[3] - box[1])
    shrink = min(1.0, MAX_FACE_SIDE / box_side)
    side = int(np.ceil(CANVAS_FACTOR * box_side * shrink))
    centre, canvas_centre = (box[:2] + box[2:]) / 2, (side - 1) / 2
    canvas_box = np.concatenate([(box[:2] - centre) * shrink, (box[2:] - centre) * shrink]) + canvas_centre
    to_image = np.array([[1 / shrink, 0, centre[0] - canvas_centre / shrink],
                         [0, 1 / shrink, centre[1] - canvas_centre / shrink]])      # canvas -> unperturbed image
    maps = perturbations(init, k, rng)
    maps = np.concatenate([maps[:, :, :2] @ to_image[:, :2], (maps[:, :, :2] @ to_image[:, 2:]) + maps[:, :, 2:]], axis=2)
    warped = [warp_image(image, m, (side, side)) for m in maps]
    pred = np.asarray(method.predict(warped, np.repeat(canvas_box[None], k, axis=0)), dtype=np.float64)
    return apply_affine(pred, maps)


@dataclass
class TrainingData:
    """One row per prediction: the image it came from, its HOG features and true error."""

    ids: np.ndarray          # (M,) image ids
    features: np.ndarray     # (M, D) float32
    errors: np.ndarray       # (M,) inter-ocular error
    shapes: np.ndarray       # (M, 68, 2) the predictions


def _key(method, dataset: Dataset, k: int, seed: int, config: HogConfig) -> str:
    what = {"method": method.provenance(), "dataset": dataset.name, "subset": dataset.subset,
            "root": str(dataset.root), "k": k, "seed": seed, "hog": config.to_dict(),
            "perturb": [TRANSLATION_STD, ROTATION_STD_DEG, SCALE_STD, MIN_SCALE, CANVAS_FACTOR, MAX_FACE_SIDE]}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def _image_rng(seed: int, sample_id: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}:{sample_id}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def generate_training_data(method, dataset: Dataset, k: int = 4, seed: int = 0, config: HogConfig = HogConfig(),
                           cache: str | Path | None = None, progress: bool = True) -> TrainingData:
    """Predict each face of ``dataset`` from ``k`` perturbed starts; features and true errors.

    Every face draws its perturbations from its own seeded generator, so the data do
    not depend on chunking or on resuming from ``cache`` (a folder of finished chunks).
    """
    if k < 1:
        raise ValueError(f"k (perturbations per face) must be >= 1, got {k}")
    samples = [s for s in dataset.samples if s.ground_truth is not None]
    if not samples:
        raise ValueError(f"{dataset.name}/{dataset.subset}: no faces with ground truth to train on")
    folder = Path(cache) / _key(method, dataset, k, seed, config) if cache is not None else None
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(samples), desc=f"{method.name} from perturbed starts", unit="face", leave=False)
    parts = []
    for start in range(0, len(samples), CHUNK):
        chunk = samples[start:start + CHUNK]
        path = folder / f"chunk_{start:07d}.npz" if folder is not None else None
        if path is not None and path.is_file():
            with np.load(path, allow_pickle=False) as z:
                if [str(i) for i in z["ids"][::k]] == [s.id for s in chunk]:
                    parts.append(TrainingData(z["ids"], z["features"], z["errors"], z["shapes"]))
                    if bar is not None:
                        bar.update(len(chunk))
                    continue
        ids, feats, errs, shapes = [], [], [], []
        for sample in chunk:
            image = sample.load_image()
            pred = perturbed_predictions(method, image, sample.ground_truth, k, _image_rng(seed, sample.id))
            gt = np.repeat(sample.ground_truth[None], k, axis=0)
            errs.append(point_to_point_error(pred, gt, "inter-ocular", ids=[sample.id] * k))
            feats.append(landmark_hog(image, pred, config))
            ids += [sample.id] * k
            shapes.append(pred)
            if bar is not None:
                bar.update(1)
        part = TrainingData(np.array(ids), np.concatenate(feats), np.concatenate(errs), np.concatenate(shapes))
        if path is not None:
            save_npz(path, ids=part.ids, features=part.features, errors=part.errors, shapes=part.shapes)
        parts.append(part)
    if bar is not None:
        bar.close()
    return TrainingData(np.concatenate([p.ids for p in parts]), np.concatenate([p.features for p in parts]),
                        np.concatenate([p.errors for p in parts]), np.concatenate([p.shapes for p in parts]))


def heldout_mask(ids: Sequence[str], fraction: float, seed: int = 0) -> np.ndarray:
    """Boolean mask of rows whose image falls in the held-out part (by seeded hash of the id).

    All predictions of one image land on the same side, so held-out quality is measured
    on unseen faces. At least one image is held out and one kept when there are two or more.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"held-out fraction must be in (0, 1), got {fraction}")
    ids = [str(i) for i in ids]
    unique = sorted(set(ids))
    score = {u: int.from_bytes(hashlib.sha256(f"heldout:{seed}:{u}".encode()).digest()[:8], "big") for u in unique}
    ranked = sorted(unique, key=score.get)
    n_held = min(max(int(round(fraction * len(unique))), 1), max(len(unique) - 1, 1))
    held = set(ranked[:n_held])
    return np.array([i in held for i in ids])


def train_estimator(data: TrainingData, config: HogConfig = HogConfig(), heldout: float = 0.2, seed: int = 0,
                    alphas: Sequence[float] = DEFAULT_ALPHAS, clip: float = 0.5,
                    meta: dict | None = None) -> tuple[ErrorEstimator, dict]:
    """Fit on the non-held-out images, report quality on the held-out ones.

    Targets are clipped at ``clip``: a diverged fit (error 2.0) would otherwise dominate
    the squared loss, while all the estimator needs is to rank it as bad.
    """
    if data.features.shape[1] != config.length:
        raise ValueError(f"features have length {data.features.shape[1]}, config expects {config.length}")
    test = heldout_mask(data.ids, heldout, seed)
    if test.all() or not test.any():
        raise DataError("need faces of at least two images to hold some out")
    ridge = fit_ridge(data.features[~test], np.minimum(data.errors[~test], clip), alphas, groups=data.ids[~test])
    report = {"heldout": quality(ridge.predict(data.features[test]), data.errors[test]),
              "train": quality(ridge.predict(data.features[~test]), data.errors[~test]),
              "alpha": ridge.alpha, "n_images": int(len(set(map(str, data.ids)))),
              "n_heldout_images": int(len(set(map(str, data.ids[test]))))}
    estimator = ErrorEstimator(config, ridge, {**(meta or {}), "clip": clip, "heldout_fraction": heldout,
                                               "seed": seed, "quality": report})
    return estimator, report


__all__ = ["perturbations", "perturbed_predictions", "TrainingData", "generate_training_data", "heldout_mask",
           "train_estimator"]
