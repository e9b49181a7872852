"""Make a training run's best weights DAN's shipped default: ``make dan-release TRAIN_DIR=...``.

Takes the finished weights of a training folder (``dan.safetensors``) or, while training
still runs, its best so far (``best.safetensors``); stores them as int8
(:mod:`faceeval_methods.dan.quantize`) in ``methods/dan/pretrained/``, with the measured error
change on the validation faces, the learning curve (``curve.csv``) and the provenance a
reader needs to trust them: data, samples seen, stages, hardware, minutes, validation error.
"""
from __future__ import annotations

import csv
import datetime as _dt
import io
import subprocess
from dataclasses import fields
from pathlib import Path

import numpy as np

from faceeval.plugin import DataError, read_json_object, write_json

from .augment import ROTATION_SIGMA_DEG, SCALE_SIGMA, Photometric
from .weights import PRETRAINED_DIR

#: The photometric and occlusion options, in the order the recipe names them.
PHOTOMETRIC_FIELDS = tuple(f.name for f in fields(Photometric))


def _commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def provenance(train_dir: Path) -> dict:
    """What made the weights of ``train_dir``: from its checkpoint and best-weights records.

    The weights released are the run's best (a finished run's final weights are its last phase's
    best), so ``samples_seen_in_all`` and ``training_minutes_in_all`` count the training up to that
    validation, with what the weights it began from took; what the run trained afterwards
    (``*_at_checkpoint``) never reached them."""
    from faceeval.plugin import machine

    state = read_json_object(train_dir / "checkpoint.json", "the training state")
    done = bool(state.get("done")) and (train_dir / "dan.safetensors").is_file()
    best = {}
    if (train_dir / "best.json").is_file():
        best = {k: v for k, v in read_json_object(train_dir / "best.json", "the best weights' record").items()
                if k in ("phase", "val_inter_pupil", "val_inter_ocular", "global_step", "samples_seen")}
        minutes = [float(r["minutes"]) for r in _curve_rows(train_dir)
                   if int(r["global_step"]) == best.get("global_step")]
        if minutes:
            best["minutes"] = minutes[-1]
    opts = state.get("options", {})
    info = {"weights": "final" if done else "best so far (training not finished)",
            "best_validation": best,
            # the training state as of its last checkpoint (the whole run once it is done)
            "samples_seen_at_checkpoint": state.get("global_step", 0) * opts.get("batch_size", 64),
            "training_minutes_at_checkpoint": round(state.get("seconds", 0.0) / 60, 1),
            "epochs": [{k: h[k] for k in ("phase", "epoch", "val_inter_ocular", "img_per_s") if k in h}
                       for h in state.get("history", [])],
            "options": opts, "validation_ids": state.get("validation_ids"),     # the faces it held out
            "hardware": machine(), "world_size": state.get("world_size", 1),
            "released": _dt.date.today().isoformat(), "commit": _commit()}
    if state.get("average_starts"):          # --ema: where each stage's weight average began
        info["average_starts"] = state["average_starts"]
    start = {}
    if opts.get("init_weights"):
        start = initial_weights_provenance(Path(opts["init_weights"]))
        info["initial_weights"] = start
    info["samples_seen_in_all"] = (best.get("samples_seen", info["samples_seen_at_checkpoint"])
                                   + start.get("contributed_samples", 0))
    info["training_minutes_in_all"] = round(best.get("minutes", state.get("seconds", 0.0) / 60)
                                            + start.get("contributed_minutes", 0.0), 2)
    return info


def _curve_rows(train_dir: Path) -> list[dict]:
    path = train_dir / "curve.csv"
    return list(csv.DictReader(path.open())) if path.is_file() else []


def _best_step(folder: Path) -> int | None:
    if not (folder / "best.json").is_file():
        return None
    return read_json_object(folder / "best.json", "the best weights' record").get("global_step")


