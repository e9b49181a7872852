"""Predictions that a method's authors released, read as published and described by a source file.

A *source description* (``faceeval/data/released_<name>.json``, or any JSON file of that shape)
says where released predictions come from (repository, commit, paper, licence), which files were
released (name, upstream path, sha256, dataset and subset, the source's own metrics) and, per
dataset, how to read them: the coordinate ``frame`` (``original``: the original photos' pixels;
``dataset``: the ground truth's own frame), whether values are ``one_based``, ``yx`` and how a face
pairs with the ground truth (``pair_by``: the image ``stem`` at the end of ``imgpath``, or its
``number`` minus ``number_offset``). Conventions are never guessed: a file is read with its
description (given by ``--source``, or recognised by its checksum) or with explicit options.

SPIGA's results format (``spiga-json``) is a JSON list of ``{"imgpath", "landmarks" (68 x [x, y]),
...}``, one object per face.

>>> spiga = load_source("spiga")
>>> spiga.repository, spiga.conventions("cofw68")["number_offset"]
('andresprados/SPIGA', 1344)
>>> face_key("images/test/3151235633_1.jpg"), face_key("images/01345.jpg", "number", 1344)
('3151235633_1', '1')
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath

import numpy as np

from .errors import DataError
from .io import read_json
from .landmarks import N_POINTS

#: Frames predictions may be given in: the ground truth's own, or the original photos' (a re-cut pack maps them).
FRAMES = ("dataset", "original")
#: How a released face pairs with the ground truth.
PAIR_BY = ("stem", "number")
#: The prefix of shipped descriptions in ``faceeval/data``.
_PREFIX = "released_"


@dataclass(frozen=True)
class ReleasedFile:
    """One released file of a source: its name, upstream path, checksum, set and the source's own metrics."""

    name: str
    sha256: str
    dataset: str
    subset: str
    upstream: str = ""
    faces: int | None = None
    own_metrics: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Source:
    """A source description (see the module docstring)."""

    name: str
    method: str
    repository: str
    commit: str
    format: str
    paper: str = ""
    license: str = ""
    title: str = ""
    path: str = ""
    #: What a reader of a table must know about these predictions (how the faces were cropped, trained on what).
    caveat: str = ""
    _conventions: dict = field(default_factory=dict, compare=False, hash=False)
    files: tuple[ReleasedFile, ...] = ()

    def conventions(self, dataset: str | None) -> dict:
        """How this source's predictions on ``dataset`` are to be read (frame, one_based, yx, pair_by, ...)."""
        if dataset not in self._conventions:
            known = ", ".join(sorted(self._conventions)) or "none"
            raise DataError(f"{self.path}: source {self.name!r} says nothing about dataset {dataset!r} (it describes: "
                            f"{known}); give --frame and --zero-based/--one-based instead")
        return dict(self._conventions[dataset])

    def file(self, sha256: str) -> ReleasedFile | None:
        return next((f for f in self.files if f.sha256 == sha256), None)

    @property
    def provenance(self) -> dict:
        return {"source": self.name, "repository": self.repository, "commit": self.commit, "paper": self.paper,
                "license": self.license, "description_file": self.path}


def _check_conventions(where: str, dataset: str, conv: dict) -> dict:
    if not isinstance(conv, dict):
        raise DataError(f"{where}: conventions of {dataset!r} should be an object")
    out = {"frame": conv.get("frame", "dataset"), "one_based": conv.get("one_based"), "yx": bool(conv.get("yx", False)),
           "pair_by": conv.get("pair_by", "stem"), "number_offset": int(conv.get("number_offset", 0))}
    if out["frame"] not in FRAMES:
        raise DataError(f"{where}: {dataset}: frame {out['frame']!r}, expected one of {', '.join(FRAMES)}")
    if not isinstance(out["one_based"], bool):
        raise DataError(f"{where}: {dataset}: one_based must be true or false (the coordinate base is never guessed)")
    if out["pair_by"] not in PAIR_BY:
        raise DataError(f"{where}: {dataset}: pair_by {out['pair_by']!r}, expected one of {', '.join(PAIR_BY)}")
    return out


