"""300W, read from the ibug layout exactly as distributed.

::

    ROOT/afw/*.jpg|.pts
    ROOT/lfpw/{trainset,testset}/*.png|.pts
    ROOT/helen/{trainset,testset}/*.jpg|.pts
    ROOT/ibug/*.jpg|.pts
    ROOT/300W/{01_Indoor,02_Outdoor}/*.png|.pts

Initial boxes are the face-detector boxes of the DAN release, shipped as package data.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import DataError, read_pts
from ..resources import detector_boxes
from .base import Dataset, Sample, find_image


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
    "train": ("afw", "lfpw/trainset", "helen/trainset"),
    "common": ("lfpw/testset", "helen/testset"),
    "challenging": ("ibug",),
    "full": ("lfpw/testset", "helen/testset", "ibug"),
    "private": ("300W/01_Indoor", "300W/02_Outdoor"),
    "private_indoor": ("300W/01_Indoor",),
    "private_outdoor": ("300W/02_Outdoor",),
}

EXPECTED = {name: sum(FOLDERS[f].expected for f in folders) for name, folders in SUBSETS.items()}


def _folder_samples(root: Path, folder: Folder, boxes: dict) -> list[Sample]:
    directory = root / folder.path
    if not directory.is_dir():
        raise DataError(f"{directory}: folder missing (300W root {root} should hold {folder.path}/ "
                        f"as distributed by ibug; `faceeval data check {root}` lists what is there)")
    folder_boxes = boxes.get(folder.box_key, {})
    samples = []
    for pts in sorted(directory.glob(folder.pattern)):
        image = find_image(pts)
        if image is None:
            raise DataError(f"{pts}: no image beside it (looked for {pts.stem}.jpg/.png/...)")
        # Boxes are keyed per face (``photo_2.jpg``); a photo shared by several faces
        # (``photo.jpg`` for ``photo_1.pts``, ``photo_2.pts``) must not lend its own box.
        box = folder_boxes.get(pts.stem + image.suffix)
        if box is None and not image.with_suffix(".pts").is_file():
            box = folder_boxes.get(image.name)
        if box is None:
            raise DataError(f"{pts}: no detector box for {folder.box_key}/{pts.stem + image.suffix} in the "
                            f"shipped 300w_detector_boxes.json")
        samples.append(Sample(id=f"{folder.path}/{pts.stem}", image_path=image,
                              ground_truth=read_pts(pts), box=np.asarray(box, dtype=np.float64)))
    return samples


def load_300w(root: str | Path, subset: str) -> Dataset:
    """Load a 300W subset: train, common, challenging, full, private (or private_indoor/outdoor)."""
    if subset not in SUBSETS:
        raise DataError(f"unknown 300W subset {subset!r}; choose one of {', '.join(SUBSETS)}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: 300W root folder does not exist")
    boxes = detector_boxes()
    samples: list[Sample] = []
    for name in SUBSETS[subset]:
        samples.extend(_folder_samples(root, FOLDERS[name], boxes))
    if not samples:
        raise DataError(f"{root}: no annotated images for 300W subset {subset!r}")
    return Dataset("300w", subset, samples, root)


def check_300w(root: str | Path) -> list[dict]:
    """What is present per folder and subset: rows of counts, for ``faceeval data check``."""
    root = Path(root).expanduser()
    rows = []
    folder_counts = {}
    for name, folder in FOLDERS.items():
        directory = root / folder.path
        pts = sorted(directory.glob(folder.pattern)) if directory.is_dir() else []
        with_image = sum(find_image(p) is not None for p in pts)
        folder_counts[name] = with_image
        rows.append({"kind": "folder", "name": folder.path, "expected": folder.expected,
                     "annotations": len(pts), "with_image": with_image, "present": directory.is_dir()})
    for subset, folders in SUBSETS.items():
        found = sum(folder_counts[f] for f in folders)
        rows.append({"kind": "subset", "name": subset, "expected": EXPECTED[subset], "with_image": found,
                     "complete": found == EXPECTED[subset]})
    return rows
