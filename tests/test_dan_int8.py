"""DAN at int8 and on fused bf16 kernels (CPU): close to float32, its own run key, calibration on
training faces (deterministic, stored beside the weights), and a warned fallback where the CPU lacks
int8 dot products."""
import json
import os
import warnings

import numpy as np
import pytest
from conftest import needs_extra_module, write_pack_files

needs_extra_module("dan")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from faceeval.cli import main as cli  # noqa: E402
from faceeval.datasets import load_dataset  # noqa: E402
from faceeval.errors import OptionError  # noqa: E402
from faceeval.methods import MethodWarning  # noqa: E402
from faceeval.metrics import point_to_point_error  # noqa: E402
from faceeval.runs import RunKey  # noqa: E402
from faceeval_methods import dan as dan_pkg  # noqa: E402
from faceeval_methods.dan import DAN  # noqa: E402
from faceeval_methods.dan.calibration import (activation_scales, calibrate, calibration_frames, calibration_path,  # noqa: E402
                                              load_calibration, record_hash, write_calibration)
from faceeval_methods.dan.calibration import main as calibration_main  # noqa: E402
from faceeval_methods.dan.device import cpu_has_fused_bf16, cpu_has_int8  # noqa: E402
from faceeval_methods.dan.fused import FusedStage, max_pool_2x2, quantize_per_channel  # noqa: E402
from faceeval_methods.dan.model import DANConfig, DANModel, fold_batchnorm  # noqa: E402
from faceeval_methods.dan.weights import PRETRAINED_DIR, save_weights  # noqa: E402

needs_int8 = pytest.mark.skipif(not cpu_has_int8(), reason="this CPU has no VNNI/AMX: int8 falls back")
SHIPPED = PRETRAINED_DIR / "dan.safetensors"


def _small_model(seed: int = 0) -> DANModel:
    torch.manual_seed(seed)
    m = DANModel(DANConfig(stages=2, widths=(8, 16, 16, 32)))
    for st in m.stages:
        torch.nn.init.normal_(st.fc2.weight, std=0.05)
    m.norm_mean.fill_(110.0)
    m.norm_std.fill_(60.0)
    # batch-norm statistics that are not the identity, so folding them matters
    for mod in m.modules():
        if isinstance(mod, (torch.nn.BatchNorm2d, torch.nn.BatchNorm1d)):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 2.0)
    return m.eval()


@pytest.fixture(scope="module")
def builtin_faces():
    ds = load_dataset("builtin")
    return [s.load_image() for s in ds.samples], ds.boxes, ds.ground_truth


def _mean_shift(a: np.ndarray, b: np.ndarray, gt: np.ndarray) -> float:
    """Mean point distance between two predictions, over the inter-ocular distance of the ground truth."""
    return float((np.linalg.norm(a - b, axis=-1).mean(1) / np.linalg.norm(gt[:, 36] - gt[:, 45], axis=-1)).mean())


# -- kernels ----------------------------------------------------------------------------------------

def test_two_by_two_pooling_on_channels_last_views_is_max_pool2d_for_uint8_and_bf16():
    torch.manual_seed(0)
    x = torch.randn(3, 16, 10, 8).contiguous(memory_format=torch.channels_last)
    for t in (x.bfloat16(), (x * 40 + 100).clamp(0, 255).to(torch.uint8)):
        out = max_pool_2x2(t)
        ref = F.max_pool2d(t.float(), 2).to(t.dtype)
        assert torch.equal(out, ref) and out.is_contiguous(memory_format=torch.channels_last)


def test_per_channel_weights_round_trip_within_half_a_step():
    torch.manual_seed(0)
    w = torch.randn(6, 3, 3, 3) * torch.tensor([0.01, 0.1, 1, 10, 100, 0.5]).view(-1, 1, 1, 1)
    q, s = quantize_per_channel(w)
    assert q.dtype == torch.int8 and s.shape == (6,)
    assert (q.abs().reshape(6, -1).amax(1) == 127).all()          # each channel uses the whole range
    assert ((q.float() * s.view(-1, 1, 1, 1) - w).abs() <= s.view(-1, 1, 1, 1) / 2 + 1e-9).all()


