"""Stage-wise DAN training: ``faceeval train dan --data-root DATA/300w --stages 2``.

Stage 1 trains until the validation error stops improving (``patience`` epochs), then
the connection layers + stage 2 are added and trained with stage 1 frozen, and so on;
optionally all stages are fine-tuned end to end afterwards. Adam, lr 1e-3, batch 64.
Validation = held-out training faces, box-initialised: the first ``val_count`` (100, the
released code) or whole photos from every training folder (``val_split="photos"``).

Reproducibility and resuming: every random draw comes from a generator seeded by
``(seed, phase, epoch[, step])``, so a run resumed from a checkpoint (written atomically
each epoch and every ``checkpoint_every`` steps) takes exactly the steps the
uninterrupted run would have. Run under ``torchrun`` for DistributedDataParallel
(gloo on CPU, nccl on GPU): each global batch is split across the processes.
"""
from __future__ import annotations

import csv
import io
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import click
import numpy as np
import torch
import torch.distributed as dist
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from faceeval.plugin import geometry as G
from faceeval.plugin import data_root_option
from faceeval.plugin import OptionError
from faceeval.plugin import DataError, atomic_write, read_json_object, write_json
from faceeval.plugin import point_to_point_error

from .augment import (ROTATION_SIGMA_DEG, SCALE_SIGMA, TRANSLATION_MODES, Canvases, Photometric, box_initialisation,
                      frame_transforms, photometric, sample_perturbations, warp_to_frames)
from .average import WeightAverage
from .config import DANConfig
from .device import cpu_has_bf16, resolve_device, use_bf16  # noqa: F401 - cpu_has_bf16: importable from here too
from .model import DANModel, alignment_loss
from .validation import PHOTOS_VAL_COUNT, VAL_COUNT, VAL_SPLITS, default_val_count, validation_split
from .weights import default_weights_dir, model_tensors, save_tensors, save_weights


class TrainingInterrupted(RuntimeError):
    """Raised by the ``interrupt_after`` test hook, standing in for a killed process."""


@dataclass
class TrainOptions:
    stages: int = 2
    batch_size: int = 64
    lr: float = 1e-3
    max_epochs: int = 100
    patience: int = 5
    finetune_epochs: int = 0
    finetune_lr: float = 1e-4
    perturbations: int = 10
    mirror: bool = True
    augment: str = "fixed"            # "fixed": generated once (released code); "fresh": new every epoch
    val_count: int = 100              # 0: validate on the training images themselves (demo / tests)
    val_split: str = "first"          # first: the first val_count faces; photos: whole photos from every folder
    seed: int = 0
    checkpoint_every: int = 0         # steps; 0: at the end of every epoch only
    checkpoint_minutes: float = 10.0  # also checkpoint when this much wall time passed since the last one
    max_minutes: float = 0.0          # stop (checkpointed, resumable) after this much wall time; 0: no limit
    validate_every: int = 0           # steps between validations within an epoch (learning curve); 0: epoch ends
    stage_minutes: float | None = None  # a phase also ends at the first epoch end after this much wall time in it
                                      # (its frozen-stage cache, steps, validations and checkpoints); 0: off
    compile: bool = False             # torch.compile each stage (pays on GPUs; compiling takes ~a minute)
    init_weights: str | None = None   # start from these weights (e.g. the shipped ones) instead of at random
    start_stage: int = 1              # first stage to train (earlier ones come from init_weights)
    translation: str = "released"     # translation perturbation: original-photo pixels (released) or face size
    rotation: float = ROTATION_SIGMA_DEG  # sigma of the rotation perturbation, degrees (released code: 20)
    scale: float = SCALE_SIGMA        # sigma of the scale perturbation about 1 (released code: 0.25)
    device: str = "auto"
    precision: str = "auto"           # auto | fp32 | bf16
    channels_last: bool = True
    heatmap: str = "square"
    widths: tuple = (64, 128, 256, 512)
    norm_samples: int = 10000
    # photometric and occlusion augmentation (augment.Photometric), each off at 0
    brightness: float = 0.0
    contrast: float = 0.0
    gamma: float = 0.0
    blur: float = 0.0
    noise: float = 0.0
    erase: float = 0.0
    lr_decay: float = 1.0             # multiply the learning rate by this after lr_patience epochs without
    lr_patience: int = 2              # improvement (1.0: a constant learning rate, the released code)
    ema: float | None = None          # validate and keep a moving average of the weights with this decay per
                                      # step (average.WeightAverage); None or 0: off (the released code)
    cache_frozen: bool = True         # with fixed samples: run the frozen stages once per phase, not every step
    progress: bool = True

    def __post_init__(self):
        if self.augment not in ("fixed", "fresh"):
            raise OptionError(f"augment must be 'fixed' or 'fresh', got {self.augment!r}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise OptionError(f"precision must be auto, fp32 or bf16, got {self.precision!r}")
        if self.translation not in TRANSLATION_MODES:
            raise OptionError(f"translation must be one of {TRANSLATION_MODES}, got {self.translation!r}")
        if not 1 <= self.start_stage <= self.stages or (self.start_stage > 1 and not self.init_weights):
            raise OptionError(f"start stage {self.start_stage} needs 1..{self.stages}, and initial weights "
                              "for the stages before it")
        if not (0 <= self.rotation <= 180 and 0 <= self.scale <= 1):
            raise OptionError(f"--rotation must be in [0, 180] degrees and --scale in [0, 1], got {self.rotation:g} "
                              f"and {self.scale:g}")
        if self.batch_size < 2 or self.perturbations < 1:
            raise OptionError(f"--batch-size must be >= 2 (batch norm) and --perturbations >= 1, got "
                              f"{self.batch_size} and {self.perturbations}")
        if self.val_split not in VAL_SPLITS:
            raise OptionError(f"val_split must be one of {VAL_SPLITS}, got {self.val_split!r}")
        if not 0 < self.lr_decay <= 1 or self.lr_patience < 1:
            raise OptionError(f"--lr-decay must be in (0, 1] and --lr-patience >= 1, got {self.lr_decay:g} "
                              f"and {self.lr_patience}")
        if self.ema is not None and not 0 <= self.ema < 1:
            raise OptionError(f"--ema must be in [0, 1) (0: off), got {self.ema:g}")
        self.photometric_spec()       # checks the ranges
        self.widths = tuple(int(w) for w in self.widths)    # a checkpoint's JSON gives a list

    def photometric_spec(self) -> Photometric:
        """The photometric and occlusion augmentation these options ask for."""
        try:
            return Photometric(self.brightness, self.contrast, self.gamma, self.blur, self.noise, self.erase)
        except ValueError as e:
            raise OptionError(f"photometric augmentation: {e}") from None

    @property
    def frozen_outputs_fixed(self) -> bool:
        """Whether the frozen stages see the same frames every epoch (then they can be cached)."""
        return self.augment == "fixed" and not self.photometric_spec().active


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def _generator(*parts: int) -> torch.Generator:
    return torch.Generator().manual_seed(_seed(*parts))


# --- data -----------------------------------------------------------------------------------

class _LazyImages:
    """Images of samples, loaded when sliced (chunks of canvases are built one at a time)."""

    def __init__(self, samples):
        self.samples = samples

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, item):
        if isinstance(item, slice):
            return _LazyImages(self.samples[item])
        return self.samples[item].load_image()

    def __iter__(self):
        return (s.load_image() for s in self.samples)


