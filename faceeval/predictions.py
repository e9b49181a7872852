"""Other tools' predictions in the formats they come in, so ``faceeval eval`` can score anyone.

=========  ===========================================================  =====================
format     layout                                                       coordinates (default)
=========  ===========================================================  =====================
``pts``    a folder of ibug ``.pts`` files (any depth), one per face    1-based, as the format
``npz``    ``predictions.npz`` as ``faceeval run`` writes it (``ids``,   0-based
           ``predictions`` (N, P, 2), optional ``ground_truth``);
           a run folder holding one works too
``csv``    ``id,x0,y0,...,x67,y67`` per line, header optional           0-based
``json``   ``{"id": [[x, y], ... P points]}``                            0-based
``txt``    one face per line in the order of a dataset's official       as in the list
           list (WFLW's), its first 2P numbers x0 y0 ... the points,
           the rest of the line ignored; needs ``--gt DATASET``
=========  ===========================================================  =====================

P is the number of points of the landmark scheme: the ground truth's when it is known first
(a dataset), else found from the file (a registered scheme's count; 68 when none fits).

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

from .io import DataError, atomic_write, is_number, open_npz, read_pts, read_text, save_npz, write_pts
from .landmarks import N_POINTS
from .pairing import GroundTruth

FORMATS = ("pts", "npz", "csv", "json", "txt")
#: Whether a format's values are 1-based when nothing says otherwise.
ONE_BASED_BY_DEFAULT = {"pts": True, "npz": False, "csv": False, "json": False, "txt": False}


def _scheme_count(count: float, n_points: int | None) -> int:
    """The number of points to expect: ``n_points`` if known, else ``count`` when it is a registered
    scheme's (68 otherwise, so the message names the usual count)."""
    if n_points is not None:
        return n_points
    from .protocol import SCHEMES

    counts = {s.n_points for s in SCHEMES.find(lambda s: True)}
    return int(count) if count in counts else N_POINTS


@dataclass
class Predictions:
    """Predicted shapes ``(N, P, 2)`` (0-based x, y) by id, and what they were read from."""

    ids: list[str]
    shapes: np.ndarray
    format: str
    path: Path
    one_based: bool
    yx: bool
    ground_truth: np.ndarray | None = None
    #: The dataset's box size per face, stored by ``faceeval run`` for datasets that ship one (AFLW).
    box_sizes: np.ndarray | None = None

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
    if suffix in (".npz", ".csv", ".json", ".txt"):
        return suffix[1:]
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    raise DataError(f"{path}: unknown predictions format {suffix or '(no suffix)'!r}; "
                    f"give a folder of .pts files, predictions.npz, .csv, .json or .txt (one face per line)")


def read_predictions(path: str | os.PathLike, one_based: bool | None = None, yx: bool = False,
                     fmt: str | None = None, n_points: int | None = None, order: Sequence[str] | None = None,
                     order_source: str = "") -> Predictions:
    """Read predictions in any of :data:`FORMATS` as 0-based (x, y) shapes.

    ``n_points``: the number of points each face must have (default: found from the file);
    ``order``: the ids of the lines of a ``txt`` file, from the dataset's official list
    (``order_source`` names it in messages).
    """
    path = Path(path).expanduser()
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise DataError(f"{path}: unknown predictions format {fmt!r}; choose one of {', '.join(FORMATS)}")
    base_one = ONE_BASED_BY_DEFAULT[fmt] if one_based is None else bool(one_based)
    gt = sizes = None
    if fmt == "pts":
        tree = _read_pts_folder(path, n_points)            # subtracts 1 (the format's convention)
        ids = list(tree)
        shapes = np.stack([tree[k] for k in ids]) + (0.0 if base_one else 1.0)
    elif fmt == "txt":
        if order is None:
            raise DataError(f"{path}: a .txt file of predictions (one face per line, in the order of a dataset's "
                            f"official list) needs --gt with a dataset whose official list gives the order "
                            f"(e.g. --gt wflw:test --data-root ROOT)")
        ids, shapes = _read_lines(path, n_points or 98, order, order_source)
        if base_one:
            shapes = shapes - 1.0
    else:
        file = path / "predictions.npz" if fmt == "npz" and path.is_dir() else path
        ids, shapes, gt = {"npz": _read_npz, "csv": _read_csv, "json": _read_json}[fmt](file, n_points)
        sizes = _stored_box_sizes(file, len(ids)) if fmt == "npz" else None
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
    return Predictions(ids, shapes.astype(np.float64), fmt, path, base_one, yx, gt, sizes)


