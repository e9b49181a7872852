"""COFW-29 (MATLAB v7.3, written with h5py as MATLAB lays it out), AFLW (HRNet's CSV) and Menpo's
39-point profile faces, each read as distributed and scored by its own protocol; every number is
checked against a computation written out here."""
from __future__ import annotations

import json

import numpy as np
import pytest

from benchmark_files import invoke, one_line_error, cofw_phis, loop_nme, scheme_shapes, write_aflw_csv, write_mat73
from faceeval.datasets import IncompleteDataWarning, SkippedFilesWarning, load_dataset
from faceeval.errors import DataError
from faceeval.io import write_pts
from faceeval.predictions import write_predictions

pytestmark = pytest.mark.filterwarnings("ignore::faceeval.datasets.IncompleteDataWarning")


def eval_json(*args):
    return json.loads(invoke("eval", *args, "--no-ci", "--format", "json").stdout)


# --- COFW-29 ----------------------------------------------------------------------------------

@pytest.fixture
def cofw(tmp_path):
    """COFW_test_color.mat with 6 faces (1-based coordinates, some occluded points) and their images."""
    rng = np.random.default_rng(31)
    gt1 = scheme_shapes(6, 29, seed=31)                       # as in the file: MATLAB, 1-based
    occluded = rng.uniform(size=(6, 29)) < 0.25
    boxes = np.c_[gt1.min(axis=1) - 3, gt1.max(axis=1) - gt1.min(axis=1) + 6]       # [x, y, w, h]
    images = [rng.integers(0, 255, (260, 270, 3), dtype=np.uint8), rng.integers(0, 255, (250, 240), dtype=np.uint8)]
    images += [rng.integers(0, 255, (230, 230, 3), dtype=np.uint8)] * 4
    write_mat73(tmp_path / "COFW_test_color.mat", {"phisT": cofw_phis(gt1, occluded), "bboxesT": boxes},
                {"IsT": images})
    pred = gt1 - 1 + rng.normal(0, 1, gt1.shape) * rng.uniform(1, 6, (6, 1, 1))        # 0-based predictions
    return tmp_path, gt1, occluded, boxes, images, pred


def test_cofw_reads_the_v73_file_one_based_with_occlusion_boxes_and_images(cofw):
    root, gt1, occluded, boxes, images, _ = cofw
    with pytest.warns(IncompleteDataWarning, match="holds 6 of 507 faces"):
        ds = load_dataset("cofw", "test", root)
    assert ds.scheme == "cofw29" and ds.ids == [f"test/{i}" for i in range(1, 7)]
    np.testing.assert_array_equal(ds.ground_truth, gt1 - 1)                    # 1-based in the file
    np.testing.assert_array_equal(np.stack([s.visible for s in ds.samples]), ~occluded)
    x, y, w, h = boxes[2]
    np.testing.assert_array_equal(ds.boxes[2], [x - 1, y - 1, x - 1 + w, y - 1 + h])
    np.testing.assert_array_equal(ds.samples[0].load_image(), images[0])        # H x W x 3 back from the file
    np.testing.assert_array_equal(ds.samples[1].load_image(), images[1])        # grey


def test_cofw_protocols_pupils_by_default_and_hrnets_corners(cofw, tmp_path):
    root, gt1, occluded, _, _, pred = cofw
    ids = [f"test/{i}" for i in range(1, 7)]
    write_predictions(tmp_path / "p.csv", ids, pred)
    gt = gt1 - 1
    default = eval_json(tmp_path / "p.csv", "--gt", "cofw", "--data-root", root)
    pupils = loop_nme(pred, gt, lambda g: np.hypot(*(g[16] - g[17])))
    assert default["norm"] == "inter-pupil" and default["alpha"] == 0.1
    assert default["mean_error"] == pytest.approx(pupils.mean(), rel=1e-10)
    assert default["failure_rate"] == pytest.approx(np.mean(pupils > 0.1), abs=1e-12)
    hrnet = eval_json(tmp_path / "p.csv", "--gt", "cofw:test", "--data-root", root, "--norm", "inter-ocular")
    corners = loop_nme(pred, gt, lambda g: np.hypot(*(g[8] - g[9])))
    assert hrnet["mean_error"] == pytest.approx(corners.mean(), rel=1e-10)
    # --explain: visible-only and pooled means from the occlusion flags
    out = json.loads(invoke("eval", tmp_path / "p.csv", "--gt", "cofw", "--data-root", root, "--no-ci",
                            "--format", "json", "--explain").stdout)
    lines = {line["convention"]: line for line in out["explain"]}
    point = np.stack([np.hypot(*(p - g).T) / np.hypot(*(g[16] - g[17])) for p, g in zip(pred, gt)])
    visible = ~occluded
    assert lines["errors pooled over all visible points (mmpose)"]["value"] == pytest.approx(
        point[visible].sum() / visible.sum(), rel=1e-10)
    assert lines["mean over visible points only (SAN, COFW-68's second evaluation)"]["value"] == pytest.approx(
        np.mean([point[k][visible[k]].mean() for k in range(6)]), rel=1e-10)
    assert lines["inter-ocular normaliser"]["value"] == pytest.approx(corners.mean(), rel=1e-10)


