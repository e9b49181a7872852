"""300W, read from the ibug layout exactly as distributed.

::

    ROOT/afw/*.jpg|.pts
    ROOT/lfpw/{trainset,testset}/*.png|.pts
    ROOT/helen/{trainset,testset}/*.jpg|.pts
    ROOT/ibug/*.jpg|.pts
    ROOT/300W/{01_Indoor,02_Outdoor}/*.png|.pts

Initial boxes are the face-detector boxes of the DAN release, shipped as package data.
A root may also be a re-cut pack of face crops in the same layout (the project's real-300W pack):
its ``boxes.json`` (``{"folder/stem.ext": [x0, y0, x1, y1]}``, 0-based crop pixels) then
replaces the shipped boxes, and its ``transforms.json`` gives each crop's scale against the
original photo (:attr:`Sample.photo_scale`).

A folder with fewer faces than the official count loads with an
:class:`~faceeval.datasets.base.IncompleteDataWarning` naming it and its count; the
dataset is then marked :attr:`~faceeval.datasets.base.Dataset.partial`.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import DataError, read_json_object, read_pts
from ..protocol import DatasetSpec
from ..resources import detector_boxes
from .base import Dataset, IncompleteDataWarning, Sample, find_image

#: Files a re-cut pack keeps at its root (see the module docstring).
PACK_BOXES = "boxes.json"
PACK_TRANSFORMS = "transforms.json"


@dataclass(frozen=True)
class Folder:
    path: str          # relative to the root, as distributed
    box_key: str       # key in 300w_detector_boxes.json
    expected: int      # number of annotated faces
    pattern: str = "*.pts"


FOLDERS = {
    "afw": Folder("afw", "afw", 337),
    "lfpw/trainset": Folder("lfpw/trainset", "lfpw/trainset", 811),
    "helen/trainset": Folder("helen/trainset", "helen/trainset", 2000),
    "lfpw/testset": Folder("lfpw/testset", "lfpw/testset", 224),
    "helen/testset": Folder("helen/testset", "helen/testset", 330),
    # The ibug box list also names AFW images; only image_* files are IBUG.
    "ibug": Folder("ibug", "ibug", 135, "image_*.pts"),
    "300W/01_Indoor": Folder("300W/01_Indoor", "300w_private/01_Indoor", 300),
    "300W/02_Outdoor": Folder("300W/02_Outdoor", "300w_private/02_Outdoor", 300),
}

SUBSETS: dict[str, tuple[str, ...]] = {
    # The DAN release's load order (its first 100 faces, all LFPW, are its validation set).
    "train": ("lfpw/trainset", "helen/trainset", "afw"),
    "common": ("lfpw/testset", "helen/testset"),
    "challenging": ("ibug",),
    "full": ("lfpw/testset", "helen/testset", "ibug"),
    "private": ("300W/01_Indoor", "300W/02_Outdoor"),
    "private_indoor": ("300W/01_Indoor",),
    "private_outdoor": ("300W/02_Outdoor",),
}

EXPECTED = {name: sum(FOLDERS[f].expected for f in folders) for name, folders in SUBSETS.items()}



def _read_pack_file(root: Path, name: str) -> dict | None:
    path = root / name
    if not path.is_file():
        return None
    return read_json_object(path, f"the pack's {Path(name).stem}", "keyed by 'folder/file'")


def _pack_box(pack_boxes: dict, key: str, path: Path) -> np.ndarray:
    box = np.asarray(pack_boxes[key], dtype=np.float64) if key in pack_boxes else None
    if box is None or box.shape != (4,) or not np.isfinite(box).all() or (box[2:] <= box[:2]).any():
        raise DataError(f"{path}: {'no box for ' + key if box is None else f'bad box for {key}: {box.tolist()}'} "
                        f"(expected [x_min, y_min, x_max, y_max])")
    return box


def _pack_transform(transforms: dict, key: str, root: Path) -> tuple[float, tuple[float, float, float, float] | None]:
    """A pack crop's scale and, where ``tx`` and ``ty`` are given too, ``(sx, sy, tx, ty)`` with
    ``crop_0based = scale * orig_0based + (tx, ty)``, as the pack's README defines it."""
    try:
        entry = transforms[key]
        scale = float(entry["scale"])
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{root / PACK_TRANSFORMS}: no usable scale for {key}") from None
    if not (np.isfinite(scale) and scale > 0):
        raise DataError(f"{root / PACK_TRANSFORMS}: bad scale for {key}: {scale}")
    if "tx" not in entry and "ty" not in entry:
        return scale, None
    try:
        tx, ty = float(entry["tx"]), float(entry["ty"])
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{root / PACK_TRANSFORMS}: {key} has no usable tx and ty (numbers, with its scale)") from None
    if not np.isfinite([tx, ty]).all():
        raise DataError(f"{root / PACK_TRANSFORMS}: bad translation for {key}: tx {tx}, ty {ty}")
    return scale, (scale, scale, tx, ty)


