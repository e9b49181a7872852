"""``faceeval eval`` and ``faceeval ced``: score folders of ``.pts`` predictions."""
from __future__ import annotations

import json
from pathlib import Path

import click

from ..metrics import ALPHA as PROTOCOL_ALPHA
from ..metrics import ALPHA_BBOX_DIAGONAL, NORMALISATIONS, evaluate
from ..pairing import load_pairs
from .common import POSITIVE_FLOAT, format_summary_table

NORM = click.option("--norm", type=click.Choice(NORMALISATIONS), default="inter-ocular", show_default=True,
                    help="Normalising distance, computed from the ground truth.")
ALPHA = click.option("--alpha", type=POSITIVE_FLOAT, default=PROTOCOL_ALPHA, show_default=True,
                     help="Threshold of AUC_alpha and of the failure rate "
                          f"(use {ALPHA_BBOX_DIAGONAL:g} for bbox-diagonal on Menpo).")
INCLUSIVE = click.option("--inclusive-failure", is_flag=True,
                         help="Count error >= alpha as failure (the paper's text) instead of > alpha (its code).")


@click.command("eval")
@click.argument("pred_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--gt", "gt_dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="Folder of ground-truth .pts files (e.g. a 300W root).")
@NORM
@ALPHA
@INCLUSIVE
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def eval_command(pred_dir, gt_dir, norm, alpha, inclusive_failure, fmt):
    """Score the .pts files in PRED_DIR against those in --gt, paired by name.

    --format json prints one object with n, mean_error, median_error, auc and
    failure_rate, as fractions (0.05 = 5%).

    \b
    Example:
      faceeval eval results/dan/ab12/300w/full/pts --gt ~/data/300w --format json
    """
    ids, pred, gt, unused = load_pairs(pred_dir, gt_dir)
    _note_unused(unused, gt_dir, len(ids))
    summary, _ = evaluate(pred, gt, norm, alpha, ids=ids, inclusive_failure=inclusive_failure)
    if fmt == "json":
        d = summary.as_dict()
        click.echo(json.dumps({k: d[k] for k in ("n", "mean_error", "median_error", "auc", "failure_rate")}))
    else:
        click.echo(format_summary_table([summary]))


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
