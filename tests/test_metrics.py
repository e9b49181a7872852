"""The metrics core against hand-worked cases, analytic CEDs and a per-image reference loop."""
import numpy as np
import pytest

from faceeval import metrics as M
from faceeval.metrics import (MetricInputError, align_by_ids, auc, ced, ced_grid, evaluate, failure_rate,
                              normalisers, point_to_point_error, summarize)


def hand_face() -> np.ndarray:
    """A shape whose three normalisers are known by hand.

    Outer eye corners 36 = (0, 0) and 45 = (60, 80): inter-ocular 100.
    Eye A (36-41) all at (0, 0); eye B (42-47) = (0, 0), (60, 80) and four at (30, 40):
    centre (30, 40), so inter-pupil 50. Point 0 at (-60, -80), the rest at (0, 0):
    tight box from (-60, -80) to (60, 80), diagonal sqrt(120^2 + 160^2) = 200.
    """
    s = np.zeros((68, 2))
    s[42] = (0, 0)
    s[43] = s[44] = s[46] = s[47] = (30, 40)
    s[45] = (60, 80)
    s[0] = (-60, -80)
    return s


def asymmetric_face() -> np.ndarray:
    """A face whose eyes are irregular hexagons: no eye point sits at its eye's centre, so
    an inter-pupil distance computed from fewer than the 6 points of each eye is wrong.

    Eye A (36-41): (0, 0), (10, 0), (20, 0), (20, 12), (10, 12), (0, 12): centre (10, 6).
    Eye B (42-47): (100, 0), (112, 0), (124, 3), (118, 12), (106, 12), (100, 9):
    x sum 660, y sum 36, centre (110, 6). Inter-pupil distance: exactly 100. Leaving out
    any one point moves its eye's centre by (centre - point) / 5, never 0.
    Outer eye corners 36 = (0, 0) and 45 = (118, 12). Other points spread over the face.
    """
    s = np.zeros((68, 2))
    s[:36] = np.stack([np.linspace(-20, 140, 36), np.linspace(-30, 90, 36) ** 2 / 100], axis=1)
    s[36:42] = [(0, 0), (10, 0), (20, 0), (20, 12), (10, 12), (0, 12)]
    s[42:48] = [(100, 0), (112, 0), (124, 3), (118, 12), (106, 12), (100, 9)]
    s[48:] = np.stack([np.linspace(30, 90, 20), 60 + np.linspace(0, 10, 20) ** 1.5], axis=1)
    return s


def test_inter_pupil_uses_all_six_points_of_each_eye():
    gt = asymmetric_face()[None]
    assert normalisers(gt, "inter-pupil").tolist() == [100.0]
    # every point of each eye matters: dropping one (the 5-point mutant) changes the distance
    for eye in (np.arange(36, 42), np.arange(42, 48)):
        for left_out in eye:
            keep_a = [i for i in range(36, 42) if i != left_out]
            keep_b = [i for i in range(42, 48) if i != left_out]
            d = np.linalg.norm(gt[0, keep_a].mean(0) - gt[0, keep_b].mean(0))
            assert abs(d - 100.0) > 1e-3, left_out
    pred = gt + np.array([3.0, 4.0])                 # every point 5 px away: 5 / 100
    assert point_to_point_error(pred, gt, "inter-pupil").tolist() == [0.05]


def test_failure_at_exactly_alpha_follows_the_convention_everywhere():
    """Errors exactly equal to alpha: failures only when failure is inclusive (>=)."""
    gt = hand_face()[None].repeat(4, axis=0)             # inter-ocular 100 (see hand_face)
    pred = gt.copy()
    pred[:3] += np.array([0.0, 8.0])                     # 8 px / 100 = 0.08 exactly, three faces
    pred[3] += np.array([0.0, 2.0])                      # 0.02, the fourth
    errors = point_to_point_error(pred, gt)
    assert errors.tolist() == [0.08, 0.08, 0.08, 0.02]
    strict, _ = evaluate(pred, gt, "inter-ocular", 0.08)
    inclusive, _ = evaluate(pred, gt, "inter-ocular", 0.08, inclusive_failure=True)
    assert strict.failure_rate == 0.0 and inclusive.failure_rate == 0.75
    assert failure_rate(errors, 0.08) == 0.0 and failure_rate(errors, 0.08, inclusive=True) == 0.75
    assert summarize(errors, 0.08, inclusive_failure=True).failure_rate == 0.75


