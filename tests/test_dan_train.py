"""DAN training on the builtin faces: learning, exact resume, reproducibility, DDP (gloo), CLI.

Narrow conv widths keep every run to seconds on 2 CPU cores; the architecture and the
training loop are the real ones.
"""
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import needs_extra_module

needs_extra_module("dan")

import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from faceeval.cli import main
from faceeval.datasets import load_dataset
from faceeval.errors import OptionError
from faceeval.metrics import point_to_point_error
from faceeval_methods.dan import DAN
from faceeval_methods.dan.train import TrainingInterrupted, TrainOptions, train, train_command
from faceeval_methods.meanshape import MeanShape

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def builtin():
    ds = load_dataset("builtin")
    return [s.load_image() for s in ds.samples], ds.ground_truth, ds.boxes


@pytest.fixture(scope="module")
def trained(builtin, tmp_path_factory):
    """A 2-stage narrow DAN trained briefly on the 4 builtin faces with heavy augmentation."""
    images, gt, boxes = builtin
    out = tmp_path_factory.mktemp("dan_trained")
    opts = TrainOptions(stages=2, batch_size=16, lr=3e-3, perturbations=50, val_count=0, max_epochs=3,
                        patience=3, widths=(4, 8, 8, 16), progress=False, seed=0)
    train(images, gt, boxes, out, opts, log=lambda m: None)
    return out


def test_tiny_training_beats_the_meanshape_baseline(builtin, trained):
    images, gt, boxes = builtin
    base = point_to_point_error(MeanShape().predict(images, boxes), gt, "inter-ocular")
    dan = DAN.load(trained, precision="fp32")
    err = point_to_point_error(dan.predict(images, boxes), gt, "inter-ocular")
    assert err.mean() < 0.6 * base.mean(), (err, base)
    # the log records every epoch of both stages, with stage 2 not worse than where stage 1 ended
    with open(trained / "log.csv") as fh:
        rows = fh.read().splitlines()
    assert rows[0].startswith("phase,epoch") and len(rows) == 1 + 6
    log = [r.split(",") for r in rows[1:]]
    assert [r[0] for r in log] == ["stage1"] * 3 + ["stage2"] * 3
    assert float(log[-1][6]) <= float(log[2][6]) + 1e-9
    meta = json.loads((trained / "dan.json").read_text())
    assert meta["config"]["stages"] == 2 and len(meta["mean_shape"]) == 68
    assert meta["training"]["history"][-1]["phase"] == "stage2"


def _weights(path):
    return load_file(str(Path(path) / "dan.safetensors"))


def test_resume_after_kill_continues_from_the_same_step(builtin, tmp_path):
    images, gt, boxes = builtin
    opts = TrainOptions(stages=2, batch_size=16, perturbations=8, max_epochs=2, patience=5, val_count=0,
                        widths=(4, 8, 8, 16), checkpoint_every=3, progress=False, seed=7)
    quiet = dict(log=lambda m: None)
    train(images, gt, boxes, tmp_path / "a", opts, **quiet)              # 4 steps/epoch, 16 steps in all
    with pytest.raises(TrainingInterrupted):       # "killed" after global step 8; last checkpoint: step 7
        train(images, gt, boxes, tmp_path / "b", opts, interrupt_after=8, **quiet)
    state = json.loads((tmp_path / "b" / "checkpoint.json").read_text())
    assert (state["phase"], state["epoch"], state["step"], state["global_step"]) == (0, 1, 3, 7)
    assert not (tmp_path / "b" / "dan.safetensors").exists()
    with pytest.raises(OptionError, match="--resume"):
        train(images, gt, boxes, tmp_path / "b", opts, **quiet)
    logs = []
    train(images, gt, boxes, tmp_path / "b", opts, resume=True, log=logs.append)
    assert any("stage1 epoch 2 step 3 (global step 7) of a 2-stage run" in m for m in logs)
    wa, wb = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert wa.keys() == wb.keys()
    assert all((wa[k] == wb[k]).all() for k in wa), "resumed run diverged from the uninterrupted one"
    assert (tmp_path / "a" / "log.csv").read_text() == (tmp_path / "b" / "log.csv").read_text().replace(
        *_last_speed_columns(tmp_path))
    # a different seed gives different weights (the comparison above can fail)
    train(images, gt, boxes, tmp_path / "c", TrainOptions(**{**opts.__dict__, "seed": 8}), **quiet)
    wc = _weights(tmp_path / "c")
    assert any(not (wa[k] == wc[k]).all() for k in wa)


