"""Box-size sweep and the `faceeval estimator` / `faceeval menpo-boxsize` commands."""
from __future__ import annotations

import csv

import numpy as np
import pytest
from click.testing import CliRunner

from faceeval.cli import main
from faceeval.datasets import load_dataset
from faceeval.geometry import fit_shape_to_boxes
from faceeval.methods import load_method
from faceeval.resources import dan_mean_shape
from faceeval_methods.error_estimator.boxsize import parse_fractions, sweep_box_fractions

from conftest import loop_errors, mean_shape_in_centred_box, needs_extra


def _eye_distance(shapes):
    return np.linalg.norm(shapes[:, 45] - shapes[:, 36], axis=-1)


def _stub_estimator(target_fraction):
    """An 'estimator' whose estimate is a known function of the box fraction, minimal at
    ``target_fraction``: with the image-blind mean shape, the eye distance / image height
    of the result grows linearly with the fraction."""
    per_unit = _eye_distance(fit_shape_to_boxes(dan_mean_shape(), np.array([[0.0, 0.0, 1.0, 1.0]])))[0]

    def estimate(images, shapes):
        heights = np.array([im.shape[0] for im in images])
        return (_eye_distance(shapes) / heights / per_unit - target_fraction) ** 2 + 0.01

    return estimate


@pytest.mark.parametrize("target", [0.36, 0.46, 0.58])
def test_sweep_picks_the_fraction_that_minimises_the_estimate(target):
    images = [np.zeros((120, 160), np.uint8), np.zeros((200, 90, 3), np.uint8), np.zeros((64, 64), np.uint8)]
    fractions = parse_fractions("0.30:0.60:0.02")
    result = sweep_box_fractions(load_method("meanshape"), images, fractions, _stub_estimator(target), progress=False)
    assert result.best == pytest.approx(target)
    assert result.estimated.shape == (len(fractions), 3) and result.true is None
    assert np.all(np.diff(result.mean_estimated[fractions < target]) < 0)      # falls, then rises
    assert np.all(np.diff(result.mean_estimated[fractions > target]) > 0)


def _true_errors_by_hand(images, gt, fractions):
    """(F, N) errors of the image-blind mean shape's two-step result (= its step 1) per fraction."""
    return np.array([loop_errors(np.stack([mean_shape_in_centred_box(*im.shape[:2], f) for im in images]), gt)
                     for f in fractions])


def test_sweep_reports_true_error_where_ground_truth_exists():
    ds = load_dataset("builtin")
    images = [s.load_image() for s in ds.samples]
    fractions = [0.3, 0.5, 0.7, 0.9]
    result = sweep_box_fractions(load_method("meanshape"), images, fractions, _stub_estimator(0.5),
                                 ground_truth=ds.ground_truth, ids=ds.ids, progress=False)
    expected = _true_errors_by_hand(images, ds.ground_truth, fractions)
    np.testing.assert_allclose(result.true, expected, rtol=1e-7)
    means = expected.mean(axis=1)
    assert np.min(np.abs(np.diff(np.sort(means)))) > 0.01          # a clear winner: the check can fail
    assert result.best == 0.5 and result.best_true == fractions[int(np.argmin(means))]
    table = result.table()
    assert "best fraction by estimate: 0.500" in table and f"by true error: {result.best_true:.3f}" in table
    assert [line.split()[2] for line in table.splitlines()[2:6]] == [f"{m * 100:.2f}" for m in means]


def test_parse_fractions():
    grid = parse_fractions("0.30:0.60:0.02")
    assert len(grid) == 16 and grid[0] == 0.30 and grid[-1] == pytest.approx(0.60)
    assert parse_fractions("0.4, 0.46").tolist() == [0.4, 0.46]
    for bad in ("0.6:0.3:0.02", "a:b:c", "0.3:0.6:0", "0,0.4", ""):
        with pytest.raises(ValueError, match="fractions"):
            parse_fractions(bad)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real (tiny) estimator trained through the CLI on the mean shape's perturbed predictions."""
    folder = tmp_path_factory.mktemp("est")
    model = folder / "meanshape-estimator.npz"
    out = CliRunner().invoke(main, ["estimator", "train", "--method", "meanshape", "--dataset", "builtin",
                                    "--subset", "all", "--perturbations", "6", "--heldout", "0.25",
                                    "-o", str(model), "--no-progress"])
    assert out.exit_code == 0, out.output
    return model, out.output


@needs_extra("estimator")
def test_estimator_train_saves_a_model_and_prints_its_quality(trained):
    from faceeval_methods.error_estimator import ErrorEstimator

    model, output = trained
    assert "Pearson" in output and "heldout" in output and "24 predictions" in output
    est = ErrorEstimator.load(model)
    q = est.meta["quality"]
    assert est.meta["method"] == "meanshape" and q["heldout"]["n"] == 6 and q["train"]["n"] == 18
    assert (model.parent / "meanshape-estimator.npz.cache").is_dir()        # resumable chunks


