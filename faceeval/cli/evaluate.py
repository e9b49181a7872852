"""``faceeval eval`` and ``faceeval ced``: score folders of ``.pts`` predictions."""
from __future__ import annotations

import json
from pathlib import Path

import click

from ..metrics import ALPHA as PROTOCOL_ALPHA
from ..metrics import ALPHA_BBOX_DIAGONAL, NORMALISATIONS, evaluate
from ..pairing import load_pairs
from ..stats import summary_intervals
from .common import POSITIVE_FLOAT, format_summary_table
from .uncertainty import bootstrap_from, ci_options

NORM = click.option("--norm", type=click.Choice(NORMALISATIONS), default="inter-ocular", show_default=True,
                    help="Normalising distance, computed from the ground truth.")
ALPHA = click.option("--alpha", type=POSITIVE_FLOAT, default=PROTOCOL_ALPHA, show_default=True,
                     help="Threshold of AUC_alpha and of the failure rate "
                          f"(use {ALPHA_BBOX_DIAGONAL:g} for bbox-diagonal on Menpo).")
INCLUSIVE = click.option("--inclusive-failure", is_flag=True,
                         help="Count error >= alpha as failure (the paper's text) instead of > alpha (its code).")


ONE_BASED = click.option("--one-based/--zero-based", "one_based", default=None,
                         help="Coordinates in PREDICTIONS are 1-based (1 is subtracted) or 0-based (taken as they "
                              "are). Default: the format's own convention (.pts 1-based; npz, CSV, JSON 0-based).")
YX = click.option("--yx", is_flag=True, help="PREDICTIONS list (y, x) pairs instead of (x, y).")
GT_OPTIONAL = click.option("--gt", "gt_dir", type=click.Path(exists=True, file_okay=False), default=None,
                           help="Folder of ground-truth .pts files (e.g. a 300W root), paired by id or file name. "
                                "Not needed for a run's predictions.npz, which holds its ground truth.")


@click.command("eval")
@click.argument("predictions", type=click.Path(exists=True))
@GT_OPTIONAL
@NORM
@ALPHA
@INCLUSIVE
@ONE_BASED
@YX
@ci_options
@click.option("--explain", is_flag=True,
              help="Also score the predictions under every convention that is commonly mixed up (normaliser, "
                   "> or >= alpha, Simpson or trapezoid AUC, how 'full' is averaged, 0- or 1-based "
                   "coordinates), each beside the protocol's value.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def eval_command(predictions, gt_dir, norm, alpha, inclusive_failure, one_based, yx, ci, ci_resamples, ci_seed,
                 ci_level, explain, fmt):
    """Score PREDICTIONS against the ground truth in --gt, paired by id.

    PREDICTIONS is a folder of .pts files, a predictions.npz as `faceeval run` writes
    it (or its run folder), a CSV file (id,x0,y0,...,x67,y67) or a JSON file
    ({"id": [[x, y], ...]}). Coordinates are 0-based (x, y) pixels, except .pts (1-based);
    --one-based/--zero-based and --yx read other conventions. A warning with evidence
    is printed when the predictions look shifted by one pixel or have x and y swapped.

    --format json prints one object with n, mean_error, median_error, auc and
    failure_rate, as fractions (0.05 = 5%), their intervals (*_ci), percentiles,
    per-landmark, per-region and per-source-folder errors.

    \b
    Examples:
      faceeval eval results/dan/ab12/300w/full/pts --gt ~/data/300w --format json
      faceeval eval results/dan/ab12/300w/full/predictions.npz --explain
      faceeval eval theirs.csv --gt ~/data/300w --one-based
    """
    from ..analysis import analyse
    from ..conventions import check_conventions, explain as explain_conventions, explain_text
    from ..predictions import load_scored

    scored = load_scored(predictions, gt_dir, one_based, yx)
    _note_unused(scored.unused_ground_truth, gt_dir, len(scored.ids))
    ids, pred, gt = scored.ids, scored.predictions, scored.ground_truth
    summary, errors = evaluate(pred, gt, norm, alpha, ids=ids, inclusive_failure=inclusive_failure)
    bootstrap = bootstrap_from(ci, ci_resamples, ci_seed, ci_level)
    warnings = check_conventions(pred, gt, ids, norm, scored.source.one_based, scored.source.yx)
    for w in warnings:
        click.echo(f"warning: {w.message}", err=True)
    lines = explain_conventions(pred, gt, ids, norm, alpha, inclusive_failure) if explain else None
    if fmt == "json":
        d = summary.as_dict()
        out = {k: d[k] for k in ("n", "mean_error", "median_error", "auc", "failure_rate")}
        analysis = analyse(pred, gt, ids, norm, alpha, inclusive_failure, bootstrap)
        if analysis.intervals is not None:
            out.update(analysis.intervals.as_dict())
        out.update(analysis.as_dict())
        out.update({"norm": norm, "alpha": alpha, "inclusive_failure": inclusive_failure,
                    "input": {"path": str(scored.source.path), "format": scored.source.format,
                              "one_based": scored.source.one_based, "yx": scored.source.yx},
                    "warnings": [w.as_dict() for w in warnings]})
        if lines is not None:
            out["explain"] = [line.as_dict() for line in lines]
        click.echo(json.dumps(out))
        return
    intervals = [summary_intervals(errors, alpha, inclusive_failure, bootstrap)] if bootstrap else None
    click.echo(format_summary_table([summary], intervals))
    if lines is not None:
        click.echo("")
        click.echo(explain_text(lines))


