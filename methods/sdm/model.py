"""Train, save and rebuild menpofit's regularised SDM without pickle.

A trained :class:`menpofit.sdm.RegularizedSDM` is a reference shape, a list of
scales and, per scale, a cascade of linear regressors (``IRLRegression.W``) plus the
patch settings. :func:`save_model` writes exactly those numbers to ``sdm.npz``
(``allow_pickle=False`` on load) and the settings to ``sdm.json``; :func:`load_model`
rebuilds the menpofit fitter from them. Loading never executes stored code, so a
model file from anywhere is safe to open.
"""
from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from faceeval.plugin import DataError, open_npz, read_json_object, save_npz, write_json
from faceeval.plugin import MissingExtraError
from faceeval.plugin import MissingWeightsError

from .features import FEATURE_VERSIONS, patch_feature

FORMAT = "faceeval-sdm"
FORMAT_VERSION = 1
NPZ_NAME, JSON_NAME = "sdm.npz", "sdm.json"


@dataclass
class SDMConfig:
    """Hyper-parameters of the regularised SDM (menpofit's names)."""

    feature: str = "hog"                     # a name in features.PATCH_FEATURES
    patch_size: int = 24                     # square patch side, pixels of the scaled face
    scales: tuple[float, ...] = (0.5, 1.0)
    n_iterations: int = 6                    # cascade steps over all scales
    n_perturbations: int = 10                # initialisations per training image (DAN uses 10 too)
    diagonal: float = 150.0                  # reference-shape box diagonal at scale 1 (pixels)
    alpha: float = 1e-2                      # ridge regularisation of each regressor
    seed: int = 0

    def __post_init__(self):
        patch_feature(self.feature)
        self.scales = tuple(float(s) for s in self.scales)
        if self.patch_size < 4 or self.n_iterations < len(self.scales) or self.n_perturbations < 1:
            raise ValueError(f"invalid SDM config: {self}")


@dataclass
class SDMModel:
    """A rebuilt (or freshly trained) menpofit fitter and what it was built from."""

    fitter: object
    config: SDMConfig
    info: dict = field(default_factory=dict)

    @property
    def reference_shape(self) -> np.ndarray:
        """The fitter's reference shape ``(68, 2)`` in (x, y)."""
        return np.asarray(self.fitter.reference_shape.points)[:, ::-1].copy()


def import_menpofit():
    """menpofit's SDM pieces, or a :class:`~faceeval.errors.MissingExtraError` naming the 'sdm' extra
    (and its numpy<2 pin)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from menpofit.fitter import MultiScaleNonParametricFitter, noisy_shape_from_bounding_box
            from menpofit.math import IRLRegression
            from menpofit.sdm import RegularizedSDM
            from menpofit.sdm.algorithm import NonParametricNewton
    except ImportError as exc:
        raise MissingExtraError("sdm", "sdm") from exc
    return {"RegularizedSDM": RegularizedSDM, "MultiScaleNonParametricFitter": MultiScaleNonParametricFitter,
            "noisy_shape_from_bounding_box": noisy_shape_from_bounding_box, "IRLRegression": IRLRegression,
            "NonParametricNewton": NonParametricNewton}


def train_model(images: list, config: SDMConfig, verbose: bool = False, info: dict | None = None) -> SDMModel:
    """Train on menpo images carrying their 68 ground-truth points in the landmark group ``"PTS"``."""
    mf = import_menpofit()
    np.random.seed(config.seed)          # menpofit draws its perturbations from numpy's global RNG
    n_scales = len(config.scales)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitter = mf["RegularizedSDM"](
            images, group="PTS", alpha=config.alpha, diagonal=config.diagonal,
            patch_features=patch_feature(config.feature),
            patch_shape=[(config.patch_size, config.patch_size)] * n_scales, scales=config.scales,
            n_iterations=config.n_iterations, n_perturbations=config.n_perturbations, verbose=verbose)
    return SDMModel(fitter, config, dict(info or {}))


def save_model(model: SDMModel, folder: str | Path) -> Path:
    """Write ``sdm.npz`` (numbers) and ``sdm.json`` (settings) into ``folder``, atomically."""
    folder = Path(folder)
    arrays = {"reference_shape": np.asarray(model.fitter.reference_shape.points, dtype=np.float64)}
    n_steps = []
    for j, algorithm in enumerate(model.fitter.algorithms):
        n_steps.append(len(algorithm.regressors))
        for k, regressor in enumerate(algorithm.regressors):
            arrays[f"W_{j}_{k}"] = np.asarray(regressor.W, dtype=np.float64)
    save_npz(folder / NPZ_NAME, **arrays)
    write_json(folder / JSON_NAME, {"format": FORMAT, "format_version": FORMAT_VERSION,
                                    "config": asdict(model.config), "steps_per_scale": n_steps,
                                    "feature_version": FEATURE_VERSIONS[model.config.feature],
                                    "bias": True, "info": model.info})
    return folder


def model_hash(folder: str | Path, length: int = 12) -> str:
    """The method's weights hash: SHA-256 over what makes the predictions, the settings in
    ``sdm.json`` (not its ``info``: when, where and from which faces it was trained) and the arrays
    in ``sdm.npz`` (names, dtypes, shapes, values; not the archive's bytes, which hold the time they
    were written). The same model trained again on the same faces with the same number of BLAS threads
