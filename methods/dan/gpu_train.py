"""Train DAN on one GPU machine where only the repository travels: ``make gpu-train``.

The machine gets the repository plus the git-ignored training pack (``.gpu/dan-pack.npz``,
written here by ``make gpu-pack``; see :mod:`faceeval_methods.dan.pack`), has torch with CUDA and
numpy 2 but no menpo, and returns at most a few files under 16 MiB each. So this script:

1. decodes the pack on the machine's CPU cores and puts the canvases on the GPU;
2. trains both stages stage by stage (Adam 1e-3, batch 64) under a wall-time budget per stage,
   bf16 autocast and channels_last, with the recipe options of ``faceeval train dan``
   (``--augment fresh``, photometric ranges, ``--rotation``/``--scale``, ``--lr-decay``; the
   released recipe by default) and the pack's validation split, recorded with the weights; or,
   with ``--init-weights W --start-stage 2``, continues from given weights (the shipped ones
   travel with the repository) and trains only the stages from the one named;
3. exports the best weights so far whenever they improve (at most every ``--export-every``
   seconds) into ``OUT`` as float16 parts under 16 MiB, so a run cut off still returns
   weights; ``python -m faceeval_methods.dan.gpu_train join OUT DEST`` rejoins them afterwards;
4. measures inference (images/s at batch 256, latency at batch 1) and prints every figure
   as ``key=value``, also stored in ``OUT/figures.json``.

Nothing here imports menpo or needs numpy < 2.
"""
from __future__ import annotations

import hashlib
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from .train import recipe_options, start_options, training_record

PART_BYTES = 15 * 2**20            # each returned file stays under the 16 MiB limit
SMALL_TENSOR = 1 << 16             # tensors up to this many elements stay float32 in the export


def export_weights(weights: Path, out: Path, extra: dict | None = None) -> list[Path]:
    """Write ``weights`` (``dan.safetensors`` + ``.json``) into ``out`` as float16 parts.

    Large float tensors become float16 (weights travel at half size); the rest stays exact.
    ``dan.json`` lists the parts with their sha256 so :func:`join_weights` can check them.
    Weights saved mid-run (``best``) carry no training record; the run's ``checkpoint.json``
    beside them gives it (options, validation ids), so the returned weights can be judged.
    """
    from safetensors.torch import load_file, save

    from faceeval.plugin import atomic_write, read_json_object, write_json

    tensors = load_file(str(weights))
    half = {k: (v.half() if v.is_floating_point() and v.numel() > SMALL_TENSOR else v) for k, v in tensors.items()}
    blob = save(half)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("dan.safetensors.part*"):
        old.unlink()
    parts = []
    for i in range(0, len(blob), PART_BYTES):
        path = out / f"dan.safetensors.part{i // PART_BYTES}"
        with atomic_write(path, "wb") as fh:
            fh.write(blob[i:i + PART_BYTES])
        parts.append(path)
    meta = read_json_object(weights.with_suffix(".json"), "the weights' record")
    state_path = weights.parent / "checkpoint.json"
    if "training" not in meta and state_path.is_file():
        meta["training"] = training_record(read_json_object(state_path, "the training state"))
    meta["parts"] = [{"file": p.name, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()} for p in parts]
    meta["export"] = {"dtype": "float16 for tensors over %d elements" % SMALL_TENSOR, **(extra or {})}
    write_json(out / "dan.json", meta)
    return parts


def join_weights(folder: Path, dest: Path) -> Path:
    """Rejoin the parts written by :func:`export_weights` into ``dest/dan.safetensors`` + ``dan.json``."""
    from faceeval.plugin import DataError, atomic_write, read_json_object, write_json

    meta = read_json_object(folder / "dan.json", "the parts' record")
    blob = b""
    for part in meta.get("parts", []):
        try:
            data = (folder / part["file"]).read_bytes()
        except OSError as exc:
            raise DataError(f"{folder / part['file']}: cannot read a weight part ({exc.strerror or exc}); "
                            f"copy every dan.safetensors.part* that {folder / 'dan.json'} lists") from None
        if hashlib.sha256(data).hexdigest() != part["sha256"]:
            raise DataError(f"{folder / part['file']}: checksum mismatch (a part is missing or damaged)")
        blob += data
    if not blob:
        raise DataError(f"{folder / 'dan.json'}: lists no weight parts")
    dest.mkdir(parents=True, exist_ok=True)
    with atomic_write(dest / "dan.safetensors", "wb") as fh:
        fh.write(blob)
    write_json(dest / "dan.json", {k: v for k, v in meta.items() if k != "parts"})
    return dest / "dan.safetensors"