def test_auc_of_curve_interpolates_linearly_between_the_given_points():
    """A coarse curve: (0, 0), (0.02, 0.6), (0.08, 0.9), linear in between. Its area up to 0.08
    is 0.02 * 0.6 / 2 + 0.06 * (0.6 + 0.9) / 2 = 0.006 + 0.045 = 0.051, so AUC = 0.051 / 0.08.
    The kink at 0.02 is grid node 200 (even), where Simpson's panels meet: exact there.
    A step (previous-value) interpolation would give 0.6 * 0.06 / 0.08 = 0.45."""
    assert M.auc_of_curve([0.0, 0.02, 0.08], [0.0, 0.6, 0.9], alpha=0.08) == pytest.approx(0.6375, abs=1e-12)
    # a straight CED from 0 to 1 at x = 0.16 is half-way at alpha 0.08: AUC 0.25
    assert M.auc_of_curve([0.0, 0.16], [0.0, 1.0], alpha=0.08) == pytest.approx(0.25, abs=1e-12)
    with pytest.raises(MetricInputError, match="before alpha"):
        M.auc_of_curve([0.0, 0.05], [0.0, 1.0], alpha=0.08)


def test_hand_worked_normalisers():
    gt = hand_face()[None]
    assert normalisers(gt, "inter-ocular").tolist() == [100.0]
    assert normalisers(gt, "inter-pupil").tolist() == [50.0]
    assert normalisers(gt, "bbox-diagonal").tolist() == [200.0]
    # bbox-size: sqrt(w * h) of the same 120 x 160 box = sqrt(19200) = 80 sqrt(3)
    assert normalisers(gt, "bbox-size") == pytest.approx([80 * np.sqrt(3)], rel=1e-15)


def test_bbox_size_is_the_geometric_mean_of_the_box_sides_not_a_rescaled_diagonal():
    """A square box: sqrt(w h) = side = diagonal / sqrt(2); a 1 x 4 box: sqrt(4) = 2, while
    diagonal / sqrt(2) = sqrt(17 / 2), so the two normalisers are not proportional."""
    square = np.zeros((1, 68, 2))
    square[0, 1] = (30.0, 30.0)
    assert normalisers(square, "bbox-size").tolist() == [30.0]
    assert normalisers(square, "bbox-diagonal") == pytest.approx([30.0 * np.sqrt(2)], rel=1e-15)
    flat = np.zeros((1, 68, 2))
    flat[0, 1] = (10.0, 40.0)
    assert normalisers(flat, "bbox-size").tolist() == [20.0]
    pred = flat + np.array([3.0, 4.0])                 # every point 5 px away: 5 / 20
    assert point_to_point_error(pred, flat, "bbox-size").tolist() == [0.25]


def test_visible_only_errors_average_over_the_visible_points():
    """Point 0 is 68 px off and hidden, point 1 is 10 px off and visible, the rest exact: over
    the visible points (67 of them) the mean is 10 / 67 px; over all 68 it is 78 / 68 px."""
    gt = hand_face()[None]                              # inter-ocular 100
    pred = gt.copy()
    pred[0, 0] += (0.0, 68.0)
    pred[0, 1] += (6.0, 8.0)
    visible = np.ones((1, 68), bool)
    visible[0, 0] = False
    assert point_to_point_error(pred, gt, visible=visible) == pytest.approx([10 / 67 / 100], rel=1e-14)
    assert point_to_point_error(pred, gt) == pytest.approx([78 / 68 / 100], rel=1e-14)
    assert evaluate(pred, gt, visible=visible)[1] == pytest.approx([10 / 67 / 100], rel=1e-14)
    with pytest.raises(MetricInputError, match="image 'x': no visible point"):
        point_to_point_error(pred, gt, ids=["x"], visible=np.zeros((1, 68), bool))
    with pytest.raises(MetricInputError, match="visibility: expected booleans of shape"):
        point_to_point_error(pred, gt, visible=np.ones((1, 67), bool))


