"""COFW-68: the 507 COFW test faces with 68-point iBUG annotations and occlusion flags, read as distributed.

Layout of ``golnazghiasi/cofw68-benchmark`` (Ghiasi and Fowlkes, "Occlusion Coherence", arXiv:1506.08347)::

    ROOT/COFW68_Data/test_annotations/{i}_points.mat   i = 1..507: Points (68 x 2, x then y, MATLAB
                                                        1-based pixels), Occ (1 x 68, 1 = occluded)
    ROOT/COFW68_Data/cofw68_test_bboxes.mat             bboxes (507 x 4, [x, y, w, h], 1-based)

``ROOT`` may also be the ``COFW68_Data`` folder itself. A face's id is its index ``i`` (the
benchmark's numbering, the index of the image in COFW's ``COFW_test.mat``). The images are not
part of the benchmark (they are COFW's); ground truth alone is enough to score predictions, so
samples carry no image and a method run on them says so.

The benchmark's protocol (its ``Main.m`` / ``LandmarkLocalizationEval.m``): error = mean point
distance over the 68 points, or over the visible ones (``Occ == 0``) in its second evaluation,
divided by the distance between the eye centres (:data:`PROTOCOL`: ``inter-pupil``); success =
error <= 0.10, so failure = error > 0.10 (faceeval's default failure rule).

Its prediction files (:func:`read_cofw68_predictions`): 4 lines per face, the image index, 68 x
values, 68 y values, 68 occlusion flags, in the same 1-based frame as the annotations.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ..io import DataError
from ..landmarks import N_POINTS
from ..protocol import DatasetSpec
from .base import Dataset, Sample, warn_if_partial

#: Faces in the COFW-68 test set.
EXPECTED = 507
SUBSETS = ("test",)
#: The benchmark's own normaliser and threshold: eye centres, success <= 0.10.
PROTOCOL = {"norm": "inter-pupil", "alpha": 0.10}
ANNOTATIONS = "test_annotations"
BOXES = "cofw68_test_bboxes.mat"
_NAME = re.compile(r"^(\d+)_points\.mat$")


def _data_folder(root: Path) -> Path:
    for candidate in (root / "COFW68_Data", root):
        if (candidate / ANNOTATIONS).is_dir():
            return candidate
    raise DataError(f"{root}: not a COFW-68 root (expected COFW68_Data/{ANNOTATIONS}/{{i}}_points.mat as in "
                    f"golnazghiasi/cofw68-benchmark)")


def _loadmat(path: Path, what: str) -> dict:
    import scipy.io

    try:
        return scipy.io.loadmat(str(path))
    except Exception as exc:  # noqa: BLE001 - scipy raises many kinds on a damaged file
        raise DataError(f"{path}: cannot read as a MATLAB .mat file with {what} "
                        f"({type(exc).__name__}: {' '.join(str(exc).split()) or 'damaged'})") from None


def read_points_mat(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """One annotation file: 0-based (x, y) points ``(68, 2)`` and visibility ``(68,)`` (True = visible).

    The file's ``Points`` are MATLAB 1-based pixels (1 is subtracted) and ``Occ`` is 1 for an
    occluded point.
    """
    path = Path(path)
    what = "Points (68 x 2) and Occ (1 x 68)"
    m = _loadmat(path, what)
    missing = [k for k in ("Points", "Occ") if k not in m]
    if missing:
        raise DataError(f"{path}: no {' or '.join(missing)} in it (expected {what}; found "
                        f"{', '.join(k for k in m if not k.startswith('__')) or 'nothing'})")
    points, occ = np.asarray(m["Points"]), np.asarray(m["Occ"])
    if points.shape != (N_POINTS, 2) or points.dtype.kind not in "biuf" or not np.isfinite(points).all():
        raise DataError(f"{path}: Points is {points.dtype} {points.shape}, expected {N_POINTS} x 2 finite numbers")
    if occ.size != N_POINTS or occ.dtype.kind not in "biuf" or not np.isin(occ, (0, 1)).all():
        raise DataError(f"{path}: Occ is {occ.dtype} {occ.shape}, expected 1 x {N_POINTS} flags (0 or 1)")
    return points.astype(np.float64) - 1.0, occ.reshape(N_POINTS) == 0


def read_boxes_mat(path: str | os.PathLike) -> np.ndarray:
    """The benchmark's face boxes as 0-based ``[x0, y0, x1, y1]`` rows (the file holds 1-based ``[x, y, w, h]``)."""
    path = Path(path)
    m = _loadmat(path, "bboxes (507 x 4, [x, y, w, h])")
    boxes = np.asarray(m.get("bboxes", np.zeros((0, 0))))
    if boxes.ndim != 2 or boxes.shape[1] != 4 or boxes.dtype.kind not in "biuf":
        raise DataError(f"{path}: expected bboxes, rows [x, y, w, h]; got {boxes.dtype} {boxes.shape}")
    xy = boxes[:, :2].astype(np.float64) - 1.0
    return np.concatenate([xy, xy + boxes[:, 2:]], axis=1)