def _parse_source(data, where: str) -> Source:
    if not isinstance(data, dict):
        raise DataError(f"{where}: a source description is a JSON object")
    missing = [k for k in ("name", "method", "repository", "commit", "format", "conventions") if k not in data]
    if missing:
        raise DataError(f"{where}: source description lacks {', '.join(missing)}")
    conventions = data["conventions"]
    if not isinstance(conventions, dict):
        raise DataError(f"{where}: 'conventions' should map a dataset name to how its predictions are read")
    try:
        files = tuple(ReleasedFile(f["name"], f["sha256"], f["dataset"], f["subset"], f.get("upstream", ""),
                                   f.get("faces"), f.get("own_metrics", {})) for f in data.get("files", []))
    except (KeyError, TypeError) as exc:
        raise DataError(f"{where}: a file entry lacks {exc} (each needs name, sha256, dataset, subset)") from None
    return Source(str(data["name"]), str(data["method"]), str(data["repository"]), str(data["commit"]),
                  str(data["format"]), str(data.get("paper", "")), str(data.get("license", "")),
                  str(data.get("title", data["name"])), where, str(data.get("caveat", "")),
                  {k: _check_conventions(where, k, v) for k, v in conventions.items()}, files)


def shipped_sources() -> list[str]:
    """Names of the source descriptions that ship with faceeval (``spiga``, ...)."""
    from .resources import data_path

    folder = data_path("")
    return sorted(p.name[len(_PREFIX):-5] for p in folder.iterdir() if p.name.startswith(_PREFIX) and p.name.endswith(".json"))


@lru_cache(maxsize=None)
def _shipped(name: str) -> Source:
    from .resources import data_path

    path = data_path(f"{_PREFIX}{name}.json")
    return _parse_source(json.loads(path.read_text()), f"faceeval/data/{_PREFIX}{name}.json")


def load_source(spec: str | os.PathLike) -> Source:
    """A source description: a shipped one by name (``spiga``) or a JSON file."""
    if str(spec) in shipped_sources():
        return _shipped(str(spec))
    path = Path(spec).expanduser()
    if not path.is_file():
        raise DataError(f"--source {spec}: not a shipped source ({', '.join(shipped_sources())}) and no such file")
    return _parse_source(read_json(path, "the source description"), str(path))


def sha256_of(path: str | os.PathLike) -> str:
    """The file's whole SHA-256 (hex): what a source description lists its released files by."""
    from .methods import file_hash

    return file_hash(path, 64)


def identify(path: str | os.PathLike, source: Source | None = None) -> tuple[Source, ReleasedFile] | None:
    """The shipped source (or ``source``) that released the file at ``path``, recognised by its sha256."""
    digest = sha256_of(path)
    candidates = [source] if source is not None else [_shipped(n) for n in shipped_sources()]
    for src in candidates:
        entry = src.file(digest)
        if entry is not None:
            return src, entry
    return None


def face_key(imgpath: str, pair_by: str = "stem", number_offset: int = 0) -> str:
    """The key a released face pairs by: the stem of ``imgpath`` (spaces dropped, as 300W packs name
    ``image_092 _01``), or for ``number`` the integer stem minus ``number_offset``."""
    stem = PurePosixPath(str(imgpath).replace("\\", "/")).stem.replace(" ", "")
    if pair_by == "stem":
        return stem
    if not stem.isdigit():
        raise DataError(f"imgpath {imgpath!r}: expected a numbered image (pair_by number)")
    return str(int(stem) - number_offset)


def is_spiga_json(data) -> bool:
    """Whether parsed JSON looks like SPIGA's results format (a list of objects with imgpath and landmarks)."""
    return (isinstance(data, list) and bool(data) and isinstance(data[0], dict)
            and "imgpath" in data[0] and "landmarks" in data[0])


