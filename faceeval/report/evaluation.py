"""Per-image errors of a model's runs, evaluated once and cached, and the summary cells built from them.

Every number comes from :func:`faceeval.metrics.evaluate` and :func:`faceeval.metrics.summarize`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..datasets.w300 import SPEC as W300_SPEC
from ..metrics import evaluate
from ..stats import Bootstrap, SummaryIntervals, summary_intervals
from .run_groups import Model
from .table_format import Cell


#: 300W subsets a table may read off a run of the set that holds them (the 300W spec's ``parents``).
W300_PART_OF = dict(W300_SPEC.parents)


@dataclass
class Measured:
    """Per-image errors of a model on one subset, and how they were obtained.

    ``expected`` is the subset's official face count (None where none is defined): with
    fewer errors than that, every number built from them is labelled partial.
    """

    errors: np.ndarray
    ids: list[str]
    note: str = ""
    expected: int | None = None
    #: Set by the :class:`Evaluator` when the tables give confidence intervals.
    bootstrap: Bootstrap | None = None
    _intervals: dict = field(default_factory=dict, repr=False)

    def intervals(self, alpha: float) -> SummaryIntervals | None:
        """Bootstrap intervals of the summary at ``alpha`` (computed once), or None."""
        if self.bootstrap is None:
            return None
        if alpha not in self._intervals:
            self._intervals[alpha] = summary_intervals(self.errors, alpha, bootstrap=self.bootstrap)
        return self._intervals[alpha]

    @property
    def partial_label(self) -> str:
        from ..datasets import partial_label

        return partial_label(len(self.errors), self.expected)

    @property
    def n_text(self) -> str:
        """``"135"``, or ``"1 of 135 (partial)"`` for an incomplete subset."""
        n = len(self.errors)
        return f"{n} of {self.expected} (partial)" if self.partial_label else str(n)


class Evaluator:
    """Evaluates runs with the metrics core, combining common + challenging into full if needed.

    ``bootstrap``: measured cells also get confidence intervals.
    """

    def __init__(self, bootstrap: Bootstrap | None = None):
        self._cache: dict = {}
        self.bootstrap = bootstrap

    def errors(self, model: Model, dataset: str, subset: str, norm: str, init: str = "boxes",
               visible_only: bool = False) -> Measured | str:
        """Per-image errors, or a reason string when the run exists but cannot be scored.

        A 300W subset without a run of its own is taken from a run of the set that holds it (common
        and challenging from full, each half of the private set from private), or full is combined
        from common and challenging. ``visible_only``: errors over each face's visible points (runs
        whose ground truth marks occlusion, COFW-68).
        """
        key = (model.key, dataset, subset, norm, init, visible_only)
        if key not in self._cache:
            self._cache[key] = self._errors(model, dataset, subset, norm, init, visible_only)
            if isinstance(self._cache[key], Measured):
                self._cache[key].bootstrap = self.bootstrap
        return self._cache[key]

    def _errors(self, model, dataset, subset, norm, init, visible_only=False):
        run = model.run(dataset, subset, init)
        note = ""
        if run is None and dataset == "300w" and subset in W300_PART_OF:
            from ..datasets import W300_SUBSETS

            whole = model.run(dataset, W300_PART_OF[subset], init)
            keep = (np.array([i.rpartition("/")[0] in W300_SUBSETS[subset] for i in whole.ids], dtype=bool)
                    if whole is not None else np.zeros(0, dtype=bool))
            if keep.any():
                if whole.ground_truth is None:
                    return "no ground truth stored in the run"
                from ..datasets import W300_EXPECTED

                ids = [i for i, k in zip(whole.ids, keep) if k]
                _, errors = evaluate(whole.predictions[keep], whole.ground_truth[keep], norm, ids=ids)
                return Measured(errors, ids, f"{subset}: its faces of the {W300_PART_OF[subset]} run",
                                W300_EXPECTED[subset])
        if run is None and dataset == "300w" and subset == "full":
            parts = [model.run(dataset, s, init) for s in ("common", "challenging")]
            if all(p is not None for p in parts):
                if any(p.ground_truth is None for p in parts):
                    return "no ground truth stored in the run"
                # "full" is scored over the concatenated per-image errors (protocol), never as the
                # mean of the two subsets' means.
                ids = parts[0].ids + parts[1].ids
                pred = np.concatenate([p.predictions for p in parts])
                gt = np.concatenate([p.ground_truth for p in parts])
                _, errors = evaluate(pred, gt, norm, ids=ids)
                expected = (None if any(p.expected is None for p in parts)
                            else sum(p.expected for p in parts))
                return Measured(errors, ids, "full = common + challenging runs combined", expected)
        if run is None:
            return None
        if run.ground_truth is None:
            return "no ground truth stored in the run"
        if visible_only and run.visible is None:
            return "no occlusion flags stored in the run"
        _, errors = evaluate(run.predictions, run.ground_truth, norm, ids=run.ids,
                             visible=run.visible if visible_only else None)
        return Measured(errors, run.ids, note, run.expected)


def summary_cells(measured: Measured, alpha: float, norm: str) -> dict[str, Cell]:
    """mean / AUC_alpha / failure cells (percent) of per-image errors, via the metrics core."""
    from ..metrics import summarize

    s = summarize(measured.errors, alpha=alpha, norm=norm)
    ci = measured.intervals(alpha)
    pct = (lambda stat: tuple(v * 100 for v in ci[stat].as_list())) if ci is not None else (lambda stat: None)  # noqa: E731
    flag = measured.partial_label
    return {"mean": Cell(s.mean_error * 100, ci=pct("mean_error"), flag=flag),
            "auc": Cell(s.auc * 100, ci=pct("auc"), flag=flag),
            "failure": Cell(s.failure_rate * 100, ci=pct("failure_rate"), flag=flag)}