@dataclass
class TrainData:
    canvases: Canvases
    val_frames: torch.Tensor      # (V, 1, S, S) float32
    val_gt: torch.Tensor          # (V, 68, 2) frame pixels
    n_train_images: int
    val_ids: list | None = None   # the validation faces' ids (recorded with the weights)


def prepare_data(images: Sequence[np.ndarray], ground_truth: np.ndarray, boxes: np.ndarray,
                 opts: TrainOptions, model: DANModel, device: torch.device,
                 photo_scales: np.ndarray | None = None, ids: Sequence[str] | None = None) -> TrainData:
    """Canvases of the training faces (on ``device``) and box-initialised validation frames.

    ``photo_scales`` (image pixels per original-photo pixel, 1 where None) sizes the
    released code's translation perturbation, which is drawn in original-photo pixels.
    ``ids`` (the faces' dataset ids) let ``--val-split photos`` keep whole photos together."""
    n = len(images)
    gt = np.asarray(ground_truth, dtype=np.float64)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    ids = [str(i) for i in range(n)] if ids is None else list(ids)
    if opts.val_count > 0:
        if n <= opts.val_count:
            raise OptionError(f"{n} training images: need more than --val-count {opts.val_count} "
                              "(or --val-count 0 to validate on the training images)")
        val = validation_split(ids, opts.val_count, opts.val_split)
        train = np.setdiff1d(np.arange(n), val)
    else:
        val = train = np.arange(n)
    frame_shape = model.mean_shape.double().cpu().numpy()
    size = model.cfg.image_size
    scales = None if photo_scales is None else np.asarray(photo_scales, dtype=np.float64)[train]
    canvases = Canvases(_take(images, train), gt[train], frame_shape, size, device, translation=opts.translation,
                        photo_scales=scales)
    vm = frame_transforms(box_initialisation(boxes[val]), frame_shape)
    val_images = _take(images, val)
    val_frames = torch.cat([warp_to_frames(val_images[i:i + 256], vm[i:i + 256], size)
                            for i in range(0, len(vm), 256)]).to(device)
    val_gt = torch.as_tensor(G.apply_affine(gt[val], vm), dtype=torch.float32, device=device)
    return TrainData(canvases, val_frames, val_gt, len(canvases), [ids[i] for i in val])


def _take(images, index: np.ndarray):
    """``images[index]`` for a list, an array or :class:`_LazyImages` (a contiguous run stays a slice)."""
    index = np.asarray(index, dtype=int)
    if len(index) and np.array_equal(index, np.arange(index[0], index[0] + len(index))):
        return images[int(index[0]):int(index[0]) + len(index)]
    if isinstance(images, _LazyImages):
        return _LazyImages([images.samples[i] for i in index])
    if isinstance(images, np.ndarray):
        return images[index]
    return [images[i] for i in index]


def sample_set(opts: TrainOptions, n_faces: int, phase: int, epoch: int,
               frame_shape: np.ndarray) -> tuple[torch.Tensor, ...]:
    """(face index, mirror flag, perturbation) of the samples of an epoch, in canonical order.

    ``augment="fixed"``: the same samples every epoch (the released code generated them once);
    ``"fresh"``: new perturbations each epoch.
    """
    reps = opts.perturbations * (2 if opts.mirror else 1)
    face = torch.arange(n_faces).repeat_interleave(reps)
    mirror = (torch.arange(reps) >= opts.perturbations).repeat(n_faces) if opts.mirror \
        else torch.zeros(len(face), dtype=torch.bool)
    pert_gen = _generator(opts.seed, 0) if opts.augment == "fixed" else _generator(opts.seed, 1, phase, epoch)
    return face, mirror, sample_perturbations(len(face), pert_gen, frame_shape, rotation_deg=opts.rotation,
                                              scale=opts.scale)


def epoch_plan(opts: TrainOptions, n_faces: int, phase: int, epoch: int,
               frame_shape: np.ndarray) -> tuple[torch.Tensor, ...]:
    """The samples of :func:`sample_set` shuffled for the epoch, plus their canonical indices."""
    face, mirror, perturb = sample_set(opts, n_faces, phase, epoch, frame_shape)
    order = torch.randperm(len(face), generator=_generator(opts.seed, 2, phase, epoch))
    return face[order], mirror[order], perturb[order], order


@torch.no_grad()
def frozen_cache(model: DANModel, data: TrainData, opts: TrainOptions, phase: int, k: int, bf16: bool,
                 chunk: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """``(shape, fc1)`` of the first ``k`` (frozen) stages for every fixed sample, canonical order."""
    face, mirror, perturb = sample_set(opts, len(data.canvases), phase, 0, data.canvases.frame_shape)
    was = model.training
    model.eval()
    shapes, fc1s = [], []
    for i in range(0, len(face), chunk):
        frames, _ = data.canvases.batch(face[i:i + chunk], mirror[i:i + chunk], perturb[i:i + chunk])
        with torch.autocast(frames.device.type, dtype=torch.bfloat16, enabled=bf16):
            s, f = model.frozen_outputs(frames, k)
        shapes.append(s.float())
        fc1s.append(f.float())
    model.train(was)
    return torch.cat(shapes), torch.cat(fc1s)


def normalisation_stats(data: TrainData, opts: TrainOptions, chunk: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel mean and std (clamped >= 1 grey level) over up to ``norm_samples`` training frames."""
    face, mirror, perturb, _ = epoch_plan(opts, len(data.canvases), 0, 0, data.canvases.frame_shape)
    n = min(len(face), opts.norm_samples)
    s1 = s2 = 0.0
    for i in range(0, n, chunk):
        frames, _ = data.canvases.batch(face[i:i + chunk], mirror[i:i + chunk], perturb[i:i + chunk])
        f = frames.double()
        s1 = s1 + f.sum(0)
        s2 = s2 + (f * f).sum(0)
    mean = s1 / n
    std = (s2 / n - mean * mean).clamp(min=0).sqrt().clamp(min=1.0)
    return mean.float(), std.float()


# --- distributed ----------------------------------------------------------------------------

def _dist_info() -> tuple[int, int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0))
    return 0, 1, 0


def init_distributed(device: str) -> bool:
    """Join the process group when launched by ``torchrun`` (``WORLD_SIZE > 1``)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return False
    use_cuda = resolve_device(device).type == "cuda"
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    else:
        local = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))
    return True


# --- checkpoints ----------------------------------------------------------------------------

