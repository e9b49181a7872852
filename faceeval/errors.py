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


#: How a message names the 300W root where it does not know it (``--data-root DATA/300w``);
#: :func:`with_data_root` puts the root the user gave in its place.
DATA_ROOT_PLACEHOLDER = "DATA/300w"


def with_data_root(text: str, root=None) -> str:
    """``text`` with ``--data-root DATA/300w`` naming ``root`` instead, where one is given: a hint
    then names the data the user has.

    >>> with_data_root("train one with `faceeval train sdm --data-root DATA/300w`", "/data/300w")
    'train one with `faceeval train sdm --data-root /data/300w`'
    """
    if root is None:
        return text
    return text.replace(f"--data-root {DATA_ROOT_PLACEHOLDER}", f"--data-root {root}")


__all__ = ["DATA_ROOT_PLACEHOLDER", "with_data_root", "FaceevalError", "DataError", "MetricInputError", "OptionError", "MissingDependencyError",
           "MissingWeightsError"]
