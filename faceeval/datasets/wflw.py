"""WFLW (98 points), read from its official lists as distributed; the images are needed only to run a method.

::

    ROOT/WFLW_annotations/list_98pt_rect_attr_train_test/list_98pt_rect_attr_train.txt   7,500 faces
    ROOT/WFLW_annotations/list_98pt_rect_attr_train_test/list_98pt_rect_attr_test.txt    2,500 faces
    ROOT/WFLW_images/<folder>/<file>.jpg

Each line holds 207 whitespace-separated fields: x0 y0 ... x97 y97 (196 numbers), the face
rectangle x_min y_min x_max y_max, six attribute flags in the order pose, expression,
illumination, make-up, occlusion, blur (1 = large pose, exaggerated expression, ...), and the
image path under ``WFLW_images/`` (PIPNet and mmpose read it the same way; the survey in the
project's ``benchmarks.md`` section 1 cites them). Coordinates are taken as they are (no
codebase shifts them). The rectangle is the initial box.

Subsets: ``train``, ``test`` and the six attribute subsets of the test list, ``largepose``,
``expression``, ``illumination``, ``makeup``, ``occlusion`` and ``blur`` (from the flags; they
overlap). A face's id is its image path without the suffix plus ``_k``, k = 1, 2, ... in list
order among the faces of that image (WFLW image names are not unique per face). The protocol:
inter-ocular distance (outer eye corners 60 and 72), alpha = 0.10.

A damaged list (a short line, a field that is not a number, a flag that is not 0 or 1) is a
:class:`~faceeval.errors.DataError` naming the file, the line and what was expected; nothing of a
damaged list is loaded.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from ..io import is_number, read_text
from ..protocol import DatasetSpec
from .base import Dataset, Sample, face_ids, warn_if_partial

N_POINTS = 98
LIST_DIR = "WFLW_annotations/list_98pt_rect_attr_train_test"
LISTS = {"train": f"{LIST_DIR}/list_98pt_rect_attr_train.txt", "test": f"{LIST_DIR}/list_98pt_rect_attr_test.txt"}
IMAGES = "WFLW_images"
#: The attribute flags in their order on a line (fields 200-205).
ATTRIBUTES = ("largepose", "expression", "illumination", "makeup", "occlusion", "blur")
FIELDS = 2 * N_POINTS + 4 + len(ATTRIBUTES) + 1
#: Official face counts (LAB's README; HRNet's paper, appendix D; SPIGA's db_info.json).
EXPECTED = {"train": 7500, "test": 2500, "largepose": 326, "expression": 314, "illumination": 698, "makeup": 206,
            "occlusion": 736, "blur": 773}
SUBSETS = ("test", "largepose", "expression", "illumination", "makeup", "occlusion", "blur", "train")


def list_file(root: Path, subset: str) -> Path:
    """The official list that holds ``subset`` (the test list for the attribute subsets)."""
    return Path(root) / LISTS["train" if subset == "train" else "test"]


def read_list(path: Path) -> list[tuple[str, np.ndarray, np.ndarray, tuple[str, ...], str]]:
    """Every face of a WFLW list: (id, points (98, 2), rectangle (4,), attributes, image path)."""
    text = read_text(path, "a WFLW annotation list")
    faces = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != FIELDS:
            raise DataError(f"{path}: line {line_no} has {len(fields)} fields, expected {FIELDS} (196 coordinates "
                            f"x0 y0 ... x97 y97, the rectangle x_min y_min x_max y_max, 6 attribute flags, the "
                            f"image path)")
        try:
            numbers = np.array([float(v) for v in fields[:FIELDS - 1]])
        except ValueError:
            bad = next(k for k, v in enumerate(fields[:FIELDS - 1]) if not is_number(v))
            raise DataError(f"{path}: line {line_no}, field {bad + 1} ({fields[bad][:20]!r}) is not a number; expected "
                            f"{'a coordinate' if bad < 196 else 'a rectangle value' if bad < 200 else 'a flag 0 or 1'}"
                            ) from None
        if not np.isfinite(numbers).all():
            raise DataError(f"{path}: line {line_no} holds a non-finite number")
        flags = numbers[200:206]
        if not np.isin(flags, (0.0, 1.0)).all():
            raise DataError(f"{path}: line {line_no}: attribute flags (fields 201-206) are "
                            f"{' '.join(fields[200:206])}, expected 0 or 1 each")
        faces.append((numbers[:196].reshape(N_POINTS, 2), numbers[196:200],
                      tuple(a for a, f in zip(ATTRIBUTES, flags) if f == 1.0), fields[-1]))
    if not faces:
        raise DataError(f"{path}: no faces (an empty WFLW list)")
    return [(sid, *face) for sid, face in zip(face_ids([f[-1] for f in faces]), faces)]



def load_wflw(root: str | Path, subset: str = "test") -> Dataset:
    """A WFLW subset: ``train``, ``test`` or an attribute subset of the test list (see the module docstring)."""
    if subset not in SUBSETS:
        raise DataError(f"unknown WFLW subset {subset!r}; choose one of {', '.join(SUBSETS)}")
    root = Path(root).expanduser()
    path = list_file(root, subset)
    if not path.is_file():
        raise DataError(f"{path}: WFLW list missing (a WFLW root holds {LISTS['test']} and {IMAGES}/ as distributed)")
    samples = [Sample(sid, root / IMAGES / image, points, rect, attributes=attrs)
               for sid, points, rect, attrs, image in read_list(path)
               if subset in ("train", "test") or subset in attrs]
    notes = "initial boxes: the WFLW rectangles" + warn_if_partial("WFLW", subset, path, len(samples), EXPECTED[subset])
    return Dataset("wflw", subset, samples, root, notes, expected=EXPECTED[subset], scheme="wflw98")


def line_order(root: str | Path, subset: str) -> list[str]:
    """The ids of the faces of the official list that holds ``subset``, in its order: a prediction file
    with one line per face (as WFLW's tools write) is read in this order."""
    return [face[0] for face in read_list(list_file(Path(root).expanduser(), subset))]


SPEC = DatasetSpec(
    "wflw", "wflw98", load_wflw, SUBSETS, "test", norm="inter-ocular", alpha=0.10,
    description="WFLW, 98 points: train 7500, test 2500 and its six attribute subsets",
    layout=f"{LISTS['test']} (and _train.txt) and {IMAGES}/", expected=EXPECTED, benchmark="WFLW",
    table_subsets=("test", "largepose", "expression", "illumination", "makeup", "occlusion", "blur"),
    other_norms=("inter-pupil", "bbox-size"), line_order=line_order, parents={a: "test" for a in ATTRIBUTES})

__all__ = ["load_wflw", "read_list", "line_order", "SPEC", "ATTRIBUTES", "EXPECTED", "SUBSETS", "LISTS"]