def initial_weights_provenance(path: Path) -> dict:
    """Where a run that began from ``--init-weights`` got its earlier stages.

    A training folder's ``best.safetensors`` or final ``dan.safetensors`` (its last phase's best;
    its ``checkpoint.safetensors`` is no weights file) contributed the samples and minutes up to
    its best validation (what it trained afterwards never reached these weights); a released
    folder (its ``dan.json``), what its record says were behind it."""
    folder = path if path.is_dir() else path.parent
    if (folder / "checkpoint.json").is_file():
        info = provenance(folder)
        return {"path": str(path), "training": info, "contributed_samples": info["samples_seen_in_all"],
                "contributed_minutes": info["training_minutes_in_all"]}
    if (folder / "dan.json").is_file():
        shipped = read_json_object(folder / "dan.json", "the weights' record").get("provenance", {})
        best = shipped.get("best_validation", {})
        return {"path": str(path), "training": shipped,
                "contributed_samples": shipped.get("samples_seen_in_all", best.get("samples_seen", 0)),
                "contributed_minutes": shipped.get("training_minutes_in_all",
                                                   shipped.get("training_minutes_at_checkpoint", 0.0))}
    return {"path": str(path)}


def _history_rows(train_dir: Path, upto_step: int | None = None) -> list[dict]:
    """A training folder's curve points (up to ``upto_step``), after those of the weights it began
    from, its own shifted by the steps, samples and minutes that came before."""
    rows = [r for r in _curve_rows(train_dir) if upto_step is None or int(r["global_step"]) <= upto_step]
    state = read_json_object(train_dir / "checkpoint.json", "the training state")
    init = state.get("options", {}).get("init_weights")
    before = _handed_on_rows(Path(init)) if init else []
    if before:
        last = before[-1]
        steps, samples, minutes = int(last["global_step"]), int(last["samples_seen"]), float(last["minutes"])
        for r in rows:
            r["global_step"] = str(int(r["global_step"]) + steps)
            r["samples_seen"] = str(int(r["samples_seen"]) + samples)
            r["minutes"] = f"{float(r['minutes']) + minutes:.2f}".rstrip("0").rstrip(".")
    return before + rows


def _handed_on_rows(path: Path) -> list[dict]:
    """The curve behind initial weights: a training folder's up to its best (its best or final
    weights), else a released folder's shipped curve (already merged, and ending at the weights
    it shipped)."""
    folder = path if path.is_dir() else path.parent
    if (folder / "checkpoint.json").is_file():
        return _history_rows(folder, _best_step(folder))
    return _curve_rows(folder)


def merged_curve(train_dir: Path) -> str | None:
    """The learning curve of the weights' whole history, CSV text: the earlier runs' points up to
    the weights each handed on, then this run's points up to its best validation (the weights
    released), shifted by the samples and minutes before."""
    rows = _history_rows(train_dir, _best_step(train_dir))
    if not rows:
        return None
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()


README_BEGIN = "<!-- dan-weights:begin -->"
README_END = "<!-- dan-weights:end -->"