@pytest.mark.skipif(not cpu_has_fused_bf16(), reason="this CPU has no oneDNN bf16 (AVX512-BW/VL/DQ, AVX-NE-CONVERT, AMX)")
def test_fused_bf16_stages_predict_what_the_autocast_model_predicts(builtin_faces):
    m = _small_model()
    images, boxes, gt = builtin_faces
    fused = DAN(m, device="cpu", precision="bf16").predict(images, boxes)
    plain = DAN(m, device="cpu", precision="bf16", fused=False).predict(images, boxes)
    fp32 = DAN(m, device="cpu", precision="fp32").predict(images, boxes)
    assert DAN(m, device="cpu", precision="bf16").fused
    assert _mean_shift(fused, plain, gt) < 0.005            # bf16 rounding apart, nothing else
    assert _mean_shift(fused, fp32, gt) < 0.01


def test_bf16_without_onednn_bf16_runs_unfused_with_one_warning_and_the_autocast_numbers(monkeypatch, builtin_faces):
    # an AVX2-only CPU (seen here: an AMD EPYC without AVX-512): the fused bf16 kernels would raise in oneDNN
    monkeypatch.setattr(dan_pkg, "cpu_has_fused_bf16", lambda: False)
    m = _small_model()
    images, boxes, gt = builtin_faces
    with pytest.warns(MethodWarning, match="precision=bf16 runs without the fused kernels: this CPU has no AVX512"):
        d = DAN(m, device="cpu", precision="bf16")
    assert not d.fused and d.precision == "bf16"
    plain = DAN(m, device="cpu", precision="bf16", fused=False).predict(images, boxes)
    np.testing.assert_array_equal(d.predict(images, boxes), plain)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # fp32 and the explicit unfused bf16 do not warn
        DAN(m, device="cpu", precision="fp32")
        DAN(m, device="cpu", precision="bf16", fused=False)


def test_a_fused_stage_refuses_a_model_with_batch_norm_left_in():
    with pytest.raises(ValueError, match="folded"):
        FusedStage(_small_model().stages[0], "bf16")


# -- int8 against float32 ---------------------------------------------------------------------------

@needs_int8
def test_int8_predictions_stay_close_to_float32_on_the_builtin_faces(builtin_faces):
    m = _small_model()
    images, boxes, gt = builtin_faces
    folded = fold_batchnorm(m)
    record = {"stages": activation_scales(folded, calibration_frames(folded, images, boxes))}
    int8 = DAN(m, device="cpu", precision="int8", calibration=record)
    assert int8.precision == "int8" and int8.fused
    a = int8.predict(images, boxes)
    b = DAN(m, device="cpu", precision="fp32").predict(images, boxes)
    assert _mean_shift(a, b, gt) < 0.02
    # and they are not float32 in disguise: uint8 activations move the points a little
    assert _mean_shift(a, b, gt) > 1e-6


@needs_int8
@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped DAN weights")
def test_shipped_weights_at_int8_predict_real_faces_as_float32_does(builtin_faces):
    images, boxes, gt = builtin_faces
    int8 = DAN.load(PRETRAINED_DIR, precision="int8")           # the shipped calibration, no data needed
    fp32 = DAN.load(PRETRAINED_DIR, precision="fp32")
    a, b = int8.predict(images, boxes), fp32.predict(images, boxes)
    assert _mean_shift(a, b, gt) < 0.005                     # < 0.5% of the inter-ocular distance per point
    ea = point_to_point_error(a, gt, "inter-ocular").mean()
    eb = point_to_point_error(b, gt, "inter-ocular").mean()
    assert abs(ea / eb - 1) < 0.05


# -- run key, options, fallback ---------------------------------------------------------------------

