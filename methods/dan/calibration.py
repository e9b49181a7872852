"""Static int8 activation scales for DAN, calibrated on training faces and stored beside the weights.

``-O precision=int8`` (:mod:`faceeval_methods.dan.fused`) needs, for every stage, the range of its
input (after the input batch norm; asymmetric uint8: scale and zero point) and of every
convolution's output after its ReLU (uint8, zero point 0). They are measured once by running
the float32 model on training faces, by default the first 100 of the 300W train subset (those
training holds out for validation with its default split,
:func:`faceeval_methods.dan.validation.validation_faces`; never a test face), box-initialised as
at inference, and written to ``<weights>.int8.json`` (``dan.int8.json`` beside ``dan.safetensors``),
keyed by the weights' hash, so ``faceeval run`` never recalibrates. The shipped weights come with
theirs; ``make dan-release`` with a data root calibrates the weights it ships.

A layer's range is its minimum and maximum over all calibration faces (widened to include 0):
exact, so the same faces give the same scales bit for bit. On the validation faces, the
0.99999 quantile instead (clipping outliers) changed the int8 mean error by +0.12% relative
to bf16, the maximum by +0.07%: no reason for the extra machinery.

    python -m faceeval_methods.dan.calibration methods/dan/pretrained --data-root DATA/300w
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn as nn

FORMAT = "faceeval-dan-int8-calibration"
SUFFIX = ".int8.json"


def calibration_path(weights: str | os.PathLike) -> Path:
    """``dan.int8.json`` beside ``dan.safetensors`` (weights given as a file or a folder)."""
    from .weights import weights_paths

    tensors, _ = weights_paths(weights)
    return tensors.with_name(tensors.name.removesuffix(".safetensors") + SUFFIX)


class _Range:
    """The running minimum and maximum of one layer's values (exact, so deterministic)."""

    def __init__(self):
        self.lo = self.hi = 0.0

    def add(self, x: torch.Tensor) -> None:
        self.lo = min(self.lo, float(x.min()))
        self.hi = max(self.hi, float(x.max()))


def activation_scales(folded, frames: torch.Tensor, batch: int = 32) -> list[dict]:
    """Per stage ``{"input": [scale, zero_point], "conv": [scale, ...]}`` of a batch-norm-folded float
    model, from its activations on ``frames`` ``(N, 1, S, S)`` (run in float32 on the CPU)."""
    model = folded.float().cpu().eval()
    ranges: dict[str, _Range] = {}
    hooks = []

    def record(name):
        def hook(_module, _args, out):
            ranges.setdefault(name, _Range()).add(out)
        return hook

    for t, stage in enumerate(model.stages):
        hooks.append(stage.input_bn.register_forward_hook(record(f"{t}.input")))
        relus = [m for m in stage.features if isinstance(m, nn.ReLU)]
        for i, relu in enumerate(relus):
            hooks.append(relu.register_forward_hook(record(f"{t}.conv{i}")))
    try:
        with torch.inference_mode():
            for i in range(0, len(frames), batch):
                model(frames[i:i + batch].float())
    finally:
        for h in hooks:
            h.remove()
    out = []
    for t, stage in enumerate(model.stages):
        r = ranges[f"{t}.input"]
        scale = (r.hi - r.lo) / 255 if r.hi > r.lo else 1.0
        n_conv = sum(isinstance(m, nn.ReLU) for m in stage.features)
        out.append({"input": [scale, int(round(-r.lo / scale))],
                    "conv": [max(ranges[f"{t}.conv{i}"].hi, 1e-8) / 255 for i in range(n_conv)]})
    return out


def calibration_frames(model, images, boxes) -> torch.Tensor:
    """The frames DAN sees for ``images`` with detector ``boxes`` (box initialisation), ``(N, 1, S, S)``."""
    from .augment import box_initialisation, frame_transforms, warp_to_frames

    m = frame_transforms(box_initialisation(boxes), model.mean_shape.double().cpu().numpy())
    return warp_to_frames(list(images), m, model.cfg.image_size)


