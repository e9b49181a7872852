"""The mean-shape baseline: the canonical mean shape placed in the initial box.

It is exactly the initialisation every other method starts from, so it is the floor
each method must beat.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from faceeval.plugin import fit_shape_to_boxes
from faceeval.plugin import LandmarkMethod
from faceeval.plugin import dan_mean_shape


class MeanShape(LandmarkMethod):
    name = "meanshape"
    version = "1"
    description = "Mean 68-point shape (DAN release) scaled and centred in the initial box; no image used."
    batch_size = 4096
    cli_options: dict = {}          # no -O options

    def __init__(self, template: np.ndarray | None = None):
        self.template = dan_mean_shape() if template is None else np.asarray(template, dtype=np.float64)

    @property
    def weights_hash(self) -> str:
        import hashlib

        return hashlib.sha256(np.ascontiguousarray(self.template).tobytes()).hexdigest()[:12]

    def predict(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> np.ndarray:
        return fit_shape_to_boxes(self.template, boxes)
