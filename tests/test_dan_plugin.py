"""The DAN plugin: weights files (no pickle), missing weights, batched predict, bf16 vs fp32."""
import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import needs_extra_module

needs_extra_module("dan")

import torch

from faceeval.datasets import load_dataset
from faceeval.errors import DataError
from faceeval.methods import MissingWeightsError, method_class
from faceeval_methods.dan import DAN, DANConfig, DANModel, load_weights, save_weights
from faceeval_methods.dan.augment import box_initialisation, frame_transforms, warp_to_frames

REPO = Path(__file__).resolve().parents[1]


class _Trap:
    """Unpickling it creates the file ``path`` (a harmless stand-in for code run by a pickle)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _random_model(stages=2, seed=0):
    """A narrow model whose every layer matters (fc2 not zero, BN statistics non-trivial)."""
    torch.manual_seed(seed)
    m = DANModel(DANConfig(stages=stages, widths=(4, 8, 8, 16)))
    for st in m.stages:
        torch.nn.init.normal_(st.fc2.weight, std=0.2)
        for mod in st.modules():
            if isinstance(mod, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                mod.running_mean.uniform_(-0.1, 0.1)
                mod.running_var.uniform_(0.5, 2.0)
    m.norm_mean.fill_(100.0)
    m.norm_std.fill_(50.0)
    return m.eval()


@pytest.fixture(scope="module")
def faces():
    ds = load_dataset("builtin")
    return [s.load_image() for s in ds.samples], ds.boxes, ds.ground_truth


def test_registered_and_missing_weights_message(tmp_path, monkeypatch):
    import faceeval_methods.dan.weights as W

    assert method_class("dan") is DAN
    monkeypatch.setenv("FACEEVAL_HOME", str(tmp_path))
    monkeypatch.setattr(W, "PRETRAINED_DIR", tmp_path / "shipped")          # as if none shipped
    with pytest.raises(MissingWeightsError, match=r"faceeval train dan --data-root .* --stages 2") as exc:
        DAN.load()
    assert str(tmp_path / "weights" / "dan") in str(exc.value)
    with pytest.raises(MissingWeightsError, match="--out"):
        DAN.load(tmp_path / "elsewhere")


def test_default_weights_are_the_trained_ones_else_the_shipped_ones(tmp_path, monkeypatch):
    import faceeval_methods.dan.weights as W

    monkeypatch.setenv("FACEEVAL_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(W, "PRETRAINED_DIR", tmp_path / "shipped")
    save_weights(_random_model(seed=1), tmp_path / "shipped")
    assert DAN.load().weights_path == tmp_path / "shipped" / "dan.safetensors"
    save_weights(_random_model(seed=2), tmp_path / "home" / "weights" / "dan")
    assert DAN.load().weights_path == tmp_path / "home" / "weights" / "dan" / "dan.safetensors"


def test_weights_roundtrip_is_exact_and_never_unpickles(tmp_path):
    m = _random_model()
    tensors, config = save_weights(m, tmp_path / "w")
    assert tensors.name == "dan.safetensors" and config.name == "dan.json"
    meta = json.loads(config.read_text())
    assert meta["config"]["stages"] == 2 and np.allclose(meta["mean_shape"], m.mean_shape.numpy(), atol=1e-5)
    m2 = load_weights(tmp_path / "w")
    for k, v in m.state_dict().items():
        assert torch.equal(v, m2.state_dict()[k]), k
    x = torch.rand(3, 1, 112, 112) * 255
    with torch.inference_mode():
        assert torch.equal(m(x)[-1], m2.eval()(x)[-1])
    # a pickle under the weights name is refused, not executed: unpickling this one would create a file
    marker = tmp_path / "unpickled"
    torch.save({"weights": _Trap(str(marker))}, tensors)
    with pytest.raises(DataError, match=r"dan\.safetensors: not a safetensors weights file"):
        load_weights(tmp_path / "w")
    assert not marker.exists()
    import pickle

    pickle.loads(pickle.dumps(_Trap(str(marker))))          # the trap does work when unpickled
    assert marker.exists()


def test_predict_is_batched_consistent_and_handles_grey_rgb(tmp_path, faces):
    images, boxes, gt = faces
    save_weights(_random_model(), tmp_path)
    dan = DAN.load(tmp_path, precision="fp32")
    assert len(dan.weights_hash) == 12 and dan.provenance()["method"] == "dan"
    pred = dan.predict(images, boxes)
    assert pred.shape == (4, 68, 2) and pred.dtype == np.float64 and np.isfinite(pred).all()
    one = np.concatenate([dan.predict([im], b[None]) for im, b in zip(images, boxes)])
    np.testing.assert_allclose(pred, one, atol=1e-3)
    # a grey image and its RGB copy give the same shape; predictions sit near the face box
    grey = images[1] if images[1].ndim == 2 else images[1][..., 0]
    rgb = np.stack([grey] * 3, -1)
    np.testing.assert_allclose(dan.predict([grey], boxes[1:2]), dan.predict([rgb], boxes[1:2]), atol=1e-2)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    assert (np.abs(pred.mean(1) - centre) < (boxes[:, 2:] - boxes[:, :2]) * 0.5).all()
    assert dan.predict([], np.zeros((0, 4))).shape == (0, 68, 2)
    with pytest.raises(ValueError, match="images but"):
        dan.predict(images[:2], boxes)
    # fewer stages on request
    assert DAN.load(tmp_path, precision="fp32", stages=1).predict(images, boxes).shape == (4, 68, 2)


def test_inference_does_not_import_the_training_module(tmp_path):
    """Loading DAN through the registry and predicting needs its device helpers (faceeval_methods.dan.device),
    not faceeval_methods.dan.train (the training loop, its command line and checkpoints)."""
    save_weights(_random_model(), tmp_path)
    code = ("import sys\n"
            "from faceeval.datasets import load_dataset\n"
            "from faceeval.methods import method_class\n"
            "ds = load_dataset('builtin')\n"
            f"dan = method_class('dan').load({str(tmp_path)!r}, precision='fp32')\n"
            "pred = dan.predict([s.load_image() for s in ds.samples], ds.boxes)\n"
            "assert pred.shape == (len(ds), 68, 2), pred.shape\n"
            "print(sorted(m for m in sys.modules if m.startswith('faceeval_methods.dan')))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = ast.literal_eval(proc.stdout.strip().splitlines()[-1])
    assert "faceeval_methods.dan" in loaded and "faceeval_methods.dan.device" in loaded
    assert "faceeval_methods.dan.train" not in loaded, loaded


def test_bf16_predictions_stay_close_to_fp32(tmp_path, faces):
    images, boxes, gt = faces
    save_weights(_random_model(seed=3), tmp_path)
    p32 = DAN.load(tmp_path, precision="fp32").predict(images, boxes)
    p16 = DAN.load(tmp_path, precision="bf16").predict(images, boxes)
    init = box_initialisation(boxes)
    moved = np.linalg.norm(p32 - init, axis=-1).mean()
    assert moved > 1.0                                       # the model does move the shape
    diff = np.linalg.norm(p16 - p32, axis=-1).mean()
    assert diff < 0.05 * moved, (diff, moved)


def test_frame_cropping_matches_the_model_frame(faces):
    images, boxes, gt = faces
    m = DANModel(DANConfig(stages=1, widths=(4, 8, 8, 16)))
    frame = m.mean_shape.double().numpy()
    tr = frame_transforms(box_initialisation(boxes), frame)
    frames = warp_to_frames(images, tr, 112)
    assert frames.shape == (4, 1, 112, 112) and 0 <= float(frames.min()) and float(frames.max()) <= 255
    # the box-initialised shape lands exactly on the frame's mean shape
    from faceeval.geometry import apply_affine
    np.testing.assert_allclose(apply_affine(box_initialisation(boxes), tr), np.broadcast_to(frame, (4, 68, 2)),
                               atol=1e-6)


def test_folded_batchnorm_gives_the_same_predictions(tmp_path, faces):
    images, boxes, gt = faces
    m = _random_model(seed=5)
    for st in m.stages:                      # non-trivial affine BN parameters too
        for mod in st.modules():
            if isinstance(mod, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                mod.weight.data.uniform_(0.5, 1.5)
                mod.bias.data.uniform_(-0.2, 0.2)
    save_weights(m, tmp_path)
    folded = DAN.load(tmp_path, precision="fp32")
    plain = DAN.load(tmp_path, precision="fp32", fold_bn=False)
    assert not any(isinstance(x, torch.nn.BatchNorm2d) for x in folded.model.modules())
    assert any(isinstance(x, torch.nn.BatchNorm2d) for x in plain.model.modules())
    a, b = folded.predict(images, boxes), plain.predict(images, boxes)
    assert np.abs(b - box_initialisation(boxes)).mean() > 1.0
    np.testing.assert_allclose(a, b, atol=2e-3)


def test_internals_are_the_second_stage_inputs(faces, tmp_path):
    """Fig. 3's hook: the frame, the T2-normalised image, the heatmap of T2(S1) and the feature image."""
    from faceeval_methods.dan.layers import landmark_heatmap

    images, boxes, _ = faces
    save_weights(_random_model(), tmp_path / "w")
    dan = DAN.load(tmp_path / "w", precision="fp32")
    out = dan.internals(images, boxes)
    assert set(out) == {"input", "warped", "heatmap", "feature"}
    assert all(v.shape == (4, 112, 112) for v in out.values())
    frames = warp_to_frames(images, frame_transforms(box_initialisation(boxes), dan._frame_shape), 112, dan.device)
    np.testing.assert_allclose(out["input"], frames[:, 0].numpy())
    # the heatmap is the one of the stage-1 shape moved onto the mean shape: peaks of 1 at landmark pixels
    assert out["heatmap"].max() <= 1.0 and (out["heatmap"] == 0).mean() > 0.5
    with torch.inference_mode():
        image = dan.model._image(frames)
        delta, fc1 = dan.model.stages[0](image)
        _, _, moved = dan.model.connections[0](image, dan.model.mean_shape + delta, fc1, dan.model.mean_shape)
    np.testing.assert_allclose(out["heatmap"], landmark_heatmap(moved)[:, 0].numpy(), atol=1e-6)
    assert out["feature"].min() >= 0 and out["feature"].std() > 0       # ReLU'd, not blank
    one_stage = DAN.load(tmp_path / "w", stages=1)
    with pytest.raises(ValueError, match="at least 2 stages"):
        DAN(DANModel(DANConfig(stages=1, widths=(4, 8, 8, 16)))).internals(images, boxes)
    assert one_stage.weights_hash == dan.weights_hash and one_stage.options()["stages"] == 1
    assert one_stage.provenance()["stages"] == 1 and dan.provenance()["stages"] == 2


