"""Other tools' predictions in the formats they come in, so ``faceeval eval`` can score anyone.

=========  ===========================================================  =====================
format     layout                                                       coordinates (default)
=========  ===========================================================  =====================
``pts``    a folder of ibug ``.pts`` files (any depth), one per face    1-based, as the format
``npz``    ``predictions.npz`` as ``faceeval run`` writes it (``ids``,   0-based
           ``predictions`` (N, 68, 2), optional ``ground_truth``);
           a run folder holding one works too
``csv``    ``id,x0,y0,...,x67,y67`` per line, header optional           0-based
``json``   ``{"id": [[x, y], ... 68 points]}``                           0-based
=========  ===========================================================  =====================

``one_based`` overrides the format's convention (``True``: subtract 1 from every value;
``False``: take values as they are, even from ``.pts``) and ``yx`` says the files list
(y, x). Whatever came in, :class:`Predictions` holds 0-based (x, y), the toolkit's arrays.

>>> import tempfile, os
>>> shapes = np.arange(2 * 68 * 2, dtype=float).reshape(2, 68, 2)
>>> path = os.path.join(tempfile.mkdtemp(), "p.csv")
>>> write_predictions(path, ["a", "b"], shapes)
>>> got = read_predictions(path)
>>> got.ids, bool(np.array_equal(got.shapes, shapes)), got.format
(['a', 'b'], True, 'csv')
"""
from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .io import DataError, atomic_write, open_npz, read_pts_tree, save_npz, write_pts
from .landmarks import N_POINTS
from .pairing import GroundTruth

FORMATS = ("pts", "npz", "csv", "json")
#: Whether a format's values are 1-based when nothing says otherwise.
ONE_BASED_BY_DEFAULT = {"pts": True, "npz": False, "csv": False, "json": False}


@dataclass
class Predictions:
    """Predicted shapes ``(N, 68, 2)`` (0-based x, y) by id, and what they were read from."""

    ids: list[str]
    shapes: np.ndarray
    format: str
    path: Path
    one_based: bool
    yx: bool
    ground_truth: np.ndarray | None = None

    def as_dict(self) -> dict[str, np.ndarray]:
        return dict(zip(self.ids, self.shapes))

    @property
    def convention(self) -> str:
        return f"{self.format}, {'1' if self.one_based else '0'}-based, {'(y, x)' if self.yx else '(x, y)'}"


def detect_format(path: str | os.PathLike) -> str:
    """The format of ``path`` from its suffix or, for a folder, its contents."""
    path = Path(path)
    if path.is_dir():
        if (path / "predictions.npz").is_file():
            return "npz"
        return "pts"
    suffix = path.suffix.lower()
    if suffix in (".npz", ".csv", ".json"):
        return suffix[1:]
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    raise DataError(f"{path}: unknown predictions format {suffix or '(no suffix)'!r}; "
                    f"give a folder of .pts files, predictions.npz, .csv or .json")


def read_predictions(path: str | os.PathLike, one_based: bool | None = None, yx: bool = False,
                     fmt: str | None = None) -> Predictions:
    """Read predictions in any of :data:`FORMATS` as 0-based (x, y) shapes."""
    path = Path(path).expanduser()
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise DataError(f"{path}: unknown predictions format {fmt!r}; choose one of {', '.join(FORMATS)}")
    base_one = ONE_BASED_BY_DEFAULT[fmt] if one_based is None else bool(one_based)
    gt = None
    if fmt == "pts":
        tree = read_pts_tree(path)                        # subtracts 1 (the format's convention)
        ids = list(tree)
        shapes = np.stack([tree[k] for k in ids]) + (0.0 if base_one else 1.0)
    else:
        file = path / "predictions.npz" if fmt == "npz" and path.is_dir() else path
        ids, shapes, gt = {"npz": _read_npz, "csv": _read_csv, "json": _read_json}[fmt](file)
        if base_one:
            shapes = shapes - 1.0
        path = file
    if yx:
        shapes = shapes[..., ::-1].copy()
    if len(set(ids)) != len(ids):
        dup = sorted({k for k in ids if ids.count(k) > 1})
        raise DataError(f"{path}: duplicate ids {dup[:5]}")
    if not np.isfinite(shapes).all():
        bad = ids[int(np.flatnonzero(~np.isfinite(shapes).reshape(len(ids), -1).all(axis=1))[0])]
        raise DataError(f"{path}: non-finite coordinates for id {bad!r}")
    return Predictions(ids, shapes.astype(np.float64), fmt, path, base_one, yx, gt)


