"""Helpers shared by the CLI commands: clean errors and summary formatting."""
from __future__ import annotations

import functools
from typing import Sequence

import click

from ..errors import FaceevalError
from ..metrics import Summary

#: Options several commands share (plugin commands use them too).
DATA_ROOT = click.option("--data-root", type=click.Path(file_okay=False), envvar="FACEEVAL_DATA_ROOT",
                         help="Folder holding the dataset as distributed (env FACEEVAL_DATA_ROOT).")
RESULTS = click.option("--results", type=click.Path(file_okay=False), default=None,
                       help="Results root holding the runs (default ./results or env FACEEVAL_RESULTS).")

#: Errors that are the user's input or set-up, reported as one clear line (no traceback).
USER_ERRORS = (FaceevalError,)


def fail_cleanly(fn):
    """Turn a :class:`~faceeval.errors.FaceevalError` into ``click.ClickException`` (exit 1, one line).

    The one place where library errors become command-line errors: the ``faceeval``
    group applies it to every command it runs (built-in and plugin commands alike), so
    commands do not decorate themselves. Any other exception is a bug and keeps its traceback.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as exc:
            raise click.ClickException(" ".join(str(exc).split()) or type(exc).__name__) from exc

    return wrapper


def format_summary_table(summaries: Sequence[Summary]) -> str:
    """A small fixed-width table of summaries, errors and rates in percent."""
    head = f"{'normalisation':15s} {'n':>6s} {'mean %':>8s} {'median %':>9s} {'AUC':>7s} {'failure %':>10s}"
    rows = [head, "-" * len(head)]
    for s in summaries:
        rows.append(f"{s.norm:15s} {s.n:6d} {s.mean_error * 100:8.2f} {s.median_error * 100:9.2f} "
                    f"{s.auc * 100:7.2f} {s.failure_rate * 100:10.2f}")
    s = summaries[0]
    rows.append(f"(AUC and failure at alpha = {s.alpha:g}; failure = error {'>=' if s.inclusive_failure else '>'} alpha)")
    return "\n".join(rows)


def parse_options(pairs: Sequence[str]) -> dict:
    """``["stages=1", "compile=true"]`` -> ``{"stages": 1, "compile": True}`` (int, float, bool or str).

    >>> parse_options(["stages=1", "box_style=dlib", "compile=false"])
    {'stages': 1, 'box_style': 'dlib', 'compile': False}
    """
    out = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"method option {pair!r} is not KEY=VALUE")
        value: object = raw
        if raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        else:
            for kind in (int, float):
                try:
                    value = kind(raw)
                    break
                except ValueError:
                    pass
        out[key.strip().replace("-", "_")] = value
    return out
