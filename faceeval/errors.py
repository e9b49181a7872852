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


class MissingWeightsError(FaceevalError, RuntimeError):
    """A method needs trained weights that are not there; the message says how to get them."""


__all__ = ["FaceevalError", "DataError", "MetricInputError", "OptionError", "MissingDependencyError",
           "MissingWeightsError"]
