"""Why a table cell is empty, and the command that fills it.

A :class:`Context` knows what the tables need besides runs (the data roots, the registered
methods and why one cannot run); :func:`why_300w` and :func:`why_menpo` turn that into a
cell's text, e.g. ``no run: `faceeval run dan --subset full --data-root DATA/300w```.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from ..errors import DATA_ROOT_PLACEHOLDER, with_data_root
from .run_groups import Model


@dataclass
class Context:
    """What the tables need besides runs: where the data is and which methods are registered."""

    data_root: Path | None = None
    menpo_root: Path | None = None
    methods: Sequence[str] = ()
    #: name -> None if the method loads, else the "why" text (e.g. "no weights: ...").
    method_status: Callable[[str], str | None] | None = None
    _w300: dict | None = None
    _status: dict = field(default_factory=dict)

    def w300_missing(self, subset: str) -> str | None:
        """Why a 300W subset cannot be run at the data root, or None if its images are there."""
        if self.data_root is None:
            return None
        if self._w300 is None:
            from ..datasets import check_300w

            self._w300 = {r["name"]: r for r in check_300w(self.data_root) if r["kind"] == "subset"}
        row = self._w300.get(subset)
        if row is None or row["with_image"] == 0:
            return f"no data: 300W {subset} not under {self.data_root} (`faceeval data check {self.data_root}`)"
        return None

    def status(self, method: str) -> str | None:
        """Why ``method`` cannot run (asked once per method), or None; a hint's ``--data-root DATA/300w``
        names the data root when there is one."""
        if self.method_status is None:
            return None
        if method not in self._status:
            why = self.method_status(method)
            if why:
                why = with_data_root(why, self.data_root)
            self._status[method] = why
        return self._status[method]


def default_method_status(name: str) -> str | None:
    """Try to load a registered method without weights: None if it loads, else why not."""
    from ..methods import MissingWeightsError, method_class

    try:
        cls = method_class(name)
    except Exception as exc:  # noqa: BLE001 - a broken plugin is reported, not fatal
        return f"unavailable: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    try:
        cls.load()
    except MissingWeightsError:
        trainable = cls.train_command() is not None
        return (f"no weights: `faceeval train {name} --data-root {DATA_ROOT_PLACEHOLDER}`" if trainable
                else f"no weights for {name}")
    except Exception as exc:  # noqa: BLE001
        return f"unavailable: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    return None


def root_text(root: Path | None, placeholder: str = DATA_ROOT_PLACEHOLDER) -> str:
    """The root a hint names: the one given, else the placeholder the documentation uses."""
    return str(root) if root is not None else placeholder


def weights_flag(model: Model | None) -> str:
    """`` --weights W`` where the model's weights were given (not the method's default), else ``""``."""
    stored = model.meta.get("weights") or model.meta.get("weights_path") if model is not None else None
    return f" --weights {stored}" if stored else ""


def rerun_flags(model: Model | None) -> str:
    """``--weights W -O k=v`` that make ``faceeval run`` reproduce this model's runs."""
    if model is None:
        return ""
    options = model.options
    try:        # only what `-O` takes: a run key may also hold derived values (DAN int8's calibration digest)
        from ..methods import method_class

        accepted = method_class(model.method).cli_options
    except Exception:  # noqa: BLE001 - a method that cannot be loaded here: show every option stored
        accepted = None
    if accepted is not None:
        options = {k: v for k, v in options.items() if k in accepted}
    return weights_flag(model) + "".join(f" -O {k}={v}" for k, v in sorted(options.items()))


def why_300w(ctx: Context, method: str, subset: str, model: Model | None = None) -> str:
    """The "why" text of a missing 300W cell, with the command that fills it."""
    if model is not None and model.released:
        return (f"no released predictions on 300W {subset}: `faceeval import-run FILE --method {method} --dataset 300w "
                f"--subset {subset} --data-root DIR`")
    if model is None:
        status = ctx.status(method)
        if status is not None:
            return status
    missing = ctx.w300_missing(subset)
    if missing:
        return missing
    return f"no run: `faceeval run {method}{rerun_flags(model)} --subset {subset} --data-root {root_text(ctx.data_root)}`"


def why_menpo(ctx: Context, method: str, model: Model | None = None) -> str:
    if model is None:
        status = ctx.status(method)
        if status is not None:
            return status
    if ctx.menpo_root is not None and not Path(ctx.menpo_root).is_dir():
        return f"no data: {ctx.menpo_root} does not exist"
    return (f"no run: `faceeval run {method}{rerun_flags(model)} --dataset menpo --subset test --init two-step "
            f"--data-root {root_text(ctx.menpo_root, 'DATA/menpo')}`")
