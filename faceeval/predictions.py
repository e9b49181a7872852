"""Other tools' predictions in the formats they come in, so ``faceeval eval`` can score anyone.

=========  ===========================================================  =====================
format     layout                                                       coordinates (default)
=========  ===========================================================  =====================
``pts``    a folder of ibug ``.pts`` files (any depth), one per face    1-based, as the format
``npz``    ``predictions.npz`` as ``faceeval run`` writes it (``ids``,   0-based
           ``predictions`` (N, 68, 2), optional ``ground_truth``);
           a run folder holding one works too
``csv``    ``id,x0,y0,...,x67,y67`` per line, header optional           0-based
``json``   ``{"id": [[x, y], ... P points]}``                            0-based
``spiga-   SPIGA's released results: a JSON list of ``{"imgpath",       never guessed: a source
json``     "landmarks", ...}``, paired by the stem of ``imgpath``       description or options
           (:mod:`faceeval.released`)                                   say it
``cofw68`` the COFW-68 benchmark's ``.txt``: 4 lines per face (image    1-based, as its ``.mat``
           index; 68 x; 68 y; 68 occlusion flags)
``txt``    one face per line in the order of a dataset's official       as in the list
           list (WFLW's), its first 2P numbers x0 y0 ... the points,
           the rest of the line ignored; needs ``--gt DATASET``
           (a ``.txt`` whose first line holds one number is COFW-68's)
=========  ===========================================================  =====================

P is the number of points of the landmark scheme: the ground truth's when it is known first
(a dataset), else found from the file (a registered scheme's count; 68 when none fits).

``one_based`` overrides the format's convention (``True``: subtract 1 from every value;
``False``: take values as they are, even from ``.pts``) and ``yx`` says the files list
(y, x). Whatever came in, :class:`Predictions` holds 0-based (x, y), the toolkit's arrays.
Predictions in the original photos' pixels are mapped into a re-cut pack's crops by
:func:`load_scored` (``frame="original"``), with the pack's ``transforms.json``.

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
import functools
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .io import DataError, atomic_write, is_number, open_npz, read_json, read_pts_tree, read_text, save_npz, write_pts
from .landmarks import N_POINTS
from .pairing import GroundTruth

FORMATS = ("pts", "npz", "csv", "json", "spiga-json", "cofw68", "txt")
#: Whether a format's values are 1-based when nothing says otherwise (None: it must be said).
ONE_BASED_BY_DEFAULT = {"pts": True, "npz": False, "csv": False, "json": False, "spiga-json": None, "cofw68": True,
                        "txt": False}
#: The formats :func:`write_predictions` writes.
WRITABLE = ("pts", "npz", "csv", "json")


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
    """Predicted shapes ``(N, 68, 2)`` (0-based x, y) by id, and what they were read from."""

    ids: list[str]
    shapes: np.ndarray
    format: str
    path: Path
    one_based: bool
    yx: bool
    ground_truth: np.ndarray | None = None
    #: ``dataset`` (the ground truth's frame) or ``original`` (the original photos' pixels).
    frame: str = "dataset"
    #: Where released predictions come from (a source description's provenance, the file's checksum,
    #: the conventions used), else None.
    released: dict | None = None
    #: The dataset's box size per face, stored by ``faceeval run`` for datasets that ship one (AFLW).
    box_sizes: np.ndarray | None = None

    def as_dict(self) -> dict[str, np.ndarray]:
        return dict(zip(self.ids, self.shapes))

    @property
    def convention(self) -> str:
        frame = ", original photos' frame" if self.frame == "original" else ""
        return f"{self.format}, {'1' if self.one_based else '0'}-based, {'(y, x)' if self.yx else '(x, y)'}{frame}"


def detect_format(path: str | os.PathLike) -> str:
    """The format of ``path`` from its suffix or, for a folder, its contents."""
    path = Path(path)
    if path.is_dir():
        if (path / "predictions.npz").is_file():
            return "npz"
        return "pts"
    suffix = path.suffix.lower()
    if suffix in (".npz", ".csv"):
        return suffix[1:]
    if suffix == ".json" and path.exists():
        from .released import is_spiga_json

        return "spiga-json" if is_spiga_json(_load_json(path)) else "json"
    if suffix == ".txt":
        return _text_format(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    raise DataError(f"{path}: unknown predictions format {suffix or '(no suffix)'!r}; give a folder of .pts "
                    f"files, predictions.npz, .csv, .json (ours or SPIGA's results) or a COFW-68 .txt")


def _text_format(path: Path) -> str:
    """``cofw68`` for the COFW-68 benchmark's files (a first line with one number, the image index),
    else ``txt`` (one face per line in a dataset's official order, WFLW's)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            first = next((line for line in fh if line.strip()), "")
    except OSError:
        return "txt"
    return "cofw68" if len(first.split()) == 1 else "txt"


