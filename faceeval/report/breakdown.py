"""Where each stored run fails, for the report: :func:`faceeval.analysis.analyse` per run, with
its per-landmark figure.

300W common and challenging runs of one model are also analysed together as "full" when the
model has no full run, so the per-folder breakdown shows LFPW, HELEN and IBUG side by side.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from ..analysis import Analysis, analyse
from ..io import safe_name
from ..runs import Run
from ..stats import Bootstrap
from .build import DATASET_NORM, DEFAULT_NORM
from .diagnostics import landmark_error_figure
from .figures import FigureResult
from .run_groups import group_models


@dataclass
class RunAnalysis:
    """One model on one dataset subset: what :func:`~faceeval.analysis.analyse` found, and its figure."""

    label: str
    set_name: str
    analysis: Analysis
    figure: FigureResult


def _scored_sets(model) -> list[tuple[str, list[str], np.ndarray, np.ndarray, str]]:
    """(set name, ids, predictions, ground truth, dataset) for each run with ground truth (+ combined full)."""
    out = []
    for (dataset, subset, init), run in sorted(model.runs.items()):
        if run.ground_truth is not None:
            name = f"{dataset}/{subset}" + ("" if init == "boxes" else f"@{init}")
            out.append((name, run.ids, run.predictions, run.ground_truth, dataset))
    parts = [model.run("300w", s) for s in ("common", "challenging")]
    if model.run("300w", "full") is None and all(p is not None and p.ground_truth is not None for p in parts):
        out.append(("300w/full", parts[0].ids + parts[1].ids, np.concatenate([p.predictions for p in parts]),
                    np.concatenate([p.ground_truth for p in parts]), "300w"))
    return out


def run_analyses(runs: Iterable[Run], out: str | os.PathLike, bootstrap: Bootstrap | None = None) -> list[RunAnalysis]:
    """Analyse every stored run with ground truth (the paper's normalisation per dataset) and draw
    its per-landmark figure into ``out``."""
    results = []
    for model in group_models(runs):
        for set_name, ids, pred, gt, dataset in _scored_sets(model):
            norm, alpha = DATASET_NORM.get(dataset, DEFAULT_NORM)
            result = analyse(pred, gt, ids, norm, alpha, bootstrap=bootstrap)
            name = f"landmarks_{safe_name(model.method)}_{model.weights_hash[:8]}_{safe_name(set_name)}"
            fig = landmark_error_figure(result.per_landmark, Path(out) / name, norm,
                                        title=f"{model.label} on {set_name}: mean error per landmark")
            results.append(RunAnalysis(model.label, set_name, result, fig))
    return results


__all__ = ["RunAnalysis", "run_analyses"]