@pytest.mark.parametrize("norm, expected", [("inter-ocular", 0.05), ("inter-pupil", 0.1), ("bbox-diagonal", 0.025),
                                            ("bbox-size", 5 / (80 * np.sqrt(3)))])
def test_known_shift_gives_known_error(norm, expected):
    gt = hand_face()[None]
    pred = gt + np.array([3.0, 4.0])          # every point 5 px away
    assert point_to_point_error(pred, gt, norm) == pytest.approx([expected], rel=1e-15)


def test_one_moved_point_counts_one_68th():
    gt = hand_face()[None]
    pred = gt.copy()
    pred[0, 10] += (0.0, 68.0)                # mean distance exactly 1 px
    assert point_to_point_error(pred, gt, "inter-ocular") == pytest.approx([0.01], rel=1e-15)


def test_errors_are_translation_invariant_and_scale_with_the_face(make_faces):
    gt = make_faces(6, seed=1)
    pred = gt + np.random.default_rng(2).normal(0, 2, gt.shape)
    e = point_to_point_error(pred, gt)
    np.testing.assert_allclose(point_to_point_error(pred + 17.5, gt + 17.5), e, rtol=1e-12)
    np.testing.assert_allclose(point_to_point_error(pred * 3, gt * 3), e, rtol=1e-12)


@pytest.mark.parametrize("norm", M.NORMALISATIONS[:2])
def test_eye_normalised_errors_are_invariant_to_rotating_the_image(make_faces, norm):
    from faceeval.geometry import apply_affine, similarity_matrix

    gt = make_faces(5, seed=9)
    pred = gt + np.random.default_rng(10).normal(0, 2, gt.shape)
    m = similarity_matrix(1.7, 0.6, 30.0, -12.0)[0]
    np.testing.assert_allclose(point_to_point_error(apply_affine(pred, m), apply_affine(gt, m), norm),
                               point_to_point_error(pred, gt, norm), rtol=1e-10)


def reference_errors(pred, gt):
    """The obvious per-image loop, for the inter-ocular normaliser."""
    out = []
    for p, g in zip(pred, gt):
        out.append(np.sqrt(((p - g) ** 2).sum(axis=1)).mean() / np.sqrt(((g[36] - g[45]) ** 2).sum()))
    return np.array(out)


@pytest.mark.parametrize("n, chunk", [(5, 4096), (41, 4), (230, 7)])
def test_chunked_threaded_errors_equal_the_per_image_loop_exactly(make_faces, monkeypatch, n, chunk):
    # chunk 4 with n = 41 and chunk 7 with n = 230 run the chunked and the threaded paths
    monkeypatch.setattr(M, "_CHUNK", chunk)
    gt = make_faces(n, seed=3)
    pred = gt + np.random.default_rng(4).normal(0, 3, gt.shape)
    np.testing.assert_array_equal(point_to_point_error(pred, gt), reference_errors(pred, gt))


def test_float32_input_is_scored_in_float64(make_faces):
    gt = make_faces(3, seed=5)
    pred = gt + 1.0
    e32 = point_to_point_error(pred.astype(np.float32), gt.astype(np.float32))
    assert e32.dtype == np.float64
    np.testing.assert_allclose(e32, point_to_point_error(pred, gt), rtol=1e-5)


def test_ced_grid_is_the_protocol_grid():
    g = ced_grid(0.08)
    assert g.size == 801 and g[0] == 0.0 and g[-1] == 0.08
    np.testing.assert_allclose(np.diff(g), 1e-4, rtol=1e-9)