def _load_json(path: Path):
    return read_json(path, "predictions")


def read_predictions(path: str | os.PathLike, one_based: bool | None = None, yx: bool = False,
                     fmt: str | None = None, pair_by: str = "stem", number_offset: int = 0, *,
                     n_points: int | None = None, order: Sequence[str] | None = None,
                     order_source: str = "") -> Predictions:
    """Read predictions in any of :data:`FORMATS` as 0-based (x, y) shapes.

    ``pair_by`` / ``number_offset``: how SPIGA's results are keyed (see :func:`faceeval.released.face_key`).
    ``n_points``: the number of points each face must have (default: found from the file);
    ``order``: the ids of the lines of a ``txt`` file, from the dataset's official list
    (``order_source`` names it in messages).
    """
    path = Path(path).expanduser()
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise DataError(f"{path}: unknown predictions format {fmt!r}; choose one of {', '.join(FORMATS)}")
    base_one = ONE_BASED_BY_DEFAULT[fmt] if one_based is None else bool(one_based)
    if base_one is None:
        raise DataError(f"{path}: {fmt} predictions do not say their coordinate base; give --zero-based or "
                        f"--one-based (and --frame original if they are in the original photos' pixels), or "
                        f"--source NAME|FILE.json describing where they come from")
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
        if fmt == "spiga-json":
            from .released import face_key, read_spiga_json

            imgpaths, shapes = read_spiga_json(file)
            ids = [face_key(p, pair_by, number_offset) for p in imgpaths]
        elif fmt == "cofw68":
            from .datasets.cofw68 import read_cofw68_predictions

            ids, shapes, _ = read_cofw68_predictions(file)
        else:
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
    return Predictions(ids, shapes.astype(np.float64), fmt, path, base_one, yx, gt, box_sizes=sizes)


def _stored_box_sizes(path: Path, n: int) -> np.ndarray | None:
    with open_npz(path, "predictions") as z:
        sizes = np.asarray(z["box_size"], dtype=np.float64) if "box_size" in z.files else None
    return sizes if sizes is not None and sizes.shape == (n,) else None


def _read_pts_folder(root: Path, n_points: int | None) -> dict[str, np.ndarray]:
    """Every ``.pts`` under ``root`` (read by :func:`~faceeval.io.read_pts_tree`), each with
    ``n_points`` points, else as many as most files have (a registered scheme's count first)."""
    from collections import Counter

    shapes = read_pts_tree(root, None)
    counts = Counter(len(v) for v in shapes.values())
    if n_points is None:
        ranked = sorted(counts, key=lambda c: (-(_scheme_count(c, None) == c), -counts[c], c))
        n_points = _scheme_count(ranked[0], None)
    for key, shape in shapes.items():
        if len(shape) != n_points:
            raise DataError(f"{root / key}.pts: expected {n_points} points, found {len(shape)}")
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
    data = _load_json(path)
    if not isinstance(data, dict) or not data:
        raise DataError(f'{path}: expected an object {{"id": [[x, y], ...]}} with at least one face, or SPIGA\'s '
                        f'results (a list of {{"imgpath": ..., "landmarks": ...}})')
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
    if fmt not in WRITABLE:
        raise ValueError(f"{path}: unknown predictions format {fmt!r}; choose one of {', '.join(WRITABLE)}")
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
    #: ``(N, 68)`` booleans (False = occluded) where the ground truth marks occlusion (COFW-68), else None.
    visible: np.ndarray | None = None
    #: The predictions mapped as if they were in the original photos' frame, where the ground truth is a
    #: re-cut pack and they were read in its own frame: evidence for the frame warning.
    as_original: np.ndarray | None = None
    #: ``note: ...`` lines on how the predictions were read (a recognised released file).
    notes: list[str] = field(default_factory=list)
    #: Predictions mapped from the original photos' frame: they and the ground truth in that frame,
    #: where a one-pixel slip of their base shows as one pixel (the convention checks look there).
    original_frame: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def spec_name(self) -> str | None:
        """The registered dataset the ground truth comes from (``--gt wflw:test``, or a stored run's
        dataset), or None (a folder)."""
        if self.truth is not None:
            return self.truth.spec_name
        return self.run_meta.get("dataset")

    @property
    def scheme(self):
        """The landmark scheme of the scored shapes: the ground truth's, else found from the point count."""
        from .metrics import resolve_scheme

        name = self.truth.scheme if self.truth is not None else self.run_meta.get("scheme")
        return resolve_scheme(self.ground_truth, name)

    @property
    def box_sizes(self) -> np.ndarray | None:
        """The dataset's own box size per scored face (``dataset-box``), where it ships one."""
        if self.truth is not None:
            sizes = self.truth.box_sizes
            return np.array([sizes[i] for i in self.ids], dtype=np.float64) if sizes else None
        return self.source.box_sizes

    @functools.cached_property
    def run_meta(self) -> dict:
        """The ``meta.json`` of the run folder the predictions were read from (its ``predictions.npz``
        or ``pts/``), read once; empty when there is none. A damaged one is a :class:`DataError`: the
        dataset it names chooses the scoring protocol, which must not fall back silently."""
        from .runs import is_finished_run, read_run_meta

        folder = self.source.path.parent
        return read_run_meta(folder) if is_finished_run(folder) else {}

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
        m = self.run_meta
        if "dataset" in m and "subset" in m:
            return f"{m['dataset']}/{m['subset']}"
        return self.truth.name if self.truth is not None else self.source.path.name