@needs_int8
def test_int8_runs_have_their_own_key_with_the_calibration_in_it(tmp_path):
    m = _small_model()
    save_weights(m, tmp_path / "w")
    folded = fold_batchnorm(m)
    frames = torch.rand(4, 1, 112, 112) * 255
    record = {"format": "faceeval-dan-int8-calibration", "weights_hash": DAN.load(tmp_path / "w").weights_hash,
              "stages": activation_scales(folded, frames)}
    write_calibration(tmp_path / "w", record)
    ds = load_dataset("builtin")
    keys = {p: RunKey.of(DAN.load(tmp_path / "w", precision=p), ds, "boxes") for p in ("bf16", "int8", "fp32")}
    assert len({k.folder(tmp_path) for k in keys.values()}) == 3
    assert dict(keys["int8"].options)["precision"] == "int8"
    assert dict(keys["int8"].options)["calibration"] == record_hash(record)
    assert "calibration" not in dict(keys["bf16"].options)
    # other scales, another key: a recalibration never reuses stale predictions
    other = {**record, "stages": [{**s, "conv": [c * 1.01 for c in s["conv"]]} for s in record["stages"]]}
    write_calibration(tmp_path / "w", other)
    assert RunKey.of(DAN.load(tmp_path / "w", precision="int8"), ds, "boxes") != keys["int8"]


def test_int8_falls_back_with_a_warning_where_the_cpu_has_no_int8_dot_products(monkeypatch):
    monkeypatch.setattr(dan_pkg, "cpu_has_int8", lambda: False)
    monkeypatch.setattr(dan_pkg, "use_bf16", lambda precision, device: False)     # and no bf16 either
    with pytest.warns(MethodWarning, match="precision=int8 runs as fp32: this CPU has none of avx512_vnni"):
        d = DAN(_small_model(), device="cpu", precision="int8")
    assert d.precision == "fp32" and d.options()["precision"] == "fp32" and d.calibration is None
    assert not d.fused


def test_the_fallback_is_one_warning_line_in_faceeval_run(monkeypatch, tmp_path):
    monkeypatch.setattr(dan_pkg, "cpu_has_int8", lambda: False)
    save_weights(_small_model(), tmp_path / "w")
    res = CliRunner().invoke(cli, ["run", "dan", "--dataset", "builtin", "--weights", str(tmp_path / "w"),
                                   "-O", "precision=int8", "--results", str(tmp_path / "r"), "--no-progress",
                                   "--no-ci"])
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.output.splitlines() if "precision=int8" in ln]
    assert len(lines) == 1 and lines[0].startswith("warning: dan: -O precision=int8 runs as ")
    assert "precision=int8" not in "".join(p.name for p in (tmp_path / "r").rglob("*"))    # not stored as int8
    # the run's wall time, split: DAN times its crop and its model inside predict
    meta = json.loads(next((tmp_path / "r").rglob("meta.json")).read_text())
    assert meta["crop_seconds"] > 0 and meta["model_seconds"] > 0
    assert meta["crop_seconds"] + meta["model_seconds"] <= meta["predict_seconds"]
    time_line = [ln for ln in res.output.splitlines() if ln.startswith("time: ")]
    assert len(time_line) == 1 and ", crop " in time_line[0] and ", model " in time_line[0]


def test_faceeval_methods_lists_int8():
    res = CliRunner().invoke(cli, ["methods"])
    assert "-O precision=auto|fp32|bf16|int8" in res.output


@needs_int8
def test_int8_without_a_calibration_says_how_to_make_one(tmp_path):
    save_weights(_small_model(), tmp_path / "w")
    with pytest.raises(OptionError, match=r"dan\.int8\.json does not exist; make it with\n"
                                          r"    python -m faceeval_methods\.dan\.calibration"):
        DAN.load(tmp_path / "w", precision="int8")
    path = calibration_path(tmp_path / "w")
    path.write_text(json.dumps({"format": "faceeval-dan-int8-calibration", "weights_hash": "0123456789ab",
                                "stages": []}))
    with pytest.raises(OptionError, match="calibrated for other weights"):
        DAN.load(tmp_path / "w", precision="int8")
    path.write_text("{not json")
    with pytest.raises(OptionError, match="make it with"):
        DAN.load(tmp_path / "w", precision="int8")


# -- calibration ------------------------------------------------------------------------------------

