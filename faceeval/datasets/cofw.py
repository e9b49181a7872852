"""COFW (29 points), read from the MATLAB v7.3 files as distributed; images come from the same files.

::

    ROOT/COFW_test_color.mat    IsT (images), phisT (507 x 87), bboxesT (507 x 4)
    ROOT/COFW_train_color.mat   IsTr, phisTr (1,345 x 87), bboxesTr

v7.3 files are HDF5 (read with h5py), which store MATLAB's arrays transposed: ``phisT`` is
an 87 x N dataset there. A face's 87 values are 29 x, 29 y and 29 occlusion flags (1 = occluded);
boxes are ``[x, y, w, h]``. Coordinates are MATLAB's, 1-based: 1 is subtracted on reading, as
mmpose's converter does (HRNet and PIPNet do not; ``faceeval eval --explain`` shows what the
difference does to a score). Faces are ``test/1`` ... ``test/507`` (the index of COFW-68's files).

Two protocols are published for the same files (the survey in the project's ``benchmarks.md``,
section 2.1): the original one divides by the distance of the pupils 16/17 (ADNet, STAR, SLPT,
AWing: the default here), HRNet, mmpose and PIPNet by the outer eye corners 8/9
(``--norm inter-ocular``); the two differ by about 1.4x. Failure at alpha = 0.10.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError, MissingDependencyError
from ..protocol import DatasetSpec
from .base import Dataset, Sample, warn_if_partial

N_POINTS = 29
FILES = {"test": "COFW_test_color.mat", "train": "COFW_train_color.mat"}
#: The variables of each file: images, shapes, boxes.
VARIABLES = {"test": ("IsT", "phisT", "bboxesT"), "train": ("IsTr", "phisTr", "bboxesTr")}
EXPECTED = {"test": 507, "train": 1345}


def _h5py():
    try:
        import h5py
    except ImportError as exc:       # pragma: no cover - a core dependency
        raise MissingDependencyError("reading COFW's MATLAB v7.3 files needs h5py: pip install h5py") from exc
    return h5py


def _open(path: Path):
    h5py = _h5py()
    if not path.is_file():
        raise DataError(f"{path}: COFW file missing (a COFW root holds {FILES['test']} and {FILES['train']} as "
                        f"distributed)")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"{path}: not a MATLAB v7.3 (HDF5) file ({exc}); COFW is distributed as v7.3 .mat") from None


def _matrix(handle, path: Path, name: str, rows: int, what: str) -> np.ndarray:
    """MATLAB's N x ``rows`` matrix ``name`` (stored ``rows`` x N in HDF5) as an (N, rows) float array."""
    if name not in handle:
        raise DataError(f"{path}: no variable {name} (expected {what}; the file holds "
                        f"{', '.join(sorted(handle.keys())) or 'nothing'})")
    data = handle[name]
    if not hasattr(data, "shape") or len(data.shape) != 2 or data.shape[0] != rows:
        raise DataError(f"{path}: variable {name} has shape {getattr(data, 'shape', '?')} in the file, expected "
                        f"{rows} x N as MATLAB v7.3 stores an N x {rows} matrix ({what})")
    try:
        values = np.asarray(data[()], dtype=np.float64).T
    except (TypeError, ValueError) as exc:
        raise DataError(f"{path}: variable {name} is not numeric ({exc}); expected {what}") from None
    if not np.isfinite(values).all():
        raise DataError(f"{path}: variable {name} holds non-finite values (face "
                        f"{int(np.flatnonzero(~np.isfinite(values).all(axis=1))[0]) + 1})")
    return values


def _image(path: Path, variable: str, index: int) -> np.ndarray:
    """Image ``index`` (0-based) of the cell ``variable``, as uint8 (H, W) or (H, W, 3)."""
    with _open(path) as f:
        if variable not in f:
            raise DataError(f"{path}: no variable {variable} (the images); the annotations alone can be scored, "
                            f"but a method needs the images")
        refs = np.asarray(f[variable]).reshape(-1)
        pixels = np.asarray(f[refs[index]]).T           # MATLAB H x W (x 3) is stored reversed
    return np.ascontiguousarray(pixels.astype(np.uint8))


def read_cofw(path: Path, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shapes (N, 29, 2) 0-based, visibility (N, 29) and boxes (N, 4) [x0, y0, x1, y1] 0-based from a COFW file."""
    _, phis_name, boxes_name = VARIABLES[split]
    with _open(path) as f:
        phis = _matrix(f, path, phis_name, 3 * N_POINTS, "29 x, 29 y and 29 occlusion flags per face")
        boxes = _matrix(f, path, boxes_name, 4, "a box [x, y, w, h] per face")
    if len(boxes) != len(phis):
        raise DataError(f"{path}: {boxes_name} has {len(boxes)} boxes for {len(phis)} faces in {phis_name}")
    flags = phis[:, 2 * N_POINTS:]
    if not np.isin(flags, (0.0, 1.0)).all():
        raise DataError(f"{path}: {phis_name} columns 59-87 should be occlusion flags 0 or 1, found "
                        f"{sorted(set(flags[~np.isin(flags, (0.0, 1.0))].tolist()))[:3]}")
    shapes = np.stack([phis[:, :N_POINTS], phis[:, N_POINTS:2 * N_POINTS]], axis=-1) - 1.0
    x, y, w, h = boxes.T
    return shapes, flags == 0.0, np.stack([x - 1.0, y - 1.0, x - 1.0 + w, y - 1.0 + h], axis=1)


def load_cofw(root: str | Path, subset: str = "test") -> Dataset:
    """COFW-29 ``test`` (507 faces) or ``train`` (1,345), with occlusion flags and the distributed boxes."""
    if subset not in FILES:
        raise DataError(f"unknown COFW subset {subset!r}; choose test or train")
    path = Path(root).expanduser() / FILES[subset]
    shapes, visible, boxes = read_cofw(path, subset)
    images = VARIABLES[subset][0]
    samples = [Sample(f"{subset}/{i + 1}", None, shape, box, pixels=lambda i=i: _image(path, images, i), visible=vis)
               for i, (shape, vis, box) in enumerate(zip(shapes, visible, boxes))]
    notes = "initial boxes: the COFW boxes; coordinates 1-based in the file, 0-based here"
    notes += warn_if_partial("COFW", subset, path, len(samples), EXPECTED[subset])
    return Dataset("cofw", subset, samples, root, notes, expected=EXPECTED[subset], scheme="cofw29")


SPEC = DatasetSpec(
    "cofw", "cofw29", load_cofw, ("test", "train"), "test", norm="inter-pupil", alpha=0.10,
    description="COFW, 29 points: test 507, train 1345 (MATLAB v7.3 files)",
    layout=f"{FILES['test']} and {FILES['train']}", expected=EXPECTED, benchmark="COFW", table_subsets=("test",),
    other_norms=("inter-ocular", "bbox-size"))

__all__ = ["load_cofw", "read_cofw", "SPEC", "FILES", "VARIABLES", "EXPECTED"]