def read_spiga_json(path: str | os.PathLike, data=None) -> tuple[list[str], np.ndarray]:
    """``imgpath`` values and landmarks ``(N, 68, 2)`` as written, from SPIGA's results format."""
    path = Path(path)
    if data is None:
        data = read_json(path, "SPIGA predictions")
    if not is_spiga_json(data):
        raise DataError(f'{path}: expected a JSON list of {{"imgpath": ..., "landmarks": [[x, y] x {N_POINTS}]}} '
                        f"(SPIGA's results format)")
    paths, shapes = [], []
    for i, face in enumerate(data):
        if not isinstance(face, dict) or "imgpath" not in face or "landmarks" not in face:
            raise DataError(f"{path}: face {i} lacks imgpath or landmarks")
        try:
            arr = np.asarray(face["landmarks"], dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(f"{path}: face {i} ({face['imgpath']}): landmarks are not numbers") from None
        if arr.shape != (N_POINTS, 2):
            raise DataError(f"{path}: face {i} ({face['imgpath']}): landmarks of shape {arr.shape}, "
                            f"expected ({N_POINTS}, 2)")
        paths.append(str(face["imgpath"]))
        shapes.append(arr)
    return paths, np.stack(shapes)


def to_dataset_frame(shapes: np.ndarray, ids, transforms: dict | None, where: str = "the ground truth") -> np.ndarray:
    """Map ``shapes`` (0-based original-photo pixels, one per id) into the dataset's frame with the
    per-face ``(sx, sy, tx, ty)`` of ``transforms``; without transforms (a dataset as distributed)
    the frames are one and the shapes come back unchanged.

    >>> to_dataset_frame(np.ones((1, 68, 2)), ["a"], {"a": (0.5, 0.5, 10.0, -2.0)})[0, 0].tolist()
    [10.5, -1.5]
    """
    if not transforms:
        return shapes
    missing = [i for i in ids if i not in transforms]
    if missing:
        raise DataError(f"{where}: no transform to the original photo for {len(missing)} faces (first: {missing[0]}); "
                        f"cannot map predictions given in the original photos' frame")
    t = np.array([transforms[i] for i in ids], dtype=np.float64)
    return shapes * t[:, None, :2] + t[:, None, 2:]


def to_original_frame(shapes: np.ndarray, ids, transforms: dict) -> np.ndarray:
    """The inverse of :func:`to_dataset_frame`: shapes of the dataset's frame in the original photos' pixels.

    >>> to_original_frame(np.full((1, 68, 2), [10.5, -1.5]), ["a"], {"a": (0.5, 0.5, 10.0, -2.0)})[0, 0].tolist()
    [1.0, 1.0]
    """
    t = np.array([transforms[i] for i in ids], dtype=np.float64)
    return (shapes - t[:, None, 2:]) / t[:, None, :2]


def import_released(path: str | os.PathLike, data_root: str | os.PathLike | None, dataset: str | None = None,
                    subset: str | None = None, method: str | None = None, source: str | os.PathLike | None = None,
                    frame: str | None = None, one_based: bool | None = None, yx: bool = False,
                    results: str | os.PathLike | None = None, force: bool = False):
    """Store released predictions as a run of ``method`` on ``dataset``/``subset`` (``faceeval import-run``).

    The file is read as :func:`faceeval.predictions.load_scored` reads it (its source description,
    or the options), paired with the dataset's ground truth (images are not needed) and stored in
    the dataset's frame with the ground truth, so every command that reads runs treats it as a
    method's run. Its key has version ``released`` and init ``released`` (the authors' pipeline
    placed the faces); ``meta.json`` holds the provenance (source repository and commit, file,
    sha256, upstream path, the conventions it was read with). Returns ``(run, scored)``; a run of
    the same file is reused unless ``force``.
    """
    from .datasets import load_dataset
    from .pairing import ground_truth_of
    from .predictions import load_scored
    from .runs import RELEASED_INIT, RunKey, is_finished_run, load_run, results_root, store_run

    path = Path(path).expanduser()
    given = load_source(source) if source is not None else None
    described = identify(path, given) if path.is_file() else None
    src, entry = described if described else (given, None)
    dataset = dataset or (entry.dataset if entry else None)
    subset = subset or (entry.subset if entry else None)
    method = method or (src.method if src else None)
    missing = [opt for opt, v in (("--method", method), ("--dataset", dataset)) if not v]
    if missing:
        raise DataError(f"{path}: not a file a shipped source description lists; give {' and '.join(missing)} "
                        f"(and --source or the conventions: --zero-based/--one-based, --frame)")
    ds = load_dataset(dataset, subset, data_root, images=False)
    truth = ground_truth_of(ds)
    scored = load_scored(path, truth, one_based, yx, frame=frame, source=source)
    order = {sid: k for k, sid in enumerate(ds.ids)}
    rows = sorted(range(len(scored.ids)), key=lambda k: order[scored.ids[k]])
    ids = [scored.ids[k] for k in rows]
    digest = scored.source.released["sha256"] if scored.source.released else sha256_of(path)
    key = RunKey(method, "released", src.commit[:12] if src else digest[:12], (), ds.name, ds.subset, RELEASED_INIT, ())
    out = key.folder(results_root(results))
    if is_finished_run(out) and not force:
        try:
            old = load_run(out)
        except DataError:
            old = None
        if old is not None and (old.released or {}).get("sha256") == digest and old.ids == ids:
            old.reused = True
            return old, scored
    released = dict(scored.source.released or {"file": path.name, "sha256": digest, "conventions": {
        "frame": scored.source.frame, "one_based": scored.source.one_based, "yx": scored.source.yx}})
    released["format"] = scored.source.format          # as load_scored detected it
    who = f"{src.title}: " if src else ""
    where = f" ({src.repository}@{src.commit[:7]}, {path.name})" if src else f" ({path.name})"
    n, expected = len(ids), ds.expected
    meta = {**key.as_dict(), "description": f"{who}predictions released by the method's authors{where}",
            "label": "released predictions", "released": released, "caveat": src.caveat if src else "",
            "paper": src.paper if src else "", "n": n, "expected": expected,
            "partial": expected is not None and n < expected, "data_root": str(ds.root) if ds.root else None,
            "inputs": digest[:16], "dataset_notes": ds.notes,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    run = store_run(out, out / ".partial", meta, ids, scored.predictions[rows], scored.ground_truth[rows], None,
                    visible=None if scored.visible is None else scored.visible[rows])
    return run, scored


@dataclass(frozen=True)
class ReleasedPredictions:
    """A method known only by its stored released predictions, standing in for a
    :class:`~faceeval.methods.LandmarkMethod` in ``faceeval compare`` (it has nothing to run or time)."""

    name: str
    weights_hash: str
    description: str

    @classmethod
    def of(cls, run) -> "ReleasedPredictions":
        return cls(run.meta["method"], str(run.meta.get("weights_hash", "")),
                   f"{run.meta.get('description', 'released predictions')}; {run.meta.get('caveat', '')}".rstrip("; "))


def find_released_run(results: str | os.PathLike | None, method: str, dataset, subset: str | None = None):
    """The newest stored released run of ``method`` on ``dataset`` (a loaded
    :class:`~faceeval.datasets.Dataset`, whose faces and ground truth it must hold), or None
    when there is none. A run stored against other ground truth (another copy of the data, in
    another frame) is an error naming both."""
    from .runs import RELEASED_INIT, find_runs

    subset = subset or dataset.subset
    runs = [r for r in find_runs(results) if r.released and r.meta.get("method") == method
            and r.meta.get("dataset") == dataset.name and r.meta.get("subset") == subset
            and r.meta.get("init") == RELEASED_INIT]
    if not runs:
        return None
    run = runs[-1]
    if sorted(run.ids) != sorted(dataset.ids):
        raise DataError(f"{run.path}: {method}'s released predictions hold {len(run.ids)} faces, "
                        f"{dataset.name}/{dataset.subset} under {dataset.root} has {len(dataset)}; not the same faces")
    truth = dict(zip(run.ids, run.ground_truth)) if run.ground_truth is not None else {}
    if not all(s.id in truth and np.allclose(truth[s.id], s.ground_truth, atol=1e-3) for s in dataset.samples):
        raise DataError(f"{run.path}: stored against the ground truth under {run.meta.get('data_root')}, which is not "
                        f"{dataset.root}'s (another copy or frame); import it again with --data-root {dataset.root}")
    return run


__all__ = ["ReleasedPredictions", "find_released_run", "to_original_frame", "import_released", "Source", "ReleasedFile", "FRAMES", "load_source", "shipped_sources", "identify", "face_key",
           "read_spiga_json", "is_spiga_json", "to_dataset_frame", "sha256_of"]