@needs_extra("estimator")
def test_estimator_predict_scores_a_stored_run(trained, tmp_path):
    model, _ = trained
    runner = CliRunner()
    out = runner.invoke(main, ["run", "meanshape", "--dataset", "builtin", "--results", str(tmp_path), "--no-progress"])
    assert out.exit_code == 0, out.output
    run_dir = next(tmp_path.glob("meanshape/*/builtin/all"))
    out = runner.invoke(main, ["estimator", "predict", str(model), str(run_dir), "--no-progress"])
    assert out.exit_code == 0, out.output
    assert "mean estimated error" in out.output and "Spearman" in out.output
    rows = list(csv.DictReader(open(run_dir / "estimated_errors.csv")))
    ds = load_dataset("builtin")
    assert [r["id"] for r in rows] == ds.ids
    # the mean shape in each face's box, scored by the per-image loop; the estimate of each stored shape
    from faceeval.runs import load_run
    from faceeval_methods.error_estimator import ErrorEstimator

    stored = load_run(run_dir).predictions
    np.testing.assert_allclose(stored, fit_shape_to_boxes(dan_mean_shape(), ds.boxes), atol=1e-9)
    true = loop_errors(stored, ds.ground_truth)
    np.testing.assert_allclose([float(r["true_error"]) for r in rows], true, atol=5e-7)
    est = ErrorEstimator.load(model)
    by_hand = [est.estimate([s.load_image()], shape[None])[0] for s, shape in zip(ds.samples, stored)]
    np.testing.assert_allclose([float(r["estimated_error"]) for r in rows], by_hand, atol=5e-7)
    assert f"mean estimated error {np.mean(by_hand) * 100:.2f}%" in out.output
    assert f"true mean error {true.mean() * 100:.2f}%" in out.output
    bad = runner.invoke(main, ["estimator", "predict", str(tmp_path / "nope.npz"), str(run_dir)])
    assert bad.exit_code == 1 and "nope.npz" in bad.output and "Traceback" not in bad.output


@pytest.fixture(scope="module")
def menpo_folder(tmp_path_factory):
    from faceeval.io import write_pts

    from PIL import Image

    root = tmp_path_factory.mktemp("menpo")
    for sample in load_dataset("builtin").samples:
        if sample.id in ("takeo", "lenna", "einstein"):
            Image.fromarray(sample.load_image()).save(root / f"fddb__{sample.id}.png")
            write_pts(root / f"fddb__{sample.id}.pts", sample.ground_truth)
    return root


@needs_extra("estimator")
def test_menpo_boxsize_command_prints_table_and_writes_csv(trained, menpo_folder, tmp_path):
    from faceeval_methods.error_estimator import ErrorEstimator

    model, _ = trained
    csv_path = tmp_path / "boxsize.csv"
    out = CliRunner().invoke(main, ["menpo-boxsize", "--estimator", str(model), "--method", "meanshape",
                                    "--fractions", "0.30:0.60:0.06", "--subset", "all", "--data-root", str(menpo_folder),
                                    "--limit", "2", "-o", str(csv_path), "--no-progress"])
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(open(csv_path)))
    assert [float(r["fraction"]) for r in rows] == pytest.approx([0.30, 0.36, 0.42, 0.48, 0.54, 0.60])
    estimates = [float(r["mean_estimated_error"]) for r in rows]
    best = [float(r["fraction"]) for r in rows if r["best"] == "1"]
    assert best == [float(rows[int(np.argmin(estimates))]["fraction"])]
    # --limit 2 --seed 0: the two images a seeded choice without replacement picks, in dataset order
    ds = load_dataset("menpo", "all", menpo_folder)
    picked = [ds.samples[i] for i in np.sort(np.random.default_rng(0).choice(len(ds), size=2, replace=False))]
    images = [s.load_image() for s in picked]
    true = _true_errors_by_hand(images, np.stack([s.ground_truth for s in picked]), [0.30, 0.36, 0.42, 0.48, 0.54, 0.60])
    np.testing.assert_allclose([float(r["mean_true_error"]) for r in rows], true.mean(axis=1), atol=5e-7)
    est = ErrorEstimator.load(model)
    by_hand = [np.mean(est.estimate(images, np.stack([mean_shape_in_centred_box(*im.shape[:2], f) for im in images])))
               for f in (0.30, 0.36, 0.42, 0.48, 0.54, 0.60)]
    np.testing.assert_allclose(estimates, by_hand, atol=2e-6)
    assert f"best fraction by estimate: {best[0]:.3f}" in out.output and "true %" in out.output
    bad = CliRunner().invoke(main, ["menpo-boxsize", "--estimator", str(model), "--fractions", "0.6:0.3:0.1",
                                    "--data-root", str(menpo_folder)])
    assert bad.exit_code == 2 and "--fractions" in bad.output