CHECKPOINT = "checkpoint"
BEST = "best"
AVERAGE = "average"          # the weight average's tensors in the checkpoint: average.<state-dict name>
STATE_KEY = "faceeval_training_state"    # the checkpoint's counters (JSON) in its safetensors header


def _save_checkpoint(out: Path, model: DANModel, opt: torch.optim.Optimizer | None, state: dict,
                     average: WeightAverage | None = None) -> None:
    """Model, optimizer and weight-average tensors as safetensors, counters as JSON (``opt=None``: a
    phase boundary, where neither the optimizer nor the average carries over)."""
    tensors = {f"model.{k}": v for k, v in model_tensors(model).items()}
    if opt is not None and average is not None:
        tensors.update({f"{AVERAGE}.{k}": v for k, v in average.tensors().items()})
    groups = None
    if opt is not None:
        osd = opt.state_dict()
        for i, st in osd["state"].items():
            for k, v in st.items():
                tensors[f"opt.{i}.{k}"] = v if torch.is_tensor(v) else torch.tensor(v)
        groups = osd["param_groups"]
    record = state | {"param_groups": groups}
    # the counters ride in the tensors' header too: the two files are written one after the other,
    # and a run stopped between the writes must resume from the counters of the tensors it has
    save_tensors(out / f"{CHECKPOINT}.safetensors", tensors, metadata={STATE_KEY: json.dumps(record)})
    write_json(out / f"{CHECKPOINT}.json", record)


def _read_checkpoint(out: Path, log) -> tuple[dict, dict]:
    """The counters and the tensors of the checkpoint in ``out``. A damaged or missing file is a
    :class:`DataError` naming it; where ``checkpoint.json`` is older than the tensors (the run was
    stopped between the two writes) the counters stored with the tensors win, and ``log`` says so."""
    state = read_json_object(out / f"{CHECKPOINT}.json", "a training checkpoint's counters")
    path = out / f"{CHECKPOINT}.safetensors"
    try:
        with safe_open(str(path), "pt") as fh:
            header = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except (OSError, SafetensorError) as exc:
        best = out / f"{BEST}.safetensors"
        hint = f" (with --init-weights {best} to keep its best weights)" if best.is_file() else ""
        raise DataError(f"{path}: cannot read a training checkpoint's tensors ({exc}); the run cannot resume "
                        f"from it: start again with another --out{hint}") from None
    if STATE_KEY in header:                 # checkpoints written before 2026-12-03 have only the JSON
        stored = json.loads(header[STATE_KEY])
        if stored.get("global_step") != state.get("global_step"):
            log(f"note: {out / CHECKPOINT}.json (global step {state.get('global_step')}) does not match its "
                f"tensors (global step {stored.get('global_step')}): the run was stopped between the two writes; "
                "resuming from the tensors' step")
            state = stored
    return state, tensors


def _load_checkpoint(out: Path, model: DANModel, log) -> tuple[dict, dict | None, dict | None]:
    """The counters, the optimizer's state and the weight average's tensors (None where there is
    none) of the checkpoint in ``out``; its weights are loaded into ``model``."""
    state, tensors = _read_checkpoint(out, log)
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, strict=True)
    prefix = f"{AVERAGE}."
    average = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)} or None
    opt_state: dict = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, i, name = k.split(".", 2)
            opt_state.setdefault(int(i), {})[name] = v
    groups = state.pop("param_groups", None)
    return state, (None if groups is None else {"state": opt_state, "param_groups": groups}), average


LOG_FIELDS = ("phase", "epoch", "global_step", "train_loss", "val_inter_pupil", "val_inter_ocular", "best_val",
              "lr", "img_per_s")
CURVE_FIELDS = ("phase", "epoch", "global_step", "samples_seen", "minutes", "val_inter_pupil", "val_inter_ocular")


def training_record(state: dict) -> dict:
    """What a weights file's JSON says of the run that made it, from the run's training state
    (``checkpoint.json``): options, held-out validation ids, history, minutes, samples."""
    record = {"history": state.get("history", []), "options": state.get("options"),
              "validation_ids": state.get("validation_ids"), "world_size": state.get("world_size", 1),
              "minutes": round(state.get("seconds", 0.0) / 60, 1),
              "samples_seen": state.get("global_step", 0) * (state.get("options") or {}).get("batch_size", 64)}
    if state.get("average_starts"):     # --ema: where each phase's weight average began
        record["average_starts"] = state["average_starts"]
    return record