def test_a_run_stopped_between_the_checkpoints_two_writes_resumes_from_its_tensors(builtin, tmp_path):
    """checkpoint.safetensors is written before checkpoint.json: a kill between the two leaves the
    counters of the checkpoint before. The counters stored in the tensors' header win, and the
    resumed run ends with the uninterrupted run's weights."""
    images, gt, boxes = builtin
    opts = TrainOptions(stages=1, batch_size=16, perturbations=8, max_epochs=2, patience=5, val_count=0,
                        widths=(4, 8, 8, 16), checkpoint_every=3, progress=False, seed=5)
    quiet = dict(log=lambda m: None)
    train(images, gt, boxes, tmp_path / "a", opts, **quiet)
    for name, steps in (("early", 4), ("b", 8)):
        with pytest.raises(TrainingInterrupted):
            train(images, gt, boxes, tmp_path / name, opts, interrupt_after=steps, **quiet)
    early = json.loads((tmp_path / "early" / "checkpoint.json").read_text())
    assert early["global_step"] < json.loads((tmp_path / "b" / "checkpoint.json").read_text())["global_step"] == 7
    (tmp_path / "b" / "checkpoint.json").write_text(json.dumps(early))   # b's tensors, the earlier counters
    logs = []
    train(images, gt, boxes, tmp_path / "b", opts, resume=True, log=logs.append)
    assert any("does not match its tensors (global step 7)" in m for m in logs)
    wa, wb = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all((wa[k] == wb[k]).all() for k in wa), "resumed from the stale counters"


def test_a_checkpoint_without_counters_in_its_header_still_resumes_exactly(builtin, tmp_path):
    """Checkpoints written before the counters rode in the tensors' header resume from checkpoint.json."""
    from safetensors.torch import save_file

    images, gt, boxes = builtin
    opts = TrainOptions(stages=1, batch_size=16, perturbations=8, max_epochs=2, patience=5, val_count=0,
                        widths=(4, 8, 8, 16), checkpoint_every=3, progress=False, seed=6)
    quiet = dict(log=lambda m: None)
    train(images, gt, boxes, tmp_path / "a", opts, **quiet)
    with pytest.raises(TrainingInterrupted):
        train(images, gt, boxes, tmp_path / "b", opts, interrupt_after=6, **quiet)
    ckpt = tmp_path / "b" / "checkpoint.safetensors"
    save_file(load_file(str(ckpt)), str(ckpt))            # the same tensors, no header metadata
    train(images, gt, boxes, tmp_path / "b", opts, resume=True, **quiet)
    wa, wb = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all((wa[k] == wb[k]).all() for k in wa)


@pytest.mark.parametrize("damage", ["json", "tensors", "no tensors"])
def test_a_damaged_checkpoint_is_one_line_naming_the_file(builtin, tmp_path, damage):
    """`faceeval train dan --resume` on a damaged checkpoint: one line naming the file, no traceback."""
    from faceeval.errors import DataError

    images, gt, boxes = builtin
    opts = TrainOptions(stages=1, batch_size=16, perturbations=8, max_epochs=1, patience=5, val_count=0,
                        widths=(4, 8, 8, 16), checkpoint_every=1, progress=False, seed=5)
    with pytest.raises(TrainingInterrupted):
        train(images, gt, boxes, tmp_path, opts, interrupt_after=2, log=lambda m: None)
    name = "checkpoint.json" if damage == "json" else "checkpoint.safetensors"
    path = tmp_path / name
    if damage == "no tensors":
        path.unlink()
    else:
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(DataError) as info:
        train(images, gt, boxes, tmp_path, opts, resume=True, log=lambda m: None)
    message = str(info.value)
    assert message.startswith(f"{path}: cannot read a training checkpoint's") and "\n" not in message
    if damage != "json":        # the run's best weights, once there are some, are named as a place to start again
        best = tmp_path / "best.safetensors"
        assert not best.exists() and "--init-weights" not in message
        best.write_bytes(b"weights")
        with pytest.raises(DataError, match=f"with --init-weights {best} to keep its best weights"):
            train(images, gt, boxes, tmp_path, opts, resume=True, log=lambda m: None)


