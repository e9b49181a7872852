"""``faceeval eval`` and ``faceeval ced``: score folders of ``.pts`` predictions."""
from __future__ import annotations

import json
from pathlib import Path

import click

from ..metrics import evaluate, score
from ..protocol import normaliser_names, resolve_protocol
from ..runs import is_finished_run
from ..stats import summary_intervals
from .common import (DATA_ROOT, FRACTION, RegisteredChoice, echo_reading_notes, format_summary_table,
                     reporting_data_warnings)
from .uncertainty import bootstrap_from, ci_options

NORM = click.option("--norm", type=RegisteredChoice(normaliser_names, "normaliser"), default=None,
                    help="Normalising distance, computed from the ground truth (default: the protocol of the "
                         "dataset the ground truth comes from: inter-ocular on 300W and WFLW, inter-pupil on COFW "
                         "(--norm inter-ocular: HRNet's), dataset-box on AFLW, bbox-diagonal on Menpo; inter-ocular "
                         "for a folder of 68 points).")
ALPHA = click.option("--alpha", type=FRACTION, default=None,
                     help="Threshold of AUC_alpha and of the failure rate, a fraction of the normalising distance "
                          "(0.08 = 8%; default: the dataset's: 0.08 on 300W, 0.10 on WFLW and COFW, 0.07 on AFLW, "
                          "0.03 for bbox-diagonal on Menpo).")


INCLUSIVE = click.option("--inclusive-failure", is_flag=True,
                         help="Count error >= alpha as failure (the paper's text) instead of > alpha (its code).")


ONE_BASED = click.option("--one-based/--zero-based", "one_based", default=None,
                         help="Coordinates in PREDICTIONS are 1-based (1 is subtracted) or 0-based (taken as they "
                              "are). Default: the format's own convention (.pts 1-based; npz, CSV, JSON 0-based).")
YX = click.option("--yx", is_flag=True, help="PREDICTIONS list (y, x) pairs instead of (x, y).")
FRAME = click.option("--frame", type=click.Choice(["dataset", "original"]), default=None,
                     help="Frame of PREDICTIONS: the ground truth's own (default), or the original photos' pixels, "
                          "which a re-cut 300W pack (transforms.json) maps into its crops; a 300W tree as "
                          "distributed needs no mapping. Default: the source description's, else dataset.")
SOURCE = click.option("--source", default=None, metavar="NAME|FILE.json",
                      help="Where released predictions come from: a shipped source description (spiga) or a JSON "
                           "file of that shape; it gives their frame, base and pairing. A released file a shipped "
                           "description lists is recognised by its checksum without this option.")


def GT_OPTIONAL(fn):
    """``--gt`` (a folder of .pts files or a dataset spec) and the ``--data-root`` a spec needs; the
    command receives them as ``gt_dir`` and ``data_root``."""
    fn = DATA_ROOT(fn)
    return click.option(
        "--gt", "gt_dir", default=None, metavar="DIR|DATASET[:SUBSET]",
        help="Ground truth: a folder of .pts files (e.g. a 300W root), paired by id or file name, or a registered "
             "dataset (builtin, 300w:challenging, wflw:test, wflw:largepose, cofw, aflw:frontal, menpo:test, "
             "menpo-profile, folder; all but builtin with --data-root; the annotation files are enough). "
             "Not needed for a run's predictions.npz, which holds its ground truth.")(fn)


def SCORING(fn):
    """The options of every command that scores predictions: ground truth, normalisation, alpha,
    failure convention, coordinate conventions (base, axis order, frame, source) and confidence intervals."""
    for option in (ci_options, SOURCE, FRAME, YX, ONE_BASED, INCLUSIVE, ALPHA, NORM, GT_OPTIONAL):
        fn = option(fn)
    return fn