def _write_csv(path: Path, fields: Sequence[str], rows: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    w.writerows(rows)
    with atomic_write(path) as fh:
        fh.write(buf.getvalue())


def _write_log(out: Path, state: dict) -> None:
    """``log.csv`` (one row per epoch) and ``curve.csv`` (every validation: the learning curve),
    rewritten atomically from the checkpointed state."""
    _write_csv(out / "log.csv", LOG_FIELDS, state["history"])
    _write_csv(out / "curve.csv", CURVE_FIELDS, state.get("curve", []))


# --- the loop -------------------------------------------------------------------------------

def _load_initial_weights(model: DANModel, path: str) -> None:
    """Copy trained weights (any stored precision, e.g. the shipped int8 ones) into ``model``,
    normalisation statistics included; the architectures must match."""
    from .weights import load_weights

    init = load_weights(path)
    if init.cfg.to_dict() != model.cfg.to_dict():
        diff = {k: (v, model.cfg.to_dict()[k]) for k, v in init.cfg.to_dict().items() if model.cfg.to_dict()[k] != v}
        raise OptionError(f"{path}: its model differs from the one to train (setting: (its, asked)): {diff}")
    model.load_state_dict(init.state_dict())


def _phases(opts: TrainOptions) -> list[dict]:
    ph = [{"name": f"stage{t}", "stage": t, "n_stages": t, "frozen": t - 1, "lr": opts.lr,
           "max_epochs": opts.max_epochs} for t in range(1, opts.stages + 1)]
    if opts.finetune_epochs > 0:
        ph.append({"name": "finetune", "stage": 0, "n_stages": opts.stages, "frozen": 0,
                   "lr": opts.finetune_lr, "max_epochs": opts.finetune_epochs})
    return ph


@torch.inference_mode()
def validate(model: DANModel, frames: torch.Tensor, gt: torch.Tensor, n_stages: int, bf16: bool,
             batch: int = 256) -> tuple[float, float]:
    """Mean (inter-pupil, inter-ocular) error of the box-initialised validation frames."""
    was = model.training
    model.eval()
    preds = []
    for i in range(0, frames.shape[0], batch):
        with torch.autocast(frames.device.type, dtype=torch.bfloat16, enabled=bf16):
            preds.append(model(frames[i:i + batch], n_stages)[-1].float())
    model.train(was)
    p = torch.cat(preds).double().cpu().numpy()
    g = gt.double().cpu().numpy()
    return (float(point_to_point_error(p, g, "inter-pupil").mean()),
            float(point_to_point_error(p, g, "inter-ocular").mean()))


def _set_trainable(model: DANModel, phase: dict) -> list[torch.nn.Parameter]:
    for p in model.parameters():
        p.requires_grad_(False)
    params = list(model.parameters()) if phase["stage"] == 0 else model.stage_parameters(phase["stage"])
    for p in params:
        p.requires_grad_(True)
    return params


def _set_modes(model: DANModel, phase: dict) -> None:
    model.train()
    for t in range(phase["frozen"]):
        model.stages[t].eval()


def train(images: Sequence[np.ndarray], ground_truth: np.ndarray, boxes: np.ndarray, out: str | os.PathLike,
          opts: TrainOptions | None = None, resume: bool = False, interrupt_after: int | None = None,
          log=print, photo_scales: np.ndarray | None = None, ids: Sequence[str] | None = None) -> Path:
    """Train DAN on in-memory (or lazily loaded) ``images``; returns the output directory.

    ``out`` receives ``checkpoint.{safetensors,json}`` (every epoch), ``best.*`` (best
    validation so far), ``log.csv`` and, when done, the weights ``dan.{safetensors,json}``.
    ``interrupt_after`` (tests) raises :class:`TrainingInterrupted` after that many
    optimizer steps of this call, as if the process had been killed.
    """
    def make_data(opts: TrainOptions, model: DANModel, device: torch.device) -> TrainData:
        return prepare_data(images, ground_truth, boxes, opts, model, device, photo_scales, ids)

    return train_with(make_data, out, opts, resume, interrupt_after, log)


def train_with(make_data, out: str | os.PathLike, opts: TrainOptions | None = None, resume: bool = False,
               interrupt_after: int | None = None, log=print, on_best=None) -> Path:
    """The training loop of :func:`train`, for data prepared any way (e.g. a GPU machine's pack).

    ``make_data(opts, model, device) -> TrainData`` is called once the options (a resumed
    run's own) and the model are known. ``on_best(path)`` is called after each new best
    weights file is written (e.g. to export it while a run may still be cut off).
    """
    opts = opts or TrainOptions()
    out = Path(out)
    ckpt = out / f"{CHECKPOINT}.json"
    if ckpt.exists() and not resume:
        raise OptionError(f"{out} already holds a training checkpoint: pass --resume to continue it, "
                          "or choose another --out")
    resuming = resume and ckpt.exists()
    if resuming:
        saved_state = read_json_object(ckpt, "a training checkpoint's counters")
        if saved_state.get("done"):
            log(f"training in {out} is already complete")
            return out
        opts = _resumed_options(opts, saved_state["options"])
    rank, world, device, bf16 = _placement(opts)
    model = _new_model(opts, device)
    data = make_data(opts, model, device)
    phases = _phases(opts)
    state, opt_sd, average = (_resumed_state(out, model, opts, phases, world, log) if resuming
                              else _fresh_state(model, data, opts, world, device, log))
    if resuming:                  # a new stage budget or average holds from here on, and for later resumes
        state["options"].update(stage_minutes=opts.stage_minutes, ema=opts.ema)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    loop = _TrainingLoop(opts, out, model, data, state, rank, world, device, bf16, log, on_best, interrupt_after,
                         average)
    if loop.run(phases, opt_sd):
        loop.finish()
    return out


def _resumed_options(opts: TrainOptions, saved: dict) -> TrainOptions:
    """A resumed run keeps the options it was started with; only where and how it runs may change,
    and the per-stage time budget and the weight average's decay where one is given (None: the run's own)."""
    keep = ("device", "precision", "progress", "checkpoint_every", "checkpoint_minutes", "max_minutes",
            "validate_every", "compile") + tuple(k for k in ("stage_minutes", "ema") if getattr(opts, k) is not None)
    return TrainOptions(**{**saved, **{k: getattr(opts, k) for k in keep}})


def _placement(opts: TrainOptions) -> tuple[int, int, torch.device, bool]:
    """(rank, world size, device, bf16) of this process; the global batch must split evenly."""
    rank, world, local_rank = _dist_info()
    device = resolve_device(opts.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", local_rank)
    bf16 = use_bf16(opts.precision, device)
    if opts.batch_size % world:
        raise OptionError(f"--batch-size {opts.batch_size} is not divisible by {world} processes")
    return rank, world, device, bf16


def _new_model(opts: TrainOptions, device: torch.device) -> DANModel:
    """The model to train, initialised from the run's seed (the same on every process)."""
    torch.manual_seed(_seed(opts.seed, 3))
    cfg = DANConfig(stages=opts.stages, heatmap=opts.heatmap, widths=opts.widths)
    model = DANModel(cfg).to(device)
    if opts.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if opts.compile:
        for stage in model.stages:          # in place: parameter names (and weights files) stay the same
            stage.compile()
    return model


def _resumed_state(out: Path, model: DANModel, opts: TrainOptions, phases: list[dict], world: int,
                   log) -> tuple[dict, dict | None, dict | None]:
    """The checkpoint's counters, optimizer state and weight average; its weights are loaded into ``model``."""
    state, opt_sd, average = _load_checkpoint(out, model, log)
    if state.get("options", {}).get("seed") != opts.seed or state.get("world_size") != world:
        log(f"note: resuming with seed/world size {opts.seed}/{world}; checkpoint has "
            f"{state.get('options', {}).get('seed')}/{state.get('world_size')}")
    log(f"resuming {phases[state['phase']]['name']} epoch {state['epoch'] + 1} step {state['step']} "
        f"(global step {state['global_step']}) of a {opts.stages}-stage run")
    return state, opt_sd, average


def _fresh_state(model: DANModel, data: TrainData, opts: TrainOptions, world: int, device: torch.device,
                 log) -> tuple[dict, None, None]:
    """Counters of a new run; ``model`` gets the initial weights, or the training frames' statistics."""
    if opts.init_weights:
        _load_initial_weights(model, opts.init_weights)
        log(f"starting from the weights {opts.init_weights} at stage {opts.start_stage}")
    else:
        mean, std = normalisation_stats(data, opts)
        model.norm_mean.copy_(mean.to(device))
        model.norm_std.copy_(std.to(device))
    state = {"phase": opts.start_stage - 1, "epoch": 0, "step": 0, "global_step": 0, "best": None, "bad_epochs": 0,
             "loss_sum": 0.0, "loss_count": 0, "history": [], "done": False,
             "options": asdict(opts) | {"widths": list(opts.widths)}, "world_size": world,
             "validation_ids": data.val_ids}
    return state, None, None


@dataclass
class _Phase:
    """A phase being trained: its settings (:func:`_phases`), optimizer, the model as trained
    (DDP-wrapped with several processes) and the frozen stages' outputs (None: run them)."""

    spec: dict
    opt: torch.optim.Optimizer
    net: torch.nn.Module
    cache: tuple[torch.Tensor, torch.Tensor] | None


#: How an epoch ended: the phase goes on, the next phase starts, or the time budget is spent.
_NEXT_EPOCH, _NEXT_PHASE, _OUT_OF_TIME = "next epoch", "next phase", "out of time"


def _duration(seconds: float) -> str:
    """A rough duration for a log line.

    >>> _duration(40), _duration(600), _duration(3 * 3600 + 35 * 60)
    ('1 min', '10 min', '3 h 35 min')
    """
    minutes = max(1, round(seconds / 60))
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


class _TrainingLoop:
    """Phases, epochs and steps of one training session over the checkpointed ``state``.

    ``state`` holds every counter a resumed session needs (phase, epoch, step, best validation,
    history, learning curve, seconds trained); it is written with each checkpoint.
    """

    def __init__(self, opts: TrainOptions, out: Path, model: DANModel, data: TrainData, state: dict, rank: int,
                 world: int, device: torch.device, bf16: bool, log, on_best, interrupt_after: int | None,
                 saved_average: dict | None = None):
        self.opts, self.out, self.model, self.data, self.state = opts, out, model, data, state
        self.saved_average = saved_average      # a resumed checkpoint's weight average (start_average takes it)
        self.average: WeightAverage | None = None
        self.averaged_model: DANModel | None = None
        self.rank, self.world, self.device, self.bf16 = rank, world, device, bf16
        self.log, self.on_best, self.interrupt_after = log, on_best, interrupt_after
        self.local_batch = opts.batch_size // world
        self.best_path = out / f"{BEST}.safetensors"
        self.photometric: Photometric = opts.photometric_spec()
        self.steps_taken = 0
        total = len(data.canvases) * opts.perturbations * (2 if opts.mirror else 1)
        self.steps_per_epoch = max(1, total // opts.batch_size)
        state.setdefault("curve", [])
        state.setdefault("seconds", 0.0)
        self.clock = {"start": time.perf_counter(), "base": state["seconds"], "checkpoint": time.perf_counter()}
        self.steps_at_checkpoint = 0      # steps_taken when the last checkpoint was written (the speed since)

    def elapsed(self) -> float:
        """Wall seconds of training so far, over every resumed session."""
        return self.clock["base"] + time.perf_counter() - self.clock["start"]

    def out_of_time(self) -> bool:
        return self.opts.max_minutes > 0 and self.elapsed() >= self.opts.max_minutes * 60

    def checkpoint(self, opt: torch.optim.Optimizer | None) -> None:
        """Write the checkpoint and the logs (``opt=None``: at a phase boundary)."""
        self.state["seconds"] = self.elapsed()
        self.clock["checkpoint"] = time.perf_counter()
        self.steps_at_checkpoint = self.steps_taken
        if self.average is not None:
            self.state["average_updates"] = self.average.updates
        if self.rank == 0:
            _save_checkpoint(self.out, self.model, opt, self.state, self.average)
            _write_log(self.out, self.state)

    def run(self, phases: list[dict], opt_sd: dict | None) -> bool:
        """Train from the state's phase, epoch and step to the end; False if stopped out of time."""
        state = self.state
        while state["phase"] < len(phases):
            if state["epoch"] >= phases[state["phase"]]["max_epochs"]:
                self.next_phase(trained=False)  # a phase given no epochs (--max-epochs 0: only the fine-tuning)
                continue
            phase = self.start_phase(phases[state["phase"]], opt_sd)
            opt_sd = None
            while state["epoch"] < phase.spec["max_epochs"]:
                end = self.run_epoch(phase)
                if end == _OUT_OF_TIME:
                    return False
                if end == _NEXT_PHASE:
                    break
        return True

    def start_phase(self, spec: dict, opt_sd: dict | None) -> _Phase:
        """The phase's trainable stages and optimizer (with a resumed one's state), and, with fixed
        samples, the frozen stages' outputs computed once."""
        params = _set_trainable(self.model, spec)
        opt = torch.optim.Adam(params, lr=spec["lr"])
        if opt_sd is not None:
            opt.load_state_dict(opt_sd)
        net = self.model
        if self.world > 1:
            net = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        if self.state.get("phase_started") is None:
            self.state["phase_started"] = self.elapsed()
        self.average = self.start_average(spec)
        cache = None
        if self.opts.cache_frozen and self.opts.frozen_outputs_fixed and spec["stage"] > 1:
            t0 = time.perf_counter()
            cache = frozen_cache(self.model, self.data, self.opts, self.state["phase"], spec["frozen"], self.bf16)
            if self.rank == 0:
                self.log(f"{spec['name']}: cached the frozen stages' outputs for {len(cache[0])} samples "
                         f"in {time.perf_counter() - t0:.0f} s")
        return _Phase(spec, opt, net, cache)

    def start_average(self, spec: dict) -> WeightAverage | None:
        """The phase's weight average (--ema; None: off): the checkpoint's when resuming within the
        phase it was kept for with the same decay, else a new one from the weights as they are now
        (recorded)."""
        opts, state = self.opts, self.state
        saved, self.saved_average = self.saved_average, None
        if not opts.ema:
            return None
        last = (state.get("average_starts") or [{}])[-1]
        if saved is not None and (last.get("phase"), last.get("decay")) == (spec["name"], opts.ema):
            return WeightAverage(self.model, opts.ema, saved, state.get("average_updates", 0))
        state.setdefault("average_starts", []).append({"phase": spec["name"], "global_step": state["global_step"],
                                                       "decay": opts.ema})
        return WeightAverage(self.model, opts.ema)

    def validated_model(self) -> DANModel:
        """The weights that validation judges and the best file keeps: the model, or with --ema its
        weight average loaded into a second (uncompiled) model (every tensor of it: floating ones averaged,
        counters live)."""
        if self.average is None:
            return self.model
        if self.averaged_model is None:
            with torch.random.fork_rng(devices=[]):        # the training's random streams stay as they were
                model = DANModel(self.model.cfg).to(self.device)
            self.averaged_model = model.to(memory_format=torch.channels_last) if self.opts.channels_last else model
        return self.average.copy_to(self.averaged_model)

    def run_epoch(self, phase: _Phase) -> str:
        """The rest of the state's epoch: its steps, then the epoch-end bookkeeping. Returns how it ended."""
        opts, state = self.opts, self.state
        _set_modes(self.model, phase.spec)
        plan = epoch_plan(opts, len(self.data.canvases), state["phase"], state["epoch"], self.data.canvases.frame_shape)
        t0 = time.perf_counter()
        bar = None
        if opts.progress and self.rank == 0:
            from tqdm import tqdm
            bar = tqdm(total=self.steps_per_epoch, initial=state["step"], leave=False, dynamic_ncols=True,
                       desc=f"{phase.spec['name']} epoch {state['epoch'] + 1}")
        start_step = state["step"]
        while state["step"] < self.steps_per_epoch:
            lv = self.train_step(phase, plan)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{lv:.4f}", val=f"{state['best'] or float('nan'):.4f}")
            if self.interrupt_after is not None and self.steps_taken >= self.interrupt_after:
                raise TrainingInterrupted(f"interrupted after {self.steps_taken} steps")
            if state["step"] >= self.steps_per_epoch:
                break                       # the epoch-end validation and checkpoint follow
            if self.between_steps(phase):
                if bar is not None:
                    bar.close()
                self.log(f"stopped after {self.elapsed() / 60:.1f} min of training (--max-minutes "
                         f"{opts.max_minutes:g}) at {phase.spec['name']} epoch {state['epoch'] + 1} step "
                         f"{state['step']}; best so far: {self.best_path}; continue with --resume")
                if self.world > 1:
                    dist.barrier()
                return _OUT_OF_TIME
        if bar is not None:
            bar.close()
        return self.end_epoch(phase, state["step"] - start_step, time.perf_counter() - t0)

    def train_step(self, phase: _Phase, plan: tuple[torch.Tensor, ...]) -> float:
        """One optimizer step on this process's share of the state's step of ``plan``
        (:func:`epoch_plan`); returns the loss, averaged over the processes."""
        opts, state = self.opts, self.state
        face, mirror, perturb, sample_id = plan
        s = state["step"]
        g = slice(s * opts.batch_size, (s + 1) * opts.batch_size)
        sel = slice(self.rank * self.local_batch, (self.rank + 1) * self.local_batch)
        idx, mir, per = face[g][sel], mirror[g][sel], perturb[g][sel]
        torch.manual_seed(_seed(opts.seed, 4, state["phase"], state["epoch"], s))
        with torch.no_grad():
            frames, gt = self.data.canvases.batch(idx, mir, per)
            frames = photometric(frames, self.photometric, _generator(opts.seed, 5, state["phase"], state["epoch"], s))
        if opts.channels_last:
            frames = frames.contiguous(memory_format=torch.channels_last)
        start = None
        if phase.cache is not None:
            sid = sample_id[g][sel].to(self.device)
            start = (phase.cache[0][sid], phase.cache[1][sid])
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            shapes = phase.net(frames, phase.spec["n_stages"], phase.spec["frozen"], start)
        loss = alignment_loss(shapes[-1], gt)
        phase.opt.zero_grad(set_to_none=True)
        loss.backward()
        phase.opt.step()
        if self.average is not None:
            self.average.update()
        lv = float(loss.detach())
        if self.world > 1:
            t = torch.tensor([lv], device=self.device)
            dist.all_reduce(t)
            lv = float(t) / self.world
        state["loss_sum"] += lv
        state["loss_count"] += 1
        state["step"] += 1
        state["global_step"] += 1
        self.steps_taken += 1
        return lv

    def between_steps(self, phase: _Phase) -> bool:
        """Within an epoch: validate and checkpoint when due. True when the time budget is spent
        (then a checkpoint was just written)."""
        opts, state = self.opts, self.state
        if opts.validate_every and state["step"] % opts.validate_every == 0:
            *_, improved = self.validate_and_keep_best(phase.spec)
            if not opts.progress and self.rank == 0:   # a background run's log: its curve point as one line
                point = state["curve"][-1]
                self.log(f"{point['phase']} step {point['global_step']} ({point['samples_seen']:,} samples, "
                         f"{point['minutes']:.1f} min): validation {point['val_inter_ocular']:.3%} inter-ocular, "
                         f"{point['val_inter_pupil']:.3%} inter-pupil" + (" (best so far)" if improved else ""))
            _set_modes(self.model, phase.spec)    # validate() leaves every stage in training mode
        out_of_time = self.out_of_time()
        due = (opts.checkpoint_every and state["step"] % opts.checkpoint_every == 0) or \
            (opts.checkpoint_minutes > 0 and time.perf_counter() - self.clock["checkpoint"]
             >= opts.checkpoint_minutes * 60)
        if out_of_time or due:
            if due and not out_of_time and not opts.progress and self.rank == 0:
                self.log(self.progress_line(phase.spec))    # a background run's log: where it is, how fast
            self.checkpoint(phase.opt)
        return out_of_time

    def progress_line(self, spec: dict) -> str:
        """Where the run is within its epoch, its speed since the last checkpoint, and when the epoch
        should end at that speed (one line of a background run's log, at each mid-epoch checkpoint)."""
        state = self.state
        steps = self.steps_taken - self.steps_at_checkpoint
        rate = steps * self.opts.batch_size / max(time.perf_counter() - self.clock["checkpoint"], 1e-9)
        left = (self.steps_per_epoch - state["step"]) * self.opts.batch_size / max(rate, 1e-9)
        return (f"{spec['name']} epoch {state['epoch'] + 1} step {state['step']} of {self.steps_per_epoch} "
                f"(global step {state['global_step']}): {rate:.1f} images/s since the last checkpoint, "
                f"the epoch ends in about {_duration(left)}; checkpoint written")

    def validate_and_keep_best(self, spec: dict) -> tuple[float, float, bool]:
        """Validate, keep the best weights of this phase, and add a learning-curve point."""
        state = self.state
        model = self.validated_model()
        val_ip, val_io = validate(model, self.data.val_frames, self.data.val_gt, spec["n_stages"], self.bf16)
        if self.world > 1:                 # decide on rank 0's numbers everywhere
            t = torch.tensor([val_ip, val_io], dtype=torch.float64, device=self.device)
            dist.broadcast(t, 0)
            val_ip, val_io = float(t[0]), float(t[1])
        improved = state["best"] is None or val_ip < state["best"]
        if improved:
            state["best"] = val_ip
            state["improved_in_epoch"] = True
            if self.rank == 0:
                save_weights(model, self.best_path,
                             {"phase": spec["name"], "val_inter_pupil": val_ip, "val_inter_ocular": val_io,
                              "global_step": state["global_step"],
                              "samples_seen": state["global_step"] * self.opts.batch_size})
                if self.on_best is not None:
                    self.on_best(self.best_path)
        state["curve"].append({"phase": spec["name"],
                               "epoch": round(state["epoch"] + state["step"] / self.steps_per_epoch, 3),
                               "global_step": state["global_step"],
                               "samples_seen": state["global_step"] * self.opts.batch_size,
                               "minutes": round(self.elapsed() / 60, 2),
                               "val_inter_pupil": round(val_ip, 6), "val_inter_ocular": round(val_io, 6)})
        return val_ip, val_io, improved

    def end_epoch(self, phase: _Phase, steps: int, seconds: float) -> str:
        """Validate, log the epoch, count epochs without improvement, end the phase when patience or
        its time is spent, and checkpoint. Returns how the epoch ended."""
        opts, state, spec = self.opts, self.state, phase.spec
        val_ip, val_io, improved = self.validate_and_keep_best(spec)
        within = state.pop("improved_in_epoch", False)   # a mid-epoch validation improved (always cleared here)
        improved = improved or within
        state["bad_epochs"] = 0 if improved else state["bad_epochs"] + 1
        row = {"phase": spec["name"], "epoch": state["epoch"] + 1, "global_step": state["global_step"],
               "train_loss": round(state["loss_sum"] / max(state["loss_count"], 1), 6),
               "val_inter_pupil": round(val_ip, 6), "val_inter_ocular": round(val_io, 6),
               "best_val": round(state["best"], 6),
               "img_per_s": round(steps * opts.batch_size / max(seconds, 1e-9), 2),
               "lr": phase.opt.param_groups[0]["lr"]}
        state["history"].append(row)
        state.update(epoch=state["epoch"] + 1, step=0, loss_sum=0.0, loss_count=0)
        stop = state["bad_epochs"] >= opts.patience or \
            ((opts.stage_minutes or 0) > 0 and self.elapsed() - state["phase_started"] >= opts.stage_minutes * 60)
        if not stop and opts.lr_decay < 1 and state["bad_epochs"] and state["bad_epochs"] % opts.lr_patience == 0:
            for group in phase.opt.param_groups:       # decay on plateau; the optimizer state keeps it
                group["lr"] *= opts.lr_decay
            if self.rank == 0:
                self.log(f"{spec['name']}: {state['bad_epochs']} epochs without improvement: learning rate "
                         f"{phase.opt.param_groups[0]['lr']:.3g}")
        if stop:
            state["epoch"] = spec["max_epochs"]
        phase_over = state["epoch"] >= spec["max_epochs"]
        if phase_over:
            self.next_phase()
        if self.rank == 0:
            self.log(f"{spec['name']} epoch {row['epoch']}: loss {row['train_loss']:.4f} "
                     f"val {val_ip:.4f} (inter-pupil) {val_io:.4f} (inter-ocular) "
                     f"{row['img_per_s']:.1f} img/s" + ("  *" if improved else ""))
        self.checkpoint(None if phase_over else phase.opt)
        if phase_over:
            return _NEXT_PHASE
        if self.out_of_time():
            self.log(f"stopped after {self.elapsed() / 60:.1f} min of training (--max-minutes {opts.max_minutes:g}) "
                     f"at the end of {spec['name']} epoch {row['epoch']}; continue with --resume")
            return _OUT_OF_TIME
        return _NEXT_EPOCH

    def next_phase(self, trained: bool = True) -> None:
        """Move the state to the next phase, which starts from this phase's best weights (the model
        as it is after a phase that was given no epochs)."""
        self.state.update(phase=self.state["phase"] + 1, epoch=0, best=None, bad_epochs=0, phase_started=None)
        self.average = None
        if self.world > 1:
            dist.barrier()
        if trained:
            self.model.load_state_dict(load_file(str(self.best_path), device=str(self.device)))

    def finish(self) -> None:
        """Save the final weights (with the training's history) and mark the checkpoint done."""
        state = self.state
        state.update(done=True, seconds=self.elapsed(), world_size=self.world)
        if self.rank == 0:
            final = save_weights(self.model, self.out, {"training": training_record(state)})
            _save_checkpoint(self.out, self.model, None, state)
            self.log(f"weights: {final[0]}")
        if self.world > 1:
            dist.barrier()


# --- command line ---------------------------------------------------------------------------

# The photometric and occlusion options (augment.Photometric's fields, each off at 0).
PHOTOMETRIC_HELP = {
    "brightness": "Photometric augmentation: add U(-b, b) x 255 grey levels (0: off; e.g. 0.15).",
    "contrast": "Scale about the frame's mean by U(1-c, 1+c) (0: off; e.g. 0.3).",
    "gamma": "Gamma exp(U(-g, g)) (0: off; e.g. 0.3).",
    "blur": "With probability 1/3, a Gaussian blur of sigma U(0, blur) px (0: off; e.g. 1.5).",
    "noise": "Gaussian noise of sigma U(0, noise) grey levels (0: off; e.g. 6).",
    "erase": "Occlusion: with this probability, a random rectangle (2-20% of the frame) of one random grey level "
             "(0: off; e.g. 0.3).",
}

# The training recipe's options, shared by `faceeval train dan` and the GPU route (gpu_train): each is a
# TrainOptions field of the same name, so a command passes them on as **recipe.
RECIPE_OPTIONS = (
    click.option("--perturbations", type=click.IntRange(min=1), default=10, show_default=True, help="Perturbed samples per image."),
    click.option("--mirror/--no-mirror", default=True, show_default=True),
    click.option("--augment", type=click.Choice(["fixed", "fresh"]), default="fixed", show_default=True,
                 help="fixed: samples drawn once (released code); fresh: new perturbations each epoch."),
    *(click.option(f"--{name}", type=float, default=0.0, show_default=True, help=text)
      for name, text in PHOTOMETRIC_HELP.items()),
    click.option("--lr-decay", type=float, default=1.0, show_default=True,
                 help="Multiply the learning rate by this after --lr-patience epochs without improvement (1: constant)."),
    click.option("--lr-patience", type=click.IntRange(min=1), default=2, show_default=True),
    click.option("--ema", type=float, default=None,
                 help="Keep a moving average of the weights (decay per step, e.g. 0.998: a window of about 500 "
                      "steps; each stage's starts at its initial weights) and validate and keep it instead of the "
                      "weights as trained [default: 0: off]. With --resume: the run's average goes on (same decay), or a new "
                      "one starts there (a run without one, or another decay)."),
    click.option("--rotation", type=float, default=ROTATION_SIGMA_DEG, show_default=True,
                 help="Sigma of the rotation perturbation in degrees (the released code's 20; wider for large poses)."),
    click.option("--scale", type=float, default=SCALE_SIGMA, show_default=True,
                 help="Sigma of the scale perturbation about 1 (the released code's 0.25; clipped at 0.2)."),
)


def option_group(options: tuple):
    """A decorator that adds ``options`` (click options) to a command, in their order in ``--help``."""
    def decorate(fn):
        for option in reversed(options):
            fn = option(fn)
        return fn
    return decorate


#: Decorates a command with :data:`RECIPE_OPTIONS` (augmentation, schedule, perturbation spreads).
recipe_options = option_group(RECIPE_OPTIONS)

# Where a run starts, shared by `faceeval train dan` and gpu_train: TrainOptions fields of the same name.
START_OPTIONS = (
    click.option("--init-weights", type=click.Path(exists=True), default=None,
                 help="Start from these weights (e.g. methods/dan/pretrained, or a checkpoint that is gone: its "
                      "best.safetensors) instead of at random; a new Adam state, same architecture."),
    click.option("--start-stage", type=click.IntRange(1, 3), default=1, show_default=True,
                 help="With --init-weights: the first stage to train (the ones before it are kept as given)."),
)

#: Decorates a command with :data:`START_OPTIONS` (--init-weights, --start-stage).
start_options = option_group(START_OPTIONS)


def _load_training_set(dataset: str, data_root: str | None, subset: str | None):
    from faceeval.plugin import load_dataset

    ds = load_dataset(dataset, subset or ("train" if dataset in ("300w", "menpo") else None), data_root)
    return ds


@click.command("dan", help="""Train the Deep Alignment Network stage by stage (add --resume to continue a run).

Stage 1 trains until its error on the validation faces that --val-split holds out stops
improving for --patience epochs; then the connection layers and stage 2 are added, and
so on. Checkpoints are written atomically every epoch. Launch with
`torchrun --nproc-per-node K -m faceeval_methods.dan ...` for several processes or machines.

\b
Examples:
  faceeval train dan --data-root DATA/300w --stages 2
  faceeval train dan --data-root DATA/300w --stages 3 --finetune-epochs 5 --resume
  faceeval train dan --dataset builtin --stages 2 --max-epochs 3 --val-count 0   # a demo
""")
@click.option("--dataset", type=click.Choice(["300w", "menpo", "folder", "builtin"]), default=None,
              help="Training data (default: 300w with --data-root or FACEEVAL_DATA_ROOT, builtin without).")
@data_root_option("Folder that holds the dataset (env FACEEVAL_DATA_ROOT).")
@click.option("--subset", default=None, help="Subset to train on (default: train).")
@click.option("-o", "--output", "--out", "out", type=click.Path(file_okay=False), default=None,
              help="Output folder (default: $FACEEVAL_HOME/weights/dan); --out is the older spelling.")
@click.option("--stages", type=click.IntRange(1, 3), default=2, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=2), default=64, show_default=True)
@click.option("--lr", type=float, default=1e-3, show_default=True)
@click.option("--max-epochs", type=click.IntRange(min=0), default=100, show_default=True,
              help="Per stage; 0 with --init-weights and --finetune-epochs: only the end-to-end fine-tuning.")
@click.option("--patience", type=int, default=5, show_default=True,
              help="Epochs without validation improvement before the next stage.")
@click.option("--finetune-epochs", type=click.IntRange(min=0), default=0, show_default=True,
              help="End-to-end fine-tuning of all stages afterwards (0: off).")
@click.option("--finetune-lr", type=float, default=1e-4, show_default=True)
@recipe_options
@click.option("--val-split", type=click.Choice(VAL_SPLITS), default="photos", show_default=True,
              help="Validation faces: photos = whole photos from every training folder (AFW, LFPW and HELEN "
                   "train; the first LFPW ones included); first = the first --val-count training faces.")
@click.option("--val-count", type=click.IntRange(min=0), default=None,
              help=f"How many faces validate [default: {PHOTOS_VAL_COUNT} with photos, {VAL_COUNT} with first]; 0 "
                   "validates on the training images (demo).")
@click.option("--heatmap", type=click.Choice(["square", "circle"]), default="square", show_default=True,
              help="square: released implementation (17x17); circle: paper text (radius 16).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--checkpoint-every", type=int, default=0, show_default=True,
              help="Also checkpoint every N steps within an epoch.")
@click.option("--checkpoint-minutes", type=float, default=10.0, show_default=True,
              help="Also checkpoint whenever this many minutes passed since the last checkpoint (0: off).")
@click.option("--stage-minutes", type=click.FloatRange(min=0), default=None,
              help="A stage (and the fine-tuning) also ends at the first epoch end after this many minutes in it "
                   "[default: 0: only --patience ends it]; with --resume it replaces the run's own budget, which "
                   "is kept if not given.")
@click.option("--max-minutes", type=float, default=0.0, show_default=True,
              help="Stop after this many minutes of training in all (checkpointed; --resume continues). 0: no limit.")
@click.option("--validate-every", type=int, default=0, show_default=True,
              help="Also validate every N steps within an epoch: learning-curve points (curve.csv) and a "
                   "chance to keep better weights. 0: at epoch ends only.")
@click.option("--translation", type=click.Choice(TRANSLATION_MODES), default="released", show_default=True,
              help="Translation perturbation: released = sigma 0.2 x the frame-scaled mean shape in "
                   "original-photo pixels (the released code); face = 0.2 x the face's size (the paper's text).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1, ...")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default="auto", show_default=True)
@click.option("--channels-last/--no-channels-last", default=True, show_default=True)
@click.option("--widths", default="64,128,256,512", hidden=True, help="Conv widths (tests use narrower).")
@click.option("--cache-frozen/--no-cache-frozen", default=True, show_default=True,
              help="With --augment fixed, compute the frozen stages once per stage, not every step.")
@start_options
@click.option("--compile/--no-compile", "compile_stages", default=False, show_default=True,
              help="torch.compile each stage for training (about 20% faster on this CPU after 1-2 minutes of "
                   "compiling; may be switched on or off when resuming).")
@click.option("--resume", is_flag=True,
              help="Continue the checkpoint in --output from its step, with the options it was started with.")
@click.option("--progress/--no-progress", default=True)
def train_command(dataset, data_root, subset, out, stages, batch_size, lr, max_epochs, patience, finetune_epochs,
                  finetune_lr, val_split, val_count, heatmap, seed, checkpoint_every, checkpoint_minutes,
                  stage_minutes, max_minutes, validate_every, translation, device, precision, channels_last, widths,
                  cache_frozen, init_weights, start_stage, compile_stages, resume, progress, **recipe):
    dataset = dataset or ("300w" if data_root else "builtin")
    opts = TrainOptions(stages=stages, batch_size=batch_size, lr=lr, max_epochs=max_epochs, patience=patience,
                        finetune_epochs=finetune_epochs, finetune_lr=finetune_lr, val_split=val_split,
                        val_count=default_val_count(val_split) if val_count is None else val_count, seed=seed,
                        checkpoint_every=checkpoint_every, checkpoint_minutes=checkpoint_minutes,
                        max_minutes=max_minutes, stage_minutes=stage_minutes, validate_every=validate_every,
                        translation=translation, device=device, precision=precision,
                        channels_last=channels_last, heatmap=heatmap,
                        widths=tuple(int(w) for w in widths.split(",")), cache_frozen=cache_frozen,
                        compile=compile_stages, init_weights=init_weights, start_stage=start_stage,
                        progress=progress, **recipe)
    distributed = init_distributed(device)
    try:
        ds = _load_training_set(dataset, data_root, subset)
        gt = ds.ground_truth
        try:
            boxes = ds.boxes
        except DataError:        # no detector boxes (Menpo, folders): validate from the ground-truth boxes
            boxes = G.shape_boxes(gt)
            click.echo("note: no initial boxes in this dataset; validation uses tight ground-truth boxes", err=True)
        # a resumed run keeps its own options: train() says how many stages it has
        click.echo(f"training DAN{'' if resume else f' ({stages} stages)'} on {ds.name}/{ds.subset}: "
                   f"{len(ds)} images", err=True)
        train(_LazyImages(ds.samples), gt, boxes, out or default_weights_dir(), opts, resume=resume,
              log=lambda m: click.echo(m, err=True), photo_scales=np.array([s.photo_scale for s in ds.samples]),
              ids=ds.ids)
    finally:
        if distributed:
            dist.destroy_process_group()


def main(argv=None):  # ``python -m faceeval_methods.dan`` (torchrun entry)
    train_command.main(args=argv, prog_name="faceeval train dan")


if __name__ == "__main__":
    main()
