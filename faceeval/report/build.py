"""Everything ``faceeval figures`` and ``faceeval report`` draw, gathered from stored runs.

:func:`make_figures` decides which figures the stored runs allow (a CED per dataset subset,
the worst faces of each run, Menpo results with their boxes, DAN's internals when weights
are given) and skips the rest with a message that says why.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..io import DataError, safe_name
from ..metrics import ALPHA, ALPHA_BBOX_DIAGONAL, NORMALISATIONS, evaluate
from ..runs import Run
from .evaluation import Evaluator, Measured
from .figures import (FigureResult, FigureSkipped, ced_figure, internals_figure, learning_curve_figure, results_figure,
                      worst_figure)
from .published import challenge_curves
from .run_groups import group_models

#: Default normalisation and alpha per dataset (the paper's choices).
DATASET_NORM = {"menpo": ("bbox-diagonal", ALPHA_BBOX_DIAGONAL), "cofw68": ("inter-pupil", 0.1)}
DEFAULT_NORM = ("inter-ocular", ALPHA)
#: 300W subsets that have published challenge curves to draw beside ours.
PRIVATE_SUBSETS = ("private", "private_indoor", "private_outdoor")


class SampleIndex:
    """Samples of a run's dataset by id (for the pixels), loaded once per dataset subset."""

    def __init__(self, data_root=None, menpo_root=None):
        self.data_root, self.menpo_root = data_root, menpo_root
        self._cache: dict = {}

    def for_run(self, run: Run) -> dict:
        from ..datasets import load_dataset

        name, subset = run.meta.get("dataset"), run.meta.get("subset")
        root = None
        if name != "builtin":
            root = (self.menpo_root if name == "menpo" else self.data_root) or run.meta.get("data_root")
            if root is None:
                raise FigureSkipped(f"no images for {name}/{subset}: pass --data-root")
        key = (name, subset, str(root))
        if key not in self._cache:
            try:
                ds = load_dataset(name, subset, root)
            except DataError as exc:
                raise FigureSkipped(f"no images for {name}/{subset}: {exc}") from exc
            self._cache[key] = {s.id: s for s in ds.samples}
        return self._cache[key]


def _tag(text: str) -> str:
    """A run-key tag as a file name, spelled as the run folders spell it (``two-step,fraction=0.46``)."""
    return safe_name(text, keep="-_.,=")


def _model_tag(model) -> str:
    """A model in figure file names: method, weights hash and, where set, its options and version."""
    from ..runs import option_tag

    tag = option_tag(f"{safe_name(model.method)}_{model.weights_hash[:8]}", model.option_items)
    return _tag(tag + (f"_v{model.version}" if model.show_version else ""))


def subset_groups(models) -> list[tuple[str, str, str]]:
    """Every (dataset, subset, init) some model has a run for, plus 300W full where combinable."""
    keys = {k for m in models for k in m.runs}
    for m in models:
        if m.run("300w", "common") and m.run("300w", "challenging"):
            keys.add(("300w", "full", "boxes"))
    return sorted(keys)


