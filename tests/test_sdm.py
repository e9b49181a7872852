"""menpofit SDM trained by faceeval: tiny training on warps of the builtin faces."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import needs_extra_module

needs_extra_module("sdm")

from faceeval.cli import main  # noqa: E402
from faceeval.geometry import shape_boxes  # noqa: E402
from faceeval.io import DataError  # noqa: E402
from faceeval.methods import MissingDependencyError, MissingWeightsError, load_method  # noqa: E402
from faceeval.metrics import point_to_point_error  # noqa: E402
from faceeval_methods.sdm import SDM  # noqa: E402
from faceeval_methods.sdm.data import similarity_warps, warped_faces  # noqa: E402
from faceeval_methods.sdm.features import orientation_histograms, standardised_pixels  # noqa: E402
from faceeval_methods.sdm.model import SDMConfig  # noqa: E402
from faceeval_methods.sdm.train import train_sdm  # noqa: E402

TINY = SDMConfig(feature="hog", patch_size=16, scales=(1.0,), n_iterations=3, n_perturbations=5,
                 diagonal=80.0, alpha=1.0, seed=0)


@pytest.fixture(scope="module")
def trained(builtin, tmp_path_factory):
    """A model trained on 8 similarity warps of each builtin face (seed 0), saved and reloaded."""
    folder = tmp_path_factory.mktemp("sdm")
    in_memory = train_sdm(builtin, TINY, augment=8, output=folder)
    return folder, in_memory


@pytest.fixture(scope="module")
def held_out(builtin):
    """Different warps of the same faces (another seed): never seen in training."""
    images, shapes = warped_faces([s.load_image() for s in builtin], builtin.ground_truth, 3, seed=12345)
    return images, shapes, shape_boxes(shapes)


def test_beats_meanshape_on_held_out_warps(trained, held_out):
    images, shapes, boxes = held_out
    sdm_error = point_to_point_error(SDM(weights=trained[0]).predict(images, boxes), shapes)
    mean_error = point_to_point_error(load_method("meanshape").predict(images, boxes), shapes)
    assert sdm_error.mean() < 0.5 * mean_error.mean()
    assert np.median(sdm_error) < 0.08


def test_saved_model_predicts_like_the_trained_one(trained, held_out):
    folder, in_memory = trained
    images, _, boxes = held_out
    loaded = SDM(weights=folder)
    np.testing.assert_array_equal(loaded.predict(images[:3], boxes[:3]),
                                  SDM(model=in_memory).predict(images[:3], boxes[:3]))
    meta = json.loads((folder / "sdm.json").read_text())
    assert meta["format"] == "faceeval-sdm" and meta["config"]["feature"] == "hog"
    with np.load(folder / "sdm.npz", allow_pickle=False) as z:       # plain arrays only
        assert sorted(z.files) == ["W_0_0", "W_0_1", "W_0_2", "reference_shape"]
    assert len(loaded.weights_hash) == 12 and loaded.weights_hash == SDM(weights=folder / "sdm.npz").weights_hash


def test_weights_hash_keys_what_predicts_not_when_it_was_trained(trained, tmp_path):
    """Trained again on the same faces, the same model keeps its hash (so its runs stay reusable):
    not the training's record (time, machine) nor the archive's bytes count, every setting and
    regressor value does."""
    from faceeval_methods.sdm.model import model_hash

    folder = trained[0]
    meta = json.loads((folder / "sdm.json").read_text())
    with np.load(folder / "sdm.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}

    def copy(name, meta, arrays):
        out = tmp_path / name
        out.mkdir()
        (out / "sdm.json").write_text(json.dumps(meta))
        np.savez(out / "sdm.npz", **dict(reversed(list(arrays.items()))))     # other archive bytes
        return model_hash(out)

    again = copy("again", {**meta, "info": {**meta["info"], "trained": "2031-01-01T00:00:00+00:00",
                                            "machine": "elsewhere"}}, arrays)
    assert (tmp_path / "again" / "sdm.npz").read_bytes() != (folder / "sdm.npz").read_bytes()
    assert again == model_hash(folder) == SDM(weights=folder).weights_hash
    nudged = {**arrays, "W_0_1": arrays["W_0_1"] + np.where(np.arange(arrays["W_0_1"].size) == 7, 1e-9, 0.0)
              .reshape(arrays["W_0_1"].shape)}
    assert copy("nudged", meta, nudged) != again
    assert copy("alpha", {**meta, "config": {**meta["config"], "alpha": 2.0}}, arrays) != again


@pytest.mark.parametrize("change, message", [
    ({"steps_per_scale": [4]}, "sdm.npz: cannot read the SDM regressors: incomplete, W_0_3 is not a file"),                      # one regressor more than stored
    ({"feature_version": 0}, "version 0 of the 'hog' feature"),             # feature computed differently now
    ({"config": {**TINY.__dict__, "feature": "pixels"}}, "W_0_0 has shape"),   # settings that do not fit W
])
def test_tampered_model_is_refused_with_its_path(trained, tmp_path, change, message):
    folder = tmp_path / "bad"
    folder.mkdir()
    for name in ("sdm.json", "sdm.npz"):
        (folder / name).write_bytes((trained[0] / name).read_bytes())
    meta = json.loads((folder / "sdm.json").read_text())
    (folder / "sdm.json").write_text(json.dumps({**meta, **change}))
    with pytest.raises(DataError, match=message):
        SDM(weights=folder)


def test_missing_model_says_how_to_train(tmp_path):
    with pytest.raises(MissingWeightsError, match="faceeval train sdm"):
        SDM(weights=tmp_path)


def test_missing_menpofit_says_what_to_install(trained, monkeypatch):
    for name in [m for m in sys.modules if m == "menpofit" or m.startswith("menpofit.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "menpofit", None)
    with pytest.raises(MissingDependencyError, match=r"sdm needs the 'sdm' extra: pip install \"faceeval\[sdm\]\"; it pins numpy<2"):
        SDM(weights=trained[0])


def test_training_without_menpofit_is_one_clear_message(monkeypatch, tmp_path):
    for name in [m for m in sys.modules if m == "menpofit" or m.startswith("menpofit.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "menpofit", None)
    out = CliRunner().invoke(main, ["train", "sdm", "--dataset", "builtin", "--augment", "1",
                                    "--output", str(tmp_path / "m"), "--no-progress"])
    assert out.exit_code == 1 and "pip install \"faceeval[sdm]\"" in out.output and "Traceback" not in out.output


def test_warps_move_image_and_shape_together():
    image = np.zeros((120, 100), np.uint8)
    shape = np.random.default_rng(1).uniform(20, 80, (68, 2))
    spot = np.rint(shape[30]).astype(int)
    image[spot[1] - 2:spot[1] + 3, spot[0] - 2:spot[0] + 3] = 255
    shape[30] = spot                                                    # the spot's exact centre
    warped, warped_shape = next(similarity_warps(image, shape, 1, np.random.default_rng(0), size=96))
    ys, xs = np.nonzero(warped)
    weights = warped[ys, xs].astype(float)
    centre = np.array([xs @ weights, ys @ weights]) / weights.sum()     # the warped spot's centre
    assert np.linalg.norm(centre - warped_shape[30]) < 0.5


def test_patch_features_are_invariant_to_brightness():
    patch = np.random.default_rng(0).uniform(0, 1, (1, 16, 16))
    for feature in (orientation_histograms, standardised_pixels):
        np.testing.assert_allclose(feature(patch), feature(patch * 3 + 0.5), atol=1e-4)
    vertical_edges = np.tile(np.arange(16.0), (16, 1))[None]           # gradient along x only
    assert orientation_histograms(vertical_edges).reshape(4, 8).argmax(axis=1).tolist() == [0, 0, 0, 0]


@pytest.fixture()
def fake_300w_train(builtin, tmp_path):
    """A 300W root holding only a training set: 3 warped builtin faces per training folder,
    named like real 300W files (so the shipped detector boxes exist for them)."""
    from PIL import Image

    from faceeval.io import write_pts
    from faceeval.resources import detector_boxes

    images, shapes = warped_faces([s.load_image() for s in builtin], builtin.ground_truth, 3, seed=7)
    boxes = detector_boxes()
    k = 0
    for folder in ("afw", "lfpw/trainset", "helen/trainset"):
        (tmp_path / "300w" / folder).mkdir(parents=True)
        for name in list(boxes[folder])[:3]:
            Image.fromarray(images[k]).save(tmp_path / "300w" / folder / name)
            write_pts(tmp_path / "300w" / folder / (name.rsplit(".", 1)[0] + ".pts"), shapes[k])
            k += 1
    return tmp_path / "300w"


def test_train_on_300w_layout_and_run_from_the_command_line(fake_300w_train, tmp_path):
    runner = CliRunner()
    out = runner.invoke(main, ["train", "sdm", "--data-root", str(fake_300w_train), "--scales", "1",
                               "--iterations", "1", "--perturbations", "2", "--patch-size", "8",
                               "--diagonal", "60", "--output", str(tmp_path / "model"), "--no-progress"])
    assert out.exit_code == 0, out.output
    assert "trained SDM on 9 faces of 300w/train in " in out.output
    assert "warning: 300W train under" in out.output and "n = 9 of 3148" in out.output     # a partial train set
    info = json.loads((tmp_path / "model" / "sdm.json").read_text())["info"]
    assert info["n_faces"] == 9 and info["partial"] == "partial: n = 9 of 3148"
    assert info["fit_seconds"] > 0 and info["prepare_seconds"] >= 0 and info["machine"]
    out = runner.invoke(main, ["run", "sdm", "--dataset", "builtin", "--weights", str(tmp_path / "model"),
                               "--results", str(tmp_path / "results"), "--no-progress"])
    assert out.exit_code == 0, out.output
    assert "inter-ocular" in out.output


def test_training_says_one_line_not_menpofits_steps_or_warnings(fake_300w_train, tmp_path):
    """With progress on, `train sdm` shows its own bar and one line for the fit: no line per cascade
    step from menpofit, no third-party UserWarning (a real process, so warnings are not pytest's)."""
    import os
    import subprocess

    from pathlib import Path

    proc = subprocess.run([str(Path(sys.executable).parent / "faceeval"), "train", "sdm", "--data-root", str(fake_300w_train),
                           "--scales", "0.5,1", "--iterations", "2", "--perturbations", "2", "--patch-size", "8",
                           "--diagonal", "60", "--output", str(tmp_path / "model")],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "default"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "trained SDM on 9 faces of 300w/train" in proc.stdout
    for noise in ("Iteration", "Computing batch", "Extracting patches", "UserWarning", "Warning:"):
        assert noise not in proc.stderr, noise
    assert "fitting the SDM cascade: 2 steps over 2 scale(s), 9 faces x 2 perturbations ..." in proc.stderr


def test_bad_training_options_are_refused(tmp_path):
    bad = CliRunner().invoke(main, ["train", "sdm", "--dataset", "builtin", "--subset", "all", "--scales", "1,2",
                                    "--iterations", "1", "--output", str(tmp_path / "x")])
    assert bad.exit_code != 0 and "invalid SDM config" in bad.output
    assert not (tmp_path / "x").exists()