def test_cached_frozen_stages_train_like_running_them(builtin, tmp_path):
    images, gt, boxes = builtin
    opts = dict(stages=2, batch_size=16, perturbations=8, max_epochs=1, val_count=0, widths=(4, 8, 8, 16),
                progress=False, precision="fp32", seed=3)
    logs = []
    train(images, gt, boxes, tmp_path / "cached", TrainOptions(**opts), log=logs.append)
    assert any("cached the frozen stages' outputs for 64 samples" in m for m in logs)
    train(images, gt, boxes, tmp_path / "plain", TrainOptions(**opts, cache_frozen=False), log=lambda m: None)
    wa, wb = _weights(tmp_path / "cached"), _weights(tmp_path / "plain")
    for k in wa:
        assert torch.allclose(wa[k], wb[k], rtol=1e-3, atol=1e-4), k
    assert float(wa["stages.1.fc2.weight"].abs().sum()) > 0      # stage 2 did train (fc2 starts at zero)


def _last_speed_columns(tmp_path):
    """log.csv rows differ only in the measured img/s; align b's to a's for the comparison."""
    a = (tmp_path / "a" / "log.csv").read_text().splitlines()
    b = (tmp_path / "b" / "log.csv").read_text().splitlines()
    strip = lambda rows: [r.rsplit(",", 1)[0] for r in rows]  # noqa: E731
    assert strip(a) == strip(b)
    return "\n".join(b), "\n".join(a)


