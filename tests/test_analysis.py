"""Where a method fails (faceeval.analysis): per-landmark, per-region, percentiles, per source folder,
and the `faceeval analyse` command."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from faceeval.analysis import analyse, source_of
from faceeval.cli import main
from faceeval.landmarks import REGIONS, region_indices
from faceeval.metrics import evaluate, point_errors, point_to_point_error, summarize
from faceeval.report.diagnostics import LANDMARK_PX
from faceeval.stats import Bootstrap
from conftest import face_shapes


@pytest.fixture
def noisy():
    gt = face_shapes(40, seed=31)
    rng = np.random.default_rng(32)
    pred = gt + rng.normal(0, 1.0, gt.shape) * rng.uniform(0.5, 3.0, (40, 68, 1))   # per-point noise levels
    ids = [f"{['afw', 'ibug', 'lfpw/testset'][k % 3]}/img_{k:03d}" for k in range(40)]
    return pred, gt, ids


@pytest.mark.parametrize("norm", ["inter-ocular", "inter-pupil", "bbox-diagonal"])
def test_per_landmark_errors_average_back_to_the_mean_error(noisy, norm):
    pred, gt, ids = noisy
    a = analyse(pred, gt, ids, norm)
    summary, _ = evaluate(pred, gt, norm, ids=ids)
    assert a.per_landmark.shape == (68,)
    assert a.per_landmark.mean() == pytest.approx(summary.mean_error, rel=1e-12)
    assert a.summary == summary
    # each landmark's value, by hand: its distance / the image's normaliser, averaged over images
    iod = np.linalg.norm(gt[:, 36] - gt[:, 45], axis=1)
    if norm == "inter-ocular":
        np.testing.assert_allclose(a.per_landmark, (np.linalg.norm(pred - gt, axis=2) / iod[:, None]).mean(0),
                                   rtol=1e-12)
    # regions are the same point errors grouped; weighted by their sizes they give the mean again
    sizes = {r: len(region_indices(r)) for r in REGIONS}
    assert sum(sizes.values()) == 68
    assert sum(a.regions[r] * sizes[r] for r in REGIONS) / 68 == pytest.approx(summary.mean_error, rel=1e-12)


def test_point_errors_match_the_per_image_errors(noisy):
    pred, gt, ids = noisy
    np.testing.assert_allclose(point_errors(pred, gt).mean(axis=1), point_to_point_error(pred, gt), rtol=1e-13)


def test_a_planted_mouth_error_shows_in_the_mouth_only():
    gt = face_shapes(6, seed=33)
    pred = gt.copy()
    pred[:, 48:68, 1] += 4.0                   # the mouth 4 px low, nothing else off
    a = analyse(pred, gt)
    assert a.worst_region == "mouth"
    iod = np.linalg.norm(gt[:, 36] - gt[:, 45], axis=1)
    assert a.regions["mouth"] == pytest.approx(np.mean(4.0 / iod))
    assert all(a.regions[r] == 0 for r in REGIONS if r != "mouth")
    assert set(np.flatnonzero(a.per_landmark)) == set(range(48, 68))


def test_percentiles_by_hand():
    # 101 images with errors 0, 0.01, ..., 1.00: P50 = 0.50, P90 = 0.90, P99 = 0.99 exactly
    gt = np.repeat(face_shapes(1, seed=34), 101, axis=0)
    iod = np.linalg.norm(gt[0, 36] - gt[0, 45])
    pred = gt + (np.arange(101) / 100 * iod)[:, None, None] * np.array([1.0, 0.0])   # every point moved along x
    a = analyse(pred, gt)
    assert a.percentiles == pytest.approx({"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}, abs=1e-12)


def test_per_source_rows_are_each_folders_own_summary(noisy):
    pred, gt, ids = noisy
    a = analyse(pred, gt, ids, bootstrap=Bootstrap(500, seed=1))
    assert list(a.per_source) == ["afw", "ibug", "lfpw/testset"]
    errors = point_to_point_error(pred, gt)
    for k, folder in enumerate(["afw", "ibug", "lfpw/testset"]):
        rows = np.arange(k, 40, 3)                              # ids were assigned round-robin
        assert a.per_source[folder].summary == summarize(errors[rows], 0.08)
        ci = a.per_source[folder].intervals
        assert ci.mean_error.low <= errors[rows].mean() <= ci.mean_error.high
    assert sum(r.summary.n for r in a.per_source.values()) == 40
    assert source_of("helen/testset/296814969_3") == "helen/testset" and source_of("lenna") == "."
    d = a.as_dict()
    assert set(d) == {"per_landmark", "regions", "percentiles", "per_source"} and len(d["per_landmark"]) == 68
    assert set(d["per_source"]["ibug"]) >= {"n", "mean_error", "mean_error_ci", "failure_rate_ci"}


def test_analyse_command_on_a_stored_run(tmp_path, builtin):
    runner = CliRunner()
    run = runner.invoke(main, ["run", "meanshape", "--dataset", "builtin", "--results", str(tmp_path / "results"),
                               "--no-progress", "--no-ci"])
    assert run.exit_code == 0, run.output
    run_dir = next((tmp_path / "results").glob("meanshape/*/builtin/all"))
    result = runner.invoke(main, ["analyse", str(run_dir), "--ci-resamples", "500", "--format", "json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    pred = np.load(run_dir / "predictions.npz")["predictions"]
    expected = analyse(pred, builtin.ground_truth, builtin.ids)
    np.testing.assert_allclose(got["per_landmark"], expected.per_landmark, rtol=1e-12)
    assert got["mean_error"] == expected.summary.mean_error and got["regions"] == pytest.approx(expected.regions)
    assert got["bootstrap"]["resamples"] == 500
    stem = tmp_path / "results" / "analyse" / f"builtin-all-meanshape-{run_dir.parent.parent.name[:8]}"
    assert json.loads(stem.with_name(stem.name + ".json").read_text())["per_landmark"] == got["per_landmark"]
    from PIL import Image

    with Image.open(stem.with_name(stem.name + "-landmarks.png")) as im:
        assert im.size == LANDMARK_PX
    stem.with_name(stem.name + ".json").unlink()
    by_pts = runner.invoke(main, ["analyse", str(run_dir / "pts"), "--gt", "builtin", "--no-ci", "--format", "json"])
    assert by_pts.exit_code == 0, by_pts.output              # the run's own .pts: the same run, the same place
    np.testing.assert_allclose(json.loads(stem.with_name(stem.name + ".json").read_text())["per_landmark"],
                               got["per_landmark"], rtol=1e-6)        # .pts text: rounded coordinates
    table = runner.invoke(main, ["analyse", str(run_dir), "--no-ci", "-o", str(tmp_path / "mine")])
    assert table.exit_code == 0, table.output
    assert "region" in table.output and "P90" in table.output and (tmp_path / "mine-landmarks.pdf").is_file()
    (run_dir / "meta.json").write_text('{"method": "meanshape", ')          # damaged after the run
    broken = runner.invoke(main, ["analyse", str(run_dir), "--no-ci"])
    assert broken.exit_code == 1 and isinstance(broken.exception, SystemExit), repr(broken.exception)
    assert f"{run_dir / 'meta.json'}: cannot read a run's provenance: invalid JSON" in broken.output
    scored = runner.invoke(main, ["eval", str(run_dir)])      # its dataset picks the protocol: no silent default
    assert scored.exit_code == 1 and isinstance(scored.exception, SystemExit), repr(scored.exception)
    assert f"{run_dir / 'meta.json'}: cannot read a run's provenance: invalid JSON" in scored.output