def make_figures(runs: Iterable[Run], out: str | os.PathLike, data_root=None, menpo_root=None, k: int = 9,
                 norm: str | None = None, dan_weights: str | None = None, internals_from: str = "builtin",
                 internals_n: int = 3, worst: bool = True, log: Callable[[str], None] = print) -> list[FigureResult]:
    """Draw every figure the runs allow into ``out``; returns what was written."""
    out = Path(out)
    models = group_models(runs)
    ev = Evaluator()
    samples = SampleIndex(data_root, menpo_root)
    results: list[FigureResult] = []
    groups = subset_groups(models)
    if ("300w", "private", "boxes") not in groups:
        groups.append(("300w", "private", "boxes"))      # the published curves alone
    for dataset, subset, init in groups:
        fig_norm, alpha = (norm, DEFAULT_NORM[1] if norm != "bbox-diagonal" else ALPHA_BBOX_DIAGONAL) if norm else \
            DATASET_NORM.get(dataset, DEFAULT_NORM)
        entries = []
        for m in models:
            got = ev.errors(m, dataset, subset, fig_norm, init)
            if isinstance(got, Measured):
                entries.append((m.label + (f" ({got.partial_label})" if got.partial_label else ""), got.errors))
        refs = (challenge_curves(subset, alpha) if dataset == "300w" and subset in PRIVATE_SUBSETS
                and fig_norm == "inter-ocular" else [])
        if not entries and not refs:
            continue
        name = f"fig6_ced_{safe_name(dataset)}_{safe_name(subset)}{'' if init == 'boxes' else '@' + _tag(init)}_{fig_norm}"
        title = f"CED on {dataset}/{subset}" + ("" if init == "boxes" else f" (init {init})")
        res = ced_figure(entries, out / name, alpha, fig_norm, refs, title=title)
        results.append(res)
        log(f"wrote {res.png} (+ pdf)" + ("" if entries else ": published curves only, no measured run"))
    for m in models:
        for (dataset, subset, init), run in sorted(m.runs.items()):
            tag = f"{_model_tag(m)}_{safe_name(dataset)}_{safe_name(subset)}" + \
                ("" if init == "boxes" else f"@{_tag(init)}")
            fig_norm = norm or DATASET_NORM.get(dataset, DEFAULT_NORM)[0]
            jobs = []
            if worst:
                jobs.append(("fig4_worst", lambda p, s: worst_figure(run, s, p, k, fig_norm, m.label)))
            if dataset == "menpo":
                jobs.append(("fig5_results", lambda p, s: results_figure(run, s, p, k, fig_norm, m.label)))
            for prefix, job in jobs:
                try:
                    res = job(out / f"{prefix}_{tag}", samples.for_run(run))
                except FigureSkipped as exc:
                    log(f"skipped {prefix} for {m.label} on {dataset}/{subset}: {exc}")
                    continue
                results.append(res)
                log(f"wrote {res.png} (+ pdf)")
    res = dan_internals(out, dan_weights, internals_from, data_root, internals_n, log)
    if res is not None:
        results.append(res)
    res = dan_learning_curve(out, dan_weights, log)
    if res is not None:
        results.append(res)
    return results


def _dan_figure(what: str, weights: str | None, draw: Callable, log: Callable[[str], None]) -> FigureResult | None:
    """``draw(model)`` with DAN loaded from ``weights``; a figure that cannot be drawn is logged, never raised."""
    if weights is None:
        log(f"skipped {what}: pass --dan-weights W (trained DAN weights)")
        return None
    from ..methods import load_method

    try:
        res = draw(load_method("dan", weights=weights))
    except (FigureSkipped, DataError) as exc:
        log(f"skipped {what}: {exc}")
        return None
    except Exception as exc:  # noqa: BLE001 - a plugin that fails to load is reported, not fatal
        log(f"skipped {what}: could not load DAN ({type(exc).__name__}: {exc})")
        return None
    log(f"wrote {res.png} (+ pdf)")
    return res


def dan_learning_curve(out: Path, weights: str | None, log: Callable[[str], None] = print) -> FigureResult | None:
    """The learning curve recorded beside DAN's weights ``weights`` (their ``curve.csv``), or None with a message."""
    return _dan_figure("the DAN learning curve", weights,
                       lambda model: learning_curve_figure(model.training_curve(), out / "fig_dan_learning_curve",
                                                           title=f"DAN learning curve (weights {model.weights_hash})"),
                       log)


def dan_internals(out: Path, weights: str | None, source: str = "builtin", data_root=None, n: int = 3,
                  log: Callable[[str], None] = print) -> FigureResult | None:
    """Fig. 3 for the first ``n`` faces of ``source`` (``dataset[/subset]``), or None with a message."""
    from ..datasets import load_dataset

    def draw(model):
        dataset, _, subset = source.partition("/")
        chosen = load_dataset(dataset, subset or None, data_root).samples[:n]
        return internals_figure(model, [s.load_image() for s in chosen], np.stack([s.box for s in chosen]),
                                out / "fig3_dan_internals", ids=[s.id for s in chosen])

    return _dan_figure("fig3 (DAN internals)", weights, draw, log)


def per_image_errors(runs: Iterable[Run]) -> list[dict]:
    """One record per face of every run with ground truth: errors (percent) under each normalisation."""
    records = []
    for m in group_models(runs):
        for (dataset, subset, init), run in sorted(m.runs.items()):
            if run.ground_truth is None:
                continue
            errs = {norm: evaluate(run.predictions, run.ground_truth, norm, ids=run.ids)[1] for norm in NORMALISATIONS}
            for i, sid in enumerate(run.ids):
                records.append({"method": m.label, "set": f"{dataset}/{subset}" + ("" if init == "boxes" else f"@{init}"),
                                "id": sid, **{norm: float(errs[norm][i] * 100) for norm in NORMALISATIONS}})
    return records


__all__ = ["make_figures", "dan_internals", "per_image_errors", "SampleIndex", "subset_groups"]
