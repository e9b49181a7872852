"""``faceeval train sdm``: fit menpofit's regularised SDM on a faceeval dataset and save it safely."""
from __future__ import annotations

import datetime as _dt
import time
from dataclasses import fields
from pathlib import Path

import click

from faceeval.plugin import DATA_ROOT, load_dataset_reporting_gaps
from faceeval.plugin import DATASETS
from faceeval.plugin import machine

from .data import to_menpo_training_image, warped_faces
from .features import PATCH_FEATURES
from .model import SDMConfig, SDMModel, save_model, train_model


def training_images(images, shapes, config: SDMConfig, progress: bool = False) -> list:
    """Menpo training images (face crops scaled to the model's diagonal) from images and shapes."""
    from tqdm.auto import tqdm

    # one full image in memory at a time: only the scaled face crops are kept
    return [to_menpo_training_image(img, shape, config.diagonal)
            for img, shape in tqdm(zip(images, shapes), total=len(shapes), desc="preparing faces", unit="img",
                                   leave=False, disable=not progress)]


def train_sdm(dataset, config: SDMConfig, augment: int = 0, output: str | Path | None = None,
              progress: bool = False) -> SDMModel:
    """Train on every face of ``dataset`` (or ``augment`` similarity warps of each) and save to ``output``."""
    started = time.perf_counter()
    samples = list(dataset)
    images = (s.load_image() for s in samples)
    shapes = dataset.ground_truth
    if augment:
        images, shapes = warped_faces(list(images), shapes, augment, seed=config.seed)
    menpo_images = training_images(images, shapes, config, progress)
    prepared = time.perf_counter()
    info = {"dataset": dataset.name, "subset": dataset.subset, "n_faces": len(samples),
            "n_training_images": len(menpo_images), "augment": augment, "partial": dataset.partial_label,
            "data_root": str(dataset.root) if dataset.root else None, "machine": machine(),
            "trained": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    model = train_model(menpo_images, config, verbose=progress, info=info)
    model.info.update(prepare_seconds=round(prepared - started, 1),
                      fit_seconds=round(time.perf_counter() - prepared, 1))
    if output is not None:
        save_model(model, output)
    return model


_DEFAULTS = {f.name: f.default for f in fields(SDMConfig)}


@click.command("sdm")
@click.option("--dataset", type=click.Choice(DATASETS), default="300w", show_default=True)
@click.option("--subset", default=None, help="Subset to train on (default: train; builtin: all).")
@DATA_ROOT
@click.option("-o", "--output", "--out", "output", type=click.Path(file_okay=False), default=None,
              help="Model folder (default $FACEEVAL_HOME/weights/sdm, i.e. ~/.cache/faceeval/weights/sdm); "
                   "--out works too, as for train dan.")
@click.option("--feature", type=click.Choice(sorted(PATCH_FEATURES)), default=_DEFAULTS["feature"], show_default=True,
              help="Patch descriptor: hog = 2x2-cell orientation histograms, pixels = standardised grey patch.")
@click.option("--patch-size", type=int, default=_DEFAULTS["patch_size"], show_default=True)
@click.option("--scales", default="0.5,1.0", show_default=True, help="Comma-separated image scales, low to high.")
@click.option("--iterations", type=int, default=_DEFAULTS["n_iterations"], show_default=True,
              help="Cascade steps over all scales.")
@click.option("--perturbations", type=int, default=_DEFAULTS["n_perturbations"], show_default=True,
              help="Perturbed initialisations per training face.")
@click.option("--diagonal", type=float, default=_DEFAULTS["diagonal"], show_default=True,
              help="Face box diagonal (pixels) the images are scaled to.")
@click.option("--alpha", type=float, default=_DEFAULTS["alpha"], show_default=True, help="Ridge regularisation.")
@click.option("--augment", type=int, default=0, show_default=True,
              help="Train on this many random similarity warps of each face instead of the faces "
                   "(for tiny sets such as builtin).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--no-progress", is_flag=True)
def train_sdm_command(dataset, subset, data_root, output, feature, patch_size, scales, iterations, perturbations,
                      diagonal, alpha, augment, seed, no_progress):
    """Train the Supervised Descent Method (menpofit RegularizedSDM) and save it as npz + json.

    \b
    Examples:
      faceeval train sdm --data-root ~/data/300w
      faceeval train sdm --dataset builtin --augment 10 --output /tmp/sdm-tiny \\
          --scales 1 --iterations 3 --perturbations 5 --patch-size 16 --diagonal 80
      faceeval run sdm --weights /tmp/sdm-tiny --dataset builtin
    """
    from . import default_model_dir

    def _train():
        try:
            scale_list = tuple(float(s) for s in scales.split(","))
            config = SDMConfig(feature=feature, patch_size=patch_size, scales=scale_list, n_iterations=iterations,
                               n_perturbations=perturbations, diagonal=diagonal, alpha=alpha, seed=seed)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from exc
        ds = load_dataset_reporting_gaps(dataset, subset or ("train" if dataset in ("300w", "menpo") else None),
                                         data_root)
        folder = Path(output).expanduser() if output else default_model_dir()
        model = train_sdm(ds, config, augment=augment, output=folder, progress=not no_progress)
        info = model.info
        click.echo(f"trained SDM on {info['n_training_images']} faces of {ds.name}/{ds.subset} in "
                   f"{info['prepare_seconds'] + info['fit_seconds']:.0f} s (preparing faces {info['prepare_seconds']:.0f} s, "
                   f"fitting {info['fit_seconds']:.0f} s); saved to {folder}")

    _train()