def _pack_key(folder: Folder, pts: Path, image: Path | None, table: dict | None) -> str:
    """The key of a face in a pack's JSON files (``folder/stem.jpg``); without its image, the one
    of the image suffixes the table knows."""
    if image is not None:
        return f"{folder.path}/{pts.stem}{image.suffix}"
    for suffix in (".jpg", ".png"):
        if f"{folder.path}/{pts.stem}{suffix}" in (table or {}):
            return f"{folder.path}/{pts.stem}{suffix}"
    return f"{folder.path}/{pts.stem}.jpg"


def _folder_samples(root: Path, folder: Folder, boxes: dict, pack_boxes: dict | None,
                    transforms: dict | None, images: bool = True) -> list[Sample]:
    directory = root / folder.path
    if not directory.is_dir():
        raise DataError(f"{directory}: folder missing (300W root {root} should hold {folder.path}/ "
                        f"as distributed by ibug; `faceeval data check {root}` lists what is there)")
    folder_boxes = boxes.get(folder.box_key, {})
    samples = []
    for pts in sorted(directory.glob(folder.pattern)):
        image = find_image(pts)
        if image is None and images:
            raise DataError(f"{pts}: no image beside it (looked for {pts.stem}.jpg/.png/...)")
        key = _pack_key(folder, pts, image, pack_boxes if pack_boxes is not None else transforms)
        if pack_boxes is not None:
            box = _pack_box(pack_boxes, key, root / PACK_BOXES) if image is not None or key in pack_boxes else None
        else:
            # Boxes are keyed per face (``photo_2.jpg``); a photo shared by several faces
            # (``photo.jpg`` for ``photo_1.pts``, ``photo_2.pts``) must not lend its own box.
            names = [pts.stem + image.suffix] if image is not None else [pts.stem + s for s in (".png", ".jpg")]
            box = next((folder_boxes[n] for n in names if n in folder_boxes), None)
            if box is None and image is not None and not image.with_suffix(".pts").is_file():
                box = folder_boxes.get(image.name)
            if box is None and image is not None:
                raise DataError(f"{pts}: no detector box for {folder.box_key}/{pts.stem + image.suffix} in the "
                                f"shipped 300w_detector_boxes.json")
        scale, transform = _pack_transform(transforms, key, root) if transforms is not None else (1.0, None)
        samples.append(Sample(id=f"{folder.path}/{pts.stem}", image_path=image,
                              ground_truth=read_pts(pts), box=None if box is None else np.asarray(box, dtype=np.float64),
                              photo_scale=scale, photo_transform=transform))
    return samples


