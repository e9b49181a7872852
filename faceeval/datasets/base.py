"""Samples and datasets: the one data path every method, run and table goes through."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from ..io import DataError, IMAGE_SUFFIXES, load_image


class DataWarning(UserWarning):
    """Something about the data the user should know, said as one line naming the files:
    the command line prints these as ``warning: ...`` (never silently)."""


class IncompleteDataWarning(DataWarning):
    """A dataset folder holds fewer faces than its official count: results on it are partial."""


class SkippedFilesWarning(DataWarning):
    """Annotation files that a dataset leaves out (e.g. not 68 points): said, never dropped silently."""


def partial_label(n: int, expected: int | None) -> str:
    """How a result on ``n`` of a subset's ``expected`` faces is labelled: ``""`` when complete.

    >>> partial_label(1, 135), partial_label(135, 135), partial_label(4, None)
    ('partial: n = 1 of 135', '', '')
    """
    return f"partial: n = {n} of {expected}" if expected is not None and n < expected else ""


@dataclass
class Sample:
    """One face: its image (a file, or pixels in memory), ground truth and initial box.

    ``id`` is unique within a dataset and stable across runs (e.g. ``"ibug/image_003_1"``);
    predictions are stored and paired by it. Images with several faces give one sample
    per face (one ``.pts`` file each).
    """

    id: str
    image_path: Path | None
    ground_truth: np.ndarray | None           # (P, 2) x, y, 0-based (P: the dataset's scheme); None where unknown
    box: np.ndarray | None                    # (4,) x0, y0, x1, y1; None where the dataset has none
    pixels: Callable[[], np.ndarray] | None = field(default=None, repr=False)
    #: Pixels of this image per pixel of the original photo: 1 for files as distributed, the
    #: crop's scale for a re-cut pack (``transforms.json``). The released DAN training draws its
    #: translation perturbation in original-photo pixels, so it needs this factor.
    photo_scale: float = 1.0
    #: The face-box size the dataset ships with the face (AFLW's ``box_size``), for ``dataset-box``.
    box_size: float | None = None
    #: ``(P,)`` booleans, False where the dataset marks a point occluded (COFW, COFW-68); None: not annotated.
    visible: np.ndarray | None = field(default=None, repr=False)
    #: Attribute subsets the face belongs to (WFLW's ``largepose``, ``occlusion``...).
    attributes: tuple[str, ...] = ()
    #: ``(sx, sy, tx, ty)`` with ``this image's 0-based pixel = (sx x + tx, sy y + ty)`` for ``(x, y)`` in
    #: the original photo's 0-based pixels: a re-cut pack's ``transforms.json``; None for files as distributed.
    photo_transform: tuple[float, float, float, float] | None = None

    def load_image(self) -> np.ndarray:
        """uint8 ``(H, W)`` or ``(H, W, 3)``."""
        if self.pixels is not None:
            return self.pixels()
        if self.image_path is None:
            raise DataError(f"sample {self.id!r} has no image")
        return load_image(self.image_path)


@dataclass
class Dataset:
    """An ordered list of samples of one subset of one dataset."""

    name: str                   # a registered dataset: "300w", "wflw", "cofw", "aflw", "menpo", "builtin", "folder"
    subset: str
    samples: list[Sample]
    root: Path | None = None
    notes: str = ""
    #: The official number of faces of this subset, where one is defined; fewer present = partial.
    expected: int | None = None
    #: The name of its landmark scheme (:mod:`faceeval.protocol.schemes`).
    scheme: str = "ibug68"

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    @property
    def partial(self) -> bool:
        """True when the subset holds fewer faces than its official count (scores are not comparable)."""
        return self.expected is not None and len(self.samples) < self.expected

    @property
    def partial_label(self) -> str:
        """``"partial: n = 1 of 135"`` for a partial subset, else ``""``."""
        return partial_label(len(self.samples), self.expected)

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.samples]

    @property
    def ground_truth(self) -> np.ndarray:
        missing = [s.id for s in self.samples if s.ground_truth is None]
        if missing:
            raise DataError(f"{self.name}/{self.subset}: no ground truth for {len(missing)} samples (first: {missing[0]})")
        return (np.stack([s.ground_truth for s in self.samples]) if self.samples
                else np.zeros((0, self.scheme_value.n_points, 2)))

    @property
    def scheme_value(self):
        """The :class:`~faceeval.protocol.Scheme` of the dataset's shapes."""
        from ..protocol import scheme

        return scheme(self.scheme)

    @property
    def box_sizes(self) -> np.ndarray | None:
        """The dataset's own box size per face ``(N,)``, or None where it ships none."""
        if not self.samples or any(s.box_size is None for s in self.samples):
            return None
        return np.array([s.box_size for s in self.samples], dtype=np.float64)

    @property
    def boxes(self) -> np.ndarray:
        missing = [s.id for s in self.samples if s.box is None]
        if missing:
            raise DataError(f"{self.name}/{self.subset}: no initial box for {len(missing)} samples "
                            f"(first: {missing[0]}); this dataset needs an --init procedure")
        return np.stack([s.box for s in self.samples]).astype(np.float64) if self.samples else np.zeros((0, 4))

    @property
    def visible(self) -> np.ndarray | None:
        """``(N, P)`` booleans (False = occluded) where every sample has them, else None."""
        if not self.samples or any(s.visible is None for s in self.samples):
            return None
        return np.stack([s.visible for s in self.samples])

    def subset_of(self, ids: Sequence[str], subset: str) -> "Dataset":
        wanted = set(ids)
        return Dataset(self.name, subset, [s for s in self.samples if s.id in wanted], self.root, self.notes,
                       scheme=self.scheme)


def find_image(pts_path: Path) -> Path | None:
    """The image a ``.pts`` file annotates: same stem, any image suffix.

    Some distributions name one file per face (``photo_1.pts``, ``photo_2.pts``) for
    a single ``photo.jpg``; the stem without its ``_N`` face number is tried next.
    """
    for stem in (pts_path.stem, pts_path.stem.rsplit("_", 1)[0] if "_" in pts_path.stem else None):
        if stem is None:
            continue
        for suffix in IMAGE_SUFFIXES + tuple(s.upper() for s in IMAGE_SUFFIXES):
            candidate = pts_path.with_name(stem + suffix)
            if candidate.is_file():
                return candidate
    return None


def face_ids(images: Sequence[str]) -> list[str]:
    """One id per face of a list in which an image may hold several faces: the image path without
    its suffix plus ``_k``, k = 1, 2, ... in list order among the faces of that image.

    >>> face_ids(["a/x.jpg", "a/y.jpg", "a/x.jpg"])
    ['a/x_1', 'a/y_1', 'a/x_2']
    """
    seen: dict[str, int] = {}
    out = []
    for image in images:
        stem = image.rsplit(".", 1)[0] if "." in Path(image).name else image
        seen[stem] = seen.get(stem, 0) + 1
        out.append(f"{stem}_{seen[stem]}")
    return out


def warn_if_partial(dataset: str, subset: str, where, n: int, expected: int, stacklevel: int = 3) -> str:
    """An :class:`IncompleteDataWarning` when ``where`` holds fewer than the ``expected`` faces of a subset
    (test subsets: "not comparable with published ones"); returns the note for the dataset ("" if complete)."""
    if n >= expected:
        return ""
    import warnings

    warnings.warn(f"{dataset} {subset} in {where} holds {n} of {expected} faces"
                  + ("" if subset == "train" else "; its scores are partial and not comparable with published ones"),
                  IncompleteDataWarning, stacklevel=stacklevel)
    return f"; partial: {n} of {expected} faces"
