"""Initialisation procedures: how a method gets its starting point (a dataset's boxes, the tight
ground-truth box, or the boxless two-step search), registered by name for ``faceeval run --init``.

An initialiser with options declares a resolver that validates them and fills in every default,
so a run's key (:class:`faceeval.runs.RunKey`) holds the values the procedure will use.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from .errors import OptionError
from .methods import LandmarkMethod

#: Initialisation procedures: name -> fn(method, images, boxes or None, **init_options) -> (N, P, 2).
Initialiser = Callable[[LandmarkMethod, Sequence[np.ndarray], np.ndarray], np.ndarray]
INITIALISERS: dict[str, Initialiser] = {}
#: Initialisers that need no dataset box (they find the face themselves).
BOXLESS_INITIALISERS: set[str] = set()
#: name -> fn(options) -> the options validated, with every default filled in (initialisers with options).
INIT_OPTION_RESOLVERS: dict[str, Callable[[dict], dict]] = {}


def register_initialiser(name: str, fn: Initialiser, needs_boxes: bool = True,
                         resolve_options: Callable[[dict], dict] | None = None) -> None:
    """Add an initialisation procedure selectable with ``faceeval run --init NAME``.

    ``resolve_options(options) -> dict`` validates its options (raising
    :class:`~faceeval.errors.OptionError`) and fills in every default, so that the run key
    holds the values the procedure will use; an initialiser without it takes no options.
    """
    INITIALISERS[name] = fn
    if not needs_boxes:
        BOXLESS_INITIALISERS.add(name)
    if resolve_options is not None:
        INIT_OPTION_RESOLVERS[name] = resolve_options


register_initialiser("boxes", lambda method, images, boxes: method.predict(images, boxes))
register_initialiser("gt-box", lambda method, images, boxes: method.predict(images, boxes))


def _two_step(method, images, boxes, fraction: float):
    from .twostep import two_step_predict

    return two_step_predict(method, images, fraction=fraction)


def _two_step_options(options: dict) -> dict:
    from .twostep import resolve_options

    return resolve_options(options)


register_initialiser("two-step", _two_step, needs_boxes=False, resolve_options=_two_step_options)


def resolve_init_options(init: str, options: Mapping | None = None) -> dict:
    """The options of initialiser ``init``, validated and with every default filled in.

    ``None`` values count as not given. Raises :class:`~faceeval.errors.OptionError` for an
    unknown initialiser, an option it does not take or a value out of range, before any work.

    >>> resolve_init_options("two-step")
    {'fraction': 0.46}
    >>> resolve_init_options("boxes")
    {}
    """
    if init not in INITIALISERS:
        raise OptionError(f"unknown --init {init!r}; choose one of {', '.join(sorted(INITIALISERS))}")
    given = {k: v for k, v in (options or {}).items() if v is not None}
    resolver = INIT_OPTION_RESOLVERS.get(init)
    if resolver is None:
        if given:
            raise OptionError(f"--init {init} takes no options, got {', '.join(sorted(given))}")
        return {}
    return resolver(given)


def initial_boxes(dataset, init: str) -> np.ndarray | None:
    """The boxes initialiser ``init`` hands the method for ``dataset`` (None for a boxless one)."""
    if init == "gt-box":
        from .geometry import shape_boxes

        return shape_boxes(dataset.ground_truth)
    if init in BOXLESS_INITIALISERS:
        return None
    return dataset.boxes


__all__ = ["Initialiser", "INITIALISERS", "BOXLESS_INITIALISERS", "INIT_OPTION_RESOLVERS", "register_initialiser",
           "resolve_init_options", "initial_boxes"]
