"""The GPU route of DAN training, exercised on the CPU: pack -> gpu_train -> parts -> join -> load."""
import json

import numpy as np
import pytest

from conftest import needs_extra_module

needs_extra_module("dan")

from faceeval.datasets import load_dataset
from faceeval.io import DataError
from faceeval_methods.dan import DAN
from faceeval_methods.dan.augment import Canvases
from faceeval_methods.dan.config import frame_mean_shape
from faceeval_methods.dan.gpu_train import PART_BYTES, join_weights, main as gpu_main
from faceeval_methods.dan.pack import read_pack, write_pack


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


def test_gpu_script_returns_parts_that_rejoin_into_loadable_weights(pack, tmp_path):
    path, images, ds = pack
    out, work = tmp_path / "out", tmp_path / "work"
    with pytest.raises(SystemExit) as done:
        gpu_main(["--pack", str(path), "--out", str(out), "--work", str(work), "--minutes", "5", "--max-epochs", "1",
                  "--widths", "4,8,8,16", "--device", "cpu", "--validate-every", "2", "--export-every", "0"])
    assert done.value.code == 0
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
