"""Int8 storage of DAN weights, so the default model ships inside the repository (<= 25 MB).

Every convolution and linear weight with more than ``min_elements`` entries is stored as
int8 with one float32 scale per output channel (symmetric: ``w ~= q * scale``, ``|q| <= 127``);
everything else (biases, batch-norm statistics, the per-pixel normalisation, the mean shape)
stays float32. Loading dequantises to float32, so inference code is unchanged.

A 2-stage model is 23.1 M weights: 92 MB as float32, about 23 MB this way. The quantised
file's effect on accuracy is measured, not assumed (``python -m faceeval_methods.dan.quantize``
prints it on the validation faces).
"""
from __future__ import annotations

import os
from pathlib import Path

from .int8 import QUANT_SUFFIX, SCALE_SUFFIX, dequantize_tensors, is_quantized, quantize_tensors  # noqa: F401
from .weights import save_tensors, weights_paths

def quantize_file(src: str | os.PathLike, dest: str | os.PathLike, extra: dict | None = None) -> Path:
    """Write the int8 version of weights ``src`` (file or folder) as ``dest`` (``.safetensors`` + ``.json``)."""
    from safetensors.torch import load_file

    from faceeval.plugin import read_json_object, write_json

    src_t, src_c = weights_paths(src)
    dst_t, dst_c = weights_paths(dest)
    tensors = load_file(str(src_t))
    save_tensors(dst_t, quantize_tensors(tensors))
    meta = read_json_object(src_c, "the weights' record")
    meta["tensors"] = dst_t.name
    meta["quantization"] = {"scheme": "int8, symmetric, one float32 scale per output channel, for conv and "
                                      "linear weights over 4096 elements; all else float32",
                            "source_bytes": src_t.stat().st_size, **(extra or {})}
    write_json(dst_c, meta)
    return dst_t


def _record_quantization(dest: str | os.PathLike, stats: dict) -> None:
    """Add ``stats`` to the ``quantization`` entry of int8 weights' JSON."""
    from faceeval.plugin import read_json_object, write_json


    config = weights_paths(dest)[1]
    meta = read_json_object(config, "the DAN config")
    meta["quantization"].update(stats)
    write_json(config, meta)


def quantize_measured(src: str | os.PathLike, dest: str | os.PathLike, data_root: str | os.PathLike | None = None,
                      val_count: int = 100) -> tuple[Path, dict]:
    """:func:`quantize_file`, and with ``data_root`` (a 300W root) the mean inter-ocular error of both
    models on the first ``val_count`` faces of its train subset, box-initialised, stored with the
    weights. Returns the weights file written and those numbers (empty without ``data_root``)."""
    if not data_root:
        return quantize_file(src, dest), {}
    from .validation import validation_errors, validation_faces

    faces = validation_faces(data_root, val_count)
    float32 = float(validation_errors(src, faces).mean())
    written = quantize_file(src, dest)
    int8 = float(validation_errors(written, faces).mean())
    stats = {"val_faces": len(faces.images), "val_inter_ocular_float32": round(float32, 6),
             "val_inter_ocular_int8": round(int8, 6), "relative_change": round(int8 / float32 - 1, 6)}
    _record_quantization(written, stats)   # the measured numbers join the JSON; the tensors stay as written
    return written, stats


def quantize_report(path: Path, stats: dict) -> list[str]:
    """What the quantize command prints: the file written and the measured numbers as ``key=value``."""
    return [f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)"] + [f"{k}={v}" for k, v in stats.items()]


def main(argv=None) -> None:
    import click

    from faceeval.plugin import data_root_option

    @click.command(help="""Store DAN weights as int8 (per-output-channel scales) and measure what it costs:
the mean error of both models on the validation faces (the first --val-count training faces),
box-initialised, and the relative change.

\b
Example:
  python -m faceeval_methods.dan.quantize ~/.cache/faceeval/weights/dan methods/dan/pretrained/dan.safetensors \\
      --data-root DATA/300w
""", context_settings={"help_option_names": ["-h", "--help"]})
    @click.argument("src", type=click.Path(exists=True))
    @click.argument("dest", type=click.Path())
    @data_root_option("300W root: measure the error change on the validation faces of its train subset "
                      "(env FACEEVAL_DATA_ROOT).", exists=True)
    @click.option("--val-count", type=int, default=100, show_default=True)
    def command(src, dest, data_root, val_count):
        for line in quantize_report(*quantize_measured(src, dest, data_root, val_count)):
            click.echo(line)

    command.main(args=argv, prog_name="python -m faceeval_methods.dan.quantize")


if __name__ == "__main__":
    main()