def _kill_processes_mentioning(marker: str) -> None:
    """SIGKILL every process whose command line contains ``marker`` (a unique tmp path)."""
    import signal
    from pathlib import Path

    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker in cmdline.read_bytes().decode(errors="replace"):
                os.kill(int(cmdline.parent.name), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def test_ddp_two_process_gloo_run_trains(builtin, tmp_path):
    images, gt, boxes = builtin
    base = point_to_point_error(MeanShape().predict(images, boxes), gt, "inter-pupil").mean()
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "faceeval_methods.dan", "--dataset", "builtin", "--out", str(out), "--stages", "1", "--max-epochs", "3",
           "--perturbations", "50", "--batch-size", "16", "--widths", "4,8,8,16", "--val-count", "0",
           "--no-progress", "--lr", "3e-3"]
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    finally:
        _kill_processes_mentioning(str(out))     # torchrun's workers outlive it if it is killed on timeout
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = json.loads((out / "dan.json").read_text())
    assert meta["training"]["world_size"] == 2
    hist = meta["training"]["history"]
    assert len(hist) == 3 and hist[-1]["global_step"] == 3 * (4 * 2 * 50 // 16)
    assert hist[-1]["best_val"] < 0.8 * base, (hist, base)         # it learned: well below the mean-shape error


def test_cli_trains_builtin_and_plugin_loads_it(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEEVAL_HOME", str(tmp_path / "home"))
    res = CliRunner().invoke(train_command, ["--dataset", "builtin", "--stages", "2", "--max-epochs", "1",
                                             "--finetune-epochs", "1", "--perturbations", "4", "--batch-size", "8",
                                             "--widths", "4,8,8,16", "--val-count", "0", "--no-progress"])
    assert res.exit_code == 0, res.output
    default = tmp_path / "home" / "weights" / "dan"
    assert (default / "dan.safetensors").is_file() and (default / "log.csv").is_file()
    log = (default / "log.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in log[1:]] == ["stage1", "stage2", "finetune"]
    # running it again without --resume refuses to overwrite; with --resume it says it is done
    again = CliRunner().invoke(main, ["train", "dan", "--dataset", "builtin", "--stages", "2", "--no-progress"])
    assert again.exit_code == 1 and "--resume" in again.output and "Traceback" not in again.output
    done = CliRunner().invoke(train_command, ["--dataset", "builtin", "--resume", "--no-progress"])
    assert done.exit_code == 0 and "already complete" in done.output
    assert "training DAN on builtin/all" in done.output      # a resumed run's stages are its own, not the default's
    dan = DAN.load()                        # the default location under $FACEEVAL_HOME
    ds = load_dataset("builtin")
    pred = dan.predict([s.load_image() for s in ds.samples], ds.boxes)
    assert pred.shape == (4, 68, 2) and np.isfinite(pred).all()
    assert DAN.train_command() is train_command


def test_max_minutes_stops_resumably_and_validation_curve_is_logged(builtin, tmp_path):
    """A time limit stops mid-epoch with a checkpoint; --resume then finishes with exactly the
    weights of an uninterrupted run. Validation every 2 steps gives the learning curve."""
    images, gt, boxes = builtin
    opts = dict(stages=1, batch_size=16, perturbations=8, max_epochs=2, patience=5, val_count=0,
                widths=(4, 8, 8, 16), progress=False, seed=11, validate_every=2)
    quiet = dict(log=lambda m: None)
    a_logs = []
    train(images, gt, boxes, tmp_path / "a", TrainOptions(**opts), log=a_logs.append)     # 4 steps per epoch
    logs = []
    train(images, gt, boxes, tmp_path / "b", TrainOptions(**opts, max_minutes=1e-9), log=logs.append)
    assert any("--max-minutes" in m and "continue with --resume" in m for m in logs)
    state = json.loads((tmp_path / "b" / "checkpoint.json").read_text())
    assert (state["global_step"], state["done"]) == (1, False)
    assert not (tmp_path / "b" / "dan.safetensors").exists()
    train(images, gt, boxes, tmp_path / "b", TrainOptions(**opts), resume=True, **quiet)
    wa, wb = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all((wa[k] == wb[k]).all() for k in wa)
    rows = (tmp_path / "a" / "curve.csv").read_text().splitlines()
    assert rows[0] == "phase,epoch,global_step,samples_seen,minutes,val_inter_pupil,val_inter_ocular"
    steps = [int(r.split(",")[2]) for r in rows[1:]]
    samples = [int(r.split(",")[3]) for r in rows[1:]]
    assert steps == [2, 4, 6, 8]            # mid-epoch at step 2 of each epoch, then each epoch's end
    assert samples == [16 * s for s in steps]
    # without a progress bar, each mid-epoch validation is one log line with the curve's figures
    io = {int(r.split(",")[2]): float(r.split(",")[6]) for r in rows[1:]}
    mid = [m for m in a_logs if m.startswith("stage1 step ")]
    assert [int(m.split()[2]) for m in mid] == [2, 6]
    for m in mid:
        step = int(m.split()[2])
        assert f"({16 * step:,} samples" in m and f"validation {io[step]:.3%} inter-ocular" in m
    best = json.loads((tmp_path / "a" / "best.json").read_text())
    curve_best = min(float(r.split(",")[5]) for r in rows[1:])
    assert best["val_inter_pupil"] == pytest.approx(curve_best, abs=1e-6)


def test_a_background_runs_log_says_where_it_is_at_each_checkpoint(builtin, tmp_path):
    """Without a progress bar, each mid-epoch checkpoint logs the step within the epoch, the speed
    since the previous checkpoint and when the epoch should end (the only sign of life between
    validations in a `setsid nohup` run's log); with the bar, no such lines."""
    images, gt, boxes = builtin
    opts = dict(stages=1, batch_size=16, perturbations=8, max_epochs=1, patience=5, val_count=0,
                widths=(4, 8, 8, 16), checkpoint_every=1, seed=2)
    logs = []
    train(images, gt, boxes, tmp_path / "a", TrainOptions(**opts, progress=False), log=logs.append)
    lines = [m for m in logs if m.startswith("stage1 epoch 1 step ")]
    # 4 * 8 * 2 / 16 = 4 steps: checkpoints after steps 1-3; the 4th ends the epoch (its own line)
    assert [int(m.split()[4]) for m in lines] == [1, 2, 3]
    for k, m in enumerate(lines, start=1):
        assert f"step {k} of 4 (global step {k}):" in m and m.endswith("; checkpoint written")
        rate = float(m.split("): ")[1].split(" images/s")[0])
        assert rate > 0 and "the epoch ends in about " in m
    quiet = []
    train(images, gt, boxes, tmp_path / "b", TrainOptions(**opts, progress=True), log=quiet.append)
    assert not [m for m in quiet if " of 4 (global step" in m]


def test_training_can_start_from_given_weights_at_a_later_stage(builtin, trained, tmp_path):
    """A new session without the old checkpoint starts from shipped/best weights: stage 1 kept
    exactly as given, only stage 2 trained, normalisation statistics taken over."""
    from faceeval.errors import OptionError

    images, gt, boxes = builtin
    opts = dict(stages=2, batch_size=16, perturbations=8, max_epochs=1, val_count=0, widths=(4, 8, 8, 16),
                progress=False, seed=5, init_weights=str(trained), start_stage=2)
    train(images, gt, boxes, tmp_path / "b", TrainOptions(**opts), log=lambda m: None)
    given, got = _weights(trained), _weights(tmp_path / "b")
    for k in given:
        if k.startswith("stages.0.") or k in ("norm_mean", "norm_std"):
            assert torch.equal(given[k], got[k]), k
    assert any(not torch.equal(given[k], got[k]) for k in given if k.startswith("stages.1."))
    history = json.loads((tmp_path / "b" / "dan.json").read_text())["training"]["history"]
    assert [h["phase"] for h in history] == ["stage2"]
    with pytest.raises(OptionError, match="its model differs"):
        train(images, gt, boxes, tmp_path / "c", TrainOptions(**{**opts, "widths": (4, 8, 8, 8)}), log=lambda m: None)
    with pytest.raises(OptionError, match="initial weights"):
        TrainOptions(stages=2, start_stage=2)


def test_stage_budget_ends_each_stage_at_its_first_epoch_end_after_the_budget(builtin, tmp_path):
    """The per-stage budget counts the stage's wall time (cache, validation, checkpoints included),
    so a spent budget moves on to the next stage rather than letting one stage eat the run."""
    images, gt, boxes = builtin
    opts = TrainOptions(stages=2, batch_size=16, perturbations=8, max_epochs=3, patience=100, val_count=0,
                        widths=(4, 8, 8, 16), progress=False, seed=3, stage_minutes=1e-9)
    train(images, gt, boxes, tmp_path, opts, log=lambda m: None)
    history = json.loads((tmp_path / "checkpoint.json").read_text())["history"]
    assert [(h["phase"], h["epoch"]) for h in history] == [("stage1", 1), ("stage2", 1)]
    assert (tmp_path / "dan.safetensors").exists()


def test_a_resumed_run_keeps_its_stage_budget_unless_a_new_one_is_given(builtin, tmp_path):
    """--stage-minutes may change on --resume (e.g. to give stage 1 longer); not given, the run's own stays."""
    import shutil

    images, gt, boxes = builtin
    opts = TrainOptions(stages=2, batch_size=16, perturbations=8, max_epochs=3, patience=100, val_count=0,
                        widths=(4, 8, 8, 16), checkpoint_every=1, progress=False, seed=3, stage_minutes=1e-9)
    with pytest.raises(TrainingInterrupted):                    # killed within stage 1's first epoch (4 steps)
        train(images, gt, boxes, tmp_path / "kept", opts, interrupt_after=2, log=lambda m: None)
    assert json.loads((tmp_path / "kept" / "checkpoint.json").read_text())["global_step"] >= 1
    shutil.copytree(tmp_path / "kept", tmp_path / "longer")
    for name, budget in (("kept", None), ("longer", 0.0)):     # 0: no budget, only --max-epochs/--patience
        train(images, gt, boxes, tmp_path / name, TrainOptions(stage_minutes=budget, progress=False), resume=True, log=lambda m: None)
    phases = {name: [(h["phase"], h["epoch"]) for h in
                     json.loads((tmp_path / name / "checkpoint.json").read_text())["history"]]
              for name in ("kept", "longer")}
    assert phases["kept"] == [("stage1", 1), ("stage2", 1)]
    assert phases["longer"] == [("stage1", 1), ("stage1", 2), ("stage1", 3), ("stage2", 1), ("stage2", 2),
                                ("stage2", 3)]
    saved = json.loads((tmp_path / "longer" / "checkpoint.json").read_text())["options"]
    assert saved["stage_minutes"] == 0.0 and saved["seed"] == 3          # the rest is the run's own


def test_given_weights_can_be_fine_tuned_end_to_end_without_training_a_stage_first(builtin, trained, tmp_path):
    """``--max-epochs 0 --finetune-epochs N`` with initial weights: the stages' own phases are
    skipped (they used to loop for ever) and only the end-to-end phase trains, every stage at once,
    starting from the given weights rather than from a reload of a best file that does not exist."""
    images, gt, boxes = builtin
    opts = TrainOptions(stages=2, batch_size=16, perturbations=8, max_epochs=0, finetune_epochs=1, finetune_lr=1e-3,
                        val_count=0, widths=(4, 8, 8, 16), progress=False, seed=2, init_weights=str(trained),
                        start_stage=2)
    train(images, gt, boxes, tmp_path, opts, log=lambda m: None)
    history = json.loads((tmp_path / "dan.json").read_text())["training"]["history"]
    assert [(h["phase"], h["epoch"]) for h in history] == [("finetune", 1)]
    given, got = _weights(trained), _weights(tmp_path)
    for prefix in ("stages.0.", "stages.1."):
        assert any(not torch.equal(given[k], got[k]) for k in given if k.startswith(prefix)), prefix
    images_err = point_to_point_error(DAN.load(tmp_path, precision="fp32").predict(images, boxes), gt, "inter-ocular")
    given_err = point_to_point_error(DAN.load(trained, precision="fp32").predict(images, boxes), gt, "inter-ocular")
    assert images_err.mean() < 1.5 * given_err.mean()   # fine-tuned from the given weights, not from scratch


def test_photometric_augmentation_is_seeded_bounded_and_does_what_each_range_says():
    from faceeval_methods.dan.augment import Photometric, photometric

    torch.manual_seed(0)
    frames = 60 + 120 * torch.rand(16, 1, 32, 32)
    gen = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    off = photometric(frames, Photometric(), gen())
    assert off is frames                                         # all ranges 0: untouched
    spec = Photometric(brightness=0.1, contrast=0.3, gamma=0.3, blur=1.5, noise=5, erase=0.5)
    a, b = photometric(frames, spec, gen()), photometric(frames, spec, gen())
    assert torch.equal(a, b) and float(a.min()) >= 0 and float(a.max()) <= 255
    # brightness alone shifts each frame by one constant within +-0.1 x 255
    shift = photometric(frames, Photometric(brightness=0.1), gen()) - frames
    per_frame = shift.flatten(1)
    assert torch.allclose(per_frame, per_frame[:, :1].expand_as(per_frame), atol=1e-4)
    assert float(per_frame.abs().max()) <= 25.5 + 1e-4 and float(per_frame.abs().max()) > 5
    # contrast keeps each frame's mean
    c = photometric(frames, Photometric(contrast=0.3), gen())
    torch.testing.assert_close(c.mean(dim=(1, 2, 3)), frames.mean(dim=(1, 2, 3)), rtol=0, atol=1e-3)
    # erase with probability 1: every frame has a constant rectangle of 2-20 % of its area
    e = photometric(frames, Photometric(erase=1.0), gen())
    changed = (e != frames).flatten(1).float().mean(1)
    assert bool((changed > 0.015).all()) and bool((changed <= 0.21).all())
    with pytest.raises(ValueError, match="erase is a probability"):
        Photometric(erase=1.5)


def test_photometric_training_records_its_ranges_and_runs_the_frozen_stage_every_step(builtin, tmp_path):
    images, gt, boxes = builtin
    opts = TrainOptions(stages=2, batch_size=16, perturbations=4, max_epochs=1, val_count=0, widths=(4, 8, 8, 16),
                        progress=False, precision="fp32", brightness=0.1, erase=0.3, lr_decay=0.5, lr_patience=1)
    logs = []
    train(images, gt, boxes, tmp_path / "p", opts, log=logs.append)
    assert not any("cached the frozen stages" in m for m in logs)     # the frames change every step
    meta = json.loads((tmp_path / "p" / "dan.json").read_text())
    assert meta["training"]["options"]["brightness"] == 0.1 and meta["training"]["options"]["erase"] == 0.3
    # the same options train to the same weights (every photometric draw is seeded)
    train(images, gt, boxes, tmp_path / "q", opts, log=lambda m: None)
    wa, wb = _weights(tmp_path / "p"), _weights(tmp_path / "q")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    with pytest.raises(OptionError, match="photometric augmentation: contrast"):
        TrainOptions(contrast=1.5)


def test_learning_rate_decays_after_epochs_without_improvement(builtin, tmp_path, monkeypatch):
    import faceeval_methods.dan.train as T

    images, gt, boxes = builtin
    monkeypatch.setattr(T, "validate", lambda *a, **k: (0.5, 0.5))   # never improves after the first epoch
    opts = TrainOptions(stages=1, batch_size=16, perturbations=4, max_epochs=5, patience=5, val_count=0,
                        widths=(4, 8, 8, 16), progress=False, precision="fp32", lr=1e-3, lr_decay=0.5,
                        lr_patience=2)
    logs = []
    train(images, gt, boxes, tmp_path / "d", opts, log=logs.append)
    with open(tmp_path / "d" / "log.csv") as fh:
        lrs = [float(r.split(",")[7]) for r in fh.read().splitlines()[1:]]
    # epoch 1 improves (first value); epochs 2, 3 do not -> halved for epoch 4; epochs 4, 5 do not -> halved
    assert lrs == pytest.approx([1e-3, 1e-3, 1e-3, 5e-4, 5e-4])
    assert any("2 epochs without improvement: learning rate 0.0005" in m for m in logs)


def test_the_photo_split_validates_on_whole_photos_and_records_them(tmp_path):
    from conftest import build_fake_300w

    tree = build_fake_300w(tmp_path / "300w", {"afw": 3, "lfpw/trainset": 4, "helen/trainset": 3})
    ds = load_dataset("300w", "train", tree.root)
    images = [s.load_image() for s in ds.samples]
    opts = TrainOptions(stages=1, batch_size=4, perturbations=2, max_epochs=1, val_count=3, val_split="photos",
                        widths=(4, 8, 8, 16), progress=False, precision="fp32")
    train(images, ds.ground_truth, ds.boxes, tmp_path / "out", opts, log=lambda m: None, ids=ds.ids)
    meta = json.loads((tmp_path / "out" / "dan.json").read_text())
    val = meta["training"]["validation_ids"]
    assert {v.split("/")[0] for v in val} == {"afw", "lfpw", "helen"} and len(val) >= 3
    assert meta["training"]["options"]["val_split"] == "photos"


def test_options_read_back_from_a_checkpoint_keep_integer_widths():
    from faceeval_methods.dan.train import _resumed_options

    saved = json.loads(json.dumps(dataclasses.asdict(TrainOptions(widths=(4, 8, 8, 16)))))   # as checkpoint.json
    assert saved["widths"] == [4, 8, 8, 16]
    back = _resumed_options(TrainOptions(), saved)
    assert back.widths == (4, 8, 8, 16) and all(type(w) is int for w in back.widths)
    assert TrainOptions(widths=["4", 8.0, 8, 16]).widths == (4, 8, 8, 16)


def _floating(tensors: dict, prefix: str = "") -> dict:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix) and v.is_floating_point()}


def test_weight_average_follows_the_trained_weights_step_by_step_and_resumes_exactly(builtin, tmp_path):
    """--ema: each checkpoint's average is the previous one moved towards the new live weights by the
    documented rate (recomputed here from two consecutive checkpoints), a killed run resumes to the
    same weights, and the best file holds the average, not the weights as trained."""
    import shutil

    images, gt, boxes = builtin
    opts = TrainOptions(stages=1, batch_size=16, perturbations=8, max_epochs=2, patience=5, val_count=0,
                        widths=(4, 8, 8, 16), checkpoint_every=1, progress=False, precision="fp32", seed=5,
                        lr=3e-3, ema=0.6)
    quiet = dict(log=lambda m: None)
    train(images, gt, boxes, tmp_path / "whole", opts, **quiet)           # 4 steps/epoch, 8 in all
    snaps = []
    for n in (3, 2, 2):      # killed with the last checkpoints at global steps 2, 3 and 4 (epoch 1's end)
        with pytest.raises(TrainingInterrupted):
            train(images, gt, boxes, tmp_path / "cut", opts, resume=True, interrupt_after=n, **quiet)
        snap = tmp_path / f"snap{len(snaps)}"
        shutil.copytree(tmp_path / "cut", snap)
        snaps.append(snap)
    states = [json.loads((s / "checkpoint.json").read_text()) for s in snaps]
    assert [s["global_step"] for s in states] == [2, 3, 4]
    assert [s["average_updates"] for s in states] == [2, 3, 4]
    for before, after, state in zip(snaps[:2], snaps[1:3], states[:2]):
        avg = _floating(load_file(str(before / "checkpoint.safetensors")), "average.")
        new = load_file(str(after / "checkpoint.safetensors"))
        n = state["average_updates"]
        rate = min(0.6, (1 + n) / (10 + n))
        live, got = _floating(new, "model."), _floating(new, "average.")
        assert got.keys() == live.keys() == avg.keys() and any("running_mean" in k for k in got)
        for k in got:
            assert torch.allclose(got[k], rate * avg[k] + (1 - rate) * live[k], rtol=1e-5, atol=1e-6), k
        assert any(not torch.equal(got[k], live[k]) for k in got)          # the average lags the weights
    # epoch 1's end validated (and kept, the first validation) the average: best = the average then
    best = _floating(load_file(str(snaps[2] / "best.safetensors")))
    end1 = _floating(load_file(str(snaps[2] / "checkpoint.safetensors")), "average.")
    assert all(torch.equal(best[k], end1[k]) for k in end1)
    train(images, gt, boxes, tmp_path / "cut", opts, resume=True, **quiet)
    wa, wb = _weights(tmp_path / "whole"), _weights(tmp_path / "cut")
    assert all(torch.equal(wa[k], wb[k]) for k in wa), "the resumed average diverged from the uninterrupted one"
    meta = json.loads((tmp_path / "whole" / "dan.json").read_text())["training"]
    assert meta["options"]["ema"] == 0.6
    assert meta["average_starts"] == [{"phase": "stage1", "global_step": 0, "decay": 0.6}]


def test_a_run_resumed_with_ema_averages_from_there_and_records_where(builtin, tmp_path):
    """--ema given on --resume starts the average at the checkpoint's step; not given, the run keeps its own."""
    images, gt, boxes = builtin
    opts = TrainOptions(stages=1, batch_size=16, perturbations=8, max_epochs=2, patience=5, val_count=0,
                        widths=(4, 8, 8, 16), checkpoint_every=1, progress=False, precision="fp32", seed=5)
    with pytest.raises(TrainingInterrupted):         # the last checkpoint: global step 2
        train(images, gt, boxes, tmp_path, opts, interrupt_after=3, log=lambda m: None)
    assert "average.stages.0.fc1.weight" not in load_file(str(tmp_path / "checkpoint.safetensors"))
    with pytest.raises(TrainingInterrupted):
        train(images, gt, boxes, tmp_path, TrainOptions(ema=0.9, checkpoint_every=1, progress=False), resume=True, interrupt_after=2,
              log=lambda m: None)
    state = json.loads((tmp_path / "checkpoint.json").read_text())
    assert state["options"]["ema"] == 0.9 and state["options"]["seed"] == 5
    assert state["average_starts"] == [{"phase": "stage1", "global_step": 2, "decay": 0.9}]
    assert state["global_step"] == 3 and state["average_updates"] == 1 and "average.stages.0.fc1.weight" in load_file(
        str(tmp_path / "checkpoint.safetensors"))
    with pytest.raises(TrainingInterrupted):         # the same decay again: the saved average goes on
        train(images, gt, boxes, tmp_path, TrainOptions(ema=0.9, checkpoint_every=1, progress=False), resume=True,
              interrupt_after=2, log=lambda m: None)
    state = json.loads((tmp_path / "checkpoint.json").read_text())
    assert state["global_step"] == 4 and state["average_updates"] == 2 and len(state["average_starts"]) == 1
    with pytest.raises(TrainingInterrupted):         # another decay: a new average from there, recorded
        train(images, gt, boxes, tmp_path, TrainOptions(ema=0.5, checkpoint_every=1, progress=False), resume=True,
              interrupt_after=2, log=lambda m: None)
    state = json.loads((tmp_path / "checkpoint.json").read_text())
    assert state["average_updates"] == 1 and state["average_starts"][-1] == {"phase": "stage1", "global_step": 4,
                                                                              "decay": 0.5}
    train(images, gt, boxes, tmp_path, TrainOptions(progress=False), resume=True, log=lambda m: None)  # no --ema
    meta = json.loads((tmp_path / "dan.json").read_text())["training"]
    assert meta["options"]["ema"] == 0.5 and meta["average_starts"] == state["average_starts"]
    with pytest.raises(OptionError, match="--ema"):
        TrainOptions(ema=1.0)


@pytest.mark.parametrize("args, bad", [(["--batch-size", "1"], "--batch-size"), (["--perturbations", "0"],
                                                                                    "--perturbations")])
def test_a_batch_or_perturbation_count_out_of_range_is_a_usage_line_before_any_work(tmp_path, args, bad):
    res = CliRunner().invoke(main, ["train", "dan", "--dataset", "builtin", "-o", str(tmp_path / "w"), *args])
    assert res.exit_code == 2 and bad in res.output and "Traceback" not in res.output, res.output
    assert not (tmp_path / "w").exists()                       # nothing was started
    with pytest.raises(OptionError, match="--batch-size must be >= 2"):    # the library says it in its terms too
        TrainOptions(batch_size=1)
    with pytest.raises(OptionError, match="--perturbations >= 1, got 64 and 0"):
        TrainOptions(perturbations=0)