def test_ced_counts_ties_as_reached():
    e = np.array([0.02, 0.01, 0.05, 0.02])
    assert ced(e, [0.0, 0.01, 0.015, 0.02, 0.03, 0.05, 1.0]).tolist() == [0, 0.25, 0.25, 0.75, 0.75, 1.0, 1.0]


@pytest.mark.parametrize("beta, alpha", [(0.16, 0.08), (0.08, 0.08), (1.0, 0.03)])
def test_uniform_errors_give_the_analytic_auc(beta, alpha):
    # errors uniform on [0, beta], beta >= alpha: CED(x) = x / beta, so AUC_alpha = alpha / (2 beta)
    errors = np.linspace(0, beta, 400_001)
    assert auc(errors, alpha) == pytest.approx(alpha / (2 * beta), abs=1e-4)


def test_uniform_errors_below_alpha():
    # uniform on [0, alpha / 2]: CED rises linearly to 1 at alpha / 2 then stays: AUC = 1/4 + 1/2
    assert auc(np.linspace(0, 0.04, 200_001), 0.08) == pytest.approx(0.75, abs=1e-4)


def test_auc_extremes():
    assert auc(np.zeros(10), 0.08) == pytest.approx(1.0, abs=1e-12)
    assert auc(np.full(10, 0.5), 0.08) == 0.0


def test_auc_is_simpson_on_the_grid():
    e = np.random.default_rng(6).uniform(0, 0.12, 997)
    grid = np.arange(801) * 1e-4
    y = (e[None, :] <= grid[:, None]).mean(axis=1)
    h = 1e-4
    simpson = h / 3 * (y[0] + y[-1] + 4 * y[1:-1:2].sum() + 2 * y[2:-1:2].sum())   # 800 intervals: even
    assert auc(e, 0.08) == pytest.approx(simpson / 0.08, rel=1e-12)


def test_failure_is_strictly_greater_by_default_and_inclusive_on_request():
    e = np.array([0.079, 0.08, 0.081, 0.5])
    assert failure_rate(e, 0.08) == 0.5
    assert failure_rate(e, 0.08, inclusive=True) == 0.75
    assert summarize(e, 0.08).failure_rate == 0.5
    assert summarize(e, 0.08, inclusive_failure=True).failure_rate == 0.75
    # failure = 1 - CED(alpha) in the default convention
    assert failure_rate(e, 0.08) == 1 - ced(e, [0.08])[0]


def test_summary_hand_worked():
    s = summarize(np.array([0.01, 0.03, 0.02, 0.10]), alpha=0.08, norm="inter-pupil")
    assert (s.n, s.alpha, s.norm) == (4, 0.08, "inter-pupil")
    assert s.mean_error == pytest.approx(0.04)
    assert s.median_error == pytest.approx(0.025)
    assert s.failure_rate == 0.25
    assert set(s.as_dict()) == {"n", "mean_error", "median_error", "auc", "failure_rate", "alpha", "norm",
                                "inclusive_failure"}
    assert not s.inclusive_failure and summarize(np.array([0.01]), inclusive_failure=True).inclusive_failure


def test_summary_equals_the_separate_functions_exactly():
    e = np.random.default_rng(7).gamma(2.0, 0.02, 5001)
    for inclusive in (False, True):
        s = summarize(e, 0.08, inclusive_failure=inclusive)
        assert s.auc == auc(e, 0.08)
        assert s.failure_rate == failure_rate(e, 0.08, inclusive)
        assert s.median_error == float(np.median(e)) and s.mean_error == float(np.mean(e))
    e[::7] = 0.08                               # ties at alpha matter for > versus >=
    assert summarize(e, 0.08, inclusive_failure=True).failure_rate == failure_rate(e, 0.08, True)
    assert summarize(e, 0.08).failure_rate == failure_rate(e, 0.08)


def test_evaluate_returns_summary_and_errors(make_faces):
    gt = make_faces(4, seed=8)
    pred = gt + 2.0
    summary, errors = evaluate(pred, gt, "bbox-diagonal", 0.03, ids=list("abcd"))
    np.testing.assert_array_equal(errors, point_to_point_error(pred, gt, "bbox-diagonal"))
    assert summary == summarize(errors, 0.03, "bbox-diagonal")