@dataclass(frozen=True)
class Reading:
    """How to read a predictions file: base, axis order, frame, pairing, and the released source if any."""

    one_based: bool | None
    yx: bool
    frame: str
    pair_by: str = "stem"
    number_offset: int = 0
    released: dict | None = None
    note: str | None = None


def resolve_reading(path: str | os.PathLike, fmt: str, dataset: str | None, one_based: bool | None = None,
                    yx: bool = False, frame: str | None = None, source: str | os.PathLike | None = None) -> Reading:
    """The conventions a predictions file is read with: options first, then its source description
    (``source``, or the shipped description whose file has this checksum), then the format's own.

    Released predictions (``spiga-json``) without a description need ``one_based`` (never guessed).
    """
    from .released import FRAMES, identify, load_source, sha256_of

    if frame is not None and frame not in FRAMES:
        raise DataError(f"--frame {frame!r}: choose one of {', '.join(FRAMES)}")
    described = None
    if source is not None or fmt in ("spiga-json", "cofw68"):
        src = load_source(source) if source is not None else None
        found = identify(path, src) if Path(path).is_file() else None
        if found is not None:
            described = found
        elif src is not None:
            described = (src, None)
    if described is None:
        return Reading(one_based, yx, frame or "dataset")
    src, entry = described
    set_name = dataset or (entry.dataset if entry else None)
    conv = src.conventions(set_name)
    reading = Reading(conv["one_based"] if one_based is None else one_based, yx or conv["yx"],
                      frame or conv["frame"], conv["pair_by"], conv["number_offset"])
    released = {**src.provenance, "method": src.method, "file": Path(path).name,
                "sha256": entry.sha256 if entry else sha256_of(path),
                "upstream": entry.upstream if entry else None, "dataset": set_name,
                "conventions": {"frame": reading.frame, "one_based": reading.one_based, "yx": reading.yx,
                                "pair_by": reading.pair_by, "number_offset": reading.number_offset}}
    what = (f"{Path(path).name} is {src.title}'s released {entry.dataset}/{entry.subset} predictions"
            if entry else f"{Path(path).name}: read as {src.title}'s released predictions on {set_name}")
    where = "the original photos' pixels" if reading.frame == "original" else "the ground truth's frame"
    pairing = f", face i = image number - {reading.number_offset}" if reading.pair_by == "number" else ""
    note = (f"note: {what} ({src.repository}@{src.commit[:7]}, {src.path}): read "
            f"{'1' if reading.one_based else '0'}-based {'(y, x)' if reading.yx else '(x, y)'} in {where}{pairing}")
    return Reading(reading.one_based, reading.yx, reading.frame, reading.pair_by, reading.number_offset, released,
                   note)


