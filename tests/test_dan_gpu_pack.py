"""The GPU route of DAN training, exercised on the CPU: pack -> gpu_train -> parts -> join -> load."""
import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from conftest import needs_extra_module

needs_extra_module("dan")

import torch

from faceeval.datasets import load_dataset
from faceeval.io import DataError
from faceeval_methods.dan import DAN
from faceeval_methods.dan.augment import Canvases
from faceeval_methods.dan.config import frame_mean_shape
from faceeval_methods.dan.gpu_train import PART_BYTES, export_weights, join_weights, main as gpu_main
from faceeval_methods.dan.pack import read_pack, write_pack
from faceeval_methods.dan.validation import held_out


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    ds = load_dataset("builtin")
    path = tmp_path_factory.mktemp("pack") / "pack.npz"
    images = [s.load_image() for s in ds.samples]
    write_pack(path, images, ds.ground_truth, ds.boxes, ds.ids, np.full(4, 0.5), val_count=0)
    return path, images, ds


def test_pack_holds_the_canvases_the_cpu_trainer_builds(pack):
    path, images, ds = pack
    data = read_pack(path)
    direct = Canvases(images, ds.ground_truth, frame_mean_shape(), 112, translation="released",
                      photo_scales=np.full(4, 0.5))
    assert data["canvases"].shape == (4, 1, 224, 224) and data["canvases"].dtype == np.uint8
    diff = np.abs(data["canvases"].astype(float) - direct.images.numpy().astype(float))
    assert diff.mean() < 1.5                                   # JPEG, quality 92
    np.testing.assert_allclose(data["shapes"], direct.shapes.numpy(), atol=1e-5)
    np.testing.assert_allclose(data["translation_scale"], direct.translation_scale.numpy(), rtol=1e-6)
    assert data["val_frames"].shape == (4, 112, 112) and data["meta"]["translation"] == "released"
    assert list(data["val_ids"]) == ds.ids


SMALL_GPU_RUN = ["--minutes", "5", "--max-epochs", "1", "--widths", "4,8,8,16", "--device", "cpu",
                 "--validate-every", "2", "--export-every", "0"]


@pytest.fixture(scope="module")
def gpu_run(pack, tmp_path_factory):
    """One 2-stage run of the GPU script on the CPU: its returned folder and its work folder."""
    path, images, ds = pack
    base = tmp_path_factory.mktemp("gpu")
    out, work = base / "out", base / "work"
    with pytest.raises(SystemExit) as done:
        gpu_main(["--pack", str(path), "--out", str(out), "--work", str(work)] + SMALL_GPU_RUN)
    assert done.value.code == 0
    return out, work


def test_gpu_script_returns_parts_that_rejoin_into_loadable_weights(pack, gpu_run, tmp_path):
    path, images, ds = pack
    out, work = gpu_run
    figures = json.loads((out / "figures.json").read_text())
    for key in ("train_img_s", "infer_batch256_img_s", "latency_batch1_ms", "stage1_epochs", "stage2_epochs"):
        assert figures[key] > 0, key
    parts = sorted(out.glob("dan.safetensors.part*"))
    assert parts and all(p.stat().st_size <= PART_BYTES for p in parts)
    joined = join_weights(out, tmp_path / "joined")
    a = DAN.load(joined, precision="fp32").predict(images, ds.boxes)
    b = DAN.load(work / "dan.safetensors", precision="fp32").predict(images, ds.boxes)
    np.testing.assert_allclose(a, b, atol=0.05)                 # float16 export of the large tensors
    parts[0].write_bytes(parts[0].read_bytes()[:-1] + b"x")
    with pytest.raises(DataError, match=r"part0: checksum mismatch"):
        join_weights(out, tmp_path / "again")
    # a part not copied back, or a damaged record: `join` says so in one line naming the file
    parts[-1].unlink()
    with pytest.raises(SystemExit) as done:
        gpu_main(["join", str(out), str(tmp_path / "again")])
    assert str(done.value).startswith(f"Error: {parts[-1]}: cannot read a weight part") and "\n" not in str(done.value)
    (out / "dan.json").write_text('{"parts": [')
    with pytest.raises(SystemExit) as done:
        gpu_main(["join", str(out), str(tmp_path / "again")])
    assert str(done.value).startswith(f"Error: {out / 'dan.json'}: cannot read the parts' record: invalid JSON")
    assert not (tmp_path / "again").exists()                    # nothing half-written


def test_pack_made_for_another_frame_or_split_is_refused(pack):
    from faceeval_methods.dan.config import DANConfig
    from faceeval_methods.dan.model import DANModel
    from faceeval_methods.dan.pack import check_pack_matches
    from faceeval_methods.dan.train import TrainOptions

    data = read_pack(pack[0])
    narrow = dict(stages=1, widths=(4, 8, 8, 16))
    check_pack_matches(data, TrainOptions(val_count=0), DANModel(DANConfig(**narrow)))        # its own: fine
    with pytest.raises(DataError, match="different frame mean shape"):
        check_pack_matches(data, TrainOptions(val_count=0), DANModel(DANConfig(**narrow, frame_fraction=0.3)))
    with pytest.raises(DataError, match=r"val_count 0 \(options: 100\)"):
        check_pack_matches(data, TrainOptions(val_count=100), DANModel(DANConfig(**narrow)))


PHOTO_IDS = ["f1/p_1", "f1/p_2", "f1/q_1", "f2/r_1"]      # photo f1/p has two faces


@pytest.fixture(scope="module")
def photo_pack(pack, tmp_path_factory):
    _, images, ds = pack
    path = tmp_path_factory.mktemp("photo-pack") / "pack.npz"
    write_pack(path, images, ds.ground_truth, ds.boxes, PHOTO_IDS, np.full(4, 0.5), val_count=1, val_split="photos")
    return path