def _time_inference(weights: Path, device: str, compile_model: bool) -> dict:
    """Images/s at batch 256 and latency at batch 1 of ``DAN.predict_frames`` on random frames."""
    from . import DAN

    dan = DAN.load(weights, device=device, compile=compile_model)
    size = dan.model.cfg.image_size
    sync = torch.cuda.synchronize if dan.device.type == "cuda" else (lambda: None)
    figures = {}
    for batch, reps in ((256, 20), (1, 100)):
        reps = reps if dan.device.type == "cuda" else 1            # a CPU smoke test only checks it runs
        frames = torch.rand(batch, 1, size, size, device=dan.device) * 255
        for _ in range(3):
            dan.predict_frames(frames)
        sync()
        t0 = time.perf_counter()
        for _ in range(reps):
            dan.predict_frames(frames)
        sync()
        seconds = (time.perf_counter() - t0) / reps
        if batch == 1:
            figures["latency_batch1_ms"] = round(seconds * 1e3, 3)
        else:
            figures["infer_batch256_img_s"] = round(batch / seconds, 1)
    return figures


def train_main(argv=None) -> None:
    import click

    @click.command(help="""Train the 2-stage DAN from a training pack on one GPU, within a time budget.

\b
Example (on the GPU machine, after `make gpu-pack` here):
  python3 -m faceeval_methods.dan.gpu_train --pack .gpu/dan-pack.npz --out "$OUT" --minutes 8.5
  python3 -m faceeval_methods.dan.gpu_train --pack .gpu/dan-pack.npz --out "$OUT" --minutes 8.5 \\
      --init-weights methods/dan/pretrained --start-stage 2 --augment fresh --lr 2e-4
""", context_settings={"help_option_names": ["-h", "--help"]})
    @click.option("--pack", required=True, type=click.Path(exists=True, dir_okay=False))
    @click.option("--out", required=True, type=click.Path(file_okay=False),
                  help="Folder for the returned files: weight parts, dan.json, curve.csv, figures.json, log.")
    @click.option("--work", type=click.Path(file_okay=False), default="/tmp/dan-gpu-work", show_default=True,
                  help="Local folder for checkpoints (not returned).")
    @click.option("--minutes", type=float, default=8.5, show_default=True, help="Training wall time in all.")
    @click.option("--stage1-share", type=float, default=0.5, show_default=True,
                  help="Share of --minutes for the first stage trained; the next gets the rest (a run of "
                       "one stage, e.g. --start-stage 2 of 2, gets all of --minutes).")
    @click.option("--stages", type=click.IntRange(1, 3), default=2, show_default=True)
    @click.option("--batch-size", type=click.IntRange(min=2), default=64, show_default=True)
    @click.option("--lr", type=float, default=1e-3, show_default=True)
    @click.option("--max-epochs", type=int, default=100000, show_default=True,
                  help="Per stage; the time budget usually ends a stage first.")
    @click.option("--patience", type=int, default=1000, show_default=True,
                  help="Epochs without improvement before the next stage (the time budget usually ends it).")
    @click.option("--validate-every", type=int, default=200, show_default=True)
    @click.option("--export-every", type=float, default=60.0, show_default=True,
                  help="Seconds between exports of improved weights.")
    @click.option("--device", default="auto", show_default=True)
    @click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default="auto", show_default=True)
    @click.option("--compile/--no-compile", "compile_model", default=False, show_default=True,
                  help="torch.compile each stage (compiling costs about a minute).")
    @click.option("--widths", default="64,128,256,512", hidden=True, help="Conv widths (CPU smoke tests).")
    @click.option("--seed", type=int, default=0, show_default=True)
    @start_options
    @recipe_options
    def command(pack, out, work, minutes, stage1_share, stages, batch_size, lr, max_epochs, patience, validate_every,
                export_every, device, precision, compile_model, widths, seed, init_weights, start_stage, **recipe):
        from faceeval.plugin import atomic_write, read_json_object, write_json

        from .pack import check_pack_matches, pack_training_data, read_pack
        from .train import TrainOptions, train_with

        opts = TrainOptions(stages=stages, batch_size=batch_size, lr=lr, max_epochs=max_epochs, patience=patience,
                            seed=seed, device=device, precision=precision, progress=False, checkpoint_minutes=1.0,
                            max_minutes=minutes, validate_every=validate_every,
                            stage_minutes=minutes * stage1_share if stages > start_stage else minutes,
                            compile=compile_model, widths=tuple(int(w) for w in widths.split(",")),
                            init_weights=init_weights, start_stage=start_stage, **recipe)

        out, work = Path(out), Path(work)
        out.mkdir(parents=True, exist_ok=True)
        log_file = open(out / "gpu.log", "a", buffering=1)

        def log(message: str) -> None:
            line = f"[{time.strftime('%H:%M:%S')}] {message}"
            print(line, flush=True)
            log_file.write(line + "\n")

        t_all = time.perf_counter()
        data = read_pack(pack)
        meta = data["meta"]
        log(f"pack {pack}: {meta['n_train']} canvases, {meta['n_val']} validation frames, decoded in "
            f"{time.perf_counter() - t_all:.1f} s; torch {torch.__version__}, "
            f"cuda {torch.cuda.get_device_name() if torch.cuda.is_available() else 'none'}")
        opts = replace(opts, val_count=meta["val_count"], val_split=meta.get("val_split", "first"),
                       translation=meta["translation"])
        log("recipe: " + ", ".join(f"{k}={v}" for k, v in recipe.items())
            + f"; validation: {meta['n_val']} faces ({opts.val_split} split)")
        if work.exists():
            shutil.rmtree(work)
        last = {"t": -1e9}

        def on_best(path: Path) -> None:
            if time.perf_counter() - last["t"] >= export_every:
                export_weights(path, out, {"partial": True})
                last["t"] = time.perf_counter()

        def make_data(o, model, dev):
            check_pack_matches(data, o, model)
            return pack_training_data(data, dev)

        t_train = time.perf_counter()
        train_with(make_data, work, opts, log=log, on_best=on_best)
        train_seconds = time.perf_counter() - t_train
        final = work / "dan.safetensors"
        if not final.exists():                      # the time limit ended it mid-phase: the best so far
            final = work / "best.safetensors"
        if not final.exists():
            log(f"no weights: --minutes {minutes:g} ended training before its first validation")
            raise SystemExit(1)
        state = read_json_object(work / "checkpoint.json", "the training state")
        history = state["history"]
        figures = {"train_minutes": round(train_seconds / 60, 2), "samples_seen": state["global_step"] * batch_size,
                   "train_img_s": round(state["global_step"] * batch_size / max(state.get("seconds", 0) or
                                                                                train_seconds, 1e-9), 1)}
        for phase in sorted({h["phase"] for h in history}):
            rows = [h for h in history if h["phase"] == phase]
            figures[f"{phase}_epochs"] = len(rows)
            figures[f"{phase}_best_val_inter_ocular"] = min(h["val_inter_ocular"] for h in rows)
            figures[f"{phase}_train_img_s"] = round(sum(h["img_per_s"] for h in rows) / len(rows), 1)
        figures.update(_time_inference(final, device, compile_model))
        figures["total_minutes"] = round((time.perf_counter() - t_all) / 60, 2)
        export_weights(final, out, {"partial": not (work / "dan.safetensors").exists(), "figures": figures})
        for name in ("curve.csv", "log.csv"):        # what comes back is never half written
            if (work / name).exists():
                with atomic_write(out / name, "wb") as fh:
                    fh.write((work / name).read_bytes())
        write_json(out / "figures.json", figures)
        for k, v in figures.items():
            log(f"{k}={v}")

    from faceeval.plugin import FaceevalError

    try:
        command.main(args=argv, prog_name="python -m faceeval_methods.dan.gpu_train")
    except FaceevalError as e:          # a bad option or a pack for another split: one line, no traceback
        raise SystemExit(f"Error: {e}") from None


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["join"]:
        if len(argv) != 3:
            sys.exit("usage: python -m faceeval_methods.dan.gpu_train join FOLDER DEST")
        from faceeval.plugin import FaceevalError

        try:
            print(f"wrote {join_weights(Path(argv[1]), Path(argv[2]))}")
        except FaceevalError as e:      # a part missing or damaged: one line, no traceback
            raise SystemExit(f"Error: {e}") from None
        return
    train_main(argv)


if __name__ == "__main__":
    main()