@click.command("ced")
@click.argument("pred_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--gt", "gt_dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="Folder of ground-truth .pts files.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Figure file (.png or .pdf; without a suffix both are written).")
@NORM
@ALPHA
@INCLUSIVE
@click.option("--label", "labels", multiple=True, help="Legend label per PRED_DIR, in order (default: folder path).")
@click.option("--x-max", type=POSITIVE_FLOAT, default=None, help="Right end of the x axis (default alpha).")
@click.option("--reference", "references", multiple=True, type=click.Choice(["300w-challenge"]),
              help="Also draw published curves (dashed): 300w-challenge = the four 300W challenge winners "
                   "on the private set (inter-ocular).")
def ced_command(pred_dirs, gt_dir, output, norm, alpha, inclusive_failure, labels, x_max, references):
    """Draw the CED curves of several prediction folders on one plot.

    The legend gives each method's AUC_alpha and failure rate.

    \b
    Example:
      faceeval ced results/dan/*/300w/private/pts results/meanshape/*/300w/private/pts \\
          --gt ~/data/300w --label DAN --label "mean shape" -o ced_private.png --reference 300w-challenge
    """
    from ..report.ced import curve_from_errors, plot_ced

    if labels and len(labels) != len(pred_dirs):
        raise click.UsageError(f"{len(labels)} --label values for {len(pred_dirs)} folders")
    curves = []
    for i, pred_dir in enumerate(pred_dirs):
        ids, pred, gt, unused = load_pairs(pred_dir, gt_dir)
        _note_unused(unused, gt_dir, len(ids))
        _, errors = evaluate(pred, gt, norm, alpha, ids=ids)
        label = labels[i] if labels else _default_label(pred_dir)
        curves.append(curve_from_errors(label, errors, alpha, x_max, inclusive_failure))
    if references:
        from ..report.published import reference_curves

        for name in references:
            curves += reference_curves(name, alpha, x_max, norm)
    for path in plot_ced(curves, output, alpha, norm):
        click.echo(f"wrote {path}")


def _note_unused(unused: int, gt_dir: str, n: int) -> None:
    if unused:
        click.echo(f"note: {unused} ground-truth files in {gt_dir} have no prediction; scored the {n} that do",
                   err=True)


def _default_label(pred_dir: str) -> str:
    parts = Path(pred_dir).resolve().parts
    # results/<method>/<hash>/<dataset>/<subset>/pts -> method
    return parts[-5] if len(parts) >= 5 and parts[-1] == "pts" else Path(pred_dir).name
