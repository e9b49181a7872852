"""DAN weights judged on the held-out validation faces, never on a test face.

Training keeps the weights with the lowest validation mean, but 100 faces make that mean
noisy: the best of many evaluations is partly luck. Comparing two sets of weights face by
face (a paired bootstrap interval of the mean difference, Wilcoxon p, wins) says whether a
difference is larger than that noise before one replaces the other.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

VAL_COUNT = 100   # the training's --val-count default: the first 100 training faces


@dataclass
class ValidationFaces:
    """The first ``val_count`` training faces in training order, with their detector boxes."""

    images: list
    boxes: np.ndarray
    ground_truth: np.ndarray


def validation_faces(data_root: str | os.PathLike, val_count: int = VAL_COUNT) -> ValidationFaces:
    """The faces ``faceeval train dan --data-root ROOT`` holds out (its first ``--val-count``)."""
    from faceeval.plugin import load_dataset

    ds = load_dataset("300w", "train", data_root)
    val = ds.samples[:val_count]
    return ValidationFaces([s.load_image() for s in val], ds.boxes[:val_count], ds.ground_truth[:val_count])


def validation_errors(weights: str | os.PathLike, faces: ValidationFaces, normalisation: str = "inter-ocular",
                      precision: str = "fp32") -> np.ndarray:
    """Per-face point-to-point errors of the weights on the validation faces, box-initialised."""
    from faceeval.plugin import point_to_point_error

    from . import DAN

    pred = DAN.load(weights, precision=precision).predict(faces.images, faces.boxes)
    return point_to_point_error(pred, faces.ground_truth, normalisation)


def compare_report(names: list[str], errors: list[np.ndarray], resamples: int = 10000) -> list[str]:
    """Lines giving each weights' validation mean and, for every one after the first, a paired
    comparison against the first."""
    from faceeval.plugin import Bootstrap, paired_comparison

    lines = [f"{name}: mean {e.mean() * 100:.3f}%  median {np.median(e) * 100:.3f}%  (n = {e.size})"
             for name, e in zip(names, errors)]
    for name, e in zip(names[1:], errors[1:]):
        pc = paired_comparison(errors[0], e, names[0], name, Bootstrap(resamples=resamples))
        lines.append(f"{names[0]} - {name}: {pc.mean_difference * 100:+.3f} points "
                     f"[{pc.interval.low * 100:+.3f}, {pc.interval.high * 100:+.3f}] ({pc.bootstrap.level:.0%} paired bootstrap), "
                     f"Wilcoxon p = {pc.wilcoxon_p:.3g}, {name} lower on {pc.b_better:.0%} of faces: {pc.verdict}")
    return lines


def main(argv=None) -> None:
    import click

    from faceeval.plugin import data_root_option

    @click.command(help="""Compare DAN weights on the validation faces (the first --val-count training
faces, box-initialised), face by face against the first weights given, so that a
difference within the noise of 100 faces is not taken for progress.

\b
Example:
  python -m faceeval_methods.dan.validation methods/dan/pretrained ~/w/dan-ft/best.safetensors \\
      --data-root ../shared/data/300w
""", context_settings={"help_option_names": ["-h", "--help"]})
    @click.argument("weights", nargs=-1, required=True, type=click.Path(exists=True))
    @data_root_option("300W root the weights were trained on (env FACEEVAL_DATA_ROOT).", exists=True,
                      required=True)
    @click.option("--val-count", type=click.IntRange(min=2), default=VAL_COUNT, show_default=True)
    @click.option("--normalisation", type=click.Choice(["inter-ocular", "inter-pupil", "bbox-diagonal"]),
                  default="inter-ocular", show_default=True)
    def command(weights, data_root, val_count, normalisation):
        from faceeval.plugin import FaceevalError

        try:
            faces = validation_faces(data_root, val_count)
            errors = [validation_errors(w, faces, normalisation) for w in weights]
        except FaceevalError as e:   # damaged or foreign weights, missing data: one line, no traceback
            raise click.ClickException(str(e)) from None
        for line in compare_report(list(weights), errors):
            click.echo(line)

    command.main(args=argv, prog_name="python -m faceeval_methods.dan.validation")


if __name__ == "__main__":
    main()
