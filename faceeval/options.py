"""Command-line pieces shared by faceeval's commands and the commands plugins contribute: the one
``--data-root`` option, a choice among registered names, and dataset loading that reports gaps.

Plugins import these through :mod:`faceeval.plugin`, never from :mod:`faceeval.cli`.
"""
from __future__ import annotations

import contextlib
from typing import Callable

import click

#: The environment variable every ``--data-root`` falls back to.
DATA_ROOT_ENV = "FACEEVAL_DATA_ROOT"


def data_root_option(help: str, exists: bool = False, required: bool = False):
    """``--data-root``: the one definition of the option, falling back to ``$FACEEVAL_DATA_ROOT``.

    ``help`` is the command's own text (it should name the variable); ``exists``: the folder
    must exist; ``required``: the option or the variable must be given.
    """
    return click.option("--data-root", type=click.Path(exists=exists, file_okay=False), envvar=DATA_ROOT_ENV,
                        required=required, help=help)


#: Options several commands share (plugin commands use them too).
DATA_ROOT = data_root_option("Folder holding the dataset as distributed (env FACEEVAL_DATA_ROOT); for tables and "
                             "figures the 300W root, which says what could be run and gives figures their images.")


class RegisteredChoice(click.ParamType):
    """A choice among the names ``names()`` returns when the option is used (so a dataset, scheme or
    normaliser a package registers after ``faceeval`` was imported is accepted)."""

    def __init__(self, names: Callable[[], list[str]], what: str):
        self.names, self.what = names, what
        self.name = what

    def get_metavar(self, param, *args, **kwargs) -> str:
        return "[" + "|".join(self.names()) + "]"

    def convert(self, value, param, ctx):
        names = self.names()
        if value not in names:
            self.fail(f"unknown {self.what} {value!r}; choose one of {', '.join(names)}", param, ctx)
        return value

    def shell_complete(self, ctx, param, incomplete):
        from click.shell_completion import CompletionItem

        return [CompletionItem(n) for n in self.names() if n.startswith(incomplete)]


@contextlib.contextmanager
def reporting_data_warnings():
    """Within it, a :class:`~faceeval.datasets.DataWarning` (an incomplete subset, files left out) or a
    :class:`~faceeval.methods.MethodWarning` (an option falling back) is printed as one plain
    ``warning: ...`` line on stderr instead of a Python warning."""
    import warnings

    from .datasets import DataWarning
    from .methods import MethodWarning

    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DataWarning)
            warnings.simplefilter("always", MethodWarning)
            yield
    finally:
        for w in caught:
            if issubclass(w.category, (DataWarning, MethodWarning)):
                click.echo(f"warning: {w.message}", err=True)
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def load_dataset_reporting_gaps(name: str, subset: str | None = None, root=None, **options):
    """:func:`~faceeval.datasets.load_dataset`, with an incomplete subset or files left out reported
    as plain ``warning: ...`` lines on stderr (naming the folders and files) instead of Python warnings."""
    from .datasets import load_dataset

    with reporting_data_warnings():
        return load_dataset(name, subset, root, **options)
