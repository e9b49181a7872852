"""``faceeval predict``: landmarks for plain photos, faces from a boxes file (core) or dlib's detector (peers)."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import needs_extra
from faceeval.cli import main
from faceeval.datasets import load_dataset
from faceeval.detect import BoxMapping, box_iou, mappings_for, shipped_mappings
from faceeval.geometry import fit_shape_to_boxes, shape_boxes
from faceeval.io import read_pts
from faceeval.metrics import point_to_point_error
from faceeval.resources import dan_mean_shape


def invoke(*args, ok=True):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """takeo and lenna as photo files, and a 'pair' photo: takeo twice, side by side (x offset 150)."""
    folder = tmp_path_factory.mktemp("photos")
    ds = {s.id: s for s in load_dataset("builtin")}
    takeo, lenna = ds["takeo"], ds["lenna"]
    Image.fromarray(takeo.load_image()).save(folder / "takeo.png")
    Image.fromarray(lenna.load_image()).save(folder / "lenna.png")
    pair = np.concatenate([takeo.load_image(), takeo.load_image()], axis=1)
    Image.fromarray(pair).save(folder / "pair.png")
    shapes = {"takeo": takeo.ground_truth, "lenna": lenna.ground_truth,
              "pair_1": takeo.ground_truth, "pair_2": takeo.ground_truth + [150, 0]}
    return folder, shapes


def _boxes_file(path, boxes):
    path.write_text(json.dumps({k: np.asarray(v).tolist() for k, v in boxes.items()}))
    return path


def test_meanshape_from_a_boxes_file_writes_pts_json_and_overlays(photos, tmp_path):
    folder, shapes = photos
    tight = {k: shape_boxes(v[None])[0] for k, v in shapes.items()}
    # the pair's boxes given right face first: the output is numbered left to right
    boxes = _boxes_file(tmp_path / "boxes.json", {"takeo.png": tight["takeo"], "lenna": tight["lenna"],
                                                  "pair": [tight["pair_2"], tight["pair_1"]]})
    out = tmp_path / "out"
    result = invoke("predict", folder, "--method", "meanshape", "--boxes", boxes, "--out", out, "--overlay",
                    "--no-progress")
    assert "meanshape: 4 faces in 3 of 3 photos" in result.output
    stored = json.loads((out / "landmarks.json").read_text())
    assert sorted(stored) == ["lenna_1", "pair_1", "pair_2", "takeo_1"]
    for name, face in stored.items():
        key = name if name.startswith("pair") else name[:-2]
        expected = fit_shape_to_boxes(dan_mean_shape(), tight[key][None])[0]       # what meanshape predicts
        np.testing.assert_allclose(face["points"], expected, atol=1e-3)            # 0-based, rounded to 1e-3
        np.testing.assert_allclose(face["box"], tight[key], atol=1e-3)
        np.testing.assert_allclose(read_pts(out / f"{name}.pts"), expected, atol=1e-4)   # 1-based in the file
    assert stored["pair_1"]["box"][0] < stored["pair_2"]["box"][0]
    for photo in ("takeo", "lenna", "pair"):
        with Image.open(out / f"{photo}.png") as im:                              # the whole photo, drawn
            h, w = np.asarray(Image.open(folder / f"{photo}.png")).shape[:2]
            assert im.size == (w, h)
    # overlays written inside the photo folder are not photos the next time
    import shutil

    copy = Path(shutil.copytree(folder, tmp_path / "copy"))
    inside = copy / "landmarks"
    invoke("predict", copy, "--method", "meanshape", "--boxes", boxes, "--out", inside, "--overlay", "--no-progress")
    again = invoke("predict", copy, "--method", "meanshape", "--boxes", boxes, "--out", inside, "--overlay",
                   "--no-progress")
    assert "4 faces in 3 of 3 photos, 3 done before" in again.output


def test_first_point_of_a_pts_file_is_one_based(photos, tmp_path):
    folder, shapes = photos
    box = shape_boxes(shapes["takeo"][None])[0]
    out = tmp_path / "out"
    invoke("predict", folder / "takeo.png", "--method", "meanshape", "--boxes",
           _boxes_file(tmp_path / "b.json", {"takeo": box}), "--out", out, "--no-progress")
    first = (out / "takeo_1.pts").read_text().splitlines()[3].split()
    point = json.loads((out / "landmarks.json").read_text())["takeo_1"]["points"][0]
    assert [float(v) for v in first] == pytest.approx([point[0] + 1, point[1] + 1], abs=1e-3)


def test_a_photo_without_a_face_is_a_warning_and_the_others_go_on(photos, tmp_path):
    folder, shapes = photos
    boxes = _boxes_file(tmp_path / "b.json", {"takeo": shape_boxes(shapes["takeo"][None])[0]})
    result = invoke("predict", folder / "takeo.png", folder / "lenna.png", "--method", "meanshape", "--boxes", boxes,
                    "--out", tmp_path / "out", "--no-progress")
    assert f"warning: {folder / 'lenna.png'}: no face found" in result.stderr
    assert "meanshape: 1 faces in 1 of 2 photos" in result.stdout
    assert sorted(json.loads((tmp_path / "out" / "landmarks.json").read_text())) == ["takeo_1"]


def test_an_identical_command_goes_on_where_it_stopped(photos, tmp_path):
    folder, shapes = photos
    boxes = _boxes_file(tmp_path / "b.json", {k: shape_boxes(v[None])[0] for k, v in shapes.items() if "_" not in k})
    args = ["predict", folder / "takeo.png", "--method", "meanshape", "--boxes", boxes, "--out", tmp_path / "out",
            "--no-progress"]
    invoke(*args)
    first = (tmp_path / "out" / "takeo_1.pts").stat().st_mtime_ns
    again = invoke(*args[:2], folder / "lenna.png", *args[2:])
    assert "2 faces in 2 of 2 photos, 1 done before" in again.output
    assert (tmp_path / "out" / "takeo_1.pts").stat().st_mtime_ns == first                # not predicted again
    assert sorted(json.loads((tmp_path / "out" / "landmarks.json").read_text())) == ["lenna_1", "takeo_1"]
    forced = invoke(*args, "--force")
    assert "done before" not in forced.output
    moved = {k: shape_boxes(v[None])[0] + 3 for k, v in shapes.items() if "_" not in k}      # other boxes
    _boxes_file(boxes, moved)
    assert "done before" not in invoke(*args).output


def test_bad_input_is_one_line(photos, tmp_path):
    folder, _ = photos
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"takeo": [10, 20, 5, 40]}))
    result = invoke("predict", folder, "--method", "meanshape", "--boxes", bad, "--out", tmp_path / "o", ok=False)
    assert result.exit_code == 1 and f"{bad}: 'takeo' must be [x0, y0, x1, y1]" in result.output
    twin = tmp_path / "twin"
    twin.mkdir()
    (twin / "takeo.png").write_bytes((folder / "takeo.png").read_bytes())
    result = invoke("predict", folder / "takeo.png", twin / "takeo.png", "--method", "meanshape", "--boxes", bad,
                    "--out", tmp_path / "o", ok=False)
    assert result.exit_code == 1 and "would both be written as takeo_<k>.pts" in result.output
    result = invoke("predict", folder, "--boxes", bad, "--detector", "cnn", "--out", tmp_path / "o", ok=False)
    assert result.exit_code == 2 and "--boxes replaces the detector" in result.output


def test_the_detector_without_dlib_names_the_extra(photos, tmp_path, monkeypatch):
    from faceeval import detect

    monkeypatch.setitem(sys.modules, "dlib", None)                 # as if the 'peers' extra were missing
    detect._hog.cache_clear()
    try:
        result = invoke("predict", photos[0], "--method", "meanshape", "--out", tmp_path / "o", ok=False)
    finally:
        detect._hog.cache_clear()
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "Error: the hog face detector needs the 'peers' extra: pip install \"faceeval[peers]\"" in result.output
    assert not (tmp_path / "o").exists()


def test_box_mapping_formula_and_fit_recover_a_known_mapping():
    rng = np.random.default_rng(0)
    centre, size = rng.uniform(100, 300, (50, 2)), rng.uniform(50, 150, (50, 1))
    src = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    truth = BoxMapping("a", "b", 0.9, 1.1, 0.02, 0.08)
    fitted = BoxMapping.fit(src, truth.apply(src), "a", "b")
    assert (fitted.scale_x, fitted.scale_y, fitted.offset_x, fitted.offset_y) == pytest.approx((0.9, 1.1, 0.02, 0.08))
    assert fitted.figures["faces"] == 50 and fitted.figures["iou_after"] == pytest.approx(1.0)
    mapped = truth.apply(src[:1])[0]                                # by hand: size 1 x side, centre moved
    side = src[0, 2] - src[0, 0]
    assert mapped[2] - mapped[0] == pytest.approx(0.9 * side) and mapped[3] - mapped[1] == pytest.approx(1.1 * side)
    assert (mapped[1] + mapped[3]) / 2 == pytest.approx(centre[0, 1] + 0.08 * side)


def test_shipped_mappings_were_fitted_on_training_faces_and_bring_boxes_closer():
    shipped = shipped_mappings()
    assert {("dlib-hog", "300w"), ("dlib-cnn", "300w"), ("dlib-cnn", "dlib-hog")} <= set(shipped)
    for mapping in shipped.values():
        figures = mapping.figures
        assert figures["faces"] >= 100 and "300w train" in figures["data"]
        assert figures["iou_after"] > figures["iou_before"]
    # ERT takes dlib's HOG boxes as they are; DAN gets them mapped to the 300W protocol's style
    ert, dan = ["dlib-hog", "300w"], ["300w"]
    assert mappings_for(ert, ["dlib-hog"]) == {"dlib-hog": BoxMapping("dlib-hog", "dlib-hog")}
    assert mappings_for(dan, ["dlib-hog", "dlib-cnn"]) == {s: shipped[s, "300w"] for s in ("dlib-hog", "dlib-cnn")}
    assert mappings_for(ert, ["dlib-cnn"]) == {"dlib-cnn": shipped["dlib-cnn", "dlib-hog"]}
    assert mappings_for(ert, ["300w"]) == {"300w": BoxMapping("300w", "300w")}           # a boxes file


@needs_extra("peers")
def test_the_hog_detector_finds_the_builtin_faces_and_the_mapping_moves_its_boxes_onto_the_faces(photos, tmp_path):
    folder, shapes = photos
    out = tmp_path / "out"
    result = invoke("predict", folder, "--method", "meanshape", "--detector", "hog", "--out", out, "--no-progress")
    assert "boxes: dlib-hog mapped to 300w" in result.stderr
    stored = json.loads((out / "landmarks.json").read_text())
    assert sorted(stored) == ["lenna_1", "pair_1", "pair_2", "takeo_1"]
    mapping = shipped_mappings()["dlib-hog", "300w"]
    for name, face in stored.items():
        tight = shape_boxes(shapes[name if name.startswith("pair") else name[:-2]][None])
        found = np.array([face["box"]])
        assert box_iou(mapping.apply(found), tight)[0] > box_iou(found, tight)[0]     # closer to the landmarks


@needs_extra("peers", "dan")
def test_dan_and_ert_land_on_the_faces_dlib_finds(photos, tmp_path):
    folder, shapes = photos
    for method in ("dan", "ert"):
        out = tmp_path / method
        invoke("predict", folder / "takeo.png", folder / "pair.png", "--method", method, "--out", out, "--no-progress")
        stored = json.loads((out / "landmarks.json").read_text())
        names = sorted(stored)
        pred = np.array([stored[n]["points"] for n in names])
        gt = np.array([shapes[n if n.startswith("pair") else n[:-2]] for n in names])
        assert names == ["pair_1", "pair_2", "takeo_1"]
        assert point_to_point_error(pred, gt).max() < 0.08, method


@needs_extra("peers")
def test_auto_asks_the_cnn_detector_where_hog_finds_no_face(tmp_path):
    lenna = next(s for s in load_dataset("builtin") if s.id == "lenna")
    tilted = Image.fromarray(lenna.load_image()).rotate(60, resample=Image.BILINEAR, expand=True)
    tilted.resize((300, 300), Image.BILINEAR).save(tmp_path / "tilted.png")
    # the ground truth turned with it: 60 degrees counter-clockwise about the centre, then scaled to 300 px
    c, s = np.cos(np.radians(60)), np.sin(np.radians(60))
    d = lenna.ground_truth - np.array(lenna.load_image().shape[1::-1]) / 2
    gt = (np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1]], axis=1) + np.array(tilted.size) / 2) \
        * 300 / tilted.size[0]
    hog = invoke("predict", tmp_path / "tilted.png", "--method", "meanshape", "--detector", "hog", "--out",
                 tmp_path / "hog", "--no-progress", ok=False)
    assert f"warning: {tmp_path / 'tilted.png'}: no face found" in hog.output and hog.exit_code == 1
    auto = invoke("predict", tmp_path / "tilted.png", "--method", "meanshape", "--out", tmp_path / "auto",
                  "--no-progress")
    assert "boxes: dlib-cnn mapped to 300w" in auto.stderr
    face = json.loads((tmp_path / "auto" / "landmarks.json").read_text())["tilted_1"]
    assert face["found_by"] == "cnn"
    centre = np.mean(np.reshape(face["box"], (2, 2)), axis=0)
    assert np.all((centre > gt.min(axis=0)) & (centre < gt.max(axis=0)))          # the box is on the face
