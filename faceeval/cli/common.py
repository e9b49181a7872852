"""Helpers shared by the CLI commands: clean errors and summary formatting."""
from __future__ import annotations

import functools
import os
from typing import Sequence

import click

from ..errors import FaceevalError
from ..metrics import Summary
from ..options import (DATA_ROOT, DATA_ROOT_ENV, RegisteredChoice, data_root_option,  # noqa: F401 - shared names
                       load_dataset_reporting_gaps, reporting_data_warnings)
from ..runs import RunInterrupted

RESULTS = click.option("--results", type=click.Path(file_okay=False), default=None,
                       help="Results root holding the runs (default ./results or env FACEEVAL_RESULTS).")


def _box_fraction_option():
    from ..twostep import DEFAULT_FRACTION, FRACTION_ENV, FRACTION_RANGE

    def check(ctx, param, value):
        if value is None:
            return None
        source = ctx.get_parameter_source(param.name)
        where = f" (from ${FRACTION_ENV})" if source is not None and source.name == "ENVIRONMENT" else ""
        try:
            fraction = float(value)
        except ValueError:
            raise click.BadParameter(f"{value!r}{where} is not a number (e.g. {DEFAULT_FRACTION})") from None
        low, high = FRACTION_RANGE
        if not low < fraction <= high:
            raise click.BadParameter(f"{value!r}{where} is not in ({low:g}, {high:g}] (box side / image height)")
        return fraction

    return click.option("--box-fraction", default=None, envvar=FRACTION_ENV, callback=check, metavar="FLOAT",
                        help=f"--init two-step: side of the centred square box as a fraction of the image height "
                             f"(default {DEFAULT_FRACTION}, the paper's choice; env {FRACTION_ENV}; "
                             "`faceeval menpo-boxsize` picks one).")


BOX_FRACTION = _box_fraction_option()
#: Types of options that only make sense when positive (batch sizes, image counts, thresholds).
POSITIVE_INT = click.IntRange(min=1)
POSITIVE_FLOAT = click.FloatRange(min=0, min_open=True)


class _Fraction(click.ParamType):
    """An error threshold as a fraction of the normalising distance, in (0, 1): ``--alpha 5``
    (a percentage typed as a fraction) is refused with the value it most likely meant."""

    name = "FRACTION"

    def convert(self, value, param, ctx):
        if isinstance(value, float):
            fraction = value
        else:
            try:
                fraction = float(value)
            except (TypeError, ValueError):
                self.fail(f"{value!r} is not a number (e.g. 0.08)", param, ctx)
        if not 0 < fraction < 1:            # NaN fails too
            hint = (f"; it is a fraction of the normalising distance, not a percentage: for {fraction:g}% "
                    f"give {fraction / 100:g}" if fraction >= 1 else "")
            self.fail(f"{value!r} is not in (0, 1){hint}", param, ctx)
        return fraction


#: ``--alpha`` and ``--x-max``: fractions of the normaliser (0.08 = 8%).
FRACTION = _Fraction()


def init_options(init: str, box_fraction: float | None) -> dict:
    """The initialiser's options from the command line, validated and completed (the run key's part).

    ``--box-fraction`` given with another ``--init`` is refused; a value that came from the
    environment is simply not used there.
    """
    from ..runs import resolve_init_options

    ctx = click.get_current_context(silent=True)
    source = ctx.get_parameter_source("box_fraction") if ctx is not None else None
    if box_fraction is not None and init != "two-step":
        if source is not None and source.name == "ENVIRONMENT":
            box_fraction = None
        else:
            raise click.UsageError("--box-fraction applies to --init two-step only")
    return resolve_init_options(init, {"fraction": box_fraction} if init == "two-step" else None)


#: Errors that are the user's input or set-up, reported as one clear line (no traceback).
USER_ERRORS = (FaceevalError,)