def load_300w(root: str | Path, subset: str, images: bool = True) -> Dataset:
    """Load a 300W subset: train, common, challenging, full, private (or private_indoor/outdoor).

    Folders with fewer faces than the official count load with an
    :class:`IncompleteDataWarning` (``helen/trainset: 870 of 2000 faces``) and the dataset
    is marked partial; test subsets scored partially must say so wherever they are shown.

    ``images=False`` reads the ground truth alone: ``.pts`` files without images load (with no
    image, and the shipped detector box where there is one), e.g. the private set's official
    annotations, whose images are not public.
    """
    if subset not in SUBSETS:
        raise DataError(f"unknown 300W subset {subset!r}; choose one of {', '.join(SUBSETS)}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: 300W root folder does not exist")
    boxes = detector_boxes()
    pack_boxes = _read_pack_file(root, PACK_BOXES)
    transforms = _read_pack_file(root, PACK_TRANSFORMS)
    samples: list[Sample] = []
    short = []
    for name in SUBSETS[subset]:
        found = _folder_samples(root, FOLDERS[name], boxes, pack_boxes, transforms, images)
        if len(found) < FOLDERS[name].expected:
            short.append(f"{FOLDERS[name].path}: {len(found)} of {FOLDERS[name].expected} faces")
        samples.extend(found)
    if not samples:
        raise DataError(f"{root}: no annotated images for 300W subset {subset!r}")
    notes = "initial boxes: " + (f"{root / PACK_BOXES}" if pack_boxes is not None
                                 else "the DAN release's detector boxes (shipped)")
    if short:
        what = (f"300W {subset} under {root} is incomplete ({'; '.join(short)}): "
                f"n = {len(samples)} of {EXPECTED[subset]}")
        if subset != "train":
            what += "; its scores are partial and not comparable with published ones"
        warnings.warn(what, IncompleteDataWarning, stacklevel=2)
        notes += f"; partial: {'; '.join(short)}"
    return Dataset("300w", subset, samples, root, notes, expected=EXPECTED[subset])


def pack_transforms(root: str | Path) -> dict[str, tuple[float, float, float, float]] | None:
    """id -> ``(sx, sy, tx, ty)`` of a re-cut pack's crops (its ``transforms.json``), for ground truth
    read as a plain folder; None for a root without one (data as distributed)."""
    root = Path(root)
    transforms = _read_pack_file(root, PACK_TRANSFORMS)
    if transforms is None:
        return None
    out = {}
    for key in transforms:
        _, transform = _pack_transform(transforms, key, root)
        if transform is not None:
            out[key.rsplit(".", 1)[0]] = transform
    return out or None


def check_300w(root: str | Path) -> list[dict]:
    """What is present per folder and subset: rows of counts, for ``faceeval data check``.

    Rows of kind ``pack`` describe a re-cut pack's ``boxes.json`` / ``transforms.json``;
    folder rows then also count the faces that have no box in it (``without_box``).
    """
    root = Path(root).expanduser()
    rows = []
    pack_boxes = _read_pack_file(root, PACK_BOXES) if root.is_dir() else None
    for name in (PACK_BOXES, PACK_TRANSFORMS):
        data = pack_boxes if name == PACK_BOXES else (_read_pack_file(root, name) if root.is_dir() else None)
        if data is not None:
            rows.append({"kind": "pack", "name": name, "entries": len(data)})
    folder_counts = {}
    for name, folder in FOLDERS.items():
        directory = root / folder.path
        pts = sorted(directory.glob(folder.pattern)) if directory.is_dir() else []
        images = [find_image(p) for p in pts]
        with_image = sum(image is not None for image in images)
        folder_counts[name] = with_image
        row = {"kind": "folder", "name": folder.path, "expected": folder.expected,
               "annotations": len(pts), "with_image": with_image, "present": directory.is_dir()}
        if pack_boxes is not None:
            row["without_box"] = sum(image is not None and f"{folder.path}/{p.stem}{image.suffix}" not in pack_boxes
                                     for p, image in zip(pts, images))
        rows.append(row)
    for subset, folders in SUBSETS.items():
        found = sum(folder_counts[f] for f in folders)
        rows.append({"kind": "subset", "name": subset, "expected": EXPECTED[subset], "with_image": found,
                     "complete": found == EXPECTED[subset]})
    return rows


SPEC = DatasetSpec(
    "300w", "ibug68", lambda root, subset, images=True: load_300w(root, subset, images), tuple(SUBSETS), "full",
    norm="inter-ocular", alpha=0.08, description="300W (ibug): train 3148; common, challenging, full; private 600",
    layout="afw/, lfpw/{trainset,testset}/, helen/{trainset,testset}/, ibug/, 300W/{01_Indoor,02_Outdoor}/ with "
           "images and .pts", expected=EXPECTED, benchmark="300W",
    table_subsets=("common", "challenging", "full", "private"),
    other_norms=("inter-pupil", "bbox-diagonal", "bbox-size"),
    parents={"common": "full", "challenging": "full", "private_indoor": "private", "private_outdoor": "private"},
    options=("images",))
