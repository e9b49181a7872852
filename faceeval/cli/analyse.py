"""``faceeval analyse``: where one method fails (landmarks, regions, percentiles, source folders)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from .common import echo_reading_notes, format_summary_table, reporting_data_warnings
from .evaluate import SCORING, scoring_protocol
from .uncertainty import bootstrap_from


def default_stem(predictions: Path, scored) -> tuple[Path, str]:
    """Where the figure and JSON go, and a short label: ``RESULTS/analyse/DATASET-SUBSET-METHOD-HASH``
    for a stored run (named by its ``meta.json``), else ``<predictions>-analysis`` beside the predictions."""
    meta, run_dir = scored.run_meta, scored.source.path.parent       # the run's folder (pts/ or .npz inside)
    if meta and len(run_dir.parents) >= 4:
        from ..io import safe_name

        weights = str(meta.get("weights_hash", "none"))[:8]
        name = "-".join(safe_name(str(meta.get(k, "?"))) for k in ("dataset", "subset", "method"))
        label = f"{meta.get('method', '?')} [{weights}] on {meta.get('dataset', '?')}/{meta.get('subset', '?')}"
        return run_dir.parents[3] / "analyse" / f"{name}-{weights}", label
    return predictions.with_name(predictions.stem + "-analysis"), predictions.name


@click.command("analyse", short_help="Where a method fails: landmark, region, percentile, folder.")
@click.argument("run", type=click.Path(exists=True))
@SCORING
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Output stem: writes STEM-landmarks.png/.pdf and STEM.json (default for a stored run: "
                   "RESULTS/analyse/DATASET-SUBSET-METHOD-HASH).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def analyse_command(run, gt_dir, data_root, norm, alpha, inclusive_failure, one_based, yx, frame, source, ci,
                    ci_resamples, ci_seed, ci_level, output, fmt):
    """Show where a method fails: mean error per landmark (drawn on the mean face), per face
    region of its landmark scheme (jaw, brows, nose, eyes, mouth on 68 points), the percentiles
    P50/P90/P95/P99 and a summary per source folder (afw, lfpw, helen, ibug), with confidence
    intervals.

    RUN is a stored run folder (or its predictions.npz), or any predictions `faceeval eval`
    reads, with --gt.

    \b
    Examples:
      faceeval analyse results/ert/fbdc2cb80eb9/300w/full
      faceeval analyse theirs.csv --gt DATA/300w -o theirs
    """
    from ..analysis import analyse
    from ..io import write_json
    from ..predictions import load_scored
    from ..report.diagnostics import landmark_error_figure

    with reporting_data_warnings():
        scored = load_scored(run, gt_dir, one_based, yx, data_root, frame, source)
    echo_reading_notes(scored)
    bootstrap = bootstrap_from(ci, ci_resamples, ci_seed, ci_level)
    protocol, scheme, box_size = scoring_protocol(scored, norm, alpha, inclusive_failure)
    norm, alpha = protocol.norm, protocol.alpha
    result = analyse(scored.predictions, scored.ground_truth, scored.ids, bootstrap=bootstrap, scheme=scheme,
                     box_size=box_size, protocol=protocol)
    stem, label = default_stem(Path(run), scored)
    stem = Path(output) if output else stem
    d = result.summary.as_dict()
    record = {**{k: d[k] for k in ("n", "mean_error", "median_error", "auc", "failure_rate", "norm", "alpha")},
              **(result.intervals.as_dict() if result.intervals else {}), **result.as_dict(),
              "input": str(scored.source.path)}
    json_path = stem.with_name(stem.name + ".json")
    write_json(json_path, record)
    fig = landmark_error_figure(result.per_landmark, stem.with_name(stem.name + "-landmarks"), norm,
                                title=f"Mean error per landmark: {label}", scheme=scheme,
                                mean_shape=None if scheme.name == "ibug68" else scored.ground_truth.mean(axis=0))
    if fmt == "json":
        click.echo(json.dumps(record))
        return
    click.echo(format_summary_table([result.summary], [result.intervals] if result.intervals else None))
    click.echo("")
    click.echo(result.to_text())
    click.echo("wrote " + ", ".join(str(p) for p in [json_path, *fig.paths]))
