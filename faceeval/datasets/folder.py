"""Any folder of images with ``.pts`` files (searched recursively), and Menpo 2D (semi-frontal and profile)."""
from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np

from ..geometry import shape_boxes
from ..io import DataError, read_boxes, read_pts
from ..protocol import DatasetSpec
from .base import Dataset, Sample, SkippedFilesWarning, find_image

#: The Menpo held-out split: a fixed seed and fraction, applied to each file's name, so the
#: split does not depend on listing order or on which other files are present.
MENPO_SPLIT_SEED = "faceeval-menpo-2017"
MENPO_HELDOUT_FRACTION = 0.1


def _scan(root: Path, n_points: int = 68) -> tuple[list[tuple[Path, Path, np.ndarray]], dict[int, list[Path]]]:
    """The ``n_points`` ``.pts`` files under ``root`` with their images, and the others by point count."""
    if not root.is_dir():
        raise DataError(f"{root}: folder does not exist")
    found = []
    skipped: dict[int, list[Path]] = {}
    for pts in sorted(root.rglob("*.pts")):
        shape = read_pts(pts, n_points=None)
        if len(shape) != n_points:   # e.g. Menpo's 39-point profile faces
            skipped.setdefault(len(shape), []).append(pts)
            continue
        image = find_image(pts)
        if image is None:
            raise DataError(f"{pts}: no image beside it (looked for {pts.stem}.jpg/.png/...)")
        found.append((pts, image, shape))
    if not found:
        other = f" (found only {_skipped_text(root, skipped)})" if skipped else ""
        raise DataError(f"{root}: no {n_points}-point .pts files with images found{other}")
    return found, skipped


