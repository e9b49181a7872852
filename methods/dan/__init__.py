"""Deep Alignment Network (Kowalski, Naruniec, Trzcinski, CVPR-W 2017) as a faceeval plugin.

``faceeval train dan --data-root DATA/300w --stages 2`` trains it (see :mod:`faceeval_methods.dan.train`);
``faceeval run dan ...`` loads ``$FACEEVAL_HOME/weights/dan/dan.safetensors`` (or
``--weights PATH``) and predicts in batches.
"""
from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from faceeval.plugin import geometry as G
from faceeval.plugin import DATA_ROOT_PLACEHOLDER, OptionError
from faceeval.plugin import MIRROR_PERMUTATION
from faceeval.plugin import LandmarkMethod, MethodOption, MethodWarning, MissingWeightsError, file_hash

from .augment import box_initialisation, frame_transforms, warp_to_frames
from .caveat import weights_caveat
from .config import DANConfig
from .device import INT8_FLAGS, cpu_has_fused_bf16, cpu_has_int8, resolve_device, use_bf16
from .model import DANModel, fold_batchnorm
from . import weights as _weights
from .weights import default_weights_dir, load_weights, save_weights, weights_paths

__all__ = ["DAN", "DANConfig", "DANModel", "load_weights", "save_weights"]

PRECISIONS = ("auto", "fp32", "bf16", "int8")
#: Test-time augmentation: ``none`` (the paper's single pass) or ``flip`` (the image and its mirror,
#: averaged through the mirror permutation: reported as its own row, never as the paper's DAN).
TTA = ("none", "flip")


def _device_problem(device: str) -> str | None:
    """Why ``device`` cannot run DAN here (None if it can): checked before any weights are read."""
    if device == "auto":
        return None
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        return "not a torch device (auto, cpu, cuda, cuda:1, ...)"
    if parsed.type == "cuda" and not torch.cuda.is_available():
        return "no CUDA device is available on this machine"
    return None


def _read_json(path: Path) -> dict:
    import json

    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}       # load_weights has already said what is wrong with a damaged file