def test_a_photo_split_pack_holds_out_whole_photos_as_the_cpu_trainer_does(pack, photo_pack):
    from faceeval_methods.dan.config import DANConfig
    from faceeval_methods.dan.model import DANModel
    from faceeval_methods.dan.pack import check_pack_matches
    from faceeval_methods.dan.train import TrainOptions, prepare_data

    _, images, ds = pack
    data = read_pack(photo_pack)
    # one face asked for, but photo f1/p has two: both validate, neither trains
    assert list(data["val_ids"]) == ["f1/p_1", "f1/p_2"] and list(data["ids"]) == ["f1/q_1", "f2/r_1"]
    assert data["meta"]["val_split"] == "photos" and data["meta"]["n_val"] == 2 and data["meta"]["n_train"] == 2
    opts = TrainOptions(val_count=1, val_split="photos")
    model = DANModel(DANConfig(stages=1, widths=(4, 8, 8, 16)))
    cpu = prepare_data(images, ds.ground_truth, ds.boxes, opts, model, torch.device("cpu"), np.full(4, 0.5),
                       PHOTO_IDS)
    np.testing.assert_allclose(data["val_gt"], cpu.val_gt.numpy(), atol=1e-5)
    np.testing.assert_allclose(data["shapes"], cpu.canvases.shapes.numpy(), atol=1e-5)
    np.testing.assert_array_equal(data["val_frames"], cpu.val_frames[:, 0].round().clamp(0, 255).to(torch.uint8))
    check_pack_matches(data, opts, model)
    with pytest.raises(DataError, match=r"val_split 'photos' \(options: 'first'\)"):
        check_pack_matches(data, TrainOptions(val_count=1, val_split="first"), model)


def make_gpu_recipe() -> list[str]:
    """The recipe ``make gpu-train`` passes by default (``GPU_RECIPE`` in the Makefile)."""
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    return shlex.split(re.search(r"^GPU_RECIPE \?= (.*)$", makefile, re.M).group(1))


def test_gpu_script_trains_with_the_recipe_options_and_records_the_split(photo_pack, tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    with pytest.raises(SystemExit) as done:
        gpu_main(["--pack", str(photo_pack), "--out", str(out), "--work", str(work), "--minutes", "5",
                  "--max-epochs", "1", "--stages", "1", "--widths", "4,8,8,16", "--device", "cpu",
                  "--export-every", "0", "--brightness", "0.1", "--rotation", "30", "--perturbations", "2"]
                 + make_gpu_recipe())
    assert done.value.code == 0
    training = json.loads((out / "dan.json").read_text())["training"]
    options = training["options"]
    assert (options["augment"], options["brightness"], options["lr_decay"], options["lr_patience"],
            options["rotation"], options["perturbations"], options["ema"]) == ("fresh", 0.1, 0.5, 1, 30.0, 2, 0.998)
    assert (options["val_split"], options["val_count"]) == ("photos", 1)
    assert training["validation_ids"] == ["f1/p_1", "f1/p_2"]
    # 2 training faces x 2 perturbations x 2 (mirrors) = 8 samples, batch 64: one step per epoch
    assert training["samples_seen"] == 64
    # a run cut off by its time budget returns its best weights: they carry the run's record too
    assert "training" not in json.loads((work / "best.json").read_text())
    export_weights(work / "best.safetensors", tmp_path / "cut", {"partial": True})
    joined = join_weights(tmp_path / "cut", tmp_path / "joined")
    assert held_out(joined, PHOTO_IDS) == {"f1/p_1", "f1/p_2"}


def test_gpu_script_refuses_a_bad_recipe_in_one_line(photo_pack, tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        gpu_main(["--pack", str(photo_pack), "--out", str(tmp_path / "out"), "--rotation", "-3"])
    assert str(done.value) == "Error: --rotation must be in [0, 180] degrees and --scale in [0, 1], got -3 and 0.25"
    assert not (tmp_path / "out").exists()                      # refused before any work


def test_gpu_script_starts_from_given_weights_and_keeps_their_first_stage(pack, gpu_run, tmp_path):
    from safetensors.torch import load_file

    path, images, ds = pack
    init = gpu_run[1] / "dan.safetensors"
    given = ["--pack", str(path), "--init-weights", str(init), "--start-stage", "2"]
    with pytest.raises(SystemExit) as done:
        gpu_main(given + ["--out", str(tmp_path / "out"), "--work", str(tmp_path / "work"), "--augment", "fresh"]
                 + SMALL_GPU_RUN)
    assert done.value.code == 0
    training = json.loads((tmp_path / "out" / "dan.json").read_text())["training"]
    assert (training["options"]["init_weights"], training["options"]["start_stage"]) == (str(init), 2)
    figures = json.loads((tmp_path / "out" / "figures.json").read_text())
    assert "stage1_epochs" not in figures and figures["stage2_epochs"] == 1
    # with only stage 2 to train, it gets the whole budget, not --stage1-share of it
    assert training["options"]["stage_minutes"] == 5
    before, after = load_file(str(init)), load_file(str(tmp_path / "work" / "dan.safetensors"))
    first = [k for k in before if k.startswith("stages.0.")]
    assert first and all(torch.equal(before[k], after[k]) for k in first)
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("stages.1."))
    # weights of another architecture are refused in one line, before any training
    with pytest.raises(SystemExit) as done:
        gpu_main(given + ["--out", str(tmp_path / "out3"), "--work", str(tmp_path / "work3"), "--stages", "3"]
                 + SMALL_GPU_RUN)
    assert str(done.value).startswith(f"Error: {init}: its model differs from the one to train")
    assert not (tmp_path / "work3" / "checkpoint.json").exists()
