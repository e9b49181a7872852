"""WFLW read from its official list as distributed, scored by its own protocol (98 points, outer eye
corners 60/72, alpha 0.10), from annotation files alone; every number checked against a computation
written out here."""
from __future__ import annotations

import json

import numpy as np
import pytest

from benchmark_files import invoke, one_line_error, loop_nme, scheme_shapes, wflw_line, write_wflw
from faceeval.datasets import IncompleteDataWarning, load_dataset
from faceeval.errors import DataError
from faceeval.predictions import write_predictions

IMAGES = ["51--Dresses/51_Dresses_wearingdress_51_377.jpg", "37--Soccer/37_Soccer_soccer_ball_37_45.jpg",
          "51--Dresses/51_Dresses_wearingdress_51_377.jpg", "0--Parade/0_Parade_marchingband_1_116.jpg",
          "12--Group/12_Group_Group_12_Group_Group_12_10.jpg", "37--Soccer/37_Soccer_soccer_ball_37_45.jpg",
          "2--Demonstration/2_Demonstration_Protesters_2_57.jpg", "9--Press_Conference/9_Press_Conference_74.jpg"]
#: pose, expression, illumination, make-up, occlusion, blur per face
FLAGS = np.array([[1, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 1], [0, 0, 1, 0, 0, 0],
                  [0, 0, 0, 1, 1, 0], [1, 0, 0, 0, 0, 0], [0, 0, 1, 1, 0, 1], [0, 1, 0, 0, 1, 0]])


def corners(g):
    return np.hypot(*(g[60] - g[72]))


@pytest.fixture
def wflw(tmp_path):
    """A WFLW root holding the test list only (no images): 8 faces, two images with two faces each."""
    gt = scheme_shapes(len(IMAGES), 98, seed=21)
    write_wflw(tmp_path, "test", gt, IMAGES, FLAGS)
    rng = np.random.default_rng(22)
    pred = gt + rng.normal(0, 1, gt.shape) * rng.uniform(1, 9, (len(gt), 1, 1))
    return tmp_path, gt, pred


def test_the_list_loads_with_its_ids_boxes_attributes_and_scheme(wflw):
    root, gt, _ = wflw
    with pytest.warns(IncompleteDataWarning, match="holds 8 of 2500 faces"):
        ds = load_dataset("wflw", "test", root)
    assert ds.scheme == "wflw98" and ds.expected == 2500 and ds.partial
    assert ds.ids[:3] == ["51--Dresses/51_Dresses_wearingdress_51_377_1", "37--Soccer/37_Soccer_soccer_ball_37_45_1",
                          "51--Dresses/51_Dresses_wearingdress_51_377_2"]
    assert ds.ids[5] == "37--Soccer/37_Soccer_soccer_ball_37_45_2"
    np.testing.assert_allclose(ds.ground_truth, gt, atol=5e-7)                  # 6 decimals, as written
    np.testing.assert_array_equal(ds.boxes[0], np.r_[np.floor(gt[0].min(0)) - 5, np.ceil(gt[0].max(0)) + 5])
    assert ds.samples[0].image_path == root / "WFLW_images" / IMAGES[0]       # not needed to score
    names = ("largepose", "expression", "illumination", "makeup", "occlusion", "blur")
    for k, name in enumerate(names):
        with pytest.warns(IncompleteDataWarning):
            sub = load_dataset("wflw", name, root)
        assert sub.ids == [i for i, f in zip(ds.ids, FLAGS) if f[k]], name


def test_eval_reads_list_order_text_predictions_from_annotations_alone(wflw, tmp_path):
    root, gt, pred = wflw
    # one line per face in the list's order; the first 196 numbers are the points, the rest is ignored
    lines = [" ".join(f"{v:.6f}" for v in p.ravel()) + " 10 20 110 120 0 0 0 0 0 0 " + image
             for p, image in zip(pred, IMAGES)]
    (tmp_path / "hrnet.txt").write_text("\n".join(lines) + "\n")
    got = json.loads(invoke("eval", tmp_path / "hrnet.txt", "--gt", "wflw:test", "--data-root", root,
                            "--no-ci", "--format", "json").stdout)
    stored_pred = np.round(pred, 6)
    e = loop_nme(stored_pred, np.round(gt, 6), corners)
    assert got["n"] == 8 and got["norm"] == "inter-ocular" and got["alpha"] == 0.1 and got["scheme"] == "wflw98"
    assert got["mean_error"] == pytest.approx(e.mean(), rel=1e-9)
    assert got["failure_rate"] == pytest.approx(np.mean(e > 0.10), abs=1e-12)
    grid = np.arange(1001) * 1e-4
    ced = (e[None] <= grid[:, None]).mean(axis=1)
    simpson = 1e-4 / 3 * (ced[0] + ced[-1] + 4 * ced[1:-1:2].sum() + 2 * ced[2:-1:2].sum()) / 0.1
    assert got["auc"] == pytest.approx(simpson, rel=1e-9)
    assert set(got["regions"]) == {"contour", "brows", "nose", "eyes", "mouth"} and len(got["per_landmark"]) == 98
    eyes = list(range(60, 76)) + [96, 97]
    per_point = np.stack([np.hypot(*(p - g).T) / corners(g) for p, g in zip(stored_pred, np.round(gt, 6))])
    assert got["regions"]["eyes"] == pytest.approx(per_point[:, eyes].mean(), rel=1e-9)
    # an attribute subset takes the same file and scores its own faces
    sub = json.loads(invoke("eval", tmp_path / "hrnet.txt", "--gt", "wflw:largepose", "--data-root", root,
                            "--no-ci", "--format", "json").stdout)
    assert sub["n"] == 3 and sub["mean_error"] == pytest.approx(e[FLAGS[:, 0] == 1].mean(), rel=1e-9)
    # --norm inter-pupil: the pupils 96/97
    ip = json.loads(invoke("eval", tmp_path / "hrnet.txt", "--gt", "wflw:test", "--data-root", root, "--no-ci",
                           "--format", "json", "--norm", "inter-pupil").stdout)
    pupils = loop_nme(stored_pred, np.round(gt, 6), lambda g: np.hypot(*(g[96] - g[97])))
    assert ip["mean_error"] == pytest.approx(pupils.mean(), rel=1e-9) and ip["alpha"] == 0.1