# --- bad input -----------------------------------------------------------------------------

def test_wrong_point_count_is_reported(make_faces):
    gt = make_faces(2)
    with pytest.raises(MetricInputError, match=r"expected 68 points per shape, got 67.*'a'"):
        point_to_point_error(gt[:, :67], gt[:, :67], ids=["a", "b"])
    with pytest.raises(MetricInputError, match="single shape"):
        point_to_point_error(gt[0], gt[0])
    with pytest.raises(MetricInputError, match=r"\(N, 68, 2\)"):
        point_to_point_error(gt[..., :1], gt[..., :1])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_prediction_names_the_image(make_faces, bad):
    gt = make_faces(3)
    pred = gt.copy()
    pred[1, 20, 0] = bad
    with pytest.raises(MetricInputError, match=r"image 'helen/testset/x_1': prediction has non-finite points"):
        point_to_point_error(pred, gt, ids=["a", "helen/testset/x_1", "c"])


@pytest.mark.parametrize("norm", M.NORMALISATIONS)
def test_non_finite_ground_truth_names_the_image(make_faces, norm):
    pred = make_faces(3)
    gt = pred.copy()
    gt[2, 0, 1] = np.nan                        # not a reference point of the eye normalisers
    with pytest.raises(MetricInputError, match=r"image 'c'.*ground truth has non-finite points"):
        point_to_point_error(pred, gt, norm, ids=["a", "b", "c"])


def test_zero_normaliser_names_the_image(make_faces):
    gt = make_faces(3)
    gt[1, 45] = gt[1, 36]
    with pytest.raises(MetricInputError, match=r"image 'b': inter-ocular normaliser is 0\.0.*coincident"):
        point_to_point_error(gt, gt, "inter-ocular", ids=["a", "b", "c"])
    with pytest.raises(MetricInputError, match=r"image #1"):
        normalisers(gt, "inter-ocular")
    flat = np.zeros((1, 68, 2))
    for norm in M.NORMALISATIONS:
        with pytest.raises(MetricInputError, match="normaliser is 0.0"):
            normalisers(flat, norm)


def test_empty_and_mismatched_inputs(make_faces):
    gt = make_faces(3)
    with pytest.raises(MetricInputError, match="N = 0"):
        point_to_point_error(np.zeros((0, 68, 2)), np.zeros((0, 68, 2)))
    with pytest.raises(MetricInputError, match="3 predictions but 2 ground-truth"):
        point_to_point_error(gt, gt[:2])
    with pytest.raises(MetricInputError, match="3 shapes but 2 ids"):
        point_to_point_error(gt, gt, ids=["a", "b"])
    with pytest.raises(MetricInputError, match="N = 0"):
        summarize(np.array([]))
    with pytest.raises(MetricInputError, match="non-finite"):
        auc(np.array([0.1, np.nan]))
    with pytest.raises(MetricInputError, match="unknown normalisation 'iod'"):
        normalisers(gt, "iod")
    with pytest.raises(MetricInputError, match=r"alpha must be in \(0, 1\], got 0.0"):
        auc(np.array([0.1]), alpha=0.0)


def test_align_by_ids_reorders_and_reports_mismatches():
    order = align_by_ids(["b", "c", "a"], ["a", "b", "c"])
    assert np.array(["b", "c", "a"])[order].tolist() == ["a", "b", "c"]
    with pytest.raises(MetricInputError, match=r"id mismatch: no prediction for 1 images \(first: \['d'\]\)"):
        align_by_ids(["a", "b"], ["a", "b", "d"])
    with pytest.raises(MetricInputError, match=r"1 predictions without ground truth \(first: \['z'\]\)"):
        align_by_ids(["a", "z"], ["a"])
    with pytest.raises(MetricInputError, match=r"duplicate prediction ids: \['a'\]"):
        align_by_ids(["a", "a"], ["a"])