def _read_npz(path: Path) -> tuple[list[str], np.ndarray, np.ndarray | None]:
    with open_npz(path, "predictions") as z:
        missing = [k for k in ("ids", "predictions") if k not in z.files]
        if missing:
            raise DataError(f"{path}: missing arrays {missing} (expected ids and predictions, as "
                            f"`faceeval run` writes them; found {z.files})")
        ids, shapes = [str(i) for i in z["ids"]], np.asarray(z["predictions"], dtype=np.float64)
        gt = np.asarray(z["ground_truth"], dtype=np.float64) if "ground_truth" in z.files else None
    if shapes.shape != (len(ids), N_POINTS, 2):
        raise DataError(f"{path}: predictions have shape {shapes.shape}, expected ({len(ids)}, {N_POINTS}, 2)")
    if gt is not None and gt.shape != shapes.shape:
        gt = None                                       # a run without ground truth stores an empty array
    return ids, shapes, gt


def _read_csv(path: Path) -> tuple[list[str], np.ndarray, None]:
    try:
        rows = list(csv.reader(io.StringIO(path.read_text())))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read CSV ({exc})") from exc
    rows = [r for r in rows if r and any(c.strip() for c in r)]
    if rows and rows[0][0].strip().lower() == "id":
        rows = rows[1:]
    if not rows:
        raise DataError(f"{path}: no prediction rows")
    ids, values = [], []
    width = 1 + 2 * N_POINTS
    for line_no, row in enumerate(rows, start=1):
        if len(row) != width:
            raise DataError(f"{path}: row {line_no} ({row[0]!r}) has {len(row)} fields, expected {width} "
                            f"(id,x0,y0,...,x{N_POINTS - 1},y{N_POINTS - 1})")
        try:
            values.append([float(v) for v in row[1:]])
        except ValueError:
            raise DataError(f"{path}: row {line_no} ({row[0]!r}) has a value that is not a number") from None
        ids.append(row[0].strip())
    return ids, np.array(values).reshape(-1, N_POINTS, 2), None


def _read_json(path: Path) -> tuple[list[str], np.ndarray, None]:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot read JSON ({exc})") from exc
    if not isinstance(data, dict) or not data:
        raise DataError(f'{path}: expected an object {{"id": [[x, y], ...]}} with at least one face')
    ids, shapes = [], []
    for key, points in data.items():
        try:
            arr = np.asarray(points, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(f"{path}: id {key!r}: points are not numbers") from None
        if arr.shape != (N_POINTS, 2):
            raise DataError(f"{path}: id {key!r} has points of shape {arr.shape}, expected ({N_POINTS}, 2)")
        ids.append(str(key))
        shapes.append(arr)
    return ids, np.stack(shapes), None


def write_predictions(path: str | os.PathLike, ids: Sequence[str], shapes: np.ndarray, fmt: str | None = None,
                      one_based: bool | None = None, yx: bool = False) -> None:
    """Write 0-based (x, y) ``shapes`` in a format of :data:`FORMATS` (the inverse of
    :func:`read_predictions` with the same ``one_based`` and ``yx``), atomically."""
    path = Path(path)
    fmt = fmt or ("pts" if not path.suffix else path.suffix.lower().lstrip("."))
    if fmt not in FORMATS:
        raise ValueError(f"{path}: unknown predictions format {fmt!r}; choose one of {', '.join(FORMATS)}")
    shapes = np.asarray(shapes, dtype=np.float64)
    ids = [str(i) for i in ids]
    if shapes.shape != (len(ids), N_POINTS, 2):
        raise ValueError(f"{path}: expected shapes ({len(ids)}, {N_POINTS}, 2), got {shapes.shape}")
    base_one = ONE_BASED_BY_DEFAULT[fmt] if one_based is None else bool(one_based)
    out = shapes[..., ::-1] if yx else shapes
    if fmt == "pts":
        for sid, shape in zip(ids, out):          # write_pts adds 1
            write_pts(path / f"{sid}.pts", shape - (0.0 if base_one else 1.0))
        return
    out = out + 1.0 if base_one else out
    if fmt == "npz":
        save_npz(path, ids=np.array(ids), predictions=out)
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["id"] + [f"{c}{k}" for k in range(N_POINTS) for c in ("x", "y")])
        for sid, shape in zip(ids, out):
            writer.writerow([sid] + [repr(float(v)) for v in shape.ravel()])
        with atomic_write(path) as fh:
            fh.write(buffer.getvalue())
    else:
        with atomic_write(path) as fh:
            json.dump({sid: shape.tolist() for sid, shape in zip(ids, out)}, fh)