def test_int8_weights_are_a_quarter_the_size_and_predict_alike(tmp_path, faces):
    from faceeval_methods.dan.quantize import dequantize_tensors, quantize_file, quantize_tensors

    images, boxes, _ = faces
    m = _random_model(seed=3)
    save_weights(m, tmp_path / "f32")
    q = quantize_file(tmp_path / "f32", tmp_path / "q8" / "dan.safetensors")
    assert q.stat().st_size < 0.3 * (tmp_path / "f32" / "dan.safetensors").stat().st_size
    # every quantised weight is within half a step of the original, per output channel
    state = {k: v for k, v in m.state_dict().items()}
    packed = quantize_tensors(state)
    restored = dequantize_tensors(packed)
    assert restored.keys() == state.keys()
    for k, w in state.items():
        if k + ".int8" in packed:
            step = packed[k + ".scale"].view((-1,) + (1,) * (w.dim() - 1))
            assert packed[k + ".int8"].dtype == torch.int8
            assert bool(((restored[k] - w).abs() <= step / 2 + 1e-7).all()), k
        else:
            assert torch.equal(restored[k], w), k
    assert any(k.endswith(".int8") for k in packed) and "norm_mean" in packed
    a = DAN.load(tmp_path / "f32", precision="fp32").predict(images, boxes)
    b = DAN.load(q, precision="fp32").predict(images, boxes)
    moved = np.abs(a - box_initialisation(boxes)).mean()
    assert moved > 1.0 and np.abs(a - b).mean() < 0.02 * moved
    meta = json.loads((tmp_path / "q8" / "dan.json").read_text())
    assert meta["quantization"]["scheme"].startswith("int8")


