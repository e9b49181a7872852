"""DAN weights on disk: ``<name>.safetensors`` (tensors) + ``<name>.json`` (config, mean shape,
normalisation). Loading never unpickles. Checkpoints use the same two-file format."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from faceeval.plugin import DataError, atomic_write, read_json_object, write_json
from faceeval.plugin import default_weights_dir as methods_weights_dir

from .config import DANConfig
from .model import DANModel
from .int8 import dequantize_tensors, is_quantized

WEIGHTS_NAME = "dan"
#: The weights that ship with faceeval (int8-stored, see :mod:`faceeval_methods.dan.quantize`), used when
#: neither ``--weights`` nor ``$FACEEVAL_HOME/weights/dan`` gives any.
PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"


def default_weights_dir() -> Path:
    """``$FACEEVAL_HOME/weights/dan`` (``FACEEVAL_HOME`` defaults to ``~/.cache/faceeval``)."""
    return methods_weights_dir("dan")


def default_weights() -> Path:
    """Where ``faceeval run dan`` looks without ``--weights``: weights trained into
    ``$FACEEVAL_HOME/weights/dan`` if there are any, else the shipped ones."""
    home = default_weights_dir()
    if (home / f"{WEIGHTS_NAME}.safetensors").is_file() or not (PRETRAINED_DIR / f"{WEIGHTS_NAME}.safetensors").is_file():
        return home
    return PRETRAINED_DIR


def weights_paths(path: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """``(tensors, config)`` paths for a weights directory, a ``.safetensors`` file or the default."""
    p = Path(path) if path is not None else default_weights()
    if p.suffix == ".safetensors":
        return p, p.with_suffix(".json")
    if p.suffix == ".json":
        return p.with_suffix(".safetensors"), p
    return p / f"{WEIGHTS_NAME}.safetensors", p / f"{WEIGHTS_NAME}.json"


def save_tensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor],
                 metadata: dict[str, str] | None = None) -> None:
    """Atomic safetensors write (contiguous CPU copies), with string ``metadata`` in its header."""
    data = save({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}, metadata=metadata)
    with atomic_write(path, "wb") as fh:
        fh.write(data)


def model_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    m = getattr(model, "module", model)
    return {k: v.contiguous(memory_format=torch.contiguous_format) for k, v in m.state_dict().items()}


def save_weights(model: DANModel, path: str | os.PathLike, extra: dict | None = None) -> tuple[Path, Path]:
    """Write ``model`` as safetensors + JSON config; returns both paths."""
    m = getattr(model, "module", model)
    tensors_path, config_path = weights_paths(path)
    save_tensors(tensors_path, model_tensors(m))
    meta = {"format": "faceeval-dan", "config": m.cfg.to_dict(),
            "mean_shape": np.round(m.mean_shape.cpu().double().numpy(), 6).tolist(),
            "normalisation": "per-pixel: (frame - norm_mean) / norm_std, tensors in the safetensors file",
            "tensors": tensors_path.name}
    meta.update(extra or {})
    write_json(config_path, meta)
    return tensors_path, config_path


def read_config(path: str | os.PathLike) -> dict:
    """The JSON beside DAN's tensors; a file that is not one is a :class:`DataError` naming it."""
    meta = read_json_object(path, "the DAN config")
    if meta.get("format") != "faceeval-dan":
        hint = ""
        if "global_step" in meta and "history" in meta:   # what `faceeval train dan` writes beside checkpoint.safetensors
            hint = "; it is a training checkpoint: give its folder's best.safetensors or dan.safetensors"
        raise DataError(f"{path}: not a faceeval DAN config (format={meta.get('format')!r}){hint}")
    if not isinstance(meta.get("config"), dict):
        raise DataError(f"{path}: DAN config has no 'config' object")
    return meta


def load_weights(path: str | os.PathLike | None = None, map_location: str | torch.device = "cpu") -> DANModel:
    """Build a :class:`DANModel` from ``path`` (file or directory; default location if None).

    Every way the two files can be damaged or disagree (unreadable JSON, unknown settings,
    a truncated tensor file, missing or mis-shaped tensors) is a :class:`DataError` naming the file."""
    tensors_path, config_path = weights_paths(path)
    meta = read_config(config_path)
    try:
        model = DANModel(DANConfig.from_dict(meta["config"]))
    except (TypeError, ValueError) as exc:
        raise DataError(f"{config_path}: unusable DAN settings ({exc})") from None
    try:
        state = load_file(str(tensors_path), device=str(map_location))
    except (SafetensorError, OSError) as exc:
        raise DataError(f"{tensors_path}: not a safetensors weights file ({exc}); faceeval never unpickles "
                        "weights") from exc
    if is_quantized(state):
        state = dequantize_tensors(state)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        problem = " ".join(str(exc).split())
        raise DataError(f"{tensors_path}: tensors do not match the settings in {config_path.name} "
                        f"({problem[:300]}{'...' if len(problem) > 300 else ''})") from None
    return model.to(map_location)
