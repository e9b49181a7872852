"""Pair predicted and ground-truth ``.pts`` folders by name, for ``faceeval eval`` and ``ced``."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .io import read_pts_tree
from .metrics import MetricInputError


def _by_name(shapes: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
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
                gt_source: str | os.PathLike = "ground truth") -> tuple[list[str], np.ndarray, np.ndarray, int]:
    """:func:`load_pairs` for shapes already read (e.g. from CSV or JSON predictions), keyed by id.

    Pairs by id, else by file name (the part after the last ``/``) when names are unique on
    both sides; the ids returned are then the ground truth's (``ibug/image_003_1``), so the
    source folder of each face is known.
    """
    if not set(pred) <= set(gt):
        p_names, g_names = _by_name(pred), _by_name(gt)
        if p_names is not None and g_names is not None and set(p_names) <= set(g_names):
            gt_key = {Path(k).name: k for k in gt}
            pred = {gt_key[name]: v for name, v in p_names.items()}
    orphans = sorted(set(pred) - set(gt))
    if orphans:
        raise MetricInputError(f"prediction/ground-truth id mismatch: {len(orphans)} predictions in {pred_source} "
                               f"have no ground truth in {gt_source} (first: {orphans[:3]})")
    ids = sorted(pred)
    return ids, np.stack([pred[k] for k in ids]), np.stack([gt[k] for k in ids]), len(gt) - len(ids)