def test_precision_and_stages_are_part_of_the_run_key(tmp_path, faces):
    from faceeval.datasets import load_dataset
    from faceeval.runs import run_dir

    save_weights(_random_model(), tmp_path / "w")
    fp32 = DAN.load(tmp_path / "w", precision="fp32")
    bf16 = DAN.load(tmp_path / "w", precision="bf16")
    one = DAN.load(tmp_path / "w", precision="fp32", stages=1)
    assert fp32.options() == {"precision": "fp32", "stages": 2}
    assert bf16.options() == {"precision": "bf16", "stages": 2}
    assert one.options() == {"precision": "fp32", "stages": 1}
    assert fp32.weights_hash == bf16.weights_hash == one.weights_hash       # the same weights file
    ds = load_dataset("builtin")
    assert len({run_dir(tmp_path / "r", m, ds) for m in (fp32, bf16, one)}) == 3


def test_option_stages_k_is_the_first_k_stages_of_the_model(tmp_path, faces):
    """-O stages=1 predicts what the full model's first stage predicts, through `faceeval run` too."""
    from click.testing import CliRunner

    from faceeval.cli import main
    from faceeval.geometry import apply_affine, invert_affine
    from faceeval.runs import find_runs

    images, boxes, _ = faces
    model = _random_model(seed=4)
    save_weights(model, tmp_path / "w")
    frame = model.mean_shape.double().numpy()
    to_frame = frame_transforms(box_initialisation(boxes), frame)
    with torch.inference_mode():          # the whole model, every stage's output: take the first by hand
        per_stage = model(warp_to_frames(images, to_frame, 112))
    assert len(per_stage) == 2
    first = apply_affine(per_stage[0].double().numpy(), invert_affine(to_frame))
    both = apply_affine(per_stage[1].double().numpy(), invert_affine(to_frame))
    one = DAN.load(tmp_path / "w", precision="fp32", stages=1, fold_bn=False).predict(images, boxes)
    np.testing.assert_allclose(one, first, atol=1e-3)
    assert np.abs(first - both).mean() > 0.5            # stage 2 moves the points: the check can fail
    res = CliRunner().invoke(main, ["run", "dan", "--weights", str(tmp_path / "w"), "-O", "stages=1",
                                    "-O", "precision=fp32", "--dataset", "builtin", "--results",
                                    str(tmp_path / "r"), "--no-progress"])
    assert res.exit_code == 0, res.output
    (run,) = find_runs(tmp_path / "r")
    assert run.meta["options"] == {"precision": "fp32", "stages": 1}
    np.testing.assert_allclose(run.predictions, first, atol=1e-3)
    bad = CliRunner().invoke(main, ["run", "dan", "--weights", str(tmp_path / "w"), "-O", "stages=3",
                                    "--dataset", "builtin", "--results", str(tmp_path / "r"), "--no-progress"])
    assert bad.exit_code == 1 and "stages must be 1..2" in bad.output and "Traceback" not in bad.output


