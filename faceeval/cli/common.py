"""Helpers shared by the CLI commands: clean errors and summary formatting."""
from __future__ import annotations

import functools
from typing import Sequence

import click

from ..io import DataError
from ..methods import MissingDependencyError, MissingWeightsError
from ..metrics import MetricInputError, Summary

#: Options several commands share (plugin commands use them too).
DATA_ROOT = click.option("--data-root", type=click.Path(file_okay=False), envvar="FACEEVAL_DATA_ROOT",
                         help="Folder holding the dataset as distributed (env FACEEVAL_DATA_ROOT).")
RESULTS = click.option("--results", type=click.Path(file_okay=False), default=None,
                       help="Results root holding the runs (default ./results or env FACEEVAL_RESULTS).")

#: Errors that are the user's input or set-up, reported as one clear line (no traceback).
USER_ERRORS = (DataError, MetricInputError, MissingDependencyError, MissingWeightsError, FileNotFoundError)


def fail_cleanly(fn):
    """Turn expected user errors into ``click.ClickException`` (exit 1, one message)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper


def format_summary_table(summaries: Sequence[Summary], intervals: Sequence | None = None) -> str:
    """A small fixed-width table of summaries, errors and rates in percent.

    ``intervals``: one :class:`~faceeval.stats.SummaryIntervals` per summary; each number is then
    followed by its interval, ``5.24 [4.95, 5.58]``.
    """
    if intervals is None:
        head = f"{'normalisation':15s} {'n':>6s} {'mean %':>8s} {'median %':>9s} {'AUC':>7s} {'failure %':>10s}"
        rows = [head, "-" * len(head)]
        for s in summaries:
            rows.append(f"{s.norm:15s} {s.n:6d} {s.mean_error * 100:8.2f} {s.median_error * 100:9.2f} "
                        f"{s.auc * 100:7.2f} {s.failure_rate * 100:10.2f}")
        rows.append(f"(AUC and failure at alpha = {summaries[0].alpha:g}; failure = error > alpha)")
        return "\n".join(rows)
    from ..stats import STATISTICS, format_with_interval

    titles = ("mean %", "median %", "AUC", "failure %")
    head = f"{'normalisation':15s} {'n':>6s} " + " ".join(f"{t:>20s}" for t in titles)
    rows = [head, "-" * len(head)]
    for s, ci in zip(summaries, intervals):
        cells = [format_with_interval(getattr(s, k), ci[k] if ci is not None else None) for k in STATISTICS]
        rows.append(f"{s.norm:15s} {s.n:6d} " + " ".join(f"{c:>20s}" for c in cells))
    boot = next(ci.bootstrap for ci in intervals if ci is not None)
    rows.append(f"(AUC and failure at alpha = {summaries[0].alpha:g}; failure = error > alpha; [{boot.level * 100:g}% "
                f"interval]: percentile bootstrap over images, {boot.resamples} resamples, seed {boot.seed})")
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


def load_dataset_reporting_gaps(name: str, subset: str | None = None, root=None, **options):
    """:func:`~faceeval.datasets.load_dataset`, with an incomplete subset reported as one plain
    ``warning: ...`` line on stderr (naming the short folders) instead of a Python warning."""
    import warnings

    from ..datasets import IncompleteDataWarning, load_dataset

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", IncompleteDataWarning)
        dataset = load_dataset(name, subset, root, **options)
    for w in caught:
        if issubclass(w.category, IncompleteDataWarning):
            click.echo(f"warning: {w.message}", err=True)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return dataset
