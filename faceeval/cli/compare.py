"""``faceeval compare``: several methods on one subset, accuracy and speed in one table."""
from __future__ import annotations

from pathlib import Path

import click

from ..datasets import dataset_names
from ..errors import OptionError, with_data_root
from ..methods import method_class
from ..runs import INITIALISERS, results_root, subset_tag
from .common import (BOX_FRACTION, DATA_ROOT, POSITIVE_INT, RESULTS, RegisteredChoice, init_options,
                     load_dataset_reporting_gaps, parse_weights, sleeping_openmp_waits)
from .evaluate import ALPHA, NORM
from .uncertainty import bootstrap_from, ci_options


@click.command("compare", short_help="Compare methods on one subset: accuracy, speed, paired tests.")
@click.argument("methods", nargs=-1, required=True)
@click.option("--dataset", type=RegisteredChoice(dataset_names, "dataset"), default="300w", show_default=True)
@click.option("--subset", default=None, help="Subset to compare on (300w: common, challenging, full, private; "
              "builtin: all). Default: the dataset's default.")
@DATA_ROOT
@click.option("--init", "init", type=click.Choice(sorted(INITIALISERS)), default="boxes", show_default=True,
              help="Initialisation of every method (boxes = the dataset's detector boxes).")
@BOX_FRACTION
@click.option("--weights", "weight_pairs", multiple=True, metavar="[METHOD=]PATH",
              help="Weights of a method (repeatable), e.g. --weights sdm=MODELS/sdm; a bare PATH when "
                   "comparing one method.")
@NORM
@ALPHA
@click.option("--timing-images", type=POSITIVE_INT, default=32, show_default=True,
              help="Images in the separate speed pass: batch 1, then batches of min(the method's "
                   "batch size, this); raise it to time large batches (e.g. 256 for DAN).")
@RESULTS
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Output stem: writes STEM.md, STEM.csv, STEM-ced.png/.pdf "
                   "(default RESULTS/compare/DATASET-SUBSET).")
@click.option("--force", is_flag=True, help="Recompute predictions even if cached.")
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
@ci_options
def compare_command(methods, dataset, subset, data_root, init, box_fraction, weight_pairs, norm, alpha, timing_images,
                    results, output, force, no_progress, ci, ci_resamples, ci_seed, ci_level):
    """Compare METHODS on one subset: mean error, AUC, failure, images/s (batch 1 and batched).

    Predictions come from the run store (cached, reused unless --force); speeds are
    measured in a separate pass on preloaded images, all in this one run on this
    machine, so they are comparable with each other only.

    Every pair of methods is also compared image by image, two questions apart: the mean
    of the per-image differences with its paired bootstrap interval (which method has the
    lower average error), and their median with its interval and the Wilcoxon signed-rank
    p (which is lower on a typical image), then one sentence that reconciles them when
    they disagree; plus a scatter plot (STEM-A-vs-B.png). An interval that covers 0 is no
    difference. --no-ci drops the intervals of the single-method numbers (the paired
    intervals stay).

    A method that cannot run here (no trained weights, a missing optional dependency) is
    left out with a note, and the others are compared. A name with released predictions
    stored by `faceeval import-run` (e.g. spiga) is compared from them, on the same faces,
    without a speed.

    \b
    Examples:
      faceeval compare meanshape ert --dataset builtin
      faceeval compare dan sdm ert meanshape --subset full --data-root DATA/300w
      faceeval compare dan spiga --subset full --data-root DATA/300w
    """
    sleeping_openmp_waits()                # before a method imports torch
    from ..compare import compare_methods, comparison_markdown, paired_comparisons, write_comparison
    from ..stats import Bootstrap

    init_opts = init_options(init, box_fraction)
    weights = parse_weights(weight_pairs, list(methods))
    for name in methods:               # an unknown name fails here, before the data is read
        if not _has_released_runs(results, name):
            method_class(name)
    for name, path in weights.items():    # weights asked for by name are not skipped quietly
        if not Path(path).expanduser().exists():
            raise OptionError(f"--weights {name}={path}: no such file or folder")
    ds = load_dataset_reporting_gaps(dataset, subset, data_root)
    from ..protocol import resolve_protocol

    protocol = resolve_protocol(ds.name, ds.scheme, norm, alpha)          # the dataset's, unless given
    norm, alpha = protocol.norm, protocol.alpha
    skipped: dict[str, str] = {}

    def skip(name, exc):
        skipped[name] = " ".join(with_data_root(str(exc), data_root).split())
        click.echo(f"note: skipping {name}: {skipped[name]}", err=True)

    rows = compare_methods(list(methods), ds, results, init=init, norm=norm, alpha=alpha,
                           timing_images=timing_images, weights=weights, force=force,
                           progress=not no_progress, init_options=init_opts,
                           bootstrap=bootstrap_from(ci, ci_resamples, ci_seed, ci_level), on_unavailable=skip)
    pairs = paired_comparisons(rows, Bootstrap(ci_resamples, ci_seed, ci_level))
    subset_name = subset_tag(ds.subset, init, init_opts)        # as the runs' folders name it
    stem = Path(output) if output else results_root(results) / "compare" / f"{ds.name}-{subset_name}"
    title = f"{ds.name}/{subset_name} ({len(ds)} faces)"
    written = write_comparison(rows, stem, title, pairs, skipped)
    click.echo(comparison_markdown(rows, title, pairs, skipped).rstrip())
    click.echo("wrote " + ", ".join(str(p) for p in written))


def _has_released_runs(results, name: str) -> bool:
    """Whether released predictions of ``name`` are stored under the results root (``faceeval import-run``)."""
    from ..methods import available_methods
    from ..runs import RELEASED_INIT

    if name in available_methods():
        return False
    return any(results_root(results).glob(f"{name}/*@vreleased/*/*@{RELEASED_INIT}/meta.json"))