def test_runs_of_the_shipped_weights_record_no_machine_specific_path(tmp_path, monkeypatch):
    import faceeval_methods.dan.weights as W

    monkeypatch.setenv("FACEEVAL_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(W, "PRETRAINED_DIR", (tmp_path / "shipped").resolve())
    save_weights(_random_model(seed=1), tmp_path / "shipped")
    save_weights(_random_model(seed=1), tmp_path / "mine")
    shipped, given = DAN.load().provenance(), DAN.load(tmp_path / "mine").provenance()
    assert (shipped["weights"], shipped["weights_source"]) == (None, "shipped default")
    assert (given["weights"], given["weights_source"]) == (str(tmp_path / "mine" / "dan.safetensors"), "given")


def test_flip_test_averages_the_face_and_its_mirror_through_the_mirror_permutation(tmp_path, faces):
    from faceeval.landmarks import MIRROR_PERMUTATION

    save_weights(_random_model(), tmp_path / "w")
    single = DAN.load(tmp_path / "w", precision="fp32")
    flip = DAN.load(tmp_path / "w", precision="fp32", tta="flip")
    torch.manual_seed(0)
    frames = torch.rand(3, 1, 112, 112) * 255
    s = frames.shape[-1]

    def mirror(shapes):
        out = shapes[:, list(MIRROR_PERMUTATION)].clone()
        out[..., 0] = (s - 1) - out[..., 0]
        return out

    a, b = single.predict_frames(frames), single.predict_frames(frames.flip(-1))
    torch.testing.assert_close(flip.predict_frames(frames), (a + mirror(b)) / 2, rtol=0, atol=1e-4)
    # the flip test is mirror-equivariant: predicting the mirrored frames gives the mirrored shapes
    torch.testing.assert_close(flip.predict_frames(frames.flip(-1)), mirror(flip.predict_frames(frames)),
                               rtol=0, atol=1e-3)
    assert not torch.allclose(flip.predict_frames(frames), a, atol=1e-2)   # the random model is not symmetric
    # its own run key; the single pass keeps the key it always had
    assert flip.options() == {"stages": 2, "precision": "fp32", "tta": "flip"}
    assert single.options() == {"stages": 2, "precision": "fp32"}
    images, boxes, _ = faces
    assert flip.predict(images, boxes).shape == (4, 68, 2)
    with pytest.raises(Exception, match="tta must be one of none, flip"):
        DAN.load(tmp_path / "w", tta="mirror")


def test_weights_below_the_paper_carry_their_caveat_into_runs_and_the_method_list(tmp_path, faces):
    import json as _json

    from click.testing import CliRunner

    from faceeval.cli import main
    from faceeval.report.published import published_results
    from faceeval_methods.dan.caveat import PAPER_FULL_INTER_OCULAR

    paper = published_results().query("table == 2 and method == 'DAN' and subset == 'full' "
                                      "and norm == 'inter-ocular' and metric == 'mean_error'")
    assert float(paper.value.iloc[0]) == PAPER_FULL_INTER_OCULAR
    shipped = _json.loads((REPO / "methods" / "dan" / "pretrained" / "dan.json").read_text())
    full = shipped["test_results"]["300w/full"]["inter-ocular"]
    caveat = DAN.default_caveat()
    assert caveat == DAN.load().caveat and f"300W full {full:.2f} % vs 3.59 % in the paper" in caveat
    listing = CliRunner().invoke(main, ["methods"]).output
    assert f"note: {caveat}" in listing
    res = CliRunner().invoke(main, ["run", "dan", "--dataset", "builtin", "--results", str(tmp_path / "r"),
                                    "--no-progress", "--no-ci"])
    assert res.exit_code == 0, res.output
    assert res.output.rstrip().splitlines()[-1] == f"note: {caveat}"
    meta = _json.loads(next((tmp_path / "r").rglob("meta.json")).read_text())
    assert meta["caveat"] == caveat
    # weights of a complete training set measured at the paper's level carry none
    save_weights(_random_model(), tmp_path / "w")
    assert DAN.load(tmp_path / "w").caveat == ""
