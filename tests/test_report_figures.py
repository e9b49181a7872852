"""Figures: every file written at the documented pixel size, and what is drawn in it: the curves
and their data, the faces, their points and boxes (read back from the saved matplotlib figure)."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from faceeval.cli import main
from faceeval.datasets import load_dataset
from faceeval.metrics import evaluate
from faceeval.report.figures import (CED_PX, INTERNALS_KEYS, FigureSkipped, ced_figure, grid_pixels,
                                     internals_figure, results_figure, worst_figure, worst_images)
from faceeval.report.published import challenge_curves
from faceeval.runs import find_runs, run_method

from conftest import loop_errors
from test_report_tables import NoisyMeanShape, build_store, datasets


def _ced_by_hand(errors, grid):
    """Fraction of errors <= each threshold, by broadcasting."""
    return (np.asarray(errors)[None, :] <= np.asarray(grid)[:, None]).mean(axis=1)


def _curves(fig):
    """(label, x, y, linestyle) of every curve of a CED figure (the alpha marker left out)."""
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    lines = [ln for ln in ax.lines if not ln.get_label().startswith("_")]
    assert len(labels) == len(lines)
    return [(lab, ln.get_xdata(), ln.get_ydata(), ln.get_linestyle()) for lab, ln in zip(labels, lines)]


def _points(ax, label):
    """The scatter points of one kind ("ground truth" or "prediction") in an axes."""
    found = [c.get_offsets() for c in ax.collections if c.get_label() == label]
    assert len(found) == 1, (label, len(found))
    return np.asarray(found[0])


def _check(result, size):
    assert {p.suffix for p in result.paths} == {".png", ".pdf"}
    for p in result.paths:
        assert p.stat().st_size > 1000, p
    assert Image.open(result.png).size == size == result.size
    assert result.paths[1].read_bytes().startswith(b"%PDF")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    results = tmp_path_factory.mktemp("figs") / "results"
    return results, build_store(results)


def test_ced_figure_with_reference_curves(tmp_path, store, drawn):
    from faceeval.resources import challenge_ced

    _, runs = store
    run = runs[("noisy1", "private")]
    _, errors = evaluate(run.predictions, run.ground_truth, "inter-ocular")
    res = ced_figure([("noisy", errors)], tmp_path / "ced", 0.08, references=challenge_curves())
    _check(res, CED_PX)
    assert len(drawn) == 1
    curves = _curves(drawn[0])
    published = challenge_ced()["subsets"]["private"]
    assert len(curves) == 1 + len(published["curves"]) == 5
    label, x, y, style = curves[0]
    grid = np.arange(801) * 1e-4
    np.testing.assert_allclose(x, grid * 100)                         # percent on the x axis
    np.testing.assert_array_equal(y, _ced_by_hand(loop_errors(run.predictions, run.ground_truth), grid))
    assert label.startswith("noisy: AUC ") and style == "-"
    px = np.asarray(published["x"])
    for (label, x, y, style), (name, values) in zip(curves[1:], published["curves"].items()):
        keep = px <= 0.08 + 1e-12
        assert label.startswith(f"{name} (published): AUC ") and style == "--"
        np.testing.assert_allclose(x, px[keep] * 100)
        np.testing.assert_array_equal(y, np.asarray(values)[keep])
    assert [ln.get_xdata()[0] for ln in drawn[0].axes[0].lines if ln.get_label().startswith("_")] == [8.0]


def test_worst_images_are_the_largest_errors_worst_first():
    errors = np.array([0.1, 0.5, 0.3, 0.9, 0.2])
    assert worst_images(errors, 3).tolist() == [3, 1, 2]


@pytest.mark.parametrize("k", [3, 5])
def test_worst_figure_draws_the_k_worst_faces_worst_first(tmp_path, store, k, drawn):
    _, runs = store
    run = runs[("noisy1", "common")]
    samples = {s.id: s for s in datasets()["common"].samples}
    res = worst_figure(run, samples, tmp_path / f"worst{k}", k=k)
    _check(res, grid_pixels(k))
    # rows of 4 or 3, whichever leaves fewer holes: the paper's 9 worst faces are a 3 x 3 grid
    assert grid_pixels(5) == (900, 600) and grid_pixels(3) == (900, 300) and grid_pixels(9) == (900, 900)
    assert grid_pixels(8) == (1200, 600) and grid_pixels(7) == (1200, 600) and grid_pixels(5, ncols=4) == (1200, 600)
    errors = loop_errors(run.predictions, run.ground_truth)
    worst = sorted(range(len(errors)), key=lambda i: -errors[i])[:k]
    axes = drawn[0].axes
    assert len(axes) == k
    for ax, i in zip(axes, worst):
        assert ax.get_title().startswith(f"{run.ids[i]}\nerror {errors[i] * 100:.2f}%")
        np.testing.assert_array_equal(ax.images[0].get_array(), samples[run.ids[i]].load_image())
        np.testing.assert_allclose(_points(ax, "prediction"), run.predictions[i])
        np.testing.assert_allclose(_points(ax, "ground truth"), run.ground_truth[i])
    # told apart by shape as well as colour; every caption sits clear of every image, the title of all
    from faceeval.report.figures import GROUND_TRUTH_STYLE, PREDICTION_STYLE

    assert GROUND_TRUTH_STYLE["marker"] != PREDICTION_STYLE["marker"]
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = drawn[0]
    renderer = FigureCanvasAgg(fig).get_renderer()
    images = [ax.get_window_extent(renderer) for ax in axes]
    for ax in axes:
        caption = ax.title.get_window_extent(renderer)
        assert not any(caption.overlaps(box) for box in images), ax.get_title()
        assert 0 <= caption.y0 and caption.y1 <= fig.bbox.height
    title = fig._suptitle.get_window_extent(renderer)
    assert not any(title.overlaps(box) for box in images) and not any(
        title.overlaps(ax.title.get_window_extent(renderer)) for ax in axes)
    assert "ground truth: blue rings, prediction: orange crosses" in fig._suptitle.get_text().replace("\n", " ")


def test_worst_figure_without_images_is_skipped_with_the_reason(tmp_path, store):
    _, runs = store
    with pytest.raises(FigureSkipped, match="data-root"):
        worst_figure(runs[("noisy1", "common")], {}, tmp_path / "w")


@pytest.mark.parametrize("fraction", [None, 0.3])
def test_results_figure_draws_two_step_boxes(tmp_path, store, drawn, fraction):
    _, runs = store
    from dataclasses import replace

    from matplotlib.colors import to_rgba

    from faceeval.report.figures import BOX_COLOUR

    original = runs[("noisy1", "private")]
    options = {} if fraction is None else {"fraction": fraction}
    run = replace(original, meta={**original.meta, "init": "two-step", "init_options": options}, boxes=None)
    samples = {s.id: s for s in datasets()["private"].samples}
    res = results_figure(run, samples, tmp_path / "menpo", k=4)
    _check(res, grid_pixels(4))
    assert res.notes == []
    # images are 100 x 100: the centred step-1 box has side f x 100 around (49.5, 49.5); 0.46 by default
    half = (0.46 if fraction is None else fraction) * 100 / 2
    lo, hi = 49.5 - half, 49.5 + half
    for ax in drawn[0].axes:
        boxes = [ln for ln in ax.lines if np.allclose(to_rgba(ln.get_color()), to_rgba(BOX_COLOUR))]
        assert len(boxes) == 1
        np.testing.assert_allclose(boxes[0].get_xdata(), [lo, hi, hi, lo, lo])
        np.testing.assert_allclose(boxes[0].get_ydata(), [lo, lo, hi, hi, lo])
        sid = ax.get_title().split("\n")[0]
        np.testing.assert_allclose(_points(ax, "prediction"), run.predictions[run.ids.index(sid)])


class _Internals:
    name = "dan"

    def internals(self, images, boxes):
        n = len(images)
        ramp = np.linspace(0, 1, 112 * 112).reshape(112, 112)
        return {k: np.stack([ramp * (i + 1) for i in range(n)]) for k in INTERNALS_KEYS}


def test_internals_figure_one_row_per_image(tmp_path, drawn):
    images = [np.zeros((50, 60), np.uint8)] * 2
    res = internals_figure(_Internals(), images, np.zeros((2, 4)), tmp_path / "fig3", ids=["a", "b"])
    _check(res, (len(INTERNALS_KEYS) * 300, 2 * 300))
    axes = drawn[0].axes
    assert len(axes) == 2 * len(INTERNALS_KEYS)
    ramp = np.linspace(0, 1, 112 * 112).reshape(112, 112)
    for j, ax in enumerate(axes):                     # row by row, the keys left to right
        row = j // len(INTERNALS_KEYS)
        np.testing.assert_allclose(ax.images[0].get_array(), ramp * (row + 1))
    assert axes[0].get_title() == "input image (a)" and axes[len(INTERNALS_KEYS)].get_title() == "input image (b)"


def test_internals_figure_without_the_hook_says_what_it_needs(tmp_path):
    with pytest.raises(FigureSkipped, match=r"internals\(images, boxes\)"):
        internals_figure(NoisyMeanShape(), [np.zeros((5, 5), np.uint8)], np.zeros((1, 4)), tmp_path / "x")


def test_figures_command_on_a_builtin_run(tmp_path, drawn):
    results = tmp_path / "results"
    run = run_method(NoisyMeanShape(1.0), load_dataset("builtin"), results, progress=False)
    out = tmp_path / "reports"
    res = CliRunner().invoke(main, ["figures", "--results", str(results), "--out", str(out), "-k", "3"])
    assert res.exit_code == 0, res.output
    assert Image.open(out / "fig6_ced_300w_private_inter-ocular.png").size == CED_PX   # published curves
    assert Image.open(out / "fig4_worst_noisy_sigma1_builtin_all.png").size == grid_pixels(3)
    assert (out / "fig4_worst_noisy_sigma1_builtin_all.pdf").stat().st_size > 1000
    # the mean shape misses all four builtin faces by more than alpha: its CED would lie on 0, so it is not drawn
    errors = loop_errors(run.predictions, run.ground_truth)
    assert errors.min() > 0.08 and not (out / "fig6_ced_builtin_all_inter-ocular.png").exists()
    assert (f"no CED on builtin/all: every face of every run there has an error above alpha = 0.08 (the lowest is "
            f"{errors.min() * 100:.1f}%)") in res.output
    # DAN's figures come from its default (shipped) weights without --dan-weights; without the dan extra
    # (the core stack) they are skipped with one line naming it
    import importlib.util

    if importlib.util.find_spec("torch") is not None:
        assert Image.open(out / "fig3_dan_internals.png").size == (4 * 300, 3 * 300)
        assert (out / "fig_dan_learning_curve.png").is_file() and "skipped" not in res.output
    else:
        assert not (out / "fig3_dan_internals.png").exists()
        assert "skipped fig3 (DAN internals): dan needs the 'dan' extra: pip install \"faceeval[dan]\"" in res.output
    assert len(find_runs(results)) == 1      # figures never add runs
    (private_ced,) = (f for f in drawn if f._suptitle is not None and f._suptitle.get_text().startswith("CED on"))
    assert [style for *_, style in _curves(private_ced)] == ["--"] * 4


def test_menpo_run_gives_table5_row_and_fig5_with_boxes(tmp_path, make_faces, write_face_files):
    """A boxless Menpo-like folder, run with two-step: Table 5 measures it, Fig. 5 draws its boxes."""
    from faceeval.datasets import menpo_heldout

    root = tmp_path / "menpo"
    names = [f"aflw__face{i:03d}" for i in range(400) if menpo_heldout(f"aflw__face{i:03d}")][:3]
    for i, (name, shape) in enumerate(zip(names, make_faces(3, seed=5, size=16, centre=(16, 12)))):
        write_face_files(root / f"{name}.pts", shape, ".png", seed=i)
    results = tmp_path / "results"
    ds = load_dataset("menpo", "test", root)
    assert len(ds) == 3
    run = run_method(NoisyMeanShape(0.3), ds, results, init="two-step", progress=False)
    out = tmp_path / "reports"
    res = CliRunner().invoke(main, ["tables", "--results", str(results), "--out", str(out), "--measured-only"])
    assert res.exit_code == 0, res.output
    import pandas as pd

    t5 = pd.read_csv(out / "table5.csv")
    row = t5[t5.method == "noisy [sigma0p3] (init two-step,fraction=0.46)"].iloc[0]
    summary = evaluate(run.predictions, run.ground_truth, "bbox-diagonal", 0.03)[0]
    assert (row["n"], float(row["AUC_0.03"])) == (3, summary.auc * 100)
    res = CliRunner().invoke(main, ["figures", "--results", str(results), "--out", str(out), "-k", "2",
                                    "--menpo-root", str(root)])
    assert res.exit_code == 0, res.output
    assert Image.open(out / "fig5_results_noisy_sigma0p3_menpo_test@two-step_fraction=0.46.png").size == grid_pixels(2)
    # the mean shape in a centred box misses every tiny face by more than alpha: no flat, empty-looking CED
    assert not (out / "fig6_ced_menpo_test@two-step_fraction=0.46_bbox-diagonal.png").exists()
    assert "no CED on menpo/test: every face of every run there has an error above alpha = 0.03" in res.output


def test_learning_curve_draws_one_line_per_phase_with_its_best_point(tmp_path):
    from faceeval.report.figures import CURVE_PX, learning_curve_figure

    rows = [{"phase": "stage1", "samples_seen": 6400 * i, "val_inter_ocular": v}
            for i, v in enumerate([0.2, 0.1, 0.08, 0.09], start=1)]
    rows += [{"phase": "stage2", "samples_seen": 30000 + 6400 * i, "val_inter_ocular": v}
             for i, v in enumerate([0.07, 0.06], start=1)]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seen = {}
    real_save = plt.Figure.savefig

    def spy(fig, *args, **kwargs):           # read what is drawn, not just the file size
        ax = fig.axes[0]
        seen["lines"] = [(line.get_label(), line.get_xdata().tolist(), line.get_ydata().tolist())
                         for line in ax.get_lines()]
        seen["marked"] = [c.get_offsets().tolist() for c in ax.collections]
        return real_save(fig, *args, **kwargs)

    plt.Figure.savefig = spy
    try:
        res = learning_curve_figure(rows, tmp_path / "curve")
    finally:
        plt.Figure.savefig = real_save
    assert Image.open(res.png).size == CURVE_PX
    labels = [label for label, _, _ in seen["lines"]]
    assert labels == ["stage1", "stage2"]
    _, x1, y1 = seen["lines"][0]
    np.testing.assert_allclose(x1, [0.0064, 0.0128, 0.0192, 0.0256])
    np.testing.assert_allclose(y1, [20.0, 10.0, 8.0, 9.0])
    np.testing.assert_allclose(seen["marked"][0], [[0.0192, 8.0]])      # stage 1's best
    np.testing.assert_allclose(seen["marked"][1], [[0.0428, 6.0]])
    with pytest.raises(FigureSkipped, match="no learning-curve records"):
        learning_curve_figure([], tmp_path / "none")


def test_the_worst_faces_of_a_partial_run_say_partial(tmp_path):
    from test_report_tables import _partial_store, memory_dataset

    run = next(r for r in _partial_store(tmp_path / "r") if r.meta["subset"] == "challenging")
    samples = {s.id: s for s in memory_dataset("300w", "challenging", 3, seed=7).samples}
    res = worst_figure(run, samples, tmp_path / "w", k=3)
    assert "3 worst of 300w/challenging (partial: n = 3 of 135) (inter-ocular)" in res.title
