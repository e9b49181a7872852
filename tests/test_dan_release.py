"""Shipping a training run's weights as DAN's default: int8, provenance, learning curve."""
import json

import numpy as np
import pytest

from conftest import needs_extra_module

needs_extra_module("dan")

from faceeval.datasets import load_dataset
from faceeval.io import DataError
from faceeval_methods.dan import DAN
from faceeval_methods.dan.release import release
from faceeval_methods.dan.train import TrainOptions, train
from faceeval_methods.dan.validation import held_out


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    """A narrow 2-stage training on the builtin faces, stopped by its time limit (not finished)."""
    ds = load_dataset("builtin")
    out = tmp_path_factory.mktemp("dan_run")
    opts = TrainOptions(stages=2, batch_size=16, perturbations=8, max_epochs=2, val_count=0, validate_every=2,
                        widths=(4, 8, 8, 16), progress=False, seed=2, max_minutes=1e-9)
    train([s.load_image() for s in ds.samples], ds.ground_truth, ds.boxes, out, opts, log=lambda m: None)
    return out, ds


def test_release_ships_int8_weights_with_provenance_and_curve(stopped_run, tmp_path):
    out, ds = stopped_run
    with pytest.raises(DataError, match="no dan.safetensors or best.safetensors"):
        release(out, None, tmp_path / "early")          # stopped before its first validation: nothing to ship
    train([s.load_image() for s in ds.samples], ds.ground_truth, ds.boxes, out,
           TrainOptions(max_minutes=0, progress=False), resume=True, log=lambda m: None)
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- dan-weights:begin -->\nold\n<!-- dan-weights:end -->\ntail\n")
    (tmp_path / "shipped").mkdir()
    (tmp_path / "shipped" / "dan.int8.json").write_text("{}")     # an older release's int8 calibration
    info = release(out, None, tmp_path / "shipped", {"dataset": "builtin", "faces": 4, "expected": None},
                   readme=readme)
    assert not (tmp_path / "shipped" / "dan.int8.json").exists()  # stale: removed, not left to mislead
    meta = json.loads((tmp_path / "shipped" / "dan.json").read_text())
    assert meta["provenance"] == json.loads(json.dumps(info))
    assert info["weights"] == "final" and info["data"]["dataset"] == "builtin"
    state = json.loads((out / "checkpoint.json").read_text())
    assert info["samples_seen_at_checkpoint"] == state["global_step"] * 16
    # the judge reads which faces the shipped weights held out (val_count 0: none, they validated on all 4)
    ids = ["0", "1", "2", "3"]                              # train() without ids names the faces by position
    assert info["validation_ids"] == state["validation_ids"] == ids and held_out(tmp_path / "shipped", ids) == set()
    text = readme.read_text()
    assert text.startswith("# x\n<!-- dan-weights:begin -->\n| shipped DAN weights |") and text.endswith(
        "<!-- dan-weights:end -->\ntail\n") and "old" not in text
    assert f"| training so far | {state['global_step'] * 16:,} samples" in text
    assert "| file | `shipped/dan.safetensors` (int8" in text
    # a page in a docs folder names the weights from the folder that holds both (the checkout), not by
    # this machine's absolute path
    page = tmp_path / "docs" / "training.md"
    page.parent.mkdir()
    page.write_text("<!-- dan-weights:begin -->\n<!-- dan-weights:end -->\n")
    release(out, None, tmp_path / "shipped", {"dataset": "builtin", "faces": 4, "expected": None}, readme=page)
    assert "| file | `shipped/dan.safetensors` (int8" in page.read_text() and str(tmp_path) not in page.read_text()
    best = info["best_validation"]
    assert f"{best['val_inter_ocular'] * 100:.2f}% inter-ocular" in text and "builtin: 4 of None faces" in text
    assert info["best_validation"]["phase"] == "stage2" and info["hardware"]
    assert (tmp_path / "shipped" / "curve.csv").read_text() == (out / "curve.csv").read_text()
    assert meta["quantization"]["scheme"].startswith("int8")
    images = [s.load_image() for s in ds.samples]
    a = DAN.load(out, precision="fp32").predict(images, ds.boxes)
    b = DAN.load(tmp_path / "shipped", precision="fp32").predict(images, ds.boxes)
    assert np.abs(a - b).max() < 0.5                   # int8 weights, same predictions to a fraction of a pixel
    assert len(DAN.load(tmp_path / "shipped").training_curve()) == len((out / "curve.csv").read_text().splitlines()) - 1


def test_release_of_a_folder_without_weights_names_it(tmp_path):
    (tmp_path / "checkpoint.json").write_text("{}")
    with pytest.raises(DataError, match="no dan.safetensors or best.safetensors"):
        release(tmp_path, None, tmp_path / "out")


