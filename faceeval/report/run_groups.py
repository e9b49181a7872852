"""Stored runs grouped into models: a method, its version, weights and prediction options.

One :class:`Model` gets one row in each table; its runs are keyed by (dataset, subset, init tag).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from ..runs import Run, RunKey


@dataclass
class Model:
    """All stored runs of one model: a method, its version, weights and prediction options
    (the method part of :class:`~faceeval.runs.RunKey`)."""

    method: str
    weights_hash: str
    #: (dataset, subset, init tag) -> run; the init tag holds the init options (``two-step,fraction=0.46``).
    runs: dict[tuple[str, str, str], Run] = field(default_factory=dict)
    version: str = ""
    option_items: tuple = ()
    #: Put the version in the label (set when models differ only by version).
    show_version: bool = False

    @property
    def key(self) -> tuple:
        return self.method, self.version, self.weights_hash, self.option_items

    @property
    def meta(self) -> dict:
        return next(iter(self.runs.values())).meta if self.runs else {}

    @property
    def options(self) -> dict:
        """The method's load options that changed its predictions (``-O KEY=VALUE``)."""
        return dict(self.meta.get("options") or {})

    @property
    def caveat(self) -> str:
        """What a reader must know about this model's numbers (stored by the method with its runs)."""
        return str(self.meta.get("caveat") or "")

    @property
    def released(self) -> bool:
        """Whether this model's runs are its authors' released predictions (``faceeval import-run``)."""
        return bool(self.meta.get("released"))

    @property
    def init(self) -> str:
        """The init tag of this model's main runs: ``released`` for released predictions, else ``boxes``."""
        from ..runs import RELEASED_INIT

        return RELEASED_INIT if self.released else "boxes"

    @property
    def label(self) -> str:
        if self.released:
            version = f" v{self.version}" if self.show_version else ""
            return f"{self.method}{version} (released predictions) [{self.weights_hash[:8]}]"
        stages = model_stages(self.meta)
        extra = f", {stages} stage{'s' if stages != 1 else ''}" if stages else ""
        others = ", ".join(f"{k}={v}" for k, v in sorted(self.options.items()) if k not in ("stages", "tta"))
        extra += f", {others}" if others else ""
        version = f" v{self.version}" if self.show_version else ""
        # test-time augmentation is its own row, never the method's single pass: "dan + flip test"
        tta = f" + {self.options['tta']} test" if self.options.get("tta", "none") != "none" else ""
        return f"{self.method}{version}{tta}{extra} [{self.weights_hash[:8]}]"

    def run(self, dataset: str, subset: str, init: str = "boxes") -> Run | None:
        return self.runs.get((dataset, subset, init))


def group_models(runs: Iterable[Run]) -> list[Model]:
    """Group runs by model (the method part of their :class:`~faceeval.runs.RunKey`); of several
    runs with one key, the newest wins (``runs`` in the order of :func:`~faceeval.runs.find_runs`)."""
    models: dict[tuple, Model] = {}
    for run in runs:   # find_runs gives oldest first
        key = RunKey.from_meta(run.meta)
        model = models.setdefault(key.model, Model(key.method, key.weights_hash, version=key.version,
                                                   option_items=key.options))
        model.runs[(key.dataset, key.subset, key.init_tag)] = run
    ordered = [models[k] for k in sorted(models, key=lambda k: (k[0], k[2], k[1], repr(k[3])))]
    by_label: dict[str, list[Model]] = {}
    for model in ordered:
        by_label.setdefault(model.label, []).append(model)
    for same in by_label.values():
        if len(same) > 1:
            for model in same:
                model.show_version = True
    return ordered


def model_stages(meta: dict) -> int | None:
    """The number of DAN stages a run's model had, from its meta, if it says so.

    Looks for ``stages`` / ``n_stages`` / ``num_stages`` at the top level or in a ``config``,
    ``weights_config`` or ``options`` dict, then for "N stage(s)" in the description.
    """
    places = [meta] + [meta[k] for k in ("config", "weights_config", "options", "model") if isinstance(meta.get(k), dict)]
    for place in places:
        for key in ("stages", "n_stages", "num_stages"):
            value = place.get(key)
            if isinstance(value, (int, np.integer)) or (isinstance(value, str) and value.isdigit()):
                return int(value)
    m = re.search(r"(\d+)[- ]stages?\b", str(meta.get("description", "")))
    return int(m.group(1)) if m else None
