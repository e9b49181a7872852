"""Ridge regression from landmark HOG features to inter-ocular error, stored without pickle.

The model is a standardisation (per-feature mean and scale) followed by a linear
map; the ridge penalty is chosen among ``alphas`` by cross-validation that leaves whole images
out (all perturbations of a face together), or by scikit-learn's leave-one-out
``RidgeCV`` when there are too few images. Prediction needs only numpy.
A trained :class:`ErrorEstimator` is one ``.npz`` of plain arrays plus a JSON
string (feature configuration, provenance, quality), loaded with ``allow_pickle=False``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from faceeval.plugin import DataError, open_npz, save_npz
from faceeval.plugin import ALPHA, MetricInputError

from .features import HogConfig, landmark_hog

#: Ridge penalties tried by cross-validation (on standardised features).
DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-2, 6, 17))
#: Failure threshold of the quality report (inter-ocular error).
FAILURE_THRESHOLD = ALPHA
FORMAT = "faceeval-error-estimator/1"


@dataclass
class RidgeModel:
    """``y = ((x - mean) / scale) @ coef + intercept``, with the penalty ``alpha`` it was fit with."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    alpha: float

    def predict(self, features: np.ndarray) -> np.ndarray:
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.coef.shape[0]:
            raise ValueError(f"features must be (N, {self.coef.shape[0]}), got {x.shape}")
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept


