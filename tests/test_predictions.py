"""`faceeval eval` reads anyone's predictions: .pts folders, predictions.npz, CSV and JSON, in other
coordinate conventions too, and every format gives the same scores."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from faceeval.cli import main
from faceeval.io import read_pts_tree, write_pts
from faceeval.metrics import evaluate
from faceeval.predictions import detect_format, read_predictions, write_predictions
from conftest import face_shapes

IDS = [f"{folder}/image_{k:03d}" for k, folder in enumerate(["lfpw/testset"] * 3 + ["helen/testset"] * 3 + ["ibug"] * 4)]


@pytest.fixture
def faces(tmp_path):
    """Ground truth as a .pts tree and noisy predictions (0-based x, y) for 10 faces."""
    gt = face_shapes(len(IDS), seed=41)
    pred = gt + np.random.default_rng(42).normal(0, 2.0, gt.shape)
    for sid, shape in zip(IDS, gt):
        write_pts(tmp_path / "gt" / f"{sid}.pts", shape)
    return tmp_path, pred, gt


def eval_json(*args):
    result = CliRunner().invoke(main, ["eval", *map(str, args), "--format", "json", "--no-ci"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), result.stderr


FORMATS = [("pts", ""), ("npz", ".npz"), ("csv", ".csv"), ("json", ".json")]


@pytest.mark.parametrize("fmt, suffix", FORMATS)
@pytest.mark.parametrize("one_based, yx", [(None, False), (True, True), (False, False)])
def test_every_format_and_convention_round_trips_to_the_same_scores(faces, fmt, suffix, one_based, yx):
    tmp, pred, gt = faces
    path = tmp / f"pred{suffix}"
    write_predictions(path, IDS, pred, fmt, one_based=one_based, yx=yx)
    flags = ([] if one_based is None else ["--one-based" if one_based else "--zero-based"]) + (["--yx"] if yx else [])
    got, stderr = eval_json(path, "--gt", tmp / "gt", *flags)
    stored = read_pts_tree(tmp / "gt")                 # the ground truth as eval reads it (6 decimals)
    expected, _ = evaluate(pred, np.stack([stored[i] for i in IDS]), ids=IDS)
    tol = 1e-6 if fmt == "pts" else 1e-12            # .pts predictions are 6 decimals too
    for k in ("mean_error", "median_error", "auc", "failure_rate"):
        assert got[k] == pytest.approx(getattr(expected, k), rel=tol, abs=tol)
    assert got["n"] == len(IDS) and got["input"]["format"] == fmt and got["warnings"] == [] and not stderr
    back = read_predictions(path, one_based, yx)
    assert sorted(back.ids) == sorted(IDS)
    np.testing.assert_allclose(np.stack([back.as_dict()[i] for i in IDS]), pred, atol=1e-6)


def test_written_files_have_the_documented_layouts(faces):
    tmp, pred, _ = faces
    write_predictions(tmp / "p.csv", IDS, pred)
    rows = list(csv.reader((tmp / "p.csv").open()))
    assert rows[0][:5] == ["id", "x0", "y0", "x1", "y1"] and rows[0][-1] == "y67" and len(rows[0]) == 137
    assert rows[1][0] == IDS[0] and float(rows[1][1]) == pred[0, 0, 0] and float(rows[1][2]) == pred[0, 0, 1]
    write_predictions(tmp / "p.json", IDS, pred, one_based=True)
    data = json.loads((tmp / "p.json").read_text())
    assert list(data) == IDS and data[IDS[0]][0] == [pred[0, 0, 0] + 1, pred[0, 0, 1] + 1]
    write_predictions(tmp / "pts", IDS, pred)
    lines = (tmp / "pts" / f"{IDS[0]}.pts").read_text().splitlines()
    assert lines[:3] == ["version: 1", "n_points: 68", "{"]
    assert [float(v) for v in lines[3].split()] == pytest.approx(pred[0, 0] + 1, abs=1e-6)   # .pts is 1-based
    # a CSV without a header reads the same
    (tmp / "nohead.csv").write_text("\n".join(",".join(r) for r in rows[1:]) + "\n")
    np.testing.assert_array_equal(read_predictions(tmp / "nohead.csv").shapes, read_predictions(tmp / "p.csv").shapes)


def test_a_runs_npz_needs_no_ground_truth_and_matches_its_pts(tmp_path, builtin):
    runner = CliRunner()
    assert runner.invoke(main, ["run", "meanshape", "--dataset", "builtin", "--results", str(tmp_path),
                                "--no-progress", "--no-ci"]).exit_code == 0
    run_dir = next(tmp_path.glob("meanshape/*/builtin/all"))
    for sid, shape in zip(builtin.ids, builtin.ground_truth):
        write_pts(tmp_path / "gt" / f"{sid}.pts", shape)
    from_npz, _ = eval_json(run_dir / "predictions.npz")
    from_folder, _ = eval_json(run_dir)                    # the run folder itself
    from_pts, _ = eval_json(run_dir / "pts", "--gt", tmp_path / "gt")
    expected, _ = evaluate(np.load(run_dir / "predictions.npz")["predictions"], builtin.ground_truth)
    assert from_npz["mean_error"] == from_folder["mean_error"] == expected.mean_error
    assert from_pts["mean_error"] == pytest.approx(expected.mean_error, rel=1e-6)
    assert detect_format(run_dir) == "npz" and detect_format(run_dir / "pts") == "pts"


@pytest.mark.parametrize("name, content, fragment", [
    ("bad.csv", "id,x0\na,1\n", "row 1 ('a') has 2 fields, expected 137"),
    ("bad.json", '{"a": [[1, 2], [3, 4]]}', "id 'a' has points of shape (2, 2), expected (68, 2)"),
    ("list.json", "[1, 2]", 'expected an object {"id": [[x, y], ...]}'),
    ("notes.doc", "hello", "unknown predictions format '.doc'"),
    ("notes.txt", "hello", "1 non-empty lines; expected 4 per face (image index; 68 x; 68 y; 68 occlusion flags)"),
    ("short.txt", "1\n" + " 1" * 68 + "\n" + " 2" * 67 + "\n" + " 0" * 68 + "\n",
     "line 3 (image 1) has 67 values, expected 68 y values"),
    ("word.txt", "1\n" + " 1" * 68 + "\n" + " 2" * 67 + " y\n" + " 0" * 68 + "\n",
     "image 1 (lines 2-4) has a value that is not a number"),
    # a .txt of more numbers per line is WFLW's one-face-per-line format: a folder as ground truth gives no order
    ("lines.txt", "1 2 3 4\n", "needs --gt with a dataset whose official list gives the order"),
])
def test_unreadable_predictions_give_one_clear_line(faces, name, content, fragment):
    tmp, _, _ = faces
    (tmp / name).write_text(content)
    result = CliRunner().invoke(main, ["eval", str(tmp / name), "--gt", str(tmp / "gt")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert str(tmp / name) in result.output and fragment in result.output, result.output


def test_predictions_without_ground_truth_ask_for_gt(faces):
    tmp, pred, _ = faces
    write_predictions(tmp / "p.npz", IDS, pred)             # written by another tool: no ground truth inside
    result = CliRunner().invoke(main, ["eval", str(tmp / "p.npz")])
    assert result.exit_code == 1 and "no ground truth stored" in result.output and "--gt" in result.output
