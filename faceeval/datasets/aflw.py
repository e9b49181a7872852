"""AFLW (19 points), read from HRNet's CSV lists (the SAN split) as distributed.

::

    ROOT/face_landmarks_aflw_test.csv            full test set, 4,386 faces
    ROOT/face_landmarks_aflw_test_frontal.csv    frontal test set, 1,314 faces
    ROOT/face_landmarks_aflw_train.csv           train, 20,000 faces
    ROOT/images/<image_name>

Columns: ``image_name, scale, box_size, center_w, center_h, x0, y0, ..., x18, y18`` (HRNet's
``lib/datasets/aflw.py``; the survey in the project's ``benchmarks.md``, section 3), a header
line first. Coordinates are taken as they are (neither SAN nor PIPNet shifts them). HRNet divides
the errors by the ``box_size`` column: the ``dataset-box`` normaliser, the default here. The
initial box is HRNet's crop before its 1.25 enlargement: the square of side 200 x scale around
the centre. Face ids are the image path without suffix plus ``_k`` (as for WFLW).

A row with missing columns or a value that is not a number is a
:class:`~faceeval.errors.DataError` naming the file, the line and what was expected.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..io import is_number, read_text
from ..protocol import DatasetSpec
from .base import Dataset, Sample, face_ids, warn_if_partial

N_POINTS = 19
FILES = {"full": "face_landmarks_aflw_test.csv", "frontal": "face_landmarks_aflw_test_frontal.csv",
         "train": "face_landmarks_aflw_train.csv"}
EXPECTED = {"full": 4386, "frontal": 1314, "train": 20000}
HEAD = ("image_name", "scale", "box_size", "center_w", "center_h")
COLUMNS = len(HEAD) + 2 * N_POINTS
IMAGES = "images"


def read_csv(path: Path) -> list[tuple[str, float, float, np.ndarray, np.ndarray]]:
    """Every row of an HRNet AFLW CSV: (image name, scale, box_size, centre (2,), points (19, 2))."""
    text = read_text(path, "an AFLW CSV list")
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise DataError(f"{path}: cannot read CSV ({exc})") from None
    out = []
    for line_no, row in enumerate(rows, start=1):
        if not row or not any(c.strip() for c in row):
            continue
        if line_no == 1 and row[0].strip() == "image_name":
            if len(row) < COLUMNS:
                raise DataError(f"{path}: the header has {len(row)} columns, expected {COLUMNS} "
                                f"({', '.join(HEAD)}, x0, y0, ..., x18, y18)")
            continue
        if len(row) < COLUMNS:
            raise DataError(f"{path}: line {line_no} has {len(row)} columns, expected {COLUMNS} "
                            f"({', '.join(HEAD)}, then x0, y0, ..., x18, y18)")
        try:
            values = np.array([float(v) for v in row[1:COLUMNS]])
        except ValueError:
            bad = next(k for k, v in enumerate(row[1:COLUMNS], start=1) if not is_number(v))
            name = HEAD[bad] if bad < len(HEAD) else f"{'xy'[(bad - len(HEAD)) % 2]}{(bad - len(HEAD)) // 2}"
            raise DataError(f"{path}: line {line_no}, column {bad + 1} ({name}) is {row[bad][:20]!r}, expected "
                            f"a number") from None
        if not np.isfinite(values).all():
            raise DataError(f"{path}: line {line_no} holds a non-finite number")
        scale, box_size = values[0], values[1]
        if box_size <= 0 or scale <= 0:
            raise DataError(f"{path}: line {line_no}: scale {scale:g} and box_size {box_size:g} must be positive")
        out.append((row[0].strip(), scale, box_size, values[2:4], values[4:].reshape(N_POINTS, 2)))
    if not out:
        raise DataError(f"{path}: no faces (an empty AFLW list)")
    return out



def _ids(root: Path, subset: str, rows: list) -> list[str]:
    """Face ids of ``rows``; the frontal list's faces get their ids in the full list (the same image and
    points), so that predictions keyed by the full set's ids pair with either."""
    own = face_ids([r[0] for r in rows])
    full = root / FILES["full"]
    if subset != "frontal" or not full.is_file():
        return own
    full_rows = read_csv(full)
    key = {(r[0], r[4].tobytes()): sid for sid, r in zip(face_ids([r[0] for r in full_rows]), full_rows)}
    return [key.get((r[0], r[4].tobytes()), sid) for sid, r in zip(own, rows)]


def load_aflw(root: str | Path, subset: str = "full") -> Dataset:
    """AFLW ``full`` (4,386 test faces), ``frontal`` (1,314) or ``train`` (20,000), with each face's box_size."""
    if subset not in FILES:
        raise DataError(f"unknown AFLW subset {subset!r}; choose one of {', '.join(FILES)}")
    root = Path(root).expanduser()
    path = root / FILES[subset]
    if not path.is_file():
        raise DataError(f"{path}: AFLW list missing (an AFLW root holds HRNet's {', '.join(FILES.values())} and "
                        f"{IMAGES}/)")
    rows = read_csv(path)
    samples = []
    for sid, (image, scale, box_size, centre, points) in zip(_ids(root, subset, rows), rows):
        half = 100.0 * scale
        box = np.array([centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half])
        samples.append(Sample(sid, root / IMAGES / image, points, box, box_size=float(box_size)))
    notes = "initial boxes: HRNet's crop (side 200 x scale around the centre)"
    notes += warn_if_partial("AFLW", subset, path, len(samples), EXPECTED[subset])
    return Dataset("aflw", subset, samples, root, notes, expected=EXPECTED[subset], scheme="aflw19")


SPEC = DatasetSpec(
    "aflw", "aflw19", load_aflw, ("full", "frontal", "train"), "full", norm="dataset-box", alpha=0.07,
    description="AFLW, 19 points (SAN/HRNet split): full 4386, frontal 1314, train 20000",
    layout=f"HRNet's {FILES['full']}, {FILES['frontal']} and {IMAGES}/", expected=EXPECTED, benchmark="AFLW",
    table_subsets=("full", "frontal"), other_norms=("bbox-size", "inter-ocular"), parents={"frontal": "full"})

__all__ = ["load_aflw", "read_csv", "SPEC", "FILES", "EXPECTED"]