@click.command("eval", short_help="Score predictions (.pts, npz, CSV, JSON) against the truth.")
@click.argument("predictions", type=click.Path(exists=True))
@SCORING
@click.option("--explain", is_flag=True,
              help="Also score the predictions under every convention the field's reference code differs in "
                   "(pupils or eye corners and the other normalisers, > or >= alpha, Simpson, trapezoid or SPIGA's "
                   "histogram AUC, PIPNet/STAR's alpha grid, how 'full' is averaged, 0- or 1-based coordinates, "
                   "whole-pixel predictions, errors pooled or over visible points only, N - 1), each beside the "
                   "protocol's value.")
@click.option("--visible-only", is_flag=True,
              help="Average each face's error over its visible points only (ground truth with occlusion flags, "
                   "COFW and COFW-68: the benchmark's second evaluation); the normaliser still uses all points.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def eval_command(predictions, gt_dir, data_root, norm, alpha, inclusive_failure, one_based, yx, frame, source, ci,
                 ci_resamples, ci_seed, ci_level, explain, visible_only, fmt):
    """Score PREDICTIONS against the ground truth in --gt, paired by id.

    PREDICTIONS is a folder of .pts files, a predictions.npz as `faceeval run` writes
    it (or its run folder), a CSV file (id,x0,y0,...,x67,y67), a JSON file
    ({"id": [[x, y], ...]}), released predictions in SPIGA's results format (a JSON list
    of {"imgpath", "landmarks"}, paired by the image's stem), a COFW-68 benchmark .txt
    (4 lines per face) or, with a dataset that has an official list (WFLW), a .txt file
    of one face per line in the list's order (the first 196 numbers of a line are its 98
    points; the rest is ignored). Any registered landmark scheme (68, 98, 29, 19 or 39
    points) is scored by its own reference points. Coordinates are 0-based (x, y) pixels,
    except .pts and the COFW-68 .txt (1-based); --one-based/--zero-based, --yx and
    --frame read other conventions; released predictions are read as their source
    description says (--source; a file it lists is recognised by its checksum), never
    guessed. A warning with evidence is printed when the predictions look shifted by one
    pixel, have x and y swapped, sit in the original photos' frame of a re-cut pack, or
    are all whole numbers.

    Without --norm and --alpha, the dataset's own protocol applies (WFLW: inter-ocular at
    0.10; COFW and COFW-68: eye centres, failure > 0.1; AFLW: its box_size; Menpo: the box
    diagonal at 0.03), else inter-ocular at 0.08.

    --format json prints one object with n, mean_error, median_error, auc and
    failure_rate, as fractions (0.05 = 5%), their intervals (*_ci), percentiles,
    per-landmark, per-region and per-source-folder errors.

    \b
    Examples:
      faceeval eval results/dan/ab12/300w/full/pts --gt DATA/300w --format json
      faceeval eval results/dan/ab12/300w/full/predictions.npz --explain
      faceeval eval theirs.csv --gt DATA/300w --one-based
      faceeval eval results/meanshape/*/builtin/all/pts --gt builtin
      faceeval eval theirs.csv --gt 300w:challenging --data-root DATA/300w
      faceeval eval 300w_public_test.json --gt 300w:full --data-root DATA/300w --source spiga
      faceeval eval cofw68_test.json --gt cofw68 --data-root DATA/cofw68 --norm bbox-size
      faceeval eval mine.txt --gt cofw68 --data-root DATA/cofw68 --visible-only
      faceeval eval hrnet_wflw.txt --gt wflw:test --data-root DATA/wflw --explain
      faceeval eval theirs.json --gt cofw --norm inter-ocular --data-root DATA/cofw
    """
    from ..analysis import analyse
    from ..conventions import check_conventions, explain as explain_conventions, explain_text
    from ..predictions import load_scored

    with reporting_data_warnings():
        scored = load_scored(predictions, gt_dir, one_based, yx, data_root, frame, source)
    echo_reading_notes(scored)
    ids, pred, gt = scored.ids, scored.predictions, scored.ground_truth
    protocol, scheme, box_size = scoring_protocol(scored, norm, alpha, inclusive_failure)
    norm, alpha = protocol.norm, protocol.alpha
    visible = _visible(scored, visible_only)
    summary, errors = evaluate(pred, gt, norm, alpha, ids, inclusive_failure, visible, scheme=scheme,
                               box_size=box_size)
    bootstrap = bootstrap_from(ci, ci_resamples, ci_seed, ci_level)
    warnings = check_conventions(pred, gt, ids, norm, scored.source.one_based, scored.source.yx, scored.as_original,
                                 scheme=scheme, box_size=box_size)
    if scored.original_frame is not None:
        # mapped from the original photos: a slipped base is one photo pixel, which the crops rescale;
        # look in both frames, the photos' first
        found = check_conventions(*scored.original_frame, ids, norm, scored.source.one_based, scored.source.yx,
                                  scheme=scheme, box_size=box_size)
        warnings = found + [w for w in warnings if w.kind not in {f.kind for f in found}]
    for w in warnings:
        click.echo(f"warning: {w.message}", err=True)
    lines = explain_conventions(pred, gt, ids, scheme=scheme, box_size=box_size, visible=scored.visible,
                                protocol=protocol) if explain else None
    if fmt == "json":
        d = summary.as_dict()
        out = {k: d[k] for k in ("n", "mean_error", "median_error", "auc", "failure_rate")}
        analysis = analyse(pred, gt, ids, bootstrap=bootstrap, visible=visible, scheme=scheme, box_size=box_size,
                           protocol=protocol)
        if analysis.intervals is not None:
            out.update(analysis.intervals.as_dict())
        out.update(analysis.as_dict())
        out.update({"norm": norm, "alpha": alpha, "inclusive_failure": inclusive_failure, "visible_only": visible_only,
                    "scheme": scheme.name, "dataset": scored.set_name,
                    "input": {"path": str(scored.source.path), "format": scored.source.format,
                              "one_based": scored.source.one_based, "yx": scored.source.yx,
                              "frame": scored.source.frame, "released": scored.source.released},
                    "warnings": [w.as_dict() for w in warnings]})
        if lines is not None:
            out["explain"] = [line.as_dict() for line in lines]
        click.echo(json.dumps(out))
        return
    intervals = [summary_intervals(errors, alpha, inclusive_failure, bootstrap)] if bootstrap else None
    click.echo(format_summary_table([summary], intervals))
    if visible_only:
        click.echo(f"(visible points only: {int(visible.sum())} of {visible.size} points, as marked in the ground truth)")
    if lines is not None:
        click.echo("")
        click.echo(f"{scored.set_name} (n = {summary.n}, scheme {scheme.name}): the protocol is {protocol.describe()}")
        click.echo("")
        click.echo(explain_text(lines))