def _ridge_path(x: np.ndarray, y: np.ndarray, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ridge coefficients ``(A, D)`` and intercepts ``(A,)`` for every alpha, from one SVD."""
    mu_x, mu_y = x.mean(axis=0), y.mean()
    u, sv, vt = np.linalg.svd(x - mu_x, full_matrices=False)
    uty = u.T @ (y - mu_y)
    shrink = sv[None] / (sv[None] ** 2 + alphas[:, None])              # (A, K)
    coefs = (shrink * uty[None]) @ vt
    return coefs, mu_y - coefs @ mu_x, mu_x


def grouped_cv_alpha(x: np.ndarray, y: np.ndarray, groups: Sequence, alphas: Sequence[float],
                     folds: int = 5) -> float:
    """The penalty with the lowest squared error when whole groups (images) are left out.

    Leave-one-out would leave one perturbation of an image out while its siblings stay
    in, and so favour too little regularisation.
    """
    groups = np.asarray([str(g) for g in groups])
    unique = np.unique(groups)
    folds = min(folds, len(unique))
    order = np.random.default_rng(0).permutation(len(unique))
    fold_of = dict(zip(unique[order], np.arange(len(unique)) % folds))
    fold = np.array([fold_of[g] for g in groups])
    alphas = np.asarray(alphas, dtype=np.float64)
    sq = np.zeros(len(alphas))
    for k in range(folds):
        test = fold == k
        coefs, intercepts, _ = _ridge_path(x[~test], y[~test], alphas)
        sq += (((x[test] @ coefs.T + intercepts) - y[test][:, None]) ** 2).sum(axis=0)
    return float(alphas[int(np.argmin(sq))])


def fit_ridge(features: np.ndarray, targets: np.ndarray, alphas: Sequence[float] = DEFAULT_ALPHAS,
              groups: Sequence | None = None) -> RidgeModel:
    """Ridge regression on standardised features, penalty chosen by cross-validation.

    With ``groups`` (e.g. the image of each row) and at least three of them, the
    penalty is chosen by grouped K-fold CV (:func:`grouped_cv_alpha`); otherwise by
    efficient leave-one-out CV (scikit-learn's ``RidgeCV``).

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 5)); y = x @ [1., -2., 0., 3., 0.5] + 4
    >>> model = fit_ridge(x, y, alphas=[1e-3, 1.0])
    >>> bool(np.allclose(model.predict(x), y, atol=1e-2))
    True
    """
    from sklearn.linear_model import RidgeCV

    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64).ravel()
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"features (N, D) and targets (N,) must match, got {x.shape} and {y.shape}")
    if len(y) < 3:
        raise DataError(f"need at least 3 training samples, got {len(y)}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("features and targets must be finite")
    if groups is not None and len(groups) != len(y):
        raise ValueError(f"{len(groups)} groups for {len(y)} samples")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-12] = 1.0                  # constant features: keep them at 0
    z = (x - mean) / scale
    if groups is not None and len(set(map(str, groups))) >= 3:
        alpha = grouped_cv_alpha(z, y, groups, alphas)
        coefs, intercepts, _ = _ridge_path(z, y, np.array([alpha]))
        return RidgeModel(mean, scale, coefs[0], float(intercepts[0]), alpha)
    ridge = RidgeCV(alphas=list(alphas), fit_intercept=True).fit(z, y)
    return RidgeModel(mean, scale, np.asarray(ridge.coef_, dtype=np.float64), float(ridge.intercept_),
                      float(ridge.alpha_))


def quality(estimated: np.ndarray, true: np.ndarray, threshold: float = FAILURE_THRESHOLD) -> dict:
    """How well estimates track true errors: Pearson, Spearman, ROC AUC of flagging error > threshold.

    ROC AUC is None when the true errors fall on one side of the threshold only.
    """
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import roc_auc_score

    est = np.asarray(estimated, dtype=np.float64).ravel()
    tru = np.asarray(true, dtype=np.float64).ravel()
    if len(est) != len(tru) or len(est) < 3:
        raise MetricInputError(f"quality needs >= 3 matching estimates and errors, got {len(est)} and {len(tru)}")
    failed = tru > threshold
    constant = np.ptp(est) == 0 or np.ptp(tru) == 0
    return {
        "n": int(len(est)),
        "pearson": None if constant else float(pearsonr(est, tru)[0]),
        "spearman": None if constant else float(spearmanr(est, tru)[0]),
        "roc_auc": float(roc_auc_score(failed, est)) if 0 < failed.sum() < len(failed) else None,
        "failure_threshold": float(threshold),
        "failures": int(failed.sum()),
        "mean_true_error": float(tru.mean()),
        "mean_estimated_error": float(est.mean()),
        "mean_absolute_difference": float(np.abs(est - tru).mean()),
    }


@dataclass
class ErrorEstimator:
    """Estimates a shape's inter-ocular error from the image alone (no ground truth)."""

    config: HogConfig
    ridge: RidgeModel
    meta: dict = field(default_factory=dict)

    def estimate(self, images: Sequence[np.ndarray], shapes: np.ndarray) -> np.ndarray:
        """Estimated inter-ocular errors ``(N,)`` of ``shapes`` (N, 68, 2), one per image."""
        shapes = np.asarray(shapes, dtype=np.float64)
        if len(images) != len(shapes):
            raise ValueError(f"{len(images)} images but {len(shapes)} shapes")
        out = np.empty(len(shapes))
        for i, image in enumerate(images):
            out[i] = self.ridge.predict(landmark_hog(image, shapes[i][None], self.config))[0]
        return out

    __call__ = estimate

    def save(self, path: str | Path) -> None:
        header = {"format": FORMAT, "hog": self.config.to_dict(), "alpha": self.ridge.alpha,
                  "intercept": self.ridge.intercept, "meta": self.meta}
        save_npz(path, header=np.array(json.dumps(header, sort_keys=True)), mean=self.ridge.mean,
                 scale=self.ridge.scale, coef=self.ridge.coef)

    @classmethod
    def load(cls, path: str | Path) -> "ErrorEstimator":
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: no such estimator file (train one with `faceeval estimator train`)")
        with open_npz(path, "an error estimator") as z:
            try:
                header = json.loads(str(z["header"]))
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: estimator header is not valid JSON ({exc})") from None
            arrays = {k: np.asarray(z[k], dtype=np.float64) for k in ("mean", "scale", "coef")}
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            found = header.get("format") if isinstance(header, dict) else type(header).__name__
            raise DataError(f"{path}: unsupported estimator format {found!r} (expected {FORMAT})")
        try:
            config = HogConfig.from_dict(header["hog"])
            intercept, alpha = float(header["intercept"]), float(header["alpha"])
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            raise DataError(f"{path}: estimator header lacks or garbles its settings ({exc!r})") from None
        if arrays["coef"].shape != (config.length,) or any(arrays[k].shape != (config.length,) for k in ("mean", "scale")):
            raise DataError(f"{path}: {arrays['coef'].size} coefficients ({arrays['mean'].size} means, "
                            f"{arrays['scale'].size} scales) but the HOG configuration gives {config.length} features")
        ridge = RidgeModel(arrays["mean"], arrays["scale"], arrays["coef"], intercept, alpha)
        return cls(config, ridge, header.get("meta", {}))


__all__ = ["RidgeModel", "fit_ridge", "grouped_cv_alpha", "quality", "ErrorEstimator", "DEFAULT_ALPHAS", "FAILURE_THRESHOLD"]
