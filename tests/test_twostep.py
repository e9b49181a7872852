"""The boxless two-step initialisation (faceeval.twostep) and its `run --init two-step` path."""
from __future__ import annotations

import numpy as np
import pytest

from faceeval.datasets import load_dataset
from faceeval.geometry import apply_affine, shape_boxes, similarity_matrix, warp_image
from faceeval.methods import LandmarkMethod, MissingDependencyError, MissingWeightsError, load_method
from faceeval.metrics import point_to_point_error
from faceeval.errors import OptionError
from faceeval.twostep import (DEFAULT_FRACTION, FRACTION_ENV, canonical_frames, centred_boxes, resolve_options,
                              two_step_predict)


@pytest.fixture(scope="module")
def dlib_method():
    """The real ERT plugin (dlib's 68-point model), or a skip that says what is missing."""
    try:
        return load_method("ert")
    except (MissingDependencyError, MissingWeightsError) as exc:
        pytest.skip(f"the ert plugin cannot load here: {exc}")


def paste_off_centre(image, gt, face_fraction, offset, background=120):
    """Paste the face (1.5x its box) into a canvas where the face box is ``face_fraction`` of the
    height and its centre is ``offset`` x height away from the canvas centre."""
    box = shape_boxes(gt[None])[0]
    side, centre = max(box[2] - box[0], box[3] - box[1]), (box[:2] + box[2:]) / 2
    x0, y0 = np.maximum(np.round(centre - 0.75 * side).astype(int), 0)
    x1, y1 = np.minimum(np.round(centre + 0.75 * side).astype(int), [image.shape[1], image.shape[0]])
    crop = image[y0:y1, x0:x1]
    h = int(side / face_fraction)
    w = int(h * 1.25)
    canvas = np.full((h, w) + image.shape[2:], background, np.uint8)
    target = np.array([(w - 1) / 2 + offset[0] * h, (h - 1) / 2 + offset[1] * h])
    d = np.round(target - (centre - [x0, y0])).astype(int)
    canvas[d[1]:d[1] + crop.shape[0], d[0]:d[0] + crop.shape[1]] = crop
    return canvas, gt - [x0, y0] + d


def test_centred_boxes_are_square_centred_and_scale_with_height():
    boxes = centred_boxes([np.zeros((100, 300)), np.zeros((400, 50, 3))], 0.5)
    sides = boxes[:, 2:] - boxes[:, :2]
    np.testing.assert_allclose(sides, [[50, 50], [200, 200]])
    np.testing.assert_allclose((boxes[:, :2] + boxes[:, 2:]) / 2, [[149.5, 49.5], [24.5, 199.5]])
    with pytest.raises(ValueError, match="fraction"):
        centred_boxes([np.zeros((10, 10))], 0.0)


def test_warp_image_moves_pixels_where_the_matrix_says():
    image = np.zeros((60, 80), np.uint8)
    image[20, 50] = 255                                   # a dot at (x, y) = (50, 20)
    to_out = similarity_matrix(0.5, np.deg2rad(30), 10.0, 5.0)[0]     # input -> output frame
    from faceeval.geometry import invert_affine

    out = warp_image(image, invert_affine(to_out), (60, 80))
    expected = apply_affine(np.array([[50.0, 20.0]]), to_out)[0]
    y, x = np.unravel_index(np.argmax(out), out.shape)
    assert np.hypot(x - expected[0], y - expected[1]) <= 1.0
    rgb = warp_image(np.dstack([image] * 3), invert_affine(to_out), (60, 80))
    assert rgb.shape == (60, 80, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[..., 1], out)


def test_canonical_frames_undo_rotation_and_position_but_keep_scale():
    gt = load_dataset("builtin").ground_truth
    tilted = apply_affine(gt, similarity_matrix(1.0, np.deg2rad(25), 40.0, -10.0))
    frames, sides = canonical_frames(tilted)
    upright = apply_affine(tilted, frames)
    reference_frames, reference_sides = canonical_frames(gt)
    np.testing.assert_allclose(upright, apply_affine(gt, reference_frames), atol=1e-6)
    np.testing.assert_array_equal(sides, reference_sides)
    np.testing.assert_allclose(np.linalg.det(frames[:, :, :2]), 1.0)          # resolution kept
    eye_line = upright[:, 45] - upright[:, 36]
    assert np.all(np.abs(np.degrees(np.arctan2(eye_line[:, 1], eye_line[:, 0]))) < 15)
    assert np.all(upright.min(axis=1) > 0) and np.all(upright.max(axis=1) < sides[:, None])


def test_two_step_with_an_image_blind_method_returns_step_one():
    # the mean shape is the canonical shape: step 2 must map it back exactly where step 1 put it
    images = [np.zeros((120, 200), np.uint8), np.zeros((300, 90, 3), np.uint8)]
    method = load_method("meanshape")
    result, first = two_step_predict(method, images, 0.4, return_first=True)
    np.testing.assert_allclose(result, first, atol=1e-6)
    np.testing.assert_allclose(first, method.predict(images, centred_boxes(images, 0.4)))