def test_csv_json_and_pts_predictions_keyed_by_face_id_give_the_same_numbers(wflw, tmp_path):
    root, gt, pred = wflw
    with pytest.warns(IncompleteDataWarning):
        ids = load_dataset("wflw", "test", root).ids
    results = []
    for target in (tmp_path / "p.csv", tmp_path / "p.json", tmp_path / "pts"):
        write_predictions(target, ids, pred)
        results.append(json.loads(invoke("eval", target, "--gt", "wflw:test", "--data-root", root, "--no-ci",
                                         "--format", "json").stdout)["mean_error"])
    expected = loop_nme(pred, np.round(gt, 6), corners).mean()
    assert results[0] == pytest.approx(expected, rel=1e-9) and results[1] == pytest.approx(expected, rel=1e-9)
    assert results[2] == pytest.approx(expected, rel=1e-6)                       # .pts hold 6 decimals


def test_a_68_point_method_on_wflw_is_one_line_naming_both_schemes(wflw, tmp_path):
    root, _, _ = wflw
    result = invoke("run", "meanshape", "--dataset", "wflw", "--data-root", root, "--results", tmp_path / "r",
                    "--no-progress", ok=False)
    one_line_error(result, "method 'meanshape' predicts 68-point ibug68 shapes", "wflw/test",
                   "98-point wflw98")
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").rglob("meta.json"))


@pytest.mark.parametrize("damage, fragment", [
    (lambda line: line.rsplit(" ", 3)[0], "line 2 has 204 fields, expected 207"),
    (lambda line: line.replace(line.split()[5], "abc", 1), "line 2, field 6 ('abc') is not a number; expected a "
                                                           "coordinate"),
    (lambda line: " ".join(line.split()[:200] + ["2"] + line.split()[201:]), "line 2: attribute flags (fields "
                                                                              "201-206) are 2 0 0 0 0 0"),
])
def test_a_damaged_list_is_one_line_naming_the_file_and_line(wflw, damage, fragment):
    root, gt, _ = wflw
    path = root / "WFLW_annotations/list_98pt_rect_attr_train_test/list_98pt_rect_attr_test.txt"
    lines = path.read_text().splitlines()
    lines[1] = damage(lines[1])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="list_98pt_rect_attr_test.txt: " + fragment.replace("(", r"\(")
                       .replace(")", r"\)")):
        load_dataset("wflw", "test", root)
    one_line_error(invoke("eval", root, "--gt", "wflw:test", "--data-root", root, ok=False),
                   str(path), fragment)


def test_a_text_file_with_the_wrong_number_of_lines_or_points(wflw, tmp_path):
    root, gt, pred = wflw
    short = tmp_path / "short.txt"
    short.write_text("\n".join(" ".join(map(str, p.ravel())) for p in pred[:7]) + "\n")
    one_line_error(invoke("eval", short, "--gt", "wflw:test", "--data-root", root, ok=False),
                   str(short), "7 lines, but the official list of wflw/test holds 8 faces")
    cut = tmp_path / "cut.txt"
    cut.write_text("\n".join(" ".join(map(str, p.ravel()[:190])) for p in pred) + "\n")
    one_line_error(invoke("eval", cut, "--gt", "wflw:test", "--data-root", root, ok=False),
                   str(cut), "line 1 starts with 190 numbers, expected 196")


def test_wflw_line_writer_matches_the_format():
    line = wflw_line(np.zeros((98, 2)), [1, 2, 3, 4], [1, 0, 0, 0, 0, 1], "a/b.jpg")
    assert len(line.split()) == 207 and line.split()[196:] == ["1", "2", "3", "4", "1", "0", "0", "0", "0", "1",
                                                              "a/b.jpg"]
