"""Any folder of images with ``.pts`` files (searched recursively), e.g. Menpo 2D."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from ..geometry import shape_boxes
from ..io import DataError, read_pts
from .base import Dataset, Sample, find_image

#: The Menpo held-out split: a fixed seed and fraction, applied to each file's name, so the
#: split does not depend on listing order or on which other files are present.
MENPO_SPLIT_SEED = "faceeval-menpo-2017"
MENPO_HELDOUT_FRACTION = 0.1


def _scan(root: Path, n_points: int = 68) -> list[tuple[Path, Path, np.ndarray]]:
    if not root.is_dir():
        raise DataError(f"{root}: folder does not exist")
    found = []
    for pts in sorted(root.rglob("*.pts")):
        shape = read_pts(pts, n_points=None)
        if len(shape) != n_points:   # e.g. Menpo's 39-point profile faces
            continue
        image = find_image(pts)
        if image is None:
            raise DataError(f"{pts}: no image beside it (looked for {pts.stem}.jpg/.png/...)")
        found.append((pts, image, shape))
    if not found:
        raise DataError(f"{root}: no {n_points}-point .pts files with images found")
    return found


def load_folder(root: str | Path, subset: str = "all", boxes_json: str | Path | None = None) -> Dataset:
    """Every 68-point ``.pts`` + image under ``root``; boxes from a JSON {id: [x0,y0,x1,y1]}
    or else the tight ground-truth box (said in the dataset notes)."""
    root = Path(root).expanduser()
    boxes = {}
    if boxes_json is not None:
        try:
            boxes = json.loads(Path(boxes_json).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"{boxes_json}: cannot read boxes ({exc})") from exc
    samples = []
    for pts, image, shape in _scan(root):
        sid = pts.relative_to(root).with_suffix("").as_posix()
        box = boxes.get(sid) if boxes_json is not None else shape_boxes(shape[None])[0]
        if boxes_json is not None and box is None:
            raise DataError(f"{boxes_json}: no box for {sid}")
        samples.append(Sample(sid, image, shape, np.asarray(box, dtype=np.float64)))
    notes = "initial boxes: tight ground-truth boxes" if boxes_json is None else f"initial boxes: {boxes_json}"
    return Dataset("folder", subset, samples, root, notes)


def menpo_heldout(sample_id: str) -> bool:
    """Whether a Menpo sample belongs to faceeval's held-out split (seeded, by name)."""
    digest = hashlib.sha256(f"{MENPO_SPLIT_SEED}:{Path(sample_id).name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 < MENPO_HELDOUT_FRACTION


def load_menpo(root: str | Path, subset: str = "test") -> Dataset:
    """Menpo 2D semi-frontal (68-point) faces: ``train``, ``test`` (the held-out split) or ``all``.

    The test annotations of the challenge were never released; faceeval evaluates on a
    held-out split of the training set fixed by :func:`menpo_heldout`. There are no
    detector boxes: runs need an initialisation procedure (``--init two-step``) or the
    tight ground-truth box (``--init gt-box``).
    """
    if subset not in ("train", "test", "all"):
        raise DataError(f"unknown Menpo subset {subset!r}; choose train, test or all")
    root = Path(root).expanduser()
    samples = []
    for pts, image, shape in _scan(root):
        sid = pts.relative_to(root).with_suffix("").as_posix()
        if subset == "all" or menpo_heldout(sid) == (subset == "test"):
            samples.append(Sample(sid, image, shape, None))
    return Dataset("menpo", subset, samples, root,
                   notes=f"held-out split: {MENPO_HELDOUT_FRACTION:.0%} of the train set by seeded name hash")