@dataclass
class Scored:
    """Predictions paired with their ground truth, ready for the metrics core."""

    ids: list[str]
    predictions: np.ndarray
    ground_truth: np.ndarray
    unused_ground_truth: int
    source: Predictions
    #: The ground truth read for ``--gt`` (None when the predictions carried their own).
    truth: GroundTruth | None = None

    @property
    def unpaired_note(self) -> str | None:
        """One ``note: ...`` line on ground-truth files that were not scored (no prediction, unusable)."""
        from .pairing import unpaired_note

        return unpaired_note(self.truth, len(self.ids), self.unused_ground_truth) if self.truth is not None else None

    @property
    def set_name(self) -> str:
        """What the scored faces are, for titles: ``300w/challenging``, a stored run's dataset and
        subset, or the ground-truth folder's name."""
        if self.truth is not None and self.truth.dataset is not None:
            return self.truth.dataset
        meta = self.source.path.parent / "meta.json"          # a run folder's predictions.npz or pts/
        if meta.is_file():
            try:
                m = json.loads(meta.read_text())
                return f"{m['dataset']}/{m['subset']}"
            except (OSError, ValueError, KeyError, TypeError):
                pass
        return self.truth.name if self.truth is not None else self.source.path.name


def load_scored(predictions: str | os.PathLike, gt: str | os.PathLike | GroundTruth | None = None,
                one_based: bool | None = None, yx: bool = False, data_root: str | os.PathLike | None = None) -> Scored:
    """Read ``predictions`` (any of :data:`FORMATS`) and pair them by id with the ground truth
    ``gt`` (a folder of ``.pts`` files or a dataset spec such as ``300w:challenging``, see
    :func:`faceeval.pairing.load_ground_truth`; ``data_root`` is the dataset's root); without
    ``gt`` the ground truth stored in a run's ``predictions.npz`` is used."""
    from .pairing import load_ground_truth, pair_shapes

    preds = read_predictions(predictions, one_based, yx)
    if gt is not None:
        truth = gt if isinstance(gt, GroundTruth) else load_ground_truth(gt, data_root)
        ids, pred, shapes, unused = pair_shapes(preds.as_dict(), truth.shapes, preds.path, truth.source,
                                                truth.unusable)
        return Scored(ids, pred, shapes, unused, preds, truth)
    if preds.ground_truth is None:
        raise DataError(f"{preds.path}: no ground truth stored with these predictions; give --gt DIR "
                        f"(a folder of ground-truth .pts files, e.g. a 300W root) or a dataset (--gt builtin, "
                        f"--gt 300w:challenging with --data-root)")
    return Scored(preds.ids, preds.shapes, preds.ground_truth, 0, preds)


__all__ = ["Predictions", "Scored", "read_predictions", "write_predictions", "load_scored", "detect_format", "FORMATS"]
