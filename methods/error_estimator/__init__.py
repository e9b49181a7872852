"""A learned estimate of a predicted shape's error, from the image alone.

HOG descriptors at the 68 landmarks (:mod:`.features`) feed a ridge regression to
the shape's inter-ocular error (:mod:`.model`), trained on a method's predictions
from perturbed initialisations (:mod:`.training`). The DAN paper used it to choose
the size of the centred initial box of the Menpo two-step procedure
(:mod:`faceeval.twostep`); :mod:`.boxsize` does that sweep.
"""
from .features import HogConfig, features_for, landmark_hog
from .model import ErrorEstimator, RidgeModel, fit_ridge, quality

__all__ = ["HogConfig", "landmark_hog", "features_for", "ErrorEstimator", "RidgeModel", "fit_ridge", "quality"]