def _stored_box_sizes(path: Path, n: int) -> np.ndarray | None:
    with open_npz(path, "predictions") as z:
        sizes = np.asarray(z["box_size"], dtype=np.float64) if "box_size" in z.files else None
    return sizes if sizes is not None and sizes.shape == (n,) else None


def _read_pts_folder(root: Path, n_points: int | None) -> dict[str, np.ndarray]:
    """Every ``.pts`` under ``root`` (keyed as :func:`~faceeval.io.read_pts_tree` keys them), each with
    ``n_points`` points, else as many as most files have (a registered scheme's count first)."""
    from collections import Counter

    if not root.is_dir():
        raise DataError(f"{root}: not a folder of .pts files")
    files = sorted(root.rglob("*.pts"))
    if not files:
        raise DataError(f"{root}: no .pts files found")
    shapes = {p.relative_to(root).with_suffix("").as_posix(): read_pts(p, None) for p in files}
    counts = Counter(len(v) for v in shapes.values())
    if n_points is None:
        ranked = sorted(counts, key=lambda c: (-(_scheme_count(c, None) == c), -counts[c], c))
        n_points = _scheme_count(ranked[0], None)
    for p, (key, shape) in zip(files, shapes.items()):
        if len(shape) != n_points:
            raise DataError(f"{p}: expected {n_points} points, found {len(shape)}")
    return shapes


def _read_lines(path: Path, n_points: int, order: Sequence[str], order_source: str) -> tuple[list[str], np.ndarray]:
    """A text file of one face per line in the order ``order``: the first 2 x ``n_points`` numbers of
    each line are x0 y0 x1 y1 ...; the rest of the line (a box, flags, the image name) is ignored."""
    lines = [ln for ln in read_text(path, "predictions").splitlines() if ln.strip()]
    if len(lines) != len(order):
        raise DataError(f"{path}: {len(lines)} lines, but the official list{' ' + order_source if order_source else ''} "
                        f"holds {len(order)} faces (one line per face, in its order)")
    width = 2 * n_points
    values = np.empty((len(lines), width))
    for k, line in enumerate(lines):
        fields = line.split()
        numbers = next((j for j, v in enumerate(fields[:width]) if not is_number(v)), min(len(fields), width))
        if numbers == width:
            values[k] = [float(v) for v in fields[:width]]
        else:
            raise DataError(f"{path}: line {k + 1} starts with {numbers} numbers, expected {width} (x0 y0 ... "
                            f"x{n_points - 1} y{n_points - 1}, {n_points} points)")
    return list(order), values.reshape(-1, n_points, 2)



def _read_npz(path: Path, n_points: int | None = None) -> tuple[list[str], np.ndarray, np.ndarray | None]:
    with open_npz(path, "predictions") as z:
        missing = [k for k in ("ids", "predictions") if k not in z.files]
        if missing:
            raise DataError(f"{path}: missing arrays {missing} (expected ids and predictions, as "
                            f"`faceeval run` writes them; found {z.files})")
        ids, shapes = [str(i) for i in z["ids"]], np.asarray(z["predictions"], dtype=np.float64)
        gt = np.asarray(z["ground_truth"], dtype=np.float64) if "ground_truth" in z.files else None
    points = _scheme_count(shapes.shape[1] if shapes.ndim == 3 else -1, n_points)
    if shapes.shape != (len(ids), points, 2):
        raise DataError(f"{path}: predictions have shape {shapes.shape}, expected ({len(ids)}, {points}, 2)")
    if gt is not None and gt.shape != shapes.shape:
        gt = None                                       # a run without ground truth stores an empty array
    return ids, shapes, gt


