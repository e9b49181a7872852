"""``faceeval estimator train|predict`` and ``faceeval menpo-boxsize``.

Mounted into the ``faceeval`` command line through the entry-point group
``faceeval.commands``. The commands only parse arguments and call the package.
"""
from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from faceeval.plugin import DATA_ROOT, load_dataset_reporting_gaps as load_dataset
from faceeval.plugin import DATASETS, Dataset
from faceeval.plugin import require_extra
from faceeval.plugin import DataError, atomic_write
from faceeval.plugin import method_class

METHOD = click.option("--method", default="dan", show_default=True, help="Registered method whose shapes are scored.")
WEIGHTS = click.option("--weights", type=click.Path(), default=None, help="Weights file or folder of the method.")
NO_PROGRESS = click.option("--no-progress", is_flag=True, help="Hide progress bars.")


def _pick(dataset: Dataset, limit: int | None, seed: int) -> Dataset:
    """A seeded random subset of ``limit`` samples (all when ``limit`` is None), in dataset order."""
    if limit is None or limit >= len(dataset):
        return dataset
    if limit < 1:
        raise click.BadParameter(f"must be >= 1, got {limit}", param_hint="--limit")
    keep = np.sort(np.random.default_rng(seed).choice(len(dataset), size=limit, replace=False))
    return Dataset(dataset.name, dataset.subset, [dataset.samples[i] for i in keep], dataset.root, dataset.notes)


def _fmt(value) -> str:
    return "  n/a" if value is None else f"{value:5.3f}"


def format_quality(report: dict) -> str:
    rows = [f"{'part':8s} {'n':>6s} {'Pearson':>8s} {'Spearman':>9s} {'ROC AUC':>8s} {'failures':>9s} "
            f"{'mean err %':>10s} {'mean est %':>10s}"]
    rows.append("-" * len(rows[0]))
    for part in ("train", "heldout"):
        q = report[part]
        rows.append(f"{part:8s} {q['n']:6d} {_fmt(q['pearson']):>8s} {_fmt(q['spearman']):>9s} {_fmt(q['roc_auc']):>8s} "
                    f"{q['failures']:9d} {q['mean_true_error'] * 100:10.2f} {q['mean_estimated_error'] * 100:10.2f}")
    rows.append(f"(ROC AUC: flagging error > {report['heldout']['failure_threshold']:g}; "
                f"ridge alpha {report['alpha']:.3g}; {report['n_heldout_images']} of {report['n_images']} images held out)")
    return "\n".join(rows)


@click.group("estimator", short_help="Learned error estimator: train it, estimate a run's errors.")
def estimator():
    """Learned error estimator: HOG at the landmarks -> ridge regression -> inter-ocular error.

    \b
    Examples:
      faceeval estimator train --method dan --data-root DATA/300w -o dan-estimator.npz
      faceeval estimator predict dan-estimator.npz results/dan/<hash>/300w/full -o estimates.csv
    """


@estimator.command("train")
@METHOD
@WEIGHTS
@click.option("--dataset", type=click.Choice(DATASETS), default="300w", show_default=True)
@click.option("--subset", default="train", show_default=True)
@DATA_ROOT
@click.option("--perturbations", "k", type=click.IntRange(1), default=4, show_default=True,
              help="Perturbed starts per face (protocol's training perturbations).")
@click.option("--limit", type=click.IntRange(1), default=None, help="Use a seeded random subset of this many faces.")
@click.option("--heldout", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.2, show_default=True,
              help="Fraction of images held out to measure quality.")