def load_cofw68(root: str | Path, subset: str = "test") -> Dataset:
    """The COFW-68 test faces (ids ``"1"`` ... ``"507"``), with occlusion flags and the benchmark's boxes.

    Fewer annotation files than 507 load with an :class:`IncompleteDataWarning` (the dataset is
    then partial); a damaged file is a :class:`DataError` naming it and what was expected.
    """
    if subset not in SUBSETS:
        raise DataError(f"unknown COFW-68 subset {subset!r}; it has one: test")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: COFW-68 root folder does not exist")
    data = _data_folder(root)
    files = {}
    for path in (data / ANNOTATIONS).iterdir():
        m = _NAME.match(path.name)
        if m:
            files[int(m.group(1))] = path
    if not files:
        raise DataError(f"{data / ANNOTATIONS}: no {{i}}_points.mat files")
    boxes_path = data / BOXES
    boxes = read_boxes_mat(boxes_path) if boxes_path.is_file() else None
    if boxes is not None and max(files) > len(boxes):
        raise DataError(f"{boxes_path}: {len(boxes)} boxes, but there is an annotation {max(files)}_points.mat")
    samples = []
    for i in sorted(files):
        points, visible = read_points_mat(files[i])
        samples.append(Sample(id=str(i), image_path=None, ground_truth=points,
                              box=None if boxes is None else boxes[i - 1], visible=visible))
    notes = ("ground truth only (the images are COFW's COFW_test.mat, not read); boxes: "
             + (f"{boxes_path}" if boxes is not None else "none (no cofw68_test_bboxes.mat)"))
    notes += warn_if_partial("COFW-68", subset, root, len(samples), EXPECTED)
    return Dataset("cofw68", subset, samples, root, notes, expected=EXPECTED)


def read_cofw68_predictions(path: str | os.PathLike) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The benchmark's prediction file: ids (the image indices), shapes ``(N, 68, 2)`` as written
    (the annotations' 1-based frame) and the predicted occlusion flags ``(N, 68)``.

    Four lines per face: the image index; 68 x values; 68 y values; 68 occlusion flags (0/1).
    """
    path = Path(path)
    try:
        lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read as text ({exc})") from None
    if not lines or len(lines) % 4:
        raise DataError(f"{path}: {len(lines)} non-empty lines; expected 4 per face (image index; {N_POINTS} x; "
                        f"{N_POINTS} y; {N_POINTS} occlusion flags)")
    ids, shapes, flags = [], [], []
    for k in range(0, len(lines), 4):
        face = k // 4 + 1
        index, xs, ys, occ = lines[k:k + 4]
        if len(index) != 1 or not index[0].isdigit():
            raise DataError(f"{path}: line {k + 1} (face {face}) should be one image index, got {' '.join(index)[:40]!r}")
        for offset, (row, what) in enumerate(((xs, "x values"), (ys, "y values"), (occ, "occlusion flags")), start=2):
            if len(row) != N_POINTS:
                raise DataError(f"{path}: line {k + offset} (image {index[0]}) has {len(row)} values, expected "
                                f"{N_POINTS} {what}")
        try:
            values = np.array([xs, ys, occ], dtype=np.float64)
        except ValueError:
            raise DataError(f"{path}: image {index[0]} (lines {k + 2}-{k + 4}) has a value that is not a number") from None
        ids.append(str(int(index[0])))
        shapes.append(values[:2].T)
        flags.append(values[2] != 0)
    return ids, np.stack(shapes), np.stack(flags)


__all__ = ["load_cofw68", "read_points_mat", "read_boxes_mat", "read_cofw68_predictions", "EXPECTED", "PROTOCOL"]


SPEC = DatasetSpec(
    "cofw68", "ibug68", lambda root, subset: load_cofw68(root, subset), SUBSETS, "test", norm=PROTOCOL["norm"],
    alpha=PROTOCOL["alpha"], description="COFW-68: the 507 COFW test faces with 68-point annotations and occlusion "
    "flags", layout=f"COFW68_Data/{ANNOTATIONS}/{{i}}_points.mat and COFW68_Data/{BOXES}", expected={"test": EXPECTED},
    benchmark="COFW-68", table_subsets=SUBSETS, other_norms=("inter-ocular", "bbox-size"))
