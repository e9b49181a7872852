"""Package data shipped with faceeval (see ``faceeval/data/``), loaded once and cached."""
from __future__ import annotations

import json
from functools import lru_cache
from importlib.resources import files

import numpy as np


def data_path(name: str):
    """Path-like handle of a file in ``faceeval/data``."""
    return files("faceeval").joinpath("data", name)


@lru_cache(maxsize=None)
def data_text(name: str) -> str:
    """The text of a file in ``faceeval/data``, read once per process."""
    return data_path(name).read_text()


@lru_cache(maxsize=None)
def _json(name: str) -> dict:
    return json.loads(data_text(name))


def dan_mean_shape() -> np.ndarray:
    """The original DAN release's mean shape ``(68, 2)`` (x, y), centred at 0.

    It is the canonical shape of DAN and the template placed in the detector box to
    initialise every method (the protocol's initialisation).
    """
    return np.array(_json("dan_mean_shape.json")["mean_shape"], dtype=np.float64)


def detector_boxes() -> dict[str, dict[str, list[float]]]:
    """300W face-detector boxes keyed by ibug folder, then image file name (0-based frame)."""
    return _json("300w_detector_boxes.json")["boxes"]


def challenge_ced() -> dict:
    """Published CED curves of the 300W challenge winners on the private set."""
    return _json("300w_challenge_ced.json")