def _skipped_text(root: Path, skipped: dict[int, list[Path]]) -> str:
    """``2 of 39 points (e.g. a/b.pts), 1 of 67 points (c.pts)``: the most common count first."""
    groups = sorted(skipped.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    return ", ".join(f"{len(paths)} of {points} points ({'e.g. ' if len(paths) > 1 else ''}"
                     f"{paths[0].relative_to(root).as_posix()})" for points, paths in groups)


def _warn_skipped(root: Path, skipped: dict[int, list[Path]], why: str) -> str:
    """Warn (:class:`SkippedFilesWarning`) about the ``.pts`` files left out; returns the dataset note."""
    if not skipped:
        return ""
    n = sum(len(v) for v in skipped.values())
    text = f"{root}: left out {n} .pts file{'s' if n > 1 else ''} that {'do' if n > 1 else 'does'} not have 68 points " \
           f"({_skipped_text(root, skipped)}){why}"
    warnings.warn(text, SkippedFilesWarning, stacklevel=3)
    return f"left out {n} non-68-point .pts files"


def load_folder(root: str | Path, subset: str = "all", boxes_json: str | Path | None = None) -> Dataset:
    """Every 68-point ``.pts`` + image under ``root``; boxes from a JSON {id: [x0,y0,x1,y1]}
    (:func:`~faceeval.io.read_boxes`) or else the tight ground-truth box (said in the dataset notes).

    ``.pts`` files with another number of points are left out with a :class:`SkippedFilesWarning`
    naming them, so a run never holds fewer faces than the folder without saying so.
    """
    root = Path(root).expanduser()
    boxes = read_boxes(boxes_json) if boxes_json is not None else {}
    found, skipped = _scan(root)
    samples = []
    for pts, image, shape in found:
        sid = pts.relative_to(root).with_suffix("").as_posix()
        box = boxes.get(sid) if boxes_json is not None else shape_boxes(shape[None])[0]
        if boxes_json is not None and box is None:
            raise DataError(f"{boxes_json}: no box for {sid!r} (keys are ids: paths under {root} without suffix)")
        samples.append(Sample(sid, image, shape, np.asarray(box, dtype=np.float64)))
    notes = "initial boxes: tight ground-truth boxes" if boxes_json is None else f"initial boxes: {boxes_json}"
    skip_note = _warn_skipped(root, skipped, "")
    return Dataset("folder", subset, samples, root, notes + (f"; {skip_note}" if skip_note else ""))


def menpo_heldout(sample_id: str) -> bool:
    """Whether a Menpo sample belongs to faceeval's held-out split (seeded, by name)."""
    digest = hashlib.sha256(f"{MENPO_SPLIT_SEED}:{Path(sample_id).name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 < MENPO_HELDOUT_FRACTION


def load_menpo(root: str | Path, subset: str = "test") -> Dataset:
    """Menpo 2D semi-frontal (68-point) faces: ``train``, ``test`` (the held-out split) or ``all``.
    (The 39-point profile faces are the dataset ``menpo-profile``, :func:`load_menpo_profile`.)

    The test annotations of the challenge were never released; faceeval evaluates on a
    held-out split of the training set fixed by :func:`menpo_heldout`. There are no
    detector boxes: runs need an initialisation procedure (``--init two-step``) or the
    tight ground-truth box (``--init gt-box``).
    """
    if subset not in ("train", "test", "all"):
        raise DataError(f"unknown Menpo subset {subset!r}; choose train, test or all")
    root = Path(root).expanduser()
    samples = []
    found, skipped = _scan(root)
    for pts, image, shape in found:
        sid = pts.relative_to(root).with_suffix("").as_posix()
        if subset == "all" or menpo_heldout(sid) == (subset == "test"):
            samples.append(Sample(sid, image, shape, None))
    notes = f"held-out split: {MENPO_HELDOUT_FRACTION:.0%} of the train set by seeded name hash"
    skip_note = _warn_skipped(root, skipped, "; Menpo 2D semi-frontal uses the 68-point faces only")
    return Dataset("menpo", subset, samples, root, notes + (f"; {skip_note}" if skip_note else ""))


def load_menpo_profile(root: str | Path, subset: str = "test") -> Dataset:
    """Menpo 2D profile (39-point) faces: ``train``, ``test`` (the held-out split, by the same seeded
    name hash as the semi-frontal faces) or ``all``. Scored by the diagonal of the ground-truth box,
    as the Menpo benchmark's ``compute_diag_error.m`` does. The 68-point faces in the same folders
    are the ``menpo`` dataset; ``.pts`` files of any other count are left out with a warning.
    """
    if subset not in ("train", "test", "all"):
        raise DataError(f"unknown Menpo profile subset {subset!r}; choose train, test or all")
    root = Path(root).expanduser()
    found, skipped = _scan(root, n_points=39)
    samples = [Sample(sid, image, shape, None) for sid, image, shape in
               ((pts.relative_to(root).with_suffix("").as_posix(), image, shape) for pts, image, shape in found)
               if subset == "all" or menpo_heldout(sid) == (subset == "test")]
    semi_frontal = len(skipped.pop(68, []))
    notes = (f"held-out split: {MENPO_HELDOUT_FRACTION:.0%} of the train set by seeded name hash; "
             f"{semi_frontal} 68-point faces belong to the dataset menpo")
    if skipped:
        n = sum(len(v) for v in skipped.values())
        warnings.warn(f"{root}: left out {n} .pts file{'s' if n > 1 else ''} with neither 39 nor 68 points "
                      f"({_skipped_text(root, skipped)})", SkippedFilesWarning, stacklevel=2)
        notes += f"; left out {n} .pts files of other counts"
    return Dataset("menpo-profile", subset, samples, root, notes, scheme="menpo39")


SPEC = DatasetSpec("folder", "ibug68", lambda root, subset, boxes_json=None: load_folder(root, subset, boxes_json),
                   ("all",), "all", description="any folder of images with 68-point .pts files",
                   layout="images with a .pts file beside each, at any depth", options=("boxes_json",))
MENPO_SPEC = DatasetSpec(
    "menpo", "ibug68", lambda root, subset: load_menpo(root, subset), ("train", "test", "all"), "test",
    norm="bbox-diagonal", alpha=0.03,
    description="Menpo 2D semi-frontal (68 points); test = a seeded held-out split of the train set",
    layout="the Menpo 2D train folders, images with .pts files", benchmark="Menpo",
    other_norms=("inter-ocular", "bbox-size"))
MENPO_PROFILE_SPEC = DatasetSpec(
    "menpo-profile", "menpo39", lambda root, subset: load_menpo_profile(root, subset), ("train", "test", "all"), "test",
    norm="bbox-diagonal", alpha=0.03,
    description="Menpo 2D profile (39 points), box diagonal; test = the same held-out split",
    layout="the Menpo 2D train folders, images with .pts files", benchmark="Menpo", other_norms=("bbox-size",))
