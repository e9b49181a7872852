"""Supervised Descent Method (Xiong & De la Torre, CVPR 2013) via menpofit, trained by faceeval.

menpofit's :class:`~menpofit.sdm.RegularizedSDM` (cascaded ridge regressions on
patch descriptors around each landmark) is trained with ``faceeval train sdm`` on the
300W training set and saved as plain arrays (``sdm.npz``) plus settings
(``sdm.json``); see :mod:`faceeval_methods.sdm.model`. Nothing is unpickled when loading.

The default model folder is ``$FACEEVAL_HOME/weights/sdm``, beside DAN's weights
(``FACEEVAL_HOME`` defaults to ``~/.cache/faceeval``).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from faceeval.plugin import fit_shape_to_boxes
from faceeval.plugin import shape_to_menpo
from faceeval.plugin import LandmarkMethod, MissingWeightsError, default_weights_dir

from .data import crop_around_box
from .model import SDMConfig, SDMModel, import_menpofit, load_model, model_hash


def default_model_dir() -> Path:
    """Where ``faceeval train sdm`` saves and ``faceeval run sdm`` looks by default."""
    return default_weights_dir("sdm")


class SDM(LandmarkMethod):
    name = "sdm"
    version = "1"
    description = ("Supervised Descent Method (Xiong & De la Torre 2013), menpofit RegularizedSDM "
                   "on HOG-like patch features, trained by faceeval on 300W train.")
    batch_size = 32
    extra = "sdm"
    cli_options: dict = {}          # no -O options

    def __init__(self, weights: str | os.PathLike | None = None, model: SDMModel | None = None):
        if model is not None:
            self.model, self._hash = model, "unsaved"
            return
        import_menpofit()                                # clear message first if menpofit is missing
        folder = Path(weights).expanduser() if weights is not None else default_model_dir()
        if folder.is_file():
            folder = folder.parent
        if not (folder / "sdm.json").is_file():
            raise MissingWeightsError(f"no trained SDM model in {folder}; train one with "
                                      f"`faceeval train sdm --data-root ~/data/300w` (or pass --weights FOLDER)")
        self.model = load_model(folder)
        self._hash = model_hash(folder)
        self.model_dir = folder

    @property
    def weights_hash(self) -> str:
        return self._hash

    def predict(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> np.ndarray:
        from menpo.image import Image

        initial = fit_shape_to_boxes(self.model.reference_shape, boxes)
        out = np.empty((len(boxes), 68, 2))
        for i, (image, box) in enumerate(zip(images, boxes)):
            crop, offset = crop_around_box(image, box)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = self.model.fitter.fit_from_shape(Image(crop[None], copy=False),
                                                          shape_to_menpo(initial[i] - offset))
            out[i] = np.asarray(result.final_shape.points)[:, ::-1] + offset
        return out

    @classmethod
    def train_command(cls):
        from .train import train_sdm_command

        return train_sdm_command

    def provenance(self) -> dict:
        return {**super().provenance(), "config": vars(self.model.config), "training": self.model.info}


__all__ = ["SDM", "SDMConfig", "default_model_dir"]