def test_two_step_rejects_a_collapsed_first_step():
    class Collapsed(LandmarkMethod):
        name = "collapsed"

        def predict(self, images, boxes):
            return np.zeros((len(images), 68, 2))

    with pytest.raises(ValueError, match="image #0"):
        two_step_predict(Collapsed(), [np.zeros((50, 50), np.uint8)], 0.5)


def test_fraction_is_an_explicit_option_never_read_from_the_environment(monkeypatch):
    monkeypatch.setenv(FRACTION_ENV, "0.3")
    assert resolve_options({}) == {"fraction": DEFAULT_FRACTION} and DEFAULT_FRACTION == 0.46
    assert resolve_options({"fraction": 0.3}) == {"fraction": 0.3}
    images = [np.zeros((100, 100), np.uint8)]
    method = load_method("meanshape")
    np.testing.assert_array_equal(two_step_predict(method, images), two_step_predict(method, images, 0.46))
    for bad, message in (({"fraction": 0.0}, r"\(0, 2\]"), ({"fraction": 2.5}, r"\(0, 2\]"),
                         ({"fraction": "big"}, "not a number"), ({"size": 0.3}, "fraction only")):
        with pytest.raises(OptionError, match=message):
            resolve_options(bad)


def test_two_step_on_off_centre_faces_ends_closer_than_step_one(dlib_method):
    ds = load_dataset("builtin")
    offsets = [(0.06, 0.03), (-0.08, 0.06), (0.05, 0.05), (0.08, -0.04)]
    first_errors, final_errors = [], []
    for sample in ds.samples:
        if sample.id not in ("takeo", "lenna"):    # dlib's model fails on the other two even from their own box
            continue
        for offset in offsets:
            canvas, gt = paste_off_centre(sample.load_image(), sample.ground_truth, 0.35, offset)
            final, first = two_step_predict(dlib_method, [canvas], 0.46, return_first=True)
            first_errors.append(point_to_point_error(first, gt[None])[0])
            final_errors.append(point_to_point_error(final, gt[None])[0])
    first_errors, final_errors = np.array(first_errors), np.array(final_errors)
    assert final_errors.mean() < 0.8 * first_errors.mean(), (first_errors, final_errors)
    assert (final_errors < first_errors).sum() >= 6, (first_errors, final_errors)
    assert (final_errors < 0.08).sum() > (first_errors < 0.08).sum()


@pytest.fixture(scope="module")
def fake_menpo(tmp_path_factory):
    """A Menpo-like folder (images + 1-based .pts, no boxes): builtin faces pasted off-centre."""
    from PIL import Image

    from faceeval.io import write_pts

    root = tmp_path_factory.mktemp("menpo")
    for sample, offset in zip(load_dataset("builtin").samples, [(0.05, 0.02), (-0.04, 0.03), (0.03, -0.02), (0.0, 0.04)]):
        canvas, gt = paste_off_centre(sample.load_image(), sample.ground_truth, 0.4, offset)
        scale = min(1.0, 320 / canvas.shape[0])                       # keep the files small
        size = (round(canvas.shape[1] * scale), round(canvas.shape[0] * scale))
        Image.fromarray(canvas).resize(size, Image.BILINEAR).save(root / f"aflw__{sample.id}.jpg", quality=92)
        write_pts(root / f"aflw__{sample.id}.pts", (gt + 0.5) * [size[0] / canvas.shape[1], size[1] / canvas.shape[0]] - 0.5)
    return root


def test_run_init_two_step_on_a_boxless_menpo_folder(fake_menpo, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from faceeval.cli import main
    from faceeval.runs import load_run

    monkeypatch.delenv(FRACTION_ENV, raising=False)
    results = tmp_path / "results"
    out = CliRunner().invoke(main, ["run", "meanshape", "--dataset", "menpo", "--subset", "all", "--init", "two-step",
                                    "--data-root", str(fake_menpo), "--results", str(results), "--no-progress"])
    assert out.exit_code == 0, out.output
    assert "init two-step" in out.output and "inter-ocular" in out.output
    run = load_run(next(results.glob("meanshape/*/menpo/all@two-step,fraction=0.46")))
    assert run.meta["init_options"] == {"fraction": 0.46}
    ds = load_dataset("menpo", "all", fake_menpo)
    assert run.ids == ds.ids and run.meta["init"] == "two-step"
    expected = two_step_predict(load_method("meanshape"), [s.load_image() for s in ds.samples], DEFAULT_FRACTION)
    np.testing.assert_allclose(run.predictions, expected, atol=1e-6)


def test_run_two_step_with_a_real_method_scores_the_faces(fake_menpo, tmp_path, dlib_method):
    from faceeval.runs import run_method

    ds = load_dataset("menpo", "all", fake_menpo)
    run = run_method(dlib_method, ds, tmp_path, init="two-step", progress=False)
    errors = point_to_point_error(run.predictions, run.ground_truth)
    assert np.isfinite(run.predictions).all()
    good = {sid: e for sid, e in zip(run.ids, errors) if sid.endswith(("takeo", "lenna"))}
    assert len(good) == 2 and max(good.values()) < 0.08, dict(zip(run.ids, errors))