def test_release_of_a_damaged_training_record_is_one_line_naming_it(tmp_path):
    from faceeval_methods.dan.release import main

    run = tmp_path / "run"
    run.mkdir()
    (run / "best.safetensors").write_bytes(b"")          # weights to release, so the records are read
    (run / "checkpoint.json").write_text('{"global_step": 3}')
    for name, what in (("best.json", "the best weights' record"), ("checkpoint.json", "the training state")):
        (run / name).write_text('{"global_step": 3,')
        with pytest.raises(SystemExit) as done:
            main([str(run), "--dest", str(tmp_path / "shipped")])
        assert str(done.value).startswith(f"Error: {run / name}: cannot read {what}: invalid JSON"), done.value
    assert not (tmp_path / "shipped").exists()          # refused before anything was written


@pytest.mark.parametrize("module, args", [("faceeval_methods.dan.pack", ["--out", "{tmp}/pack.npz"]),
                                          ("faceeval_methods.dan.quantize", ["{tmp}", "{tmp}/int8"]),
                                          ("faceeval_methods.dan.release", ["{tmp}"])])
def test_dan_tools_share_the_data_root_option(module, args, tmp_path, monkeypatch, capsys):
    """pack, quantize and release take --data-root as every faceeval command does: from
    $FACEEVAL_DATA_ROOT when not given (here a folder that does not exist, so nothing runs)."""
    import importlib

    missing = tmp_path / "no-such-300w"
    monkeypatch.setenv("FACEEVAL_DATA_ROOT", str(missing))
    with pytest.raises(SystemExit) as exc:
        importlib.import_module(module).main([a.format(tmp=tmp_path) for a in args])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "--data-root" in err and "does not exist" in err, err
    with pytest.raises(SystemExit) as exc:
        importlib.import_module(module).main(["--help"])
    assert exc.value.code == 0 and "FACEEVAL_DATA_ROOT" in capsys.readouterr().out


def test_train_dan_reads_the_data_root_from_the_environment(tmp_path):
    from click.testing import CliRunner

    from faceeval.cli import main

    missing = tmp_path / "no-such-300w"
    quick = ["--max-epochs", "1", "--perturbations", "2", "--batch-size", "8", "--widths", "4,8,8,16",
             "--val-count", "0", "--no-progress"]                 # (a short builtin run if the variable were ignored)
    res = CliRunner().invoke(main, ["train", "dan", "--out", str(tmp_path / "out"), *quick],
                             env={"FACEEVAL_DATA_ROOT": str(missing)})
    assert res.exit_code == 1 and str(missing) in res.output, res.output       # 300w at that root, not builtin


def test_weights_grown_from_earlier_weights_carry_their_whole_history(tmp_path):
    """Stage 2 trained from an earlier run's best weights (a new session, --init-weights): the
    release counts the earlier samples and minutes up to those weights, not the ones after,
    and its learning curve runs on from there; a release chains through another release."""
    import csv

    ds = load_dataset("builtin")
    images = [s.load_image() for s in ds.samples]
    small = dict(stages=2, batch_size=16, perturbations=8, max_epochs=2, val_count=0, validate_every=1,
                 widths=(4, 8, 8, 16), progress=False, seed=4)
    first, second, third = tmp_path / "first", tmp_path / "second", tmp_path / "third"
    train(images, ds.ground_truth, ds.boxes, first, TrainOptions(**small), log=lambda m: None)
    train(images, ds.ground_truth, ds.boxes, second,
          TrainOptions(**small, init_weights=str(first / "best.safetensors"), start_stage=2), log=lambda m: None)
    readme = tmp_path / "README.md"
    readme.write_text("<!-- dan-weights:begin -->\n<!-- dan-weights:end -->\n")
    info = release(second, None, tmp_path / "shipped", readme=readme)

    best = json.loads((first / "best.json").read_text())
    first_curve = list(csv.DictReader((first / "curve.csv").open()))
    second_curve = list(csv.DictReader((second / "curve.csv").open()))
    upto = [r for r in first_curve if int(r["global_step"]) <= best["global_step"]]
    assert len(upto) < len(first_curve)                  # the first run went on past its best
    start = info["initial_weights"]
    assert start["contributed_samples"] == best["samples_seen"]
    assert start["contributed_minutes"] == float(upto[-1]["minutes"])
    # the released weights are the second run's best: what it trained after them is not behind them
    second_best = json.loads((second / "best.json").read_text())
    second_upto = [r for r in second_curve if int(r["global_step"]) <= second_best["global_step"]]
    assert info["samples_seen_in_all"] == second_best["samples_seen"] + best["samples_seen"]
    assert info["training_minutes_in_all"] == round(float(second_upto[-1]["minutes"]) + float(upto[-1]["minutes"]), 2)
    assert info["best_validation"]["minutes"] == float(second_upto[-1]["minutes"])
    shipped_curve = list(csv.DictReader((tmp_path / "shipped" / "curve.csv").open()))
    assert shipped_curve[:len(upto)] == upto and len(shipped_curve) == len(upto) + len(second_upto)
    assert int(shipped_curve[-1]["samples_seen"]) == info["samples_seen_in_all"]     # the curve ends at the weights
    after = shipped_curve[len(upto)]
    assert int(after["samples_seen"]) == int(second_curve[0]["samples_seen"]) + best["samples_seen"]
    assert after["phase"] == "stage2" and after["val_inter_ocular"] == second_curve[0]["val_inter_ocular"]
    text = readme.read_text()
    assert f"| in all | {info['samples_seen_in_all']:,} samples" in text and "| started from | `best.safetensors`" in text

    train(images, ds.ground_truth, ds.boxes, third,
          TrainOptions(**small, init_weights=str(tmp_path / "shipped"), start_stage=2), log=lambda m: None)
    chained = release(third, None, tmp_path / "shipped-again")
    assert chained["initial_weights"]["contributed_samples"] == info["samples_seen_in_all"]
    third_best = json.loads((third / "best.json").read_text())
    assert chained["samples_seen_in_all"] == third_best["samples_seen"] + info["samples_seen_in_all"]
    again_curve = list(csv.DictReader((tmp_path / "shipped-again" / "curve.csv").open()))
    assert again_curve[:len(shipped_curve)] == shipped_curve
    assert int(again_curve[-1]["samples_seen"]) == chained["samples_seen_in_all"]