def _read_csv(path: Path, n_points: int | None = None) -> tuple[list[str], np.ndarray, None]:
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
    points = _scheme_count((len(rows[0]) - 1) / 2, n_points)
    width = 1 + 2 * points
    for line_no, row in enumerate(rows, start=1):
        if len(row) != width:
            raise DataError(f"{path}: row {line_no} ({row[0]!r}) has {len(row)} fields, expected {width} "
                            f"(id,x0,y0,...,x{points - 1},y{points - 1})")
        try:
            values.append([float(v) for v in row[1:]])
        except ValueError:
            raise DataError(f"{path}: row {line_no} ({row[0]!r}) has a value that is not a number") from None
        ids.append(row[0].strip())
    return ids, np.array(values).reshape(-1, points, 2), None


def _read_json(path: Path, n_points: int | None = None) -> tuple[list[str], np.ndarray, None]:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot read JSON ({exc})") from exc
    if not isinstance(data, dict) or not data:
        raise DataError(f'{path}: expected an object {{"id": [[x, y], ...]}} with at least one face')
    ids, shapes = [], []
    count = None
    for key, points in data.items():
        try:
            arr = np.asarray(points, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(f"{path}: id {key!r}: points are not numbers") from None
        if count is None:
            count = _scheme_count(arr.shape[0] if arr.ndim == 2 and arr.shape[1:] == (2,) else -1, n_points)
        if arr.shape != (count, 2):
            raise DataError(f"{path}: id {key!r} has points of shape {arr.shape}, expected ({count}, 2)")
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
    if shapes.ndim != 3 or shapes.shape[0] != len(ids) or shapes.shape[2] != 2 or shapes.shape[1] < 1:
        raise ValueError(f"{path}: expected shapes ({len(ids)}, P, 2), got {shapes.shape}")
    points = shapes.shape[1]
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
        writer.writerow(["id"] + [f"{c}{k}" for k in range(points) for c in ("x", "y")])
        for sid, shape in zip(ids, out):
            writer.writerow([sid] + [repr(float(v)) for v in shape.ravel()])
        with atomic_write(path) as fh:
            fh.write(buffer.getvalue())
    elif fmt == "txt":                    # one line per face, in the order given
        with atomic_write(path) as fh:
            fh.write("".join(" ".join(repr(float(v)) for v in shape.ravel()) + "\n" for shape in out))
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
    #: Predictions of faces of the larger subset that holds the scored one, left out (see :func:`load_scored`).
    left_out: int = 0

    @property
    def spec_name(self) -> str | None:
        """The registered dataset the ground truth comes from (``--gt wflw:test``, or a stored run's
        dataset), or None (a folder)."""
        if self.truth is not None:
            return self.truth.spec_name
        meta = self._meta()
        return meta.get("dataset") if meta else None

    @property
    def scheme(self):
        """The landmark scheme of the scored shapes: the ground truth's, else found from the point count."""
        from .metrics import resolve_scheme

        name = self.truth.scheme if self.truth is not None else (self._meta() or {}).get("scheme")
        return resolve_scheme(self.ground_truth, name)

    @property
    def box_sizes(self) -> np.ndarray | None:
        """The dataset's own box size per scored face (``dataset-box``), where it ships one."""
        if self.truth is not None:
            sizes = self.truth.box_sizes
            return np.array([sizes[i] for i in self.ids], dtype=np.float64) if sizes else None
        return self.source.box_sizes

    @property
    def visible(self) -> np.ndarray | None:
        """Per-point visibility ``(N, P)`` where the dataset marks occlusion, else None."""
        if self.truth is not None and self.truth.visible:
            return np.stack([self.truth.visible[i] for i in self.ids])
        return None

    def _meta(self) -> dict | None:
        meta = self.source.path.parent / "meta.json"          # a run folder's predictions.npz or pts/
        if meta.is_file():
            try:
                value = json.loads(meta.read_text())
                return value if isinstance(value, dict) else None
            except (OSError, ValueError):
                return None
        return None

    @property
    def unpaired_note(self) -> str | None:
        """One ``note: ...`` line on ground-truth files that were not scored (no prediction, unusable)."""
        from .pairing import unpaired_note

        if self.truth is None:
            return None
        note = unpaired_note(self.truth, len(self.ids), self.unused_ground_truth)
        if self.left_out:
            subset = f"note: left out {self.left_out} predictions of faces outside {self.truth.dataset}"
            note = subset + (f"; {note.removeprefix('note: ')}" if note else f"; scored the {len(self.ids)} of it")
        return note

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
    ``gt`` (a folder of ``.pts`` files or a dataset spec such as ``300w:challenging`` or ``wflw:test``,
    see :func:`faceeval.pairing.load_ground_truth`; ``data_root`` is the dataset's root); without
    ``gt`` the ground truth stored in a run's ``predictions.npz`` is used.

    A dataset's ground truth is read first, so its scheme says how many points a face has and its
    official list the order of a ``txt`` file; a folder's is read after the predictions, with
    their number of points.
    """
    from .pairing import load_ground_truth, pair_shapes

    path = Path(predictions).expanduser()
    truth = gt if isinstance(gt, GroundTruth) else None
    if gt is not None and truth is None and not Path(gt).expanduser().is_dir():
        truth = load_ground_truth(gt, data_root)           # a dataset: its scheme and order come first
    n_points = _truth_points(truth)
    order, order_source = _line_order(path, truth, data_root)
    preds = read_predictions(path, one_based, yx, n_points=n_points, order=order, order_source=order_source)
    if gt is not None:
        if truth is None:
            truth = load_ground_truth(gt, data_root, preds.shapes.shape[1])
        pred_shapes = preds.as_dict()
        outside = _faces_of_parent(pred_shapes, truth, data_root, whole_list=preds.format == "txt")
        pred_shapes = {k: v for k, v in pred_shapes.items() if k not in outside}
        ids, pred, shapes, unused = pair_shapes(pred_shapes, truth.shapes, preds.path, truth.source, truth.unusable)
        return Scored(ids, pred, shapes, unused, preds, truth, len(outside))
    if preds.ground_truth is None:
        raise DataError(f"{preds.path}: no ground truth stored with these predictions; give --gt DIR "
                        f"(a folder of ground-truth .pts files, e.g. a 300W root) or a dataset (--gt builtin, "
                        f"--gt 300w:challenging with --data-root)")
    return Scored(preds.ids, preds.shapes, preds.ground_truth, 0, preds)


def _faces_of_parent(pred: dict, truth: GroundTruth, data_root, whole_list: bool) -> set[str]:
    """Predictions of faces outside ``truth``'s subset but inside the larger subset that holds it (all of
    WFLW's test set scored on ``wflw:largepose``): they are left out of the score, not an id mismatch."""
    names = {Path(k).name for k in truth.shapes}
    extra = {k for k in set(pred) - set(truth.shapes) if Path(k).name not in names}   # not paired by file name
    if not extra or truth.spec_name is None:
        return set()
    if whole_list:                     # a txt file lists the whole official list by construction
        return extra
    from .datasets import get_spec, load_dataset

    spec = get_spec(truth.spec_name)
    parent = spec.parents.get(truth.dataset.partition("/")[2])
    if parent is None:
        return set()
    import warnings

    with warnings.catch_warnings():            # the subset already said whether it is complete
        warnings.simplefilter("ignore")
        try:
            parent_ids = set(load_dataset(spec.name, parent, data_root).ids)
        except DataError:                      # the larger subset is not there: the mismatch is reported as such
            return set()
    return extra if extra <= parent_ids else set()


def _truth_points(truth: GroundTruth | None) -> int | None:
    if truth is None or truth.scheme is None:
        return None
    from .protocol import scheme

    return scheme(truth.scheme).n_points


def _line_order(path: Path, truth: GroundTruth | None, data_root) -> tuple[list[str] | None, str]:
    """The ids of a ``txt`` file's lines: the official list of the dataset ``truth`` was read from."""
    if truth is None or truth.spec_name is None or path.is_dir() or path.suffix.lower() != ".txt":
        return None, ""
    from .datasets import get_spec

    spec = get_spec(truth.spec_name)
    if spec.line_order is None:
        raise DataError(f"{path}: dataset {spec.name} defines no order of faces for a .txt file of one prediction "
                        f"per line; give .pts, CSV or JSON predictions keyed by id")
    subset = truth.dataset.partition("/")[2]
    return spec.line_order(Path(data_root).expanduser(), subset), f"of {spec.name}/{subset}"


__all__ = ["Predictions", "Scored", "read_predictions", "write_predictions", "load_scored", "detect_format", "FORMATS"]
