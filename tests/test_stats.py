"""Bootstrap intervals and paired comparisons (faceeval.stats), checked against the definitions
and against known distributions."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st
from scipy.integrate import simpson

import faceeval.stats as fs
from faceeval.metrics import MetricInputError, auc, auc_contributions, ced_grid, failure_rate, summarize
from faceeval.stats import Bootstrap, Interval, bootstrap_samples, paired_comparison, summary_intervals


@pytest.mark.parametrize("alpha", [0.08, 0.03, 0.0805, 0.1])     # 0.0805: an odd number of grid intervals
def test_auc_is_the_mean_of_per_image_contributions(alpha):
    e = np.random.default_rng(1).gamma(2.0, 0.02, 2001)
    e[:50] = np.round(e[:50], 4)                 # errors exactly on grid points (ties with thresholds)
    e[50:60] = alpha                             # and at alpha itself
    assert auc_contributions(e, alpha).mean() == pytest.approx(auc(e, alpha), abs=1e-12)
    # one image alone: its contribution is the AUC of a one-image set
    for x in (0.0, alpha / 3, alpha, alpha * 2):
        assert auc_contributions([x], alpha)[0] == pytest.approx(auc([x], alpha), abs=1e-12)


def test_resamples_are_scored_by_the_metrics_definitions():
    """Each bootstrap resample's numbers equal summarize() of that resample, drawn independently
    from the same seeded generator (indices into the sorted errors, row by row)."""
    e = np.random.default_rng(2).gamma(2.0, 0.02, 135)
    boot = Bootstrap(resamples=300, seed=7)
    got = bootstrap_samples(e, 0.08, False, boot)
    idx = np.random.default_rng(7).integers(0, e.size, size=(300, e.size))
    resampled = np.sort(e)[idx]
    for r in range(300):
        s = summarize(resampled[r], 0.08)
        assert got["mean_error"][r] == pytest.approx(s.mean_error, abs=1e-15)
        assert got["median_error"][r] == s.median_error
        assert got["auc"][r] == pytest.approx(s.auc, abs=1e-12)
        assert got["failure_rate"][r] == s.failure_rate
    even = np.random.default_rng(3).gamma(2.0, 0.02, 136)    # even n: the median averages two values
    got = bootstrap_samples(even, 0.08, True, Bootstrap(50, seed=1))
    idx = np.random.default_rng(1).integers(0, 136, size=(50, 136))
    np.testing.assert_array_equal(got["median_error"], np.median(np.sort(even)[idx], axis=1))
    np.testing.assert_array_equal(got["failure_rate"],
                                  [failure_rate(row, 0.08, inclusive=True) for row in np.sort(even)[idx]])


def test_same_seed_same_interval_whatever_the_block_size(monkeypatch):
    e = np.random.default_rng(4).gamma(2.0, 0.02, 689)
    whole = bootstrap_samples(e, bootstrap=Bootstrap(1000, seed=3))
    monkeypatch.setattr(fs, "_BLOCK_ENTRIES", 3 * 689 + 5)          # 3 resamples per block
    blocks = bootstrap_samples(e, bootstrap=Bootstrap(1000, seed=3))
    for k in fs.STATISTICS:                   # the same resamples (sums may round differently)
        np.testing.assert_allclose(blocks[k], whole[k], rtol=1e-13, atol=1e-15)
    other = bootstrap_samples(e, bootstrap=Bootstrap(1000, seed=4))
    assert not np.allclose(other["mean_error"], whole["mean_error"])


def test_intervals_cover_the_true_values_at_close_to_the_nominal_rate():
    """200 seeded samples of 135 errors from a known gamma distribution: the 95% intervals
    must cover the true mean (and median, AUC) in 90-99% of them."""
    shape, scale, n, alpha = 2.0, 0.02, 135, 0.08
    dist = st.gamma(shape, scale=scale)
    grid = ced_grid(alpha)
    truth = {"mean_error": shape * scale, "median_error": dist.median(), "failure_rate": dist.sf(alpha),
             "auc": simpson(dist.cdf(grid), x=grid) / alpha}       # the AUC of the true CED
    rng = np.random.default_rng(12)
    hits = dict.fromkeys(truth, 0)
    for rep in range(200):
        ci = summary_intervals(rng.gamma(shape, scale, n), alpha, bootstrap=Bootstrap(2000, seed=rep))
        for k in truth:
            hits[k] += ci[k].contains(truth[k])
    coverage = {k: h / 200 for k, h in hits.items()}
    for k in ("mean_error", "median_error", "auc"):
        assert 0.90 <= coverage[k] <= 0.99, coverage
    # a proportion with ~12 failures in 135: the percentile bootstrap is known to under-cover a little
    assert 0.88 <= coverage["failure_rate"] <= 0.99, coverage


def _methods_on_the_same_faces(rng, n=135, improvement=0.0):
    """Per-face difficulty shared by both methods, plus each method's own 10% noise."""
    difficulty = rng.gamma(2.0, 0.02, n)
    a = difficulty * np.exp(rng.normal(0, 0.1, n))
    b = (1 - improvement) * difficulty * np.exp(rng.normal(0, 0.1, n))
    return a, b


def test_paired_test_finds_a_planted_five_percent_improvement_on_135_faces():
    a, b = _methods_on_the_same_faces(np.random.default_rng(21), improvement=0.05)
    boot = Bootstrap(10_000, seed=0)
    p = paired_comparison(a, b, "A", "B", boot)
    assert p.significant and p.verdict == "B has the lower mean error at 95%"
    assert p.interval.low > 0 and p.mean_difference == pytest.approx(np.mean(a - b))   # A − B > 0: B lower
    assert p.wilcoxon_p < 0.01
    assert p.b_better == np.mean(b < a) and p.a_better + p.b_better + p.ties == pytest.approx(1.0)
    # while the two unpaired intervals overlap: only pairing the faces shows the difference
    ci_a, ci_b = summary_intervals(a, bootstrap=boot), summary_intervals(b, bootstrap=boot)
    assert ci_b.mean_error.high > ci_a.mean_error.low


