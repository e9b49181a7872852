"""Landmarks for plain photos: find the faces, map their boxes to the method's style, predict, write.

``faceeval predict`` is a thin wrapper around :func:`predict_photos`. For ``photo.jpg`` with
faces numbered ``k = 1, 2, ...`` from left to right it writes ``OUT/photo_<k>.pts`` (1-based
points, as 300W names multi-face photos), one ``OUT/landmarks.json``
(``{"photo_1": {"box": [...], "points": [[x, y], ...]}}``, 0-based pixels) and, on request,
``OUT/photo.png`` with the boxes and points drawn. A photo in a sub-folder of a given folder
keeps that sub-folder under ``OUT``.

Boxes come from a detector (:mod:`faceeval.detect`), mapped to the first box style the method
takes (:attr:`faceeval.methods.LandmarkMethod.box_styles`) by a mapping fitted on 300W
training faces, or from a JSON file of boxes in the 300W protocol's style. Every file is
written atomically; ``OUT/predict.json`` records what was run (method, weights, options,
detector or boxes, mappings, overlays) and which photos are done, so the same command again
goes on where a killed one stopped, and a changed one starts again.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .detect import BoxMapping, Detector
from .errors import DataError, OptionError
from .io import IMAGE_SUFFIXES, load_image, read_json_object, write_json, write_pts

LANDMARKS_FILE, STATE_FILE = "landmarks.json", "predict.json"
#: The style of boxes given in a ``--boxes`` file.
GIVEN_BOX_STYLE = "300w"


@dataclass(frozen=True)
class Photo:
    """An image file and its name under ``OUT`` (``party`` or ``trip/party``: no suffix)."""

    key: str
    path: Path


def find_photos(paths: Sequence[str | os.PathLike], out: str | os.PathLike | None = None) -> list[Photo]:
    """The image files given, or found (recursively, sorted) in the folders given, but not in ``out``
    (where overlays are written).

    A folder's photos are named by their path under it; a file given directly by its stem. Two
    photos with one name, or no photo at all, are an :class:`OptionError` naming them.
    """
    skip = Path(out).resolve() if out is not None else None
    photos: list[Photo] = []
    for given in map(Path, paths):
        if given.is_dir():
            found = sorted(p for p in given.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                           and (skip is None or skip not in p.resolve().parents))
            photos += [Photo(p.relative_to(given).with_suffix("").as_posix(), p) for p in found]
        elif given.is_file():
            if given.suffix.lower() not in IMAGE_SUFFIXES:
                raise OptionError(f"{given}: not an image file ({', '.join(IMAGE_SUFFIXES)})")
            photos.append(Photo(given.stem, given))
        else:
            raise OptionError(f"{given}: no such file or folder")
    seen: dict[str, Path] = {}
    for photo in photos:
        if photo.key in seen:
            raise OptionError(f"{seen[photo.key]} and {photo.path} would both be written as {photo.key}_<k>.pts; "
                              "give them from different folders")
        seen[photo.key] = photo.path
    if not photos:
        raise OptionError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {', '.join(map(str, paths))}")
    return photos


def read_box_file(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """``{photo: [x0, y0, x1, y1]}`` or ``{photo: [[x0, y0, x1, y1], ...]}`` (0-based pixels) as ``(K, 4)``
    arrays by photo name (its name under OUT, its file name or its stem)."""
    raw = read_json_object(path, "boxes", '(photo name -> boxes)')
    out = {}
    for key, value in raw.items():
        try:
            boxes = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            boxes = np.zeros((0, 3))
        boxes = boxes.reshape(1, -1) if boxes.ndim == 1 else boxes
        if boxes.ndim != 2 or boxes.shape[1] != 4 or not np.isfinite(boxes).all() \
                or not (boxes[:, 2:] > boxes[:, :2]).all():
            raise DataError(f"{path}: {key!r} must be [x0, y0, x1, y1] or a list of them, with x1 > x0 and "
                            f"y1 > y0; got {value!r:.80}")
        out[key] = boxes
    return out


def _given_boxes(table: dict[str, np.ndarray], photo: Photo) -> np.ndarray:
    for name in (photo.key, photo.path.name, photo.path.stem):
        if name in table:
            return table[name]
    return np.zeros((0, 4))


def left_to_right(boxes: np.ndarray) -> np.ndarray:
    """The order of ``boxes`` ``(K, 4)`` by left edge, then top edge.

    >>> left_to_right(np.array([[50., 0, 60, 10], [5., 9, 15, 19], [5., 1, 15, 11]])).tolist()
    [2, 1, 0]
    """
    return np.lexsort((boxes[:, 1], boxes[:, 0])) if len(boxes) else np.zeros(0, dtype=int)


@dataclass
class PredictResult:
    """What :func:`predict_photos` did: faces per photo, the photos without a face or unreadable."""

    out: Path
    faces: dict[str, int] = field(default_factory=dict)
    no_face: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    resumed: int = 0
    mappings: dict[str, BoxMapping] = field(default_factory=dict)
    #: Faces found by each detector (``hog``, ``cnn``, ``boxes file``) in this call.
    found_by: dict[str, int] = field(default_factory=dict)
    #: The box styles of those faces.
    styles: set = field(default_factory=set)

    @property
    def n_faces(self) -> int:
        return sum(self.faces.values())


def _drop_stale(out: Path, landmarks: dict, key: str, n: int) -> None:
    """Remove faces ``key_<k>`` beyond ``n`` left by an earlier run with other settings."""
    k = n + 1
    while (out / f"{key}_{k}.pts").is_file() or f"{key}_{k}" in landmarks:
        (out / f"{key}_{k}.pts").unlink(missing_ok=True)
        landmarks.pop(f"{key}_{k}", None)
        k += 1


def _digest(boxes: dict[str, np.ndarray]) -> str:
    """A short hash of a boxes table: other boxes, other predictions."""
    import hashlib
    import json

    text = json.dumps({k: np.asarray(v).tolist() for k, v in sorted(boxes.items())})
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _round(values: np.ndarray) -> list:
    return np.round(np.asarray(values, dtype=np.float64), 3).tolist()


def predict_photos(photos: Sequence[Photo], method, out: str | os.PathLike, detector: Detector | None = None,
                   boxes: dict[str, np.ndarray] | None = None, mappings: dict[str, BoxMapping] | None = None,
                   overlay: bool = False, batch_size: int | None = None, progress: bool = True,
                   warn: Callable[[str], None] = print, force: bool = False) -> PredictResult:
    """Landmarks of every face in ``photos`` by ``method`` (a loaded :class:`~faceeval.methods.LandmarkMethod`).

    Faces come from ``detector`` or from ``boxes`` (:func:`read_box_file`), exactly one of them;
    ``mappings`` turn boxes of each style the detector gives into the boxes ``method`` takes
    (default: as they are). A photo without a face, or that cannot be read, is reported through
    ``warn`` and left out.
    """
    if (detector is None) == (boxes is None):
        raise OptionError("give a face detector or boxes, not both and not neither")
    styles = detector.styles if detector is not None else (GIVEN_BOX_STYLE,)
    mappings = mappings or {style: BoxMapping(style, style) for style in styles}
    out = Path(out)
    faces_from = detector.describe() if detector else {"boxes": _digest(boxes)}
    settings = {"method": method.provenance(), "faces_from": faces_from, "overlay": overlay,
                "box_mappings": [mappings[style].to_json() for style in styles]}
    state_file = out / STATE_FILE
    state = read_json_object(state_file, "predict state") if state_file.is_file() and not force else {}
    if state.get("settings") != settings:
        state = {"settings": settings, "photos": {}}
    landmarks = read_json_object(out / LANDMARKS_FILE, "landmarks") if state["photos"] else {}
    result = PredictResult(out, mappings=mappings, resumed=sum(p.key in state["photos"] for p in photos))
    result.faces.update({p.key: state["photos"][p.key] for p in photos if p.key in state["photos"]})
    todo = [p for p in photos if p.key not in state["photos"]]
    batch_size = batch_size or method.batch_size
    pending: list[tuple[Photo, np.ndarray, np.ndarray, str, str]] = []   # photo, image, boxes, style, detector

    def flush():
        if not pending:
            return
        images = [image for _, image, found, _, _ in pending for _ in found]
        mapped = np.concatenate([mappings[style].apply(found) for _, _, found, style, _ in pending])
        shapes = method.predict(images, mapped)
        start = 0
        for photo, image, faces, _, found_by in pending:
            mine = shapes[start:start + len(faces)]
            start += len(faces)
            for k, (shape, box) in enumerate(zip(mine, faces), start=1):
                name = f"{photo.key}_{k}"
                write_pts(out / f"{name}.pts", shape)
                landmarks[name] = {"image": str(photo.path), "box": _round(box), "points": _round(shape),
                                   "found_by": found_by}
            _drop_stale(out, landmarks, photo.key, len(faces))
            if overlay:
                from .report.figures import photo_overlay

                photo_overlay(image, mine, faces, out / f"{photo.key}.png", [str(k) for k in range(1, len(faces) + 1)])
            state["photos"][photo.key] = len(faces)
            result.faces[photo.key] = len(faces)
        write_json(out / LANDMARKS_FILE, landmarks)              # the faces first, then the photos done
        write_json(state_file, state)
        pending.clear()

    from .runs import _progress

    bar = _progress(len(todo), f"{method.name} predict", progress)
    try:
        for photo in todo:
            try:
                image = load_image(photo.path)
            except DataError as exc:
                warn(f"{exc}; left out")
                result.unreadable.append(photo.key)
                bar.update(1)
                continue
            if detector is not None:
                found, style, found_by = detector.find(image)
            else:
                found, style, found_by = _given_boxes(boxes, photo), GIVEN_BOX_STYLE, "boxes file"
            found = found[left_to_right(found)]
            if not len(found):
                warn(f"{photo.path}: no face found" + ("" if detector else " (no box in the boxes file)"))
                result.no_face.append(photo.key)
                _drop_stale(out, landmarks, photo.key, 0)
                state["photos"][photo.key] = 0
            else:
                pending.append((photo, image, found, style, found_by))
                result.found_by[found_by] = result.found_by.get(found_by, 0) + len(found)
                result.styles.add(style)
            if sum(len(p[2]) for p in pending) >= batch_size:
                flush()
            bar.update(1)
        flush()
    finally:
        bar.close()
    if result.no_face:
        write_json(out / LANDMARKS_FILE, landmarks)
        write_json(state_file, state)
    if not result.n_faces:
        raise DataError(f"no face found in any of the {len(photos)} photos" if photos else "no photos")
    return result


__all__ = ["Photo", "find_photos", "read_box_file", "left_to_right", "predict_photos", "PredictResult",
           "LANDMARKS_FILE", "STATE_FILE", "GIVEN_BOX_STYLE"]