def fail_cleanly(fn):
    """Turn a :class:`~faceeval.errors.FaceevalError` into ``click.ClickException`` (exit 1, one line).

    The one place where library errors become command-line errors: the ``faceeval``
    group applies it to every command it runs (built-in and plugin commands alike), so
    commands do not decorate themselves. A :class:`~faceeval.runs.RunInterrupted` (Ctrl-C in a
    run) prints how many faces are saved and that a rerun resumes, and exits 130 as a
    SIGINT would. Any other exception is a bug and keeps its traceback.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as exc:
            raise click.ClickException(" ".join(str(exc).split()) or type(exc).__name__) from exc
        except RunInterrupted as exc:                 # Ctrl-C in a run: say what is kept, exit 130
            click.echo(str(exc), err=True)
            raise click.exceptions.Exit(130) from None

    return wrapper


#: The statistics of a summary table: (Summary attribute, column title).
SUMMARY_COLUMNS = (("mean_error", "mean error %"), ("median_error", "median error %"), ("auc", "AUC_α %"),
                   ("failure_rate", "failure %"))


def echo_reading_notes(scored) -> None:
    """The ``note: ...`` lines of scored predictions (how they were read, which ground-truth files
    went unscored) to stderr."""
    for note in [*scored.notes, *([scored.unpaired_note] if scored.unpaired_note else [])]:
        click.echo(note, err=True)


def summary_caption(summaries: Sequence[Summary], intervals: Sequence | None = None, paper: str = "") -> str:
    """The line above a summary table: units, what alpha is, the failure convention, the intervals
    and where the paper's numbers come from."""
    s = summaries[0]
    alphas = sorted({x.alpha for x in summaries})
    where = f"α = {alphas[0]:g}" if len(alphas) == 1 else "each row's own α (column α)"
    text = (f"Errors: % of the normalising distance. AUC_α (area under the CED up to α, over α) and failure "
            f"(faces with error {'>=' if s.inclusive_failure else '>'} α): %, at {where}.")
    boot = next((ci.bootstrap for ci in intervals or () if ci is not None), None)
    if boot is not None:
        text += (f" [{boot.level * 100:g}% interval]: percentile bootstrap over images, {boot.resamples} "
                 f"resamples, seed {boot.seed}.")
    import textwrap

    return "\n".join(textwrap.wrap(text + (f" paper: {paper}." if paper else ""), 110))


def format_summary_table(summaries: Sequence[Summary], intervals: Sequence | None = None,
                         published: Sequence[dict] | None = None, paper: str = "") -> str:
    """A fixed-width table of summaries under a caption line (:func:`summary_caption`): one row per
    normalisation with its alpha, n, and the errors and rates in percent.

    ``intervals``: one :class:`~faceeval.stats.SummaryIntervals` per summary; each number is then
    followed by its interval, ``5.24 [4.95, 5.58]``. ``published``: per summary, statistic ->
    the paper's value in percent, printed beside ours as ``paper 3.59``; ``paper`` names its source.
    """
    from ..stats import format_with_interval

    ours, papers = [], []
    for i, s in enumerate(summaries):
        ci = intervals[i] if intervals is not None else None
        ours.append([format_with_interval(getattr(s, key), ci[key] if ci is not None else None)
                     for key, _ in SUMMARY_COLUMNS])
        values = published[i] if published else {}
        papers.append([f"paper {values[key]:.2f}" if values.get(key) is not None else "" for key, _ in SUMMARY_COLUMNS])
    columns = []
    for j, (_, title) in enumerate(SUMMARY_COLUMNS):
        w_ours = max(len(r[j]) for r in ours)
        w_paper = max(len(r[j]) for r in papers)
        texts = [f"{o[j]:>{w_ours}s}" + (f"  {p[j]:{w_paper}s}" if w_paper else "") for o, p in zip(ours, papers)]
        width = max([len(title)] + [len(t) for t in texts])
        columns.append((f"{title:{width}s}", [f"{t:{width}s}" for t in texts]))
    head = f"{'normalisation':14s} {'α':>5s} {'n':>6s}  " + "  ".join(title for title, _ in columns)
    rows = [summary_caption(summaries, intervals, paper), head.rstrip(), "-" * len(head.rstrip())]
    for i, s in enumerate(summaries):
        line = f"{s.norm:14s} {s.alpha:>5g} {s.n:6d}  " + "  ".join(texts[i] for _, texts in columns)
        rows.append(line.rstrip())
    return "\n".join(rows)


def parse_weights(values: Sequence[str], methods: Sequence[str]) -> dict[str, str]:
    """``--weights`` values, ``METHOD=PATH`` or (with one method) ``PATH``, as method -> path.

    >>> parse_weights(["dan=w/dan", "sdm=w/sdm"], ["dan", "sdm", "ert"])
    {'dan': 'w/dan', 'sdm': 'w/sdm'}
    >>> parse_weights(["w/dan.safetensors"], ["dan"])
    {'dan': 'w/dan.safetensors'}
    """
    out: dict[str, str] = {}
    for value in values:
        name, sep, path = value.partition("=")
        named = bool(sep) and "/" not in name and os.sep not in name     # METHOD=PATH, not a path holding '='
        if named and name in methods and path:
            out[name] = path
        elif not named and len(methods) == 1:
            out[methods[0]] = value
        else:
            raise click.BadParameter(f"expected METHOD=PATH with METHOD one of {', '.join(methods)}, got {value!r}",
                                     param_hint="--weights")
    return out


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


def sleeping_openmp_waits() -> None:
    """Let OpenMP threads sleep at barriers instead of spinning (``OMP_WAIT_POLICY=PASSIVE``) unless the
    environment says otherwise; only before torch is first imported (the runtime reads it then).

    On cores shared with other processes a spinning thread waits for a partner that is not running:
    DAN on 2 threads of a 2-core machine at load 8 ran 5-8x slower spinning (13 against 64-105 img/s
    int8, burning 5x the CPU time). Called by the commands that run methods."""
    import os
    import sys

    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