def test_paired_test_finds_nothing_between_identical_runs():
    a, _ = _methods_on_the_same_faces(np.random.default_rng(22))
    p = paired_comparison(a, a.copy(), "A", "A again")
    assert not p.significant and p.verdict == "no significant difference at 95%"
    assert p.interval == Interval(0.0, 0.0) and p.wilcoxon_p == 1.0 and p.ties == 1.0


def test_paired_test_false_positive_rate_is_near_five_percent():
    rng = np.random.default_rng(23)
    significant = [paired_comparison(*_methods_on_the_same_faces(rng), bootstrap=Bootstrap(1000, seed=k)).significant
                   for k in range(200)]
    assert 0.01 <= np.mean(significant) <= 0.10


def test_verdict_says_when_most_images_disagree_with_the_mean():
    # B wins 80 of 100 images by a little, A wins 20 by a lot: A's mean error is lower
    a = np.r_[np.full(80, 0.050), np.full(20, 0.05)]
    b = np.r_[np.full(80, 0.049), np.full(20, 0.20)]
    p = paired_comparison(a, b, "A", "B", Bootstrap(2000, seed=1))
    assert p.mean_difference < 0 and p.b_better == 0.8
    assert p.verdict == "A has the lower mean error at 95%, but B is better on 80% of images"


def test_wilcoxon_p_is_scipys():
    a, b = _methods_on_the_same_faces(np.random.default_rng(24), improvement=0.02)
    assert paired_comparison(a, b, bootstrap=Bootstrap(100)).wilcoxon_p == pytest.approx(st.wilcoxon(a, b).pvalue)


def test_formats_and_bad_input():
    assert fs.format_with_interval(0.0524, Interval(0.0495, 0.0558)) == "5.24 [4.95, 5.58]"
    assert fs.format_with_interval(0.0524, None) == "5.24"
    ci = summary_intervals(np.linspace(0.01, 0.1, 50), resamples=500)
    d = ci.as_dict()
    assert set(d) == {"mean_error_ci", "median_error_ci", "auc_ci", "failure_rate_ci", "bootstrap"}
    assert d["bootstrap"]["resamples"] == 500 and d["bootstrap"]["seed"] == 0
    with pytest.raises(MetricInputError, match="resamples"):
        Bootstrap(resamples=1)
    with pytest.raises(MetricInputError, match="level"):
        Bootstrap(level=1.5)
    with pytest.raises(MetricInputError, match="same images"):
        paired_comparison(np.ones(3), np.ones(4))
    with pytest.raises(MetricInputError, match="non-finite"):
        summary_intervals(np.array([0.1, np.nan]))


@pytest.mark.parametrize("level", [0.5, 0.8])
def test_summary_intervals_use_their_confidence_level(level, tmp_path):
    """The interval is the central ``level`` part of the bootstrap distribution, drawn here from the same
    seeded generator: a level other than 0.95 (through the function and through --ci-level) must change it."""
    e = np.sort(np.random.default_rng(11).gamma(2.0, 0.02, 135))
    ci = summary_intervals(e, bootstrap=Bootstrap(resamples=400, seed=5, level=level))
    idx = np.random.default_rng(5).integers(0, e.size, size=(400, e.size))
    means = e[idx].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    assert ci.mean_error.low == pytest.approx(low, abs=1e-15) and ci.mean_error.high == pytest.approx(high, abs=1e-15)
    wide = summary_intervals(e, bootstrap=Bootstrap(resamples=400, seed=5, level=0.95))
    assert wide.mean_error.low < ci.mean_error.low and ci.mean_error.high < wide.mean_error.high
    # the command line's --ci-level reaches the same numbers
    import json

    from click.testing import CliRunner

    from faceeval.cli import main
    from faceeval.predictions import write_predictions
    from faceeval.io import write_pts
    from conftest import face_shapes

    gt = face_shapes(40, seed=12)
    pred = gt + np.random.default_rng(13).normal(0, 1, gt.shape) * np.linspace(0.5, 4, 40)[:, None, None]
    ids = [f"f{k:02d}" for k in range(40)]
    for sid, g in zip(ids, gt):
        write_pts(tmp_path / "gt" / f"{sid}.pts", g)
    write_predictions(tmp_path / "p.csv", ids, pred)
    out = json.loads(CliRunner().invoke(main, ["eval", str(tmp_path / "p.csv"), "--gt", str(tmp_path / "gt"),
                                              "--ci-resamples", "300", "--ci-seed", "3", "--ci-level", str(level),
                                              "--format", "json"]).stdout)
    stored = np.stack([fs_read(tmp_path / "gt", sid) for sid in ids])
    errors = np.sort(np.linalg.norm(pred - stored, axis=2).mean(axis=1) / np.linalg.norm(stored[:, 36] - stored[:, 45],
                                                                                          axis=1))
    resampled = errors[np.random.default_rng(3).integers(0, 40, size=(300, 40))].mean(axis=1)
    assert out["mean_error_ci"] == pytest.approx(list(np.percentile(resampled, [tail, 100 - tail])), abs=1e-12)
    assert out["bootstrap"]["level"] == level


def fs_read(root, sid):
    from faceeval.io import read_pts

    return read_pts(root / f"{sid}.pts")