@pytest.mark.parametrize("damage, fragment", [
    ("no-phis", "no variable phisT (expected 29 x, 29 y and 29 occlusion flags per face"),
    ("short-phis", "variable phisT has shape (58, 6) in the file, expected 87 x N"),
    ("not-hdf5", "not a MATLAB v7.3 (HDF5) file"),
])
def test_a_damaged_cofw_file_is_one_line_naming_the_file_and_variable(tmp_path, damage, fragment):
    gt1 = scheme_shapes(6, 29, seed=32)
    path = tmp_path / "COFW_test_color.mat"
    phis = cofw_phis(gt1, np.zeros((6, 29), bool))
    variables = {"no-phis": {"bboxesT": np.ones((6, 4))}, "short-phis": {"phisT": phis[:, :58], "bboxesT": np.ones((6, 4))}}
    if damage == "not-hdf5":
        path.write_bytes(b"MATLAB 5.0 MAT-file" + bytes(200))
    else:
        write_mat73(path, variables[damage])
    with pytest.raises(DataError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        load_dataset("cofw", "test", tmp_path)
    write_predictions(tmp_path / "p.json", ["test/1"], gt1[:1])
    one_line_error(invoke("eval", tmp_path / "p.json", "--gt", "cofw", "--data-root", tmp_path, ok=False),
                   str(path), fragment)


# --- AFLW -------------------------------------------------------------------------------------

@pytest.fixture
def aflw(tmp_path):
    gt = scheme_shapes(5, 19, seed=41, size=150)
    images = ["3/image00002.jpg", "3/image00013.jpg", "3/image00002.jpg", "0/image04085.jpg", "2/image39924.jpg"]
    sizes = np.array([188.4, 142.0, 173.25, 201.5, 160.0])
    write_aflw_csv(tmp_path / "face_landmarks_aflw_test.csv", images, gt, sizes)
    write_aflw_csv(tmp_path / "face_landmarks_aflw_test_frontal.csv", images[1:3], gt[1:3], sizes[1:3])
    rng = np.random.default_rng(42)
    pred = gt + rng.normal(0, 1, gt.shape) * rng.uniform(0.5, 4, (5, 1, 1))
    return tmp_path, gt, sizes, pred


def test_aflw_reads_hrnets_csv_and_divides_by_its_box_size(aflw, tmp_path):
    root, gt, sizes, pred = aflw
    ds = load_dataset("aflw", "full", root)
    assert ds.scheme == "aflw19" and ds.ids == ["3/image00002_1", "3/image00013_1", "3/image00002_2",
                                                 "0/image04085_1", "2/image39924_1"]
    np.testing.assert_array_equal(ds.ground_truth, gt)
    np.testing.assert_array_equal(ds.box_sizes, sizes)
    centre = (gt[0].min(0) + gt[0].max(0)) / 2
    np.testing.assert_allclose(ds.boxes[0], np.r_[centre - sizes[0] / 2, centre + sizes[0] / 2])
    write_predictions(tmp_path / "p.json", ds.ids, pred)
    got = eval_json(tmp_path / "p.json", "--gt", "aflw", "--data-root", root)
    e = loop_nme(pred, gt, lambda g: 1.0) / sizes
    assert got["norm"] == "dataset-box" and got["mean_error"] == pytest.approx(e.mean(), rel=1e-10)
    frontal = eval_json(tmp_path / "p.json", "--gt", "aflw:frontal", "--data-root", root)
    assert frontal["n"] == 2 and frontal["mean_error"] == pytest.approx(e[1:3].mean(), rel=1e-10)
    size = eval_json(tmp_path / "p.json", "--gt", "aflw", "--data-root", root, "--norm", "bbox-size")
    box = loop_nme(pred, gt, lambda g: np.sqrt(np.prod(g.max(0) - g.min(0))))
    assert size["mean_error"] == pytest.approx(box.mean(), rel=1e-10)
    # a folder of .pts has no box sizes: dataset-box says what it needs
    for sid, shape in zip(ds.ids, gt):
        write_pts(tmp_path / "gt" / f"{sid}.pts", shape)
    one_line_error(invoke("eval", tmp_path / "p.json", "--gt", tmp_path / "gt", "--norm", "dataset-box", ok=False),
                   "dataset-box needs the box size the dataset ships with each face")


def test_aflw_runs_store_the_box_sizes_so_the_run_scores_alone(aflw, tmp_path):
    from faceeval.runs import load_run

    root, gt, sizes, _ = aflw
    from faceeval.methods import LandmarkMethod

    class Copy(LandmarkMethod):          # a 19-point "method": the box corners repeated
        name, scheme = "copy19", "aflw19"

        def predict(self, images, boxes):
            return np.repeat(boxes[:, None, :2], 19, axis=1) + np.arange(19)[None, :, None]

    from faceeval.datasets import Dataset
    from faceeval.runs import run_method

    ds = load_dataset("aflw", "full", root)
    ds = Dataset(ds.name, ds.subset, [s.__class__(**{**s.__dict__, "pixels": lambda: np.zeros((8, 8), np.uint8)})
                                      for s in ds.samples], ds.root, ds.notes, ds.expected, ds.scheme)
    run = run_method(Copy(), ds, tmp_path / "results", progress=False, write_pts_files=False)
    assert run.meta["scheme"] == "aflw19" and load_run(run.path).meta["scheme"] == "aflw19"
    got = eval_json(run.path)
    e = loop_nme(run.predictions, gt, lambda g: 1.0) / sizes
    assert got["norm"] == "dataset-box" and got["mean_error"] == pytest.approx(e.mean(), rel=1e-10)
    # The AFLW benchmark table scores the stored run by the same stored sizes, without the CSV.
    from faceeval.report.benchmarks import benchmark_tables

    _, measured = benchmark_tables("aflw", [load_run(run.path)])
    [(_, errors)] = measured["full"]
    np.testing.assert_allclose(errors, e, rtol=1e-12)


@pytest.mark.parametrize("damage, fragment", [
    (lambda rows: rows[:2] + [rows[2].rsplit(",", 3)[0]] + rows[3:], "line 3 has 40 columns, expected 43"),
    (lambda rows: rows[:1] + [rows[1].replace(rows[1].split(",")[2], "n/a", 1)] + rows[2:],
     "line 2, column 3 (box_size) is 'n/a', expected a number"),
    (lambda rows: [",".join(rows[0].split(",")[:20])] + rows[1:], "the header has 20 columns, expected 43"),
])
def test_a_damaged_aflw_csv_is_one_line_naming_the_file_and_line(aflw, damage, fragment):
    root = aflw[0]
    path = root / "face_landmarks_aflw_test.csv"
    path.write_text("\n".join(damage(path.read_text().splitlines())) + "\n")
    with pytest.raises(DataError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        load_dataset("aflw", "full", root)


# --- Menpo profile ----------------------------------------------------------------------------

def test_menpo_profile_faces_are_scored_by_the_box_diagonal(tmp_path):
    from conftest import face_shapes, write_face, write_image
    from faceeval.datasets import menpo_heldout

    names = [f"aflw__face_{k:05d}" for k in range(30)]
    profiles = scheme_shapes(len(names), 39, seed=51)
    for name, shape in zip(names, profiles):
        write_pts(tmp_path / "trainset" / f"profile_{name}.pts", shape)
        write_image(tmp_path / "trainset" / f"profile_{name}.jpg")
    for name, shape in zip(names[:3], face_shapes(3, seed=52)):
        write_face(tmp_path / "trainset" / f"{name}.pts", shape, ".jpg")     # semi-frontal: the other dataset
    ds = load_dataset("menpo-profile", "all", tmp_path)
    assert ds.scheme == "menpo39" and len(ds) == 30 and "3 68-point faces belong to the dataset menpo" in ds.notes
    test = load_dataset("menpo-profile", "test", tmp_path)
    assert set(test.ids) == {i for i in ds.ids if menpo_heldout(i)}
    with pytest.warns(SkippedFilesWarning, match="left out 30 .pts files"):
        assert len(load_dataset("menpo", "all", tmp_path)) == 3
    pred = ds.ground_truth + np.random.default_rng(53).normal(0, 2, ds.ground_truth.shape)
    write_predictions(tmp_path / "p.csv", ds.ids, pred)
    got = eval_json(tmp_path / "p.csv", "--gt", "menpo-profile:all", "--data-root", tmp_path)
    e = loop_nme(pred, ds.ground_truth, lambda g: np.hypot(*(g.max(0) - g.min(0))))
    assert got["norm"] == "bbox-diagonal" and got["alpha"] == 0.03 and got["scheme"] == "menpo39"
    assert got["mean_error"] == pytest.approx(e.mean(), rel=1e-10)
    one_line_error(invoke("eval", tmp_path / "p.csv", "--gt", "menpo-profile:all", "--data-root", tmp_path,
                          "--norm", "inter-ocular", ok=False), "scheme menpo39 has none")