@click.option("--clip", type=click.FloatRange(0, min_open=True), default=0.5, show_default=True,
              help="Clip training targets (errors) at this value.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--cache", type=click.Path(file_okay=False), default=None,
              help="Folder for resumable chunks of training data (default: OUTPUT.cache).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="estimator.npz", show_default=True)
@NO_PROGRESS
def train(method, weights, dataset, subset, data_root, k, limit, heldout, clip, seed, cache, output, no_progress):
    """Train an error estimator on METHOD's predictions from perturbed starts.

    Each face is predicted from --perturbations random starts (translation, rotation,
    scale as in DAN's training set); the true inter-ocular error of each prediction
    is the target. Quality (Pearson, Spearman, ROC AUC for error > 0.08) is measured
    on held-out images and stored in the model file.

    \b
    Examples:
      faceeval estimator train --method dan --data-root DATA/300w -o dan-estimator.npz
      faceeval estimator train --method ert --dataset builtin --perturbations 8 -o tiny.npz
    """
    require_extra("estimator", "faceeval estimator")
    from .features import HogConfig
    from .training import generate_training_data, train_estimator

    ds = _pick(load_dataset(dataset, subset, data_root), limit, seed)
    model = method_class(method).load(weights=weights)
    config = HogConfig()
    data = generate_training_data(model, ds, k=k, seed=seed, config=config,
                                  cache=cache or f"{output}.cache", progress=not no_progress)
    meta = {**model.provenance(), "dataset": ds.name, "subset": ds.subset, "n_faces": len(ds), "perturbations": k}
    est, report = train_estimator(data, config, heldout=heldout, seed=seed, clip=clip, meta=meta)
    est.save(output)
    click.echo(f"error estimator for {model.name} trained on {len(data.errors)} predictions "
               f"({len(ds)} faces of {ds.name}/{ds.subset}) -> {output}")
    click.echo(format_quality(report))


@estimator.command("predict")
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("run_dir", type=click.Path(file_okay=False))
@DATA_ROOT
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="CSV of id, estimated error, true error (default RUN_DIR/estimated_errors.csv).")
@NO_PROGRESS
def predict(model, run_dir, data_root, output, no_progress):
    """Estimate the error of each shape of a stored run (no ground truth used).

    The run's images are reloaded from the dataset named in its meta.json (--data-root
    overrides the stored root). Where ground truth exists, the true errors and the
    estimate's quality are printed too.

    \b
    Example:
      faceeval estimator predict dan-estimator.npz results/dan/<hash>/menpo/test@two-step
    """
    require_extra("estimator", "faceeval estimator")
    from faceeval.plugin import point_to_point_error
    from faceeval.plugin import is_finished_run, load_run

    from .model import ErrorEstimator, quality

    est = ErrorEstimator.load(model)
    if not is_finished_run(run_dir):
        raise DataError(f"{run_dir}: not a finished run (no meta.json)")
    run = load_run(run_dir)
    ds = load_dataset(run.meta["dataset"], run.meta["subset"], data_root or run.meta.get("data_root"))
    by_id = {s.id: s for s in ds.samples}
    missing = [i for i in run.ids if i not in by_id]
    if missing:
        raise DataError(f"{run_dir}: {len(missing)} ids not in {ds.name}/{ds.subset} (first: {missing[0]})")
    rows = range(len(run.ids))
    if not no_progress:
        from tqdm.auto import tqdm

        rows = tqdm(rows, desc="estimating", unit="face", leave=False)
    estimated = np.array([est.estimate([by_id[run.ids[i]].load_image()], run.predictions[i][None])[0] for i in rows])
    true = (point_to_point_error(run.predictions, run.ground_truth, "inter-ocular", ids=run.ids)
            if run.ground_truth is not None else None)
    output = output or str(Path(run_dir) / "estimated_errors.csv")
    with atomic_write(output) as fh:
        fh.write("id,estimated_error,true_error\n")
        for i, sid in enumerate(run.ids):
            fh.write(f"{sid},{estimated[i]:.6f},{'' if true is None else f'{true[i]:.6f}'}\n")
    click.echo(f"{len(run.ids)} shapes of {run.meta['method']} on {ds.name}/{ds.subset}: "
               f"mean estimated error {estimated.mean() * 100:.2f}% -> {output}")
    if true is not None and len(true) >= 3:
        q = quality(estimated, true)
        click.echo(f"true mean error {q['mean_true_error'] * 100:.2f}%; Pearson {_fmt(q['pearson'])}, "
                   f"Spearman {_fmt(q['spearman'])}, ROC AUC (error > 0.08) {_fmt(q['roc_auc'])}")


@click.command("menpo-boxsize", short_help="Pick the two-step box fraction with an error estimator.")
@click.option("--estimator", "estimator_path", type=click.Path(dir_okay=False), required=True,
              help="Trained estimator (.npz from `faceeval estimator train`).")
@METHOD
@WEIGHTS
@click.option("--fractions", default="0.30:0.60:0.02", show_default=True,
              help="Box side / image height to try: start:stop:step (stop included) or a comma list.")
@click.option("--dataset", type=click.Choice(DATASETS), default="menpo", show_default=True)
@click.option("--subset", default="train", show_default=True,
              help="Images to choose on (Menpo: train keeps the held-out test split unseen).")
@DATA_ROOT
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True,
              help="Seeded random subset of this many images.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="menpo_boxsize.csv", show_default=True,
              help="CSV: fraction, mean estimated error, mean true error, best.")
@NO_PROGRESS
def menpo_boxsize(estimator_path, method, weights, fractions, dataset, subset, data_root, limit, seed, output,
                  no_progress):
    """Pick the two-step box fraction that minimises the estimated error.

    For each fraction f, the two-step procedure (centred square box of side f x image
    height, then an upright re-run) runs on --limit images; the estimator scores the
    shapes without ground truth and the lowest mean wins. Where ground truth exists
    the true error per f is printed beside it, to check the choice (the paper: 0.46).
    Use the result with `faceeval run ... --init two-step --box-fraction <best>`.

    \b
    Example:
      faceeval menpo-boxsize --estimator dan-estimator.npz --fractions 0.30:0.60:0.02 \\
          --data-root DATA/menpo --limit 200
    """
    require_extra("estimator", "faceeval menpo-boxsize")
    from .boxsize import parse_fractions, sweep_box_fractions
    from .model import ErrorEstimator

    try:
        grid = parse_fractions(fractions)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--fractions") from None
    est = ErrorEstimator.load(estimator_path)
    ds = _pick(load_dataset(dataset, subset, data_root), limit, seed)
    model = method_class(method).load(weights=weights)
    has_gt = all(s.ground_truth is not None for s in ds.samples)
    images = [s.load_image() for s in ds.samples]
    result = sweep_box_fractions(model, images, grid, est.estimate, ds.ground_truth if has_gt else None,
                                 ids=ds.ids, progress=not no_progress)
    result.write_csv(output)
    click.echo(f"{model.name} two-step on {len(ds)} images of {ds.name}/{ds.subset}; estimator {estimator_path}")
    click.echo(result.table())
    click.echo(f"saved {output}")


__all__ = ["estimator", "menpo_boxsize", "format_quality"]