def test_calibration_is_deterministic_and_sees_every_layer():
    folded = fold_batchnorm(_small_model())
    frames = torch.rand(6, 1, 112, 112, generator=torch.Generator().manual_seed(0)) * 255
    a = activation_scales(folded, frames, batch=4)
    assert a == activation_scales(fold_batchnorm(_small_model()), frames.clone(), batch=4)    # deterministic
    # other batching: the same up to float32 rounding (oneDNN picks its algorithm by batch size; on an AVX2 CPU
    # batches of 3 and 4 differ in the 6th digit)
    b = activation_scales(fold_batchnorm(_small_model()), frames.clone(), batch=3)
    assert [s["input"] for s in a] == [s["input"] for s in b]
    assert np.allclose([s["conv"] for s in a], [s["conv"] for s in b], rtol=1e-4, atol=0)
    assert len(a) == 2 and all(len(s["conv"]) == 8 for s in a)
    assert all(0 <= s["input"][1] <= 255 and s["input"][0] > 0 for s in a)
    # the largest ReLU output of the first convolution maps to 255
    with torch.inference_mode():
        stage = folded.stages[0]
        first = stage.features[2](stage.features[1](stage.features[0](folded._image(frames))))
    assert a[0]["conv"][0] * 255 == pytest.approx(float(first.max()), rel=1e-6)


@pytest.fixture
def pack(fake_300w):
    """A small 300W crop pack: 7 training faces, 6 test faces."""
    tree = fake_300w(dict(FAKE_COUNTS))
    write_pack_files(tree)
    return tree


FAKE_COUNTS = {"afw": 2, "lfpw/trainset": 3, "helen/trainset": 2, "lfpw/testset": 2, "helen/testset": 2, "ibug": 2}


def test_calibration_uses_training_faces_only_and_the_command_stores_it(pack, tmp_path, monkeypatch, capsys):
    save_weights(_small_model(), tmp_path / "w")
    seen = []
    real = activation_scales

    def spy(folded, frames, *a, **k):
        seen.append(frames.clone())
        return real(folded, frames, *a, **k)

    monkeypatch.setattr("faceeval_methods.dan.calibration.activation_scales", spy)
    record = calibrate(tmp_path / "w", pack.root, count=4)
    assert record["faces"] == 4 and "no test face" in record["faces_from"]
    # the frames are those of the first four training faces, not of any test face
    train = load_dataset("300w", "train", pack.root)
    folded = fold_batchnorm(_small_model())
    expected = calibration_frames(folded, [s.load_image() for s in train.samples[:4]], train.boxes[:4])
    assert torch.equal(seen[0], expected)
    assert calibrate(tmp_path / "w", pack.root, count=4) == record                        # deterministic
    with pytest.raises(SystemExit) as done:
        calibration_main([str(tmp_path / "w"), "--data-root", str(pack.root), "--count", "4"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith(f"wrote {calibration_path(tmp_path / 'w')} (4 training faces, scales ")
    stored = json.loads(calibration_path(tmp_path / "w").read_text())
    assert stored["stages"] == record["stages"]
    assert load_calibration(tmp_path / "w", DAN.load(tmp_path / "w").weights_hash, 2)["stages"] == record["stages"]


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped DAN weights")
def test_the_shipped_calibration_belongs_to_the_shipped_weights():
    record = load_calibration(PRETRAINED_DIR, DAN.load(PRETRAINED_DIR, precision="fp32").weights_hash, 2)
    assert record["faces"] == 100 and "train" in record["faces_from"] and len(record["stages"]) == 2


def test_commands_that_run_methods_let_openmp_threads_sleep_unless_told_otherwise(monkeypatch):
    import sys

    from faceeval.cli.common import sleeping_openmp_waits

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    sleeping_openmp_waits()                                  # torch already imported: too late, left alone
    assert "OMP_WAIT_POLICY" not in os.environ
    monkeypatch.delitem(sys.modules, "torch")
    sleeping_openmp_waits()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")          # the user's choice stands
    sleeping_openmp_waits()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


@needs_int8
def test_a_release_with_a_data_root_ships_the_calibration_of_its_weights(pack, tmp_path):
    from faceeval_methods.dan.release import release_calibration

    save_weights(_small_model(), tmp_path / "w")
    weights = tmp_path / "w" / "dan.safetensors"
    line = release_calibration(weights, pack.root)
    assert line.startswith(f"wrote {calibration_path(weights)} (int8 scales ")
    assert DAN.load(tmp_path / "w", precision="int8").calibration["faces"] == 7     # all 7 training faces
