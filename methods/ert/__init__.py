"""dlib's 68-point ensemble of regression trees (Kazemi & Sullivan, CVPR 2014) as a faceeval method.

The predictor is the ``shape_predictor_68_face_landmarks.dat`` model that dlib
distributes (also packaged by ``face-recognition-models`` and Debian's
``libdlib-data``). That model was trained on the iBUG 300-W data, so its numbers on
the 300W test sets are not a clean comparison with methods trained only on the 300W
training split.

The predictor expects boxes in the style of dlib's HOG face detector; our boxes are
mapped to that style first (see :mod:`faceeval_methods.ert.box_style` for the numbers and how
they were measured). Pass ``box_style="dlib"`` when the boxes already come from dlib's
detector.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from faceeval.plugin import find_model_file
from faceeval.plugin import DataError, MissingExtraError, OptionError
from faceeval.plugin import crop_window
from faceeval.plugin import LandmarkMethod, MethodOption, MissingWeightsError, file_hash

from .box_style import to_dlib_boxes

MODEL_NAME = "shape_predictor_68_face_landmarks.dat"
#: Where Debian/Ubuntu's ``libdlib-data`` installs the model.
DEBIAN_MODEL = Path("/usr/share/dlib") / MODEL_NAME
INSTALL_HINT = 'pip install "faceeval[peers]" (dlib-bin and face-recognition-models)'
BOX_STYLES = ("tight", "dlib")
#: Context kept around the dlib-style box (fraction of its side): the 68 points never reach past it.
CROP_MARGIN = 0.5


def _import_dlib():
    try:
        import dlib
    except ImportError as exc:
        raise MissingExtraError("ert", "peers") from exc
    return dlib


def find_model() -> Path | None:
    """The 68-point model file of face-recognition-models (found without importing it), else
    Debian's ``libdlib-data``."""
    return find_model_file(MODEL_NAME) or (DEBIAN_MODEL if DEBIAN_MODEL.is_file() else None)


class ERT(LandmarkMethod):
    name = "ert"
    version = "1"
    description = ("dlib 68-point ensemble of regression trees (Kazemi & Sullivan 2014), dlib's released model; "
                   "trained on iBUG 300-W data, so 300W test numbers are not a clean comparison. "
                   "Boxes mapped to dlib's HOG-detector box style.")
    batch_size = 64
    extra = "peers"
    #: dlib's detector boxes go in as they are (``box_style=dlib``); others are mapped to that style.
    box_styles = {"dlib-hog": {"box_style": "dlib"}, "300w": {}}
    cli_options = {"box_style": MethodOption(str, BOX_STYLES, "dlib: the boxes already come from dlib's detector")}
    #: Stored with every run (``meta["caveat"]``) and printed beside its table rows.
    caveat = ("dlib's model was likely trained on 300-W data including the IBUG images: "
              "its challenging (and full) numbers are not a clean comparison")

    def __init__(self, weights: str | os.PathLike | None = None, box_style: str = "tight"):
        if box_style not in BOX_STYLES:
            raise OptionError(f"ert: box_style must be one of {', '.join(BOX_STYLES)}; got {box_style!r}")
        dlib = _import_dlib()
        path = Path(weights).expanduser() if weights is not None else find_model()
        if path is None:
            raise MissingWeightsError(f"dlib's {MODEL_NAME} was not found: {INSTALL_HINT}, "
                                      f"or apt-get install libdlib-data, or pass --weights PATH")
        if path.is_dir():
            path = path / MODEL_NAME
        if not path.is_file():
            raise MissingWeightsError(f"{path}: no such model file (expected dlib's {MODEL_NAME})")
        try:
            self._predictor = dlib.shape_predictor(str(path))
        except RuntimeError as exc:
            raise DataError(f"{path}: not a dlib shape predictor model ({exc})") from exc
        n_parts = self._predictor(np.zeros((32, 32), np.uint8), dlib.rectangle(4, 4, 28, 28)).num_parts
        if n_parts != 68:
            raise DataError(f"{path}: a {n_parts}-point model; ert needs the 68-point one")
        self._dlib = dlib
        self.model_path = path
        self.box_style = box_style
        self._hash = file_hash(path)

    @property
    def weights_hash(self) -> str:
        """The model file's hash (the box style, which changes predictions too, is in :meth:`options`)."""
        return self._hash

    def predict(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> np.ndarray:
        if self.box_style == "tight":
            boxes = to_dlib_boxes(boxes)
        out = np.empty((len(boxes), 68, 2))
        for i, (image, box) in enumerate(zip(images, boxes)):
            # dlib copies the whole image into its own format: hand it only the face's surroundings
            x0, y0, x1, y1 = crop_window(box, CROP_MARGIN, image.shape)     # dlib boxes are square
            crop = np.ascontiguousarray(image[y0:y1, x0:x1], dtype=np.uint8)
            if crop.shape[0] < 2 or crop.shape[1] < 2:
                raise ValueError(f"ert: (dlib-style) box {np.round(boxes[i], 1).tolist()} lies outside image #{i} "
                                 f"of size {image.shape[1]}x{image.shape[0]}")
            rect = self._dlib.rectangle(*(int(round(v)) for v in box - [x0, y0, x0, y0]))
            out[i] = [(p.x + x0, p.y + y0) for p in self._predictor(crop, rect).parts()]
        return out        # dlib returns whole pixels: predictions are integers

    def options(self) -> dict:
        return {} if self.box_style == "tight" else {"box_style": self.box_style}

    def provenance(self) -> dict:
        return {**super().provenance(), "model_file": str(self.model_path), "box_style": self.box_style,
                "caveat": self.caveat}