is bit-identical and keeps its runs' key; another thread count changes the regressors in about
the 11th digit, and so the key."""
    folder = Path(folder)
    meta = read_json_object(folder / JSON_NAME, "the SDM settings")
    h = hashlib.sha256(json.dumps({k: v for k, v in meta.items() if k != "info"}, sort_keys=True).encode())
    with open_npz(folder / NPZ_NAME, "the SDM regressors") as z:
        for name in sorted(z.files):
            array = np.ascontiguousarray(z[name])
            h.update(f"{name} {array.dtype.str} {array.shape}".encode())
            h.update(array.tobytes())
    return h.hexdigest()[:length]


def load_model(folder: str | Path) -> SDMModel:
    """Rebuild the menpofit fitter saved by :func:`save_model` (no pickle involved)."""
    folder = Path(folder)
    json_path, npz_path = folder / JSON_NAME, folder / NPZ_NAME
    for path in (json_path, npz_path):
        if not path.is_file():
            raise MissingWeightsError(f"{path}: missing SDM model file (train one with `faceeval train sdm`)")
    meta = read_json_object(json_path, "the SDM settings")
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise DataError(f"{json_path}: not a {FORMAT} v{FORMAT_VERSION} model file")
    try:
        config = SDMConfig(**{**meta["config"], "scales": tuple(meta["config"]["scales"])})
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{json_path}: invalid SDM settings ({exc})") from exc
    if meta.get("feature_version") != FEATURE_VERSIONS[config.feature]:
        raise DataError(f"{json_path}: trained with version {meta.get('feature_version')} of the {config.feature!r} "
                        f"feature, this faceeval computes version {FEATURE_VERSIONS[config.feature]}; retrain it")
    steps = meta.get("steps_per_scale", [])
    if not (isinstance(steps, list) and all(isinstance(n, int) and n >= 0 for n in steps)):
        raise DataError(f"{json_path}: steps_per_scale must be a list of counts, got {str(steps)[:60]}")
    with open_npz(npz_path, "the SDM regressors") as z:
        reference = np.asarray(z["reference_shape"], dtype=np.float64)
        weights = [[np.asarray(z[f"W_{j}_{k}"], dtype=np.float64) for k in range(n)] for j, n in enumerate(steps)]
    if reference.shape != (68, 2) or len(steps) != len(config.scales):
        raise DataError(f"{npz_path}: reference shape {reference.shape} / {len(steps)} scales do not match {json_path}")
    bias = bool(meta.get("bias", True))
    feature_length = patch_feature(config.feature)(np.zeros((1, config.patch_size, config.patch_size))).size
    expected = (68 * feature_length + bias, 136)
    for j, scale_weights in enumerate(weights):
        for k, w in enumerate(scale_weights):
            if w.shape != expected:
                raise DataError(f"{npz_path}: regressor W_{j}_{k} has shape {w.shape}, expected {expected} "
                                f"for the settings in {json_path}")
    return SDMModel(_rebuild_fitter(config, reference, weights, bias=bias), config,
                    meta.get("info", {}))


def _rebuild_fitter(config: SDMConfig, reference: np.ndarray, weights: list[list[np.ndarray]], bias: bool):
    """An untrained ``RegularizedSDM`` shell given the trained regressors (menpofit's own fit code runs it)."""
    from menpo.feature import no_op
    from menpo.shape import PointCloud

    mf = import_menpofit()
    n_scales = len(config.scales)
    fitter = mf["RegularizedSDM"].__new__(mf["RegularizedSDM"])      # skip __init__: it would train
    mf["MultiScaleNonParametricFitter"].__init__(fitter, scales=config.scales, reference_shape=PointCloud(reference),
                                                 holistic_features=[no_op] * n_scales, algorithms=[])
    fitter._sd_algorithm_cls = [partial(mf["NonParametricNewton"], alpha=config.alpha)] * n_scales
    fitter.patch_features = [patch_feature(config.feature)] * n_scales
    fitter.patch_shape = [(config.patch_size, config.patch_size)] * n_scales
    fitter.diagonal = config.diagonal
    fitter.n_perturbations = config.n_perturbations
    fitter.n_iterations = [len(w) for w in weights]
    fitter._perturb_from_gt_bounding_box = mf["noisy_shape_from_bounding_box"]
    fitter._setup_algorithms()
    for algorithm, scale_weights in zip(fitter.algorithms, weights):
        algorithm.regressors = []
        for w in scale_weights:
            regressor = mf["IRLRegression"](alpha=config.alpha, bias=bias)
            regressor.W = w
            algorithm.regressors.append(regressor)
    return fitter
