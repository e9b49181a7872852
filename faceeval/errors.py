"""The library's one error hierarchy.

Every error that comes from the user's input or set-up (a file that cannot be used, an
option value out of range, a missing dependency or missing weights) is a
:class:`FaceevalError` whose message names the file or option and the problem. The
command line prints such an error as one line and exits with status 1
(:func:`faceeval.cli.common.fail_cleanly`, the only place that converts them); any other
exception is a bug and keeps its traceback. Library code never raises click exceptions.

Each class also derives from the built-in exception it refines (``ValueError`` or
``RuntimeError``), so callers that caught those before still do.

>>> issubclass(DataError, FaceevalError) and issubclass(DataError, ValueError)
True
"""
from __future__ import annotations

import importlib.util


class FaceevalError(Exception):
    """Base of every error that is the user's input or set-up, not a bug."""


class DataError(FaceevalError, ValueError):
    """A data file that cannot be used; the message names the file and the problem."""


class MetricInputError(FaceevalError, ValueError):
    """Input that cannot be scored (wrong shape, non-finite values, zero normaliser, id mismatch)."""


class OptionError(FaceevalError, ValueError):
    """An option or argument value that cannot be used; the message names the option."""


class MissingDependencyError(FaceevalError, RuntimeError):
    """An optional dependency of a method is not installed; the message says what to install."""


#: The optional extras of ``pip install "faceeval[EXTRA]"`` and the modules that make each usable (by
#: import name; pyproject.toml lists the distributions). The core (metrics, datasets, eval, tables,
#: report, meanshape) needs none of them. ``peers`` also brings face-recognition-models, whose model
#: files are looked for on their own (dlib's model may come from elsewhere: ``--weights``, Debian).
EXTRAS = {
    "dan": ("torch", "safetensors"),
    "peers": ("dlib",),
    "sdm": ("menpo", "menpofit"),
    "estimator": ("skimage", "sklearn"),
}
#: What the install message adds for an extra.
EXTRA_NOTES = {
    "sdm": "; it pins numpy<2 and scipy<1.14 (menpofit 0.7.1 needs them; they have no wheels for Python 3.13+), "
           "so use Python 3.10-3.12, in an environment of its own if you need numpy 2",
}


class MissingExtraError(MissingDependencyError):
    """A command or method needs an optional extra that is not installed.

    >>> print(MissingExtraError("dan", "dan"))
    dan needs the 'dan' extra: pip install "faceeval[dan]"
    """

    def __init__(self, what: str, extra: str):
        self.what, self.extra = what, extra
        super().__init__(f"{what} needs the '{extra}' extra: pip install \"faceeval[{extra}]\""
                         + EXTRA_NOTES.get(extra, ""))

    @classmethod
    def from_import(cls, what: str, exc: ImportError) -> "MissingExtraError | None":
        """The error for an ``ImportError`` of a module one of :data:`EXTRAS` brings, else ``None``.

        >>> MissingExtraError.from_import("ert", ModuleNotFoundError(name="dlib")).extra
        'peers'
        >>> MissingExtraError.from_import("x", ModuleNotFoundError(name="numpyy")) is None
        True
        """
        top = (getattr(exc, "name", None) or "").partition(".")[0]
        extra = next((e for e, modules in EXTRAS.items() if top in modules), None)
        return None if extra is None else cls(what, extra)


def require_extra(extra: str, what: str) -> None:
    """Raise :class:`MissingExtraError` unless every module of ``extra`` can be imported
    (checked without importing them, so it is cheap enough to call before any work)."""
    for module in EXTRAS[extra]:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):      # a broken or half-removed install
            found = False
        if not found:
            raise MissingExtraError(what, extra)


class MissingWeightsError(FaceevalError, RuntimeError):
    """A method needs trained weights that are not there; the message says how to get them."""


__all__ = ["FaceevalError", "DataError", "MetricInputError", "OptionError", "MissingDependencyError",
           "MissingExtraError", "MissingWeightsError", "EXTRAS", "require_extra"]