@click.command("ced", short_help="Draw the CED curves of several predictions on one plot.")
@click.argument("pred_dirs", nargs=-1, required=True, type=click.Path(exists=True), metavar="PREDICTIONS...")
@GT_OPTIONAL
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Figure file (.png or .pdf; without a suffix both are written).")
@NORM
@ALPHA
@INCLUSIVE
@click.option("--label", "labels", multiple=True, help="Legend label per PRED_DIR, in order (default: folder path).")
@click.option("--title", default=None, help="Figure title (default: the set the curves are on, the normalisation and alpha).")
@click.option("--x-max", type=FRACTION, default=None, help="Right end of the x axis, a fraction (default alpha).")
@click.option("--reference", "references", multiple=True, type=click.Choice(["300w-challenge"]),
              help="Also draw published curves (dashed): 300w-challenge = the four 300W challenge winners "
                   "on the private set (inter-ocular). On any other set the figure carries a warning.")
def ced_command(pred_dirs, gt_dir, data_root, output, norm, alpha, inclusive_failure, labels, title, x_max, references):
    """Draw the CED curves of several predictions on one plot.

    PREDICTIONS are what `faceeval eval` reads: folders of .pts files, run folders or their
    predictions.npz (which carry their ground truth), CSV or JSON files. The legend gives
    each method's AUC_alpha and failure rate; the title names the set the curves are on.

    \b
    Example:
      faceeval ced results/dan/*/300w/private/pts results/meanshape/*/300w/private/pts \\
          --gt DATA/300w --label DAN --label "mean shape" -o ced_private.png --reference 300w-challenge
    """
    from ..pairing import load_ground_truth
    from ..predictions import load_scored
    from ..report.ced import curve_from_errors, plot_ced

    if labels and len(labels) != len(pred_dirs):
        raise click.UsageError(f"{len(labels)} --label values for {len(pred_dirs)} folders")
    with reporting_data_warnings():
        truth = (load_ground_truth(gt_dir, data_root) if gt_dir is not None and not Path(gt_dir).is_dir() else None)
    curves, sets, private, notes = [], [], True, {}
    given_norm, given_alpha = norm, alpha
    for i, pred_dir in enumerate(pred_dirs):
        with reporting_data_warnings():
            scored = load_scored(pred_dir, truth or gt_dir, data_root=data_root)
        if scored.unpaired_note:
            notes.setdefault(scored.unpaired_note, []).append(str(pred_dir))
        protocol, scheme, box_size = scoring_protocol(scored, given_norm, given_alpha, inclusive_failure)
        norm, alpha = protocol.norm, protocol.alpha
        _, errors = score(scored.predictions, scored.ground_truth, protocol, scored.ids, scheme, box_size)
        label = labels[i] if labels else _default_label(pred_dir)
        curves.append(curve_from_errors(label, errors, alpha, x_max, inclusive_failure))
        sets.append(f"{scored.set_name} (n = {len(scored.ids)})")
        private &= all(k.startswith(PRIVATE_FOLDERS) for k in scored.ids)
    for note, where in notes.items():          # one line per distinct note, not one per curve
        click.echo(note + (f" (for {', '.join(where)})" if len(where) < len(pred_dirs) else ""), err=True)
    set_text = " / ".join(dict.fromkeys(sets))
    warning = None
    if references:
        from ..report.published import reference_curves

        for name in references:
            curves += reference_curves(name, alpha, x_max, norm)
        if not private:
            warning = (f"the published curves are on the 300W private test set, the measured ones on "
                       f"{set_text}: different images, not a like-for-like comparison")
            click.echo(f"warning: {warning}", err=True)
    title = title or f"CED on {set_text}: {norm}, AUC and failure at α = {alpha:g}"
    for path in plot_ced(curves, output, alpha, norm, title=title, warning=warning):
        click.echo(f"wrote {path}")


