"""The HOG + ridge error estimator (methods/error_estimator): features, model, training data, storage."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import needs_extra_module

needs_extra_module("estimator")

from faceeval.datasets import load_dataset
from faceeval.geometry import apply_affine, fit_shape_to_boxes, shape_boxes
from faceeval.io import DataError
from faceeval.methods import load_method
from faceeval.resources import dan_mean_shape
from faceeval_methods.error_estimator import ErrorEstimator, HogConfig, fit_ridge, landmark_hog, quality
from faceeval_methods.error_estimator.training import (ROTATION_STD_DEG, SCALE_STD, TRANSLATION_STD, TrainingData,
                                              generate_training_data, heldout_mask, perturbations,
                                              perturbed_predictions, train_estimator)

SMALL = HogConfig(face_size=64, patch_size=16, cell_size=8, block_size=2, orientations=6)


@pytest.fixture(scope="module")
def lenna():
    sample = next(s for s in load_dataset("builtin").samples if s.id == "lenna")
    return sample.load_image(), sample.ground_truth


def _rescaled(image, factor):
    from PIL import Image

    h, w = image.shape[:2]
    return np.asarray(Image.fromarray(image).resize((round(w * factor), round(h * factor)), Image.BILINEAR))


def test_hog_length_is_fixed_for_any_image_and_face_size(lenna):
    image, gt = lenna
    config = HogConfig()
    assert config.length == 68 * config.length_per_landmark == 2448
    cases = [(image, gt), (_rescaled(image, 0.25), (gt + 0.5) * 0.25 - 0.5), (_rescaled(image, 3.0), (gt + 0.5) * 3 - 0.5),
             (image[..., 0], gt), (np.zeros((40, 30), np.uint8), gt * 0.05), (image, gt + 400)]   # last: off the image
    for img, shape in cases:
        features = landmark_hog(img, shape[None], config)
        assert features.shape == (1, config.length) and np.isfinite(features).all()
    assert landmark_hog(image, np.repeat(gt[None], 3, 0), SMALL).shape == (3, SMALL.length)


def test_hog_describes_the_face_not_the_image_size(lenna):
    image, gt = lenna
    base = landmark_hog(image, gt[None])[0]
    corr = lambda a, b: np.corrcoef(a, b)[0, 1]  # noqa: E731
    for factor in (0.5, 2.0):
        scaled = landmark_hog(_rescaled(image, factor), ((gt + 0.5) * factor - 0.5)[None])[0]
        assert corr(base, scaled) > 0.95
    iod = np.linalg.norm(gt[45] - gt[36])
    shifted = landmark_hog(image, (gt + [0.4 * iod, 0.3 * iod])[None])[0]
    assert corr(base, shifted) < 0.8


def test_hog_config_rejects_patches_that_do_not_tile():
    with pytest.raises(ValueError, match="multiple of cell_size"):
        HogConfig(patch_size=30, cell_size=8)


def test_ridge_recovers_a_synthetic_linear_relation():
    rng = np.random.default_rng(1)
    w = rng.normal(size=40) * (rng.random(40) < 0.5)
    x = rng.normal(size=(400, 40)) * rng.uniform(0.1, 10, size=40) + rng.normal(size=40)
    y = x @ w + 0.3 + rng.normal(scale=0.01, size=400)
    model = fit_ridge(x[:300], y[:300])
    np.testing.assert_allclose(model.coef / model.scale, w, atol=0.01)       # back in raw feature units
    np.testing.assert_allclose(model.predict(x[300:]), y[300:], atol=0.05)
    q = quality(model.predict(x[300:]), y[300:], threshold=np.median(y))
    assert q["pearson"] > 0.999 and q["spearman"] > 0.99 and q["roc_auc"] > 0.99


def test_ridge_picks_a_strong_penalty_for_pure_noise():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(200, 50)), rng.normal(size=200)
    assert fit_ridge(x, y).alpha >= 100


def test_grouped_cv_does_not_memorise_near_duplicate_perturbations():
    # 40 images x 5 near-identical rows, targets unrelated to the features: leave-one-out sees a
    # sibling of each row and picks a tiny penalty; leaving whole images out does not
    rng = np.random.default_rng(7)
    groups = np.repeat(np.arange(40), 5)
    x = rng.normal(size=(40, 60))[groups] + rng.normal(scale=0.01, size=(200, 60))
    y = rng.normal(size=40)[groups] + rng.normal(scale=0.01, size=200)
    loo, grouped = fit_ridge(x, y), fit_ridge(x, y, groups=groups)
    assert grouped.alpha >= 100 * loo.alpha
    x_new, y_new = rng.normal(size=(200, 60)), rng.normal(size=200)          # unseen images
    mse = lambda m: np.mean((m.predict(x_new) - y_new) ** 2)  # noqa: E731
    assert mse(grouped) < mse(loo)


def test_quality_scores_ranking_and_failure_flagging():
    true = np.array([0.02, 0.03, 0.05, 0.07, 0.09, 0.2, 0.5])
    perfect = quality(true * 2 + 1, true)
    assert perfect["spearman"] == pytest.approx(1.0) and perfect["roc_auc"] == 1.0 and perfect["failures"] == 3
    reversed_ = quality(-true, true)
    assert reversed_["pearson"] < -0.9 and reversed_["roc_auc"] == 0.0
    assert quality(true, true * 0 + 0.01)["roc_auc"] is None       # no failures: AUC undefined


def test_estimator_round_trips_through_npz_without_pickle(tmp_path, lenna):
    image, gt = lenna
    rng = np.random.default_rng(3)
    est = ErrorEstimator(SMALL, fit_ridge(rng.normal(size=(30, SMALL.length)), rng.random(30)), {"method": "x"})
    path = tmp_path / "est.npz"
    est.save(path)
    with np.load(path, allow_pickle=False) as z:
        assert set(z.files) == {"header", "mean", "scale", "coef"}
    loaded = ErrorEstimator.load(path)
    shapes = np.stack([gt, gt + 5])
    np.testing.assert_allclose(loaded.estimate([image, image], shapes), est.estimate([image, image], shapes))
    assert loaded.config == SMALL and loaded.meta == {"method": "x"}
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="bad.npz"):
        ErrorEstimator.load(tmp_path / "bad.npz")
    with pytest.raises(DataError, match="no such estimator"):
        ErrorEstimator.load(tmp_path / "missing.npz")


def test_perturbations_follow_the_training_protocol():
    init = fit_shape_to_boxes(dan_mean_shape(), np.array([[100.0, 50.0, 300.0, 270.0]]))[0]
    maps = perturbations(init, 4000, np.random.default_rng(4))
    lin = maps[:, :, :2]
    scale = np.sqrt(np.linalg.det(lin))
    angle = np.degrees(np.arctan2(lin[:, 1, 0], lin[:, 0, 0]))
    centre = (init.min(0) + init.max(0)) / 2
    shift = apply_affine(centre[None], maps)[:, 0] - centre
    assert abs(np.std(angle) - ROTATION_STD_DEG) < 1.5
    assert abs(np.median(scale) - 1) < 0.03 and abs(np.std(scale) - SCALE_STD) < 0.03
    np.testing.assert_allclose(shift.std(axis=0), TRANSLATION_STD * (init.max(0) - init.min(0)), rtol=0.06)


def test_perturbed_predictions_map_answers_back_to_the_image():
    # an image-blind method answers with its start: mapped back, that is the perturbed start P(S0)
    sample = load_dataset("builtin").samples[2]
    method = load_method("meanshape")
    pred = perturbed_predictions(method, sample.load_image(), sample.ground_truth, 5, np.random.default_rng(5))
    init = fit_shape_to_boxes(dan_mean_shape(), shape_boxes(sample.ground_truth[None]))[0]
    expected = apply_affine(init[None], perturbations(init, 5, np.random.default_rng(5)))
    np.testing.assert_allclose(pred, expected, atol=1e-6)


def test_training_data_are_seeded_resumable_and_span_a_range(tmp_path):
    ds = load_dataset("builtin")
    method = load_method("meanshape")
    data = generate_training_data(method, ds, k=3, seed=7, config=SMALL, cache=tmp_path, progress=False)
    assert data.features.shape == (12, SMALL.length) and list(data.ids[::3]) == ds.ids
    assert data.errors.max() > 2 * data.errors.min()                 # the starts spread the errors
    from faceeval.metrics import point_to_point_error

    np.testing.assert_allclose(data.errors, point_to_point_error(data.shapes, np.repeat(ds.ground_truth, 3, 0)))
    assert len(list(tmp_path.rglob("chunk_*.npz"))) == 1
    again = generate_training_data(method, ds, k=3, seed=7, config=SMALL, cache=tmp_path, progress=False)
    fresh = generate_training_data(method, ds, k=3, seed=7, config=SMALL, progress=False)
    np.testing.assert_array_equal(again.errors, data.errors)
    np.testing.assert_allclose(fresh.features, data.features)
    other = generate_training_data(method, ds, k=3, seed=8, config=SMALL, progress=False)
    assert not np.allclose(other.errors, data.errors)


def test_heldout_split_keeps_an_image_on_one_side():
    ids = np.repeat([f"img{i}" for i in range(50)], 4)
    mask = heldout_mask(ids, 0.2, seed=0)
    assert mask.sum() == 40
    assert all(len(set(mask[ids == i])) == 1 for i in set(ids))
    assert not np.array_equal(mask, heldout_mask(ids, 0.2, seed=1))


def test_train_estimator_reports_held_out_quality_on_a_learnable_signal():
    tiny = HogConfig(patch_size=8, cell_size=8, block_size=1, orientations=2)     # 136 features
    rng = np.random.default_rng(6)
    n = 240
    x = rng.normal(size=(n, tiny.length)).astype(np.float32)
    errors = np.abs(0.06 + 0.03 * x[:, :5].sum(axis=1) / np.sqrt(5) + rng.normal(scale=0.005, size=n))
    data = TrainingData(np.repeat([f"f{i}" for i in range(60)], 4), x, errors, np.zeros((n, 68, 2)))
    est, report = train_estimator(data, tiny, heldout=0.25, seed=0)
    held = report["heldout"]
    assert held["n"] == 60 and held["pearson"] > 0.8 and held["roc_auc"] > 0.85
    assert est.meta["quality"]["heldout"] == held