def load_scored(predictions: str | os.PathLike, gt: str | os.PathLike | GroundTruth | None = None,
                one_based: bool | None = None, yx: bool = False, data_root: str | os.PathLike | None = None,
                frame: str | None = None, source: str | os.PathLike | None = None) -> Scored:
    """Read ``predictions`` (any of :data:`FORMATS`) and pair them by id with the ground truth
    ``gt`` (a folder of ``.pts`` files or a dataset spec such as ``300w:challenging``, see
    :func:`faceeval.pairing.load_ground_truth`; ``data_root`` is the dataset's root); without
    ``gt`` the ground truth stored in a run's ``predictions.npz`` is used.

    ``frame="original"``: the predictions are in the original photos' 0-based pixels; a re-cut
    pack's ground truth maps them into its crops (its ``transforms.json``), a dataset as
    distributed needs no mapping. ``source``: a source description (:mod:`faceeval.released`)
    saying how released predictions are read; a released file it lists (or a shipped description
    lists) is recognised by its checksum. Options given explicitly win over a description.
    """
    from .pairing import load_ground_truth, pair_shapes
    from .released import to_dataset_frame, to_original_frame

    path = Path(predictions).expanduser()
    fmt = detect_format(path)
    truth = None
    if gt is not None and (isinstance(gt, GroundTruth) or not Path(gt).expanduser().is_dir()):
        truth = gt if isinstance(gt, GroundTruth) else load_ground_truth(gt, data_root)   # a dataset: scheme first
    reading = resolve_reading(path, fmt, truth.dataset_name if truth is not None else None, one_based, yx, frame,
                              source)
    order, order_source = _line_order(path, fmt, truth, data_root)
    preds = read_predictions(path, reading.one_based, reading.yx, fmt, reading.pair_by, reading.number_offset,
                             n_points=_truth_points(truth), order=order, order_source=order_source)
    if gt is not None and truth is None:                  # a folder: as many points as the predictions have
        truth = load_ground_truth(gt, data_root, preds.shapes.shape[1])
    preds.frame, preds.released = reading.frame, reading.released
    notes = [reading.note] if reading.note else []
    if truth is None:
        if reading.frame == "original":
            raise DataError(f"{preds.path}: --frame original needs --gt (the ground truth whose crops they map into)")
        if preds.ground_truth is None:
            raise DataError(f"{preds.path}: no ground truth stored with these predictions; give --gt DIR "
                            f"(a folder of ground-truth .pts files, e.g. a 300W root) or a dataset (--gt builtin, "
                            f"--gt 300w:challenging with --data-root)")
        return Scored(preds.ids, preds.shapes, preds.ground_truth, 0, preds, notes=notes)
    # predictions on a larger set than the dataset subset asked for (a released file of the whole private set
    # scored on its outdoor half) leave the others out, said in a note
    left_out: list[str] | None = [] if truth.dataset is not None else None
    ids, pred, shapes, unused = pair_shapes(preds.as_dict(), truth.shapes, preds.path, truth.source, truth.unusable,
                                            left_out)
    if left_out:
        notes.append(f"note: {len(left_out)} predictions in {preds.path.name} are not on {truth.dataset} "
                     f"(first: {left_out[0]}); scored the {len(ids)} that are")
    as_original = original_frame = None
    if reading.frame == "original":
        mapped = to_dataset_frame(pred, ids, truth.transforms, truth.source)
        if mapped is not pred:
            original_frame = (pred, to_original_frame(shapes, ids, truth.transforms))
        pred = mapped
    elif truth.transforms and all(i in truth.transforms for i in ids):
        as_original = to_dataset_frame(pred, ids, truth.transforms, truth.source)
    visible = np.stack([truth.visible[i] for i in ids]) if truth.visible else None
    return Scored(ids, pred, shapes, unused, preds, truth, visible, as_original, notes, original_frame)


def _truth_points(truth: GroundTruth | None) -> int | None:
    if truth is None or truth.scheme is None:
        return None
    from .protocol import scheme

    return scheme(truth.scheme).n_points


def _line_order(path: Path, fmt: str, truth: GroundTruth | None, data_root) -> tuple[list[str] | None, str]:
    """The ids of a ``txt`` file's lines: the official list of the dataset ``truth`` was read from."""
    if truth is None or truth.spec_name is None or fmt != "txt":
        return None, ""
    from .datasets import get_spec

    spec = get_spec(truth.spec_name)
    if spec.line_order is None:
        raise DataError(f"{path}: dataset {spec.name} defines no order of faces for a .txt file of one prediction "
                        f"per line; give .pts, CSV or JSON predictions keyed by id")
    subset = truth.dataset.partition("/")[2]
    return spec.line_order(Path(data_root).expanduser(), subset), f"of {spec.name}/{subset}"


__all__ = ["Predictions", "Scored", "Reading", "read_predictions", "write_predictions", "load_scored", "resolve_reading",
           "detect_format", "FORMATS"]