def readme_block(meta: dict, weights_file: Path, shown_as: str | Path | None = None) -> str:
    """The README's description of the shipped weights, from their JSON (never typed by hand)."""
    info, q = meta.get("provenance", {}), meta.get("quantization", {})
    opts, best, data = info.get("options", {}), info.get("best_validation", {}), info.get("data", {})
    cfg = meta.get("config", {})
    per_phase = {}
    for e in info.get("epochs", []):
        per_phase[e["phase"]] = per_phase.get(e["phase"], 0) + 1
    epochs = ", ".join(f"{k}: {v} epoch{'s' if v != 1 else ''}" for k, v in per_phase.items()) or "no epoch finished"
    rows = [
        ("file", f"`{shown_as or weights_file}` (int8 weights with per-channel scales, {weights_file.stat().st_size / 1e6:.1f} MB; "
                 f"float32 {q.get('source_bytes', 0) / 1e6:.1f} MB)"),
        ("which weights", f"{info.get('weights', '?')}; best validation in {best.get('phase', '?')} after "
                          f"{best.get('samples_seen', 0):,} samples"
                          + (f", {best['minutes']:.1f} min" if "minutes" in best else "")),
        ("data", f"{data.get('dataset', '?')}: {data.get('faces', '?')} of {data.get('expected', '?')} faces "
                 f"(the pack at hand), {_held_out(opts)} held out for validation; never a test face"),
        ("recipe", recipe_text(opts, cfg, info.get("average_starts"))),
        ("training so far", f"{info.get('samples_seen_at_checkpoint', 0):,} samples, "
                            f"{info.get('training_minutes_at_checkpoint', '?')} min ({epochs}) on "
                            f"{info.get('hardware', '?')}"),
        *_started_from_rows(info),
        ("validation error", f"{best.get('val_inter_ocular', float('nan')) * 100:.2f}% inter-ocular, "
                             f"{best.get('val_inter_pupil', float('nan')) * 100:.2f}% inter-pupil (float32)"),
        ("int8 vs float32", f"{q.get('val_inter_ocular_int8', float('nan')) * 100:.4f}% vs "
                            f"{q.get('val_inter_ocular_float32', float('nan')) * 100:.4f}% on the "
                            f"{q.get('val_faces', '?')} validation faces ({q.get('relative_change', float('nan')):+.4%} relative)"),
        ("released", f"{info.get('released', '?')} at commit {info.get('commit', '?')}"),
    ]
    lines = ["| shipped DAN weights | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines) + "\n\nWritten by `make dan-release` from `methods/dan/pretrained/dan.json`."


def _held_out(opts: dict) -> str:
    """Which training faces validated, in words."""
    if opts.get("val_split") == "photos":
        return f"{opts.get('val_count', '?')} faces of whole photos"
    return f"the first {opts.get('val_count', '?')}"


def recipe_text(opts: dict, cfg: dict, average_starts: list[dict] | None = None) -> str:
    """How weights were trained, from their training options: what the released code did is named
    briefly, every departure from it (fresh perturbations, wider ranges, photometric augmentation,
    learning-rate decay, a weight average and where it began, end-to-end fine-tuning) with its setting."""
    start = opts.get("start_stage", 1)
    stages = f"{cfg.get('stages', '?')} stages, stage by stage" + (f" from stage {start}" if start > 1 else "")
    lr = f"Adam {opts.get('lr', '?')}"
    if opts.get("lr_decay", 1.0) < 1:
        lr += f" (×{opts['lr_decay']:g} after {opts.get('lr_patience', '?')} epoch(s) without improvement)"
    perturb = (f"{opts.get('perturbations', '?')} {opts.get('augment', '?')} perturbations per face"
               f"{' + mirrors' if opts.get('mirror', True) else ''} (translation {opts.get('translation', '?')}, "
               f"rotation σ {opts.get('rotation', ROTATION_SIGMA_DEG):g}°, scale σ "
               f"{opts.get('scale', SCALE_SIGMA):g})")
    parts = [stages, f"{lr}, batch {opts.get('batch_size', '?')}", perturb]
    photometric = [f"{k} {opts[k]:g}" for k in PHOTOMETRIC_FIELDS if opts.get(k)]
    if photometric:
        parts.append("photometric: " + ", ".join(photometric))
    if opts.get("ema"):
        began = ", ".join(f"{a['phase']} step {a['global_step']}" for a in average_starts or [])
        parts.append(f"moving average of the weights, decay {opts['ema']:g} per step"
                     + (f" (from {began})" if began else ""))
    if opts.get("finetune_epochs"):
        parts.append(f"end-to-end fine-tuning up to {opts['finetune_epochs']} epochs at {opts.get('finetune_lr', '?')}")
    parts.append(f"input batch norm of stage 2: {cfg.get('input_bn', False)}")
    return "; ".join(parts)


def _started_from_rows(info: dict) -> list[tuple[str, str]]:
    start = info.get("initial_weights")
    if not start:
        return []
    earlier = start.get("training", {})
    best = earlier.get("best_validation", {})
    phases = sorted({e["phase"] for e in earlier.get("epochs", [])}) or ["?"]
    return [("started from", f"`{Path(start['path']).name}` of an earlier run ({', '.join(phases)}): best validation "
                             f"{best.get('val_inter_ocular', float('nan')) * 100:.2f}% inter-ocular after "
                             f"{start.get('contributed_samples', 0):,} samples, {start.get('contributed_minutes', 0):.1f} min"),
            ("in all", f"{info.get('samples_seen_in_all', 0):,} samples, {info.get('training_minutes_in_all', 0):.1f} min "
                       f"of training behind these weights")]


def release(train_dir: str | Path, data_root: str | Path | None, dest: str | Path = PRETRAINED_DIR,
            data: dict | None = None, readme: str | Path | None = None) -> dict:
    """Quantise the weights of ``train_dir`` into ``dest``; returns the provenance written.

    ``readme``: a file whose ``dan-weights`` marker block is rewritten to describe them."""
    from .quantize import quantize_measured, quantize_report

    train_dir, dest = Path(train_dir), Path(dest)
    src = train_dir / "dan.safetensors"
    if not src.is_file():
        src = train_dir / "best.safetensors"
    if not src.is_file():
        raise DataError(f"{train_dir}: no dan.safetensors or best.safetensors to release")
    info = provenance(train_dir)
    info["data"] = data or {}
    dest.mkdir(parents=True, exist_ok=True)
    for line in quantize_report(*quantize_measured(src, dest / "dan.safetensors", data_root)):
        print(line)
    print(release_calibration(dest / "dan.safetensors", data_root))
    curve = merged_curve(train_dir)
    if curve is not None:
        (dest / "curve.csv").write_text(curve)
    meta = read_json_object(dest / "dan.json", "the weights' record")
    meta["provenance"] = info
    meta.pop("training", None)          # the long per-step records live in the training folder
    write_json(dest / "dan.json", meta)
    if readme is not None:
        from faceeval.plugin import atomic_write
        from faceeval.plugin import replace_marked_block

        readme = Path(readme)
        weights = dest / "dan.safetensors"
        shown = weights
        for base in readme.resolve().parents:      # relative to the nearest folder holding both (the checkout)
            try:
                shown = weights.resolve().relative_to(base)
                break
            except ValueError:
                continue
        text = replace_marked_block(readme.read_text(), readme_block(meta, weights, shown), README_BEGIN, README_END)
        with atomic_write(readme) as fh:
            fh.write(text)
    return info


def release_calibration(weights: Path, data_root: str | Path | None) -> str:
    """The int8 activation scales of the released ``weights`` (``dan.int8.json`` beside them), calibrated on
    training faces of ``data_root``; without a data root, an older calibration there (other weights') is
    removed, so ``-O precision=int8`` asks for a new one instead of failing on a stale one."""
    from .calibration import calibrate, calibration_path, record_hash, write_calibration

    if data_root:
        record = calibrate(weights, data_root)
        return f"wrote {write_calibration(weights, record)} (int8 scales {record_hash(record)})"
    stale = calibration_path(weights)
    if stale.is_file():
        stale.unlink()
        return f"removed {stale} (calibrated for the weights replaced; give --data-root to calibrate these)"
    return "no int8 calibration (give --data-root to calibrate)"


TEST_SUBSETS = ("common", "challenging", "full")


def record_test_results(dest: str | Path, data_root: str | Path, precision: str = "auto") -> dict:
    """Score the weights in ``dest`` on the 300W public test subsets and store the figures in its
    ``dan.json`` (``test_results``), from which :func:`~faceeval_methods.dan.caveat.weights_caveat`
    writes the caveat that travels with every run. Done after the weights were chosen on
    validation faces: these numbers are reported, never used to choose."""
    import warnings

    from faceeval.plugin import ALPHA, auc, failure_rate, load_dataset, point_to_point_error

    from . import DAN

    dest = Path(dest)
    dan = DAN.load(dest, precision=precision)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = load_dataset("300w", "full", data_root)
    pred = dan.predict([s.load_image() for s in ds.samples], ds.boxes)
    results: dict = {}
    challenging = np.array([i.startswith("ibug/") for i in ds.ids])
    for subset in TEST_SUBSETS:
        keep = {"common": ~challenging, "challenging": challenging, "full": np.ones(len(ds), bool)}[subset]
        errors = {norm: point_to_point_error(pred[keep], ds.ground_truth[keep], norm)
                  for norm in ("inter-ocular", "inter-pupil", "bbox-diagonal")}
        row = {norm: round(float(e.mean()) * 100, 4) for norm, e in errors.items()}
        io = errors["inter-ocular"]
        row["auc_0.08"] = round(float(auc(io, ALPHA)) * 100, 2)
        row["failure_0.08"] = round(float(failure_rate(io, ALPHA)) * 100, 2)
        row["n"] = int(keep.sum())
        results[f"300w/{subset}"] = row
    results["measured"] = {"precision": dan.options()["precision"], "date": _dt.date.today().isoformat(),
                           "commit": _commit(), "note": "measured after release; never used to choose weights"}
    meta = read_json_object(dest / "dan.json", "the weights' record")
    meta["test_results"] = results
    write_json(dest / "dan.json", meta)
    return results


def main(argv=None) -> None:
    import click

    from faceeval.plugin import data_root_option

    @click.command(help="""Store a DAN training run's weights (final, else best so far) as the shipped default,
int8, with provenance and learning curve, in methods/dan/pretrained/.

\b
Example:
  python -m faceeval_methods.dan.release TRAIN_DIR --data-root DATA/300w
  python -m faceeval_methods.dan.release --record-test --data-root DATA/300w   # test figures of the shipped ones
""", context_settings={"help_option_names": ["-h", "--help"]})
    @click.argument("train_dir", type=click.Path(exists=True, file_okay=False), required=False)
    @data_root_option("300W root it was trained on: measures the int8 error change on its validation faces "
                      "(env FACEEVAL_DATA_ROOT).", exists=True)
    @click.option("--dest", type=click.Path(file_okay=False), default=str(PRETRAINED_DIR), show_default=True)
    @click.option("--readme", type=click.Path(exists=True, dir_okay=False), default=None,
                  help="Rewrite this file's dan-weights block (between its marker lines) to describe the weights "
                       "(make dan-release: docs/training-dan.md).")
    @click.option("--record-test", is_flag=True,
                  help="Only score the weights already in --dest on the 300W test subsets (common, challenging, "
                       "full) under --data-root and store the figures in their dan.json: the caveat that runs of "
                       "weights below the paper carry is written from them. No TRAIN_DIR then.")
    def command(train_dir, data_root, dest, readme, record_test):
        if record_test:
            if not data_root:
                raise click.UsageError("--record-test needs --data-root (a 300W root with the test subsets)")
            for name, row in record_test_results(dest, data_root).items():
                click.echo(f"{name}: {row}")
            return
        if train_dir is None:
            raise click.UsageError("give the training folder TRAIN_DIR (or --record-test)")
        data = {}
        if data_root:
            import warnings

            from faceeval.plugin import load_dataset

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = load_dataset("300w", "train", data_root)
            data = {"dataset": "300w/train", "faces": len(ds), "expected": ds.expected, "notes": ds.notes}
        info = release(train_dir, data_root, dest, data, readme)
        click.echo(f"released {info['weights']} weights of {train_dir} into {dest}: "
                   f"{info['samples_seen_at_checkpoint']} samples seen and {info['training_minutes_at_checkpoint']} min "
                   f"at its last checkpoint; best validation {info['best_validation']}")

    from faceeval.plugin import FaceevalError

    try:
        command.main(args=argv, prog_name="python -m faceeval_methods.dan.release")
    except FaceevalError as e:          # a damaged training record or weights: one line, no traceback
        raise SystemExit(f"Error: {e}") from None


if __name__ == "__main__":
    main()
