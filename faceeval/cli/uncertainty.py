"""The confidence-interval options that eval, run, compare, analyse, tables and report share."""
from __future__ import annotations

import click

from ..stats import DEFAULT_LEVEL, DEFAULT_RESAMPLES, DEFAULT_SEED, Bootstrap


def ci_options(fn):
    """``--ci/--no-ci``, ``--ci-resamples``, ``--ci-seed`` and ``--ci-level``; the command receives
    them as ``ci``, ``ci_resamples``, ``ci_seed`` and ``ci_level`` (see :func:`bootstrap_from`)."""
    options = [
        click.option("--ci/--no-ci", "ci", default=True, show_default=True,
                     help="Give 95% confidence intervals (percentile bootstrap over images) for mean and "
                          "median error, AUC and failure rate."),
        click.option("--ci-resamples", type=click.IntRange(min=2), default=DEFAULT_RESAMPLES, show_default=True,
                     help="Bootstrap resamples of the images."),
        click.option("--ci-seed", type=int, default=DEFAULT_SEED, show_default=True,
                     help="Seed of the bootstrap (the same seed gives the same intervals)."),
        click.option("--ci-level", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=DEFAULT_LEVEL,
                     show_default=True, help="Confidence level of the intervals."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def bootstrap_from(ci: bool, ci_resamples: int, ci_seed: int, ci_level: float) -> Bootstrap | None:
    """The :class:`~faceeval.stats.Bootstrap` the options ask for, or None with ``--no-ci``."""
    return Bootstrap(ci_resamples, ci_seed, ci_level) if ci else None