def scoring_protocol(scored, norm: str | None, alpha: float | None, inclusive_failure: bool):
    """The protocol, scheme and dataset box sizes one command scores ``scored`` with: the options
    given, else the defaults of the dataset the ground truth comes from (a folder: those of its
    scheme's standard dataset), resolved once."""
    from ..datasets import dataset_names

    spec = scored.spec_name if scored.spec_name in dataset_names() else None
    scheme = scored.scheme
    return resolve_protocol(spec, scheme, norm, alpha, inclusive_failure), scheme, scored.box_sizes


def _visible(scored, visible_only: bool):
    """The ground truth's visibility for ``--visible-only`` (an error when it has none), else None."""
    if not visible_only:
        return None
    if scored.visible is None:
        from ..errors import OptionError

        raise OptionError(f"--visible-only: the ground truth ({scored.set_name}) marks no occluded points; it applies "
                          f"to ground truth with occlusion flags (--gt cofw68)")
    return scored.visible


#: Where the 300W private test set's faces live (ids of its ground truth): the reference curves' set.
PRIVATE_FOLDERS = ("300W/01_Indoor/", "300W/02_Outdoor/")


def _default_label(pred_dir: str) -> str:
    parts = Path(pred_dir).resolve().parts
    # results/<method>/<hash>/<dataset>/<subset>/pts -> method
    if len(parts) >= 5 and parts[-1] == "pts":
        return parts[-5]
    if len(parts) >= 5 and parts[-1] == "predictions.npz":
        return parts[-5]
    if len(parts) >= 4 and is_finished_run(pred_dir):
        released = "(released predictions)" if "@released" in parts[-1] else ""
        return f"{parts[-4]} {released}".strip()
    return Path(pred_dir).name