def calibrate(weights: str | os.PathLike, data_root: str | os.PathLike, count: int | None = None) -> dict:
    """The calibration record of ``weights`` on the first ``count`` training faces of the 300W root
    ``data_root`` (default: the validation faces training holds out)."""
    from faceeval.plugin import file_hash

    from .model import fold_batchnorm
    from .validation import VAL_COUNT, validation_faces
    from .weights import load_weights, weights_paths

    count = count or VAL_COUNT
    faces = validation_faces(data_root, count)
    tensors, _ = weights_paths(weights)
    folded = fold_batchnorm(load_weights(tensors))
    scales = activation_scales(folded, calibration_frames(folded, faces.images, faces.boxes))
    return {"format": FORMAT, "weights_hash": file_hash(tensors), "faces": len(faces.images),
            "faces_from": f"300w train subset, its first {count} faces (those training holds out with its "
                          "default --val-split first; no test face)",
            "ranges": "minimum and maximum", "stages": scales}


def write_calibration(weights: str | os.PathLike, record: dict) -> Path:
    from faceeval.plugin import write_json

    path = calibration_path(weights)
    write_json(path, record)
    return path


def record_hash(record: dict) -> str:
    """A short digest of a calibration's scales: part of an int8 run's key."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(record["stages"], sort_keys=True).encode()).hexdigest()[:8]


def load_calibration(weights: str | os.PathLike, weights_hash: str, stages: int) -> dict:
    """The calibration record stored for ``weights``; a missing, damaged or stale one (other weights'
    hash) is an :class:`~faceeval.errors.OptionError` saying how to make it."""
    from faceeval.plugin import DataError, OptionError, read_json_object

    path = calibration_path(weights)
    make = (f"make it with\n    python -m faceeval_methods.dan.calibration {Path(weights)} "
            f"--data-root /path/to/300W\n(it runs the weights on training faces only)")
    if not path.is_file():
        raise OptionError(f"dan: -O precision=int8 needs activation scales calibrated for these weights, "
                          f"and {path} does not exist; {make}")
    try:
        record = read_json_object(path, "the DAN int8 calibration")
    except DataError as exc:
        raise OptionError(f"{exc}; {make}") from None
    if record.get("format") != FORMAT or not isinstance(record.get("stages"), list):
        raise OptionError(f"{path}: not a DAN int8 calibration (format={record.get('format')!r}); {make}")
    if record.get("weights_hash") != weights_hash:
        raise OptionError(f"{path}: calibrated for other weights (hash {record.get('weights_hash')}, these are "
                          f"{weights_hash}); {make}")
    if len(record["stages"]) < stages:
        raise OptionError(f"{path}: scales for {len(record['stages'])} stages, the weights have {stages}; {make}")
    return record


def main(argv=None) -> None:
    import click

    from faceeval.plugin import data_root_option

    @click.command(help="""Calibrate DAN's int8 activation scales (for -O precision=int8) on training faces:
the first --count faces of the 300W train subset (the validation faces training holds out),
box-initialised, run in float32. Writes <weights>.int8.json beside the weights.

\b
Example:
  python -m faceeval_methods.dan.calibration methods/dan/pretrained --data-root DATA/300w
""", context_settings={"help_option_names": ["-h", "--help"]})
    @click.argument("weights", type=click.Path(exists=True))
    @data_root_option("300W root whose train subset gives the calibration faces (env FACEEVAL_DATA_ROOT).",
                      exists=True, required=True)
    @click.option("--count", type=click.IntRange(min=1), default=None, help="Training faces used (default: the "
                  "100 validation faces).")
    def command(weights, data_root, count):
        from faceeval.plugin import FaceevalError, reporting_data_warnings

        try:
            with reporting_data_warnings():           # an incomplete train subset: one warning line
                record = calibrate(weights, data_root, count)
        except FaceevalError as e:
            raise click.ClickException(str(e)) from None
        path = write_calibration(weights, record)
        click.echo(f"wrote {path} ({record['faces']} training faces, scales {record_hash(record)})")

    command.main(args=argv, prog_name="python -m faceeval_methods.dan.calibration")


if __name__ == "__main__":
    main()