class DAN(LandmarkMethod):
    """DAN inference: box-initialised mean shape -> 112x112 frame -> 1-3 stages -> image pixels.

    Options (``DAN.load(weights, **options)``): ``device`` ("auto", "cpu", "cuda", ...),
    ``precision`` ("auto": bf16 where the hardware has it, "fp32", "bf16", "int8": int8
    convolutions and fc1 with activation scales calibrated on training faces, see
    :mod:`~faceeval_methods.dan.calibration`; on the CPU, where it has VNNI or AMX, else it
    falls back to "auto" with a warning), ``channels_last`` (default True), ``compile``
    (``torch.compile`` the model, default False; not with the fused kernels), ``stages`` (use
    only the first k stages), ``fold_bn`` (fold batch norm into the convolutions, default True:
    the same numbers, ~10% faster on CPU), ``fused`` (bf16 on the CPU: fused oneDNN kernels,
    :mod:`~faceeval_methods.dan.fused`, default True; int8 always uses them).
    ``calibration``: an int8 calibration record (default: ``<weights>.int8.json``).
    """

    name = "dan"
    version = "1"
    description = "Deep Alignment Network (Kowalski et al., CVPR-W 2017), PyTorch, stage-wise trained."
    batch_size = 256
    extra = "dan"
    #: Frames per forward pass on the fused CPU kernels (see :meth:`predict_frames`); 0: all at once.
    forward_batch = 64
    cli_options = {
        "stages": MethodOption(int, (1, 2, 3), "use only the first k stages"),
        "precision": MethodOption(str, PRECISIONS, "auto: bf16 where the hardware has it; int8: CPU with "
                                  "VNNI/AMX, scales calibrated on training faces"),
        "device": MethodOption(str, help="auto, cpu, cuda, cuda:1, ...", check=_device_problem),
        "channels_last": MethodOption(bool),
        "compile": MethodOption(bool, help="torch.compile the model"),
        "fold_bn": MethodOption(bool, help="fold batch norm into the convolutions"),
        "fused": MethodOption(bool, help="bf16 on the CPU: fused oneDNN conv+ReLU kernels (default true)"),
        "tta": MethodOption(str, TTA, "flip: average with the mirrored face (its own row, not the paper's DAN)"),
    }

    def __init__(self, model: DANModel, weights_path: str | Path | None = None, device: str = "auto",
                 precision: str = "auto", channels_last: bool = True, compile: bool = False,
                 stages: int | None = None, fold_bn: bool = True, fused: bool = True,
                 calibration: dict | None = None, tta: str = "none"):
        if tta not in TTA:
            raise OptionError(f"dan: tta must be one of {', '.join(TTA)}, got {tta!r}")
        self.tta = tta
        self.caveat = ""            # set by load() from the weights' dan.json
        if precision not in PRECISIONS:
            raise OptionError(f"dan: precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if stages is not None and not (isinstance(stages, int) and 1 <= stages <= model.cfg.stages):
            raise OptionError(f"dan: stages must be 1..{model.cfg.stages} for these weights, got {stages!r}")
        self.device = resolve_device(device)
        self.weights_path = None if weights_path is None else Path(weights_path)
        self._hash = file_hash(weights_path) if weights_path is not None else "unsaved"
        self.precision = self._resolve_precision(precision)
        self.bf16 = self.precision == "bf16"
        self.calibration = None
        if self.precision == "int8":
            self.calibration = calibration or self._stored_calibration(model.cfg.stages)
        # bf16 and int8 on the CPU: the stages on fused oneDNN kernels (batch norm folded first)
        self.fused = self.device.type == "cpu" and (self.precision == "int8" or (self.bf16 and fused and not compile))
        if self.fused and self.bf16 and not cpu_has_fused_bf16():
            warnings.warn("dan: -O precision=bf16 runs without the fused kernels: this CPU has no AVX512-BW/VL/DQ, "
                          "AVX-NE-CONVERT or AMX for oneDNN's bf16 convolutions, so bf16 is emulated and slower "
                          "than fp32 (precision=auto picks fp32 here)", MethodWarning, stacklevel=2)
            self.fused = False
        self.model = (fold_batchnorm(model) if fold_bn or self.fused else model).to(self.device).eval()
        if self.fused:
            from .fused import fuse_stages

            scales = self.calibration["stages"] if self.calibration is not None else None
            self.model = fuse_stages(self.model, self.precision, scales)
        elif channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.channels_last = channels_last
        self.stages = stages or model.cfg.stages
        self._forward = torch.compile(self.model, dynamic=True) if compile and not self.fused else self.model
        self._frame_shape = self.model.mean_shape.double().cpu().numpy()
        self._seconds = {"crop": 0.0, "model": 0.0}

    def _resolve_precision(self, precision: str) -> str:
        """``fp32``, ``bf16`` or ``int8`` as this device runs them: ``auto`` resolved; ``int8`` where the
        device cannot run it fast falls back to ``auto`` with a :class:`~faceeval.methods.MethodWarning`."""
        if precision == "int8":
            if self.device.type == "cpu" and cpu_has_int8():
                return "int8"
            fallback = "bf16" if use_bf16("auto", self.device) else "fp32"
            why = (f"this CPU has none of {', '.join(INT8_FLAGS)}" if self.device.type == "cpu"
                   else f"int8 kernels are CPU-only (device {self.device})")
            warnings.warn(f"dan: -O precision=int8 runs as {fallback}: {why}, and int8 without them would be "
                          f"slower than {fallback}", MethodWarning, stacklevel=3)
            return fallback
        return "bf16" if use_bf16(precision, self.device) else "fp32"

    def _stored_calibration(self, stages: int) -> dict:
        from .calibration import load_calibration

        if self.weights_path is None:
            raise OptionError("dan: -O precision=int8 needs weights saved to a file (their calibration is "
                              "stored beside them) or a calibration= record")
        return load_calibration(self.weights_path, self._hash, stages)

    @classmethod
    def load(cls, weights: str | Path | None = None, **options) -> "DAN":
        tensors, config = weights_paths(weights)
        if not tensors.is_file() or not config.is_file():
            where = f"at {weights}" if weights is not None else f"in {default_weights_dir()}"
            raise MissingWeightsError(
                f"no DAN weights {where} (looked for {tensors.name} and {config.name}). Train them with\n"
                f"    faceeval train dan --data-root {DATA_ROOT_PLACEHOLDER} --stages 2"
                + (f" --output {tensors.parent}" if weights is not None else "")
                + "\nor pass --weights PATH to a trained dan.safetensors.")
        dan = cls(load_weights(tensors), weights_path=tensors, **options)
        dan.caveat = weights_caveat(_read_json(config))
        return dan

    @classmethod
    def default_caveat(cls) -> str:
        """The caveat of the weights ``faceeval run dan`` uses by default ("" if there are none)."""
        tensors, config = weights_paths(None)
        return weights_caveat(_read_json(config)) if config.is_file() else ""

    @property
    def weights_hash(self) -> str:
        """The weights file's hash (the stages used and the precision are :meth:`options`)."""
        return self._hash

    def options(self) -> dict:
        """The stages used and the arithmetic (``fp32``, ``bf16`` or ``int8``, resolved from ``auto`` or a
        fallback) and for int8 a digest of the calibrated scales: all change the predictions, so all are
        part of a run's key."""
        opts = {"stages": self.stages, "precision": self.precision}
        if self.calibration is not None:
            from .calibration import record_hash

            opts["calibration"] = record_hash(self.calibration)
        if self.tta != "none":          # absent for the paper's single pass: earlier run keys stay valid
            opts["tta"] = self.tta
        return opts

    def provenance(self) -> dict:
        shipped = self.weights_path is not None and self.weights_path.resolve().parent == _weights.PRETRAINED_DIR
        # the shipped weights need no --weights to be found again: tables' rerun commands omit it
        return {**super().provenance(), "stages": self.stages, "trained_stages": self.model.cfg.stages,
                "weights": None if self.weights_path is None or shipped else str(self.weights_path),
                "weights_source": "shipped default" if shipped else "given",
                "precision": self.precision, "fused_kernels": self.fused, "tta": self.tta,
                **({"int8_calibration": {k: self.calibration.get(k) for k in ("faces", "faces_from", "ranges")}}
                   if self.calibration is not None else {}),
                **({"caveat": self.caveat} if self.caveat else {})}

    @classmethod
    def published_names(cls, options: dict) -> tuple[str, ...]:
        """The paper's rows for this number of stages: its main results (Tables 2-4) are 2 stages.
        Test-time augmentation (``tta``) is not the paper's single pass: no published row."""
        if options.get("tta", "none") != "none":
            return ()
        stages = options.get("stages")
        if stages == 2:
            return ("DAN", "DAN 2 stages")
        return (f"DAN {stages} stage{'s' if stages != 1 else ''}",) if stages else ()

    @torch.inference_mode()
    def predict_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """Shapes ``(N, 68, 2)`` in frame pixels for frames ``(N, 1, S, S)`` (0..255); with ``tta="flip"``
        the mean of the frames' and their mirrors' predictions (mirrored back, landmarks re-labelled)."""
        if self.tta == "flip":
            frames = frames.to(self.device)
            both = self._single_pass(torch.cat([frames, frames.flip(-1)]))
            n = frames.shape[0]
            mirrored = both[n:, torch.as_tensor(np.array(MIRROR_PERMUTATION), device=both.device)].clone()
            mirrored[..., 0] = (frames.shape[-1] - 1) - mirrored[..., 0]
            return (both[:n] + mirrored) / 2
        return self._single_pass(frames)

    def _single_pass(self, frames: torch.Tensor) -> torch.Tensor:
        frames = frames.to(self.device)
        if self.channels_last:
            frames = frames.contiguous(memory_format=torch.channels_last)
        # fused CPU kernels: the whole network on 64 frames at a time, so the connection layers' large
        # intermediates (the heatmaps' 68 x 289 points a frame) stay in the caches (~8% faster than 256)
        chunks = frames.split(self.forward_batch) if self.fused and self.forward_batch else [frames]
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            out = [self._forward(chunk, self.stages)[-1].float() for chunk in chunks]
        return out[0] if len(out) == 1 else torch.cat(out)

    def predict(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> np.ndarray:
        m = frame_transforms(box_initialisation(boxes), self._frame_shape)
        shapes = []
        for i in range(0, len(images), self.batch_size):        # bounded memory for any number of images
            t0 = time.perf_counter()
            frames = warp_to_frames(images[i:i + self.batch_size], m[i:i + self.batch_size],
                                    self.model.cfg.image_size, self.device)
            t1 = time.perf_counter()
            shapes.append(self.predict_frames(frames).double().cpu().numpy())
            self._seconds["crop"] += t1 - t0
            self._seconds["model"] += time.perf_counter() - t1
        return G.apply_affine(np.concatenate(shapes), G.invert_affine(m))

    def predict_timings(self) -> dict[str, float]:
        """Seconds in :meth:`predict` so far: ``crop`` (the frames cut from the images) and ``model``."""
        return dict(self._seconds)

    def training_curve(self) -> list[dict]:
        """The validation records of the training that made these weights (``curve.csv`` beside them):
        phase, samples_seen, val_inter_pupil, val_inter_ocular, ... (empty if none was kept)."""
        import csv

        if self.weights_path is None:
            return []
        path = self.weights_path.with_name("curve.csv")
        if not path.is_file():
            return []
        with open(path, newline="") as fh:
            return list(csv.DictReader(fh))

    @torch.inference_mode()
    def internals(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> dict[str, np.ndarray]:
        """What stage 2 sees (the paper's Fig. 3), float32 ``(N, S, S)`` each.

        ``input``: the stage-1 frame (grey, 0..255); ``warped``: that frame normalised by
        T2 (in per-pixel normalised units); ``heatmap``: the landmark heatmap of T2(S1);
        ``feature``: the upscaled feature image from stage 1's fc1.
        """
        if self.model.cfg.stages < 2:
            raise ValueError("internals() needs a model with at least 2 stages")
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        m = frame_transforms(box_initialisation(boxes), self._frame_shape)
        frames = warp_to_frames(list(images), m, self.model.cfg.image_size, self.device)
        image = self.model._image(frames.float())
        delta, fc1 = self.model.stages[0](image)
        x, _, _ = self.model.connections[0](image, self.model.mean_shape + delta.float(), fc1.float(),
                                            self.model.mean_shape)
        x = x.float().cpu().numpy()
        return {"input": frames[:, 0].float().cpu().numpy(), "warped": x[:, 0], "heatmap": x[:, 1],
                "feature": x[:, 2]}

    @classmethod
    def train_command(cls):
        from .train import train_command

        return train_command