def test_a_run_that_went_on_past_its_best_counts_only_the_training_up_to_it(tmp_path):
    """From scratch, no earlier weights: the release's 'in all' (what the caveat and README say)
    is the samples and minutes up to the best validation, not the whole run's."""
    import csv

    ds = load_dataset("builtin")
    images = [s.load_image() for s in ds.samples]
    # a learning rate far too high: the validation error climbs after the first step, so the run's best
    # comes early and it trains on past it (seeds 0-4, 1 or 2 threads: best at step 1 of 12)
    opts = TrainOptions(stages=1, batch_size=16, perturbations=8, max_epochs=3, val_count=0, validate_every=1,
                        widths=(4, 8, 8, 16), progress=False, seed=4, lr=0.05)
    train(images, ds.ground_truth, ds.boxes, tmp_path / "run", opts, log=lambda m: None)
    best = json.loads((tmp_path / "run" / "best.json").read_text())
    curve = list(csv.DictReader((tmp_path / "run" / "curve.csv").open()))
    assert int(curve[-1]["global_step"]) > best["global_step"]          # it went on past its best
    at_best = next(r for r in curve if int(r["global_step"]) == best["global_step"])
    info = release(tmp_path / "run", None, tmp_path / "shipped")
    assert info["samples_seen_in_all"] == best["samples_seen"] < info["samples_seen_at_checkpoint"]
    assert info["training_minutes_in_all"] == float(at_best["minutes"])
    shipped = list(csv.DictReader((tmp_path / "shipped" / "curve.csv").open()))
    assert shipped == curve[:curve.index(at_best) + 1]


def test_the_recipe_row_names_every_departure_from_the_released_recipe(tmp_path):
    """The weights' description is written from their training options: the released recipe in
    brief, and each change to it (augmentation, ranges, schedule, validation split) with its value."""
    from dataclasses import asdict

    from faceeval_methods.dan.release import readme_block, recipe_text
    from faceeval_methods.dan.train import TrainOptions

    cfg = {"stages": 2, "input_bn": True}
    released = recipe_text(asdict(TrainOptions()), cfg)
    assert released == ("2 stages, stage by stage; Adam 0.001, batch 64; 10 fixed perturbations per face + mirrors "
                        "(translation released, rotation σ 20°, scale σ 0.25); input batch norm of stage 2: True")
    changed = asdict(TrainOptions(lr=5e-4, lr_decay=0.5, lr_patience=1, augment="fresh", rotation=30, scale=0.3,
                                  contrast=0.2, erase=0.1, init_weights="w", start_stage=2, finetune_epochs=3,
                                  finetune_lr=5e-5, mirror=False, ema=0.998))
    text = recipe_text(changed, cfg, [{"phase": "stage2", "global_step": 6054, "decay": 0.998}])
    for part in ("stage by stage from stage 2", "Adam 0.0005 (×0.5 after 1 epoch(s) without improvement)",
                 "moving average of the weights, decay 0.998 per step (from stage2 step 6054)",
                 "10 fresh perturbations per face (translation released, rotation σ 30°, scale σ 0.3)",
                 "photometric: contrast 0.2, erase 0.1", "end-to-end fine-tuning up to 3 epochs at 5e-05"):
        assert part in text, part
    assert "mirrors" not in text and "brightness" not in text and "average" not in released
    photos = asdict(TrainOptions(val_split="photos", val_count=300))
    weights = tmp_path / "dan.safetensors"
    weights.write_bytes(b"0")
    block = readme_block({"provenance": {"options": photos}, "config": cfg}, weights)
    assert "300 faces of whole photos held out for validation" in block
