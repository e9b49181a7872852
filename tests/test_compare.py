"""faceeval compare: one table of accuracy and speed, a joint CED plot."""
from __future__ import annotations

import csv
import re

import numpy as np
import pytest
from click.testing import CliRunner

from faceeval.cli import main
from faceeval.compare import COLUMNS, compare_methods, measure_throughput, timing_sample, write_comparison
from faceeval.methods import MissingDependencyError, MissingWeightsError, load_method
from faceeval.metrics import evaluate


@pytest.fixture(scope="module")
def compared(builtin, tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    methods = ["meanshape"]
    try:
        load_method("ert")
        methods.append("ert")
    except (MissingDependencyError, MissingWeightsError):   # dlib or its model missing: compare the rest
        pass
    return results, compare_methods(methods, builtin, results, timing_images=6, progress=False)


def test_scores_are_the_metrics_of_the_stored_runs(builtin, compared):
    _, rows = compared
    for row in rows:
        expected, errors = evaluate(row.run.predictions, builtin.ground_truth, "inter-ocular", 0.08, ids=builtin.ids)
        assert row.summary == expected
        np.testing.assert_array_equal(row.errors, errors)
        assert row.run.path.joinpath("meta.json").is_file()
        assert row.speed.batch1 > 0 and row.speed.batched > 0 and row.speed.n_images == 6


def test_second_comparison_reuses_cached_runs(builtin, compared):
    results, rows = compared
    again = compare_methods([rows[0].method], builtin, results, timing_images=1, progress=False)
    assert again[0].run.reused
    np.testing.assert_array_equal(again[0].run.predictions, rows[0].run.predictions)


def test_writes_markdown_csv_and_joint_ced(compared, tmp_path):
    _, rows = compared
    written = write_comparison(rows, tmp_path / "cmp", title="builtin")
    assert sorted(p.name for p in written) == ["cmp-ced.pdf", "cmp-ced.png", "cmp.csv", "cmp.md"]
    with open(tmp_path / "cmp.csv") as fh:
        table = list(csv.DictReader(fh))
    assert [r["method"] for r in table] == [r.method.name for r in rows]
    assert list(table[0]) == list(COLUMNS)
    for line, row in zip(table, rows):
        assert float(line["mean error %"]) == pytest.approx(row.summary.mean_error * 100, rel=1e-5)
        assert float(line["img/s batched"]) == pytest.approx(row.speed.batched, rel=1e-5)
    markdown = (tmp_path / "cmp.md").read_text()
    assert all(f"| {r.method.name} |" in markdown for r in rows) and "img/s batch 1" in markdown
    assert (tmp_path / "cmp-ced.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_timing_sample_cycles_small_datasets(builtin):
    images, boxes = timing_sample(builtin, builtin.boxes, 6)
    assert len(images) == 6
    np.testing.assert_array_equal(boxes[4], builtin.boxes[0])
    with pytest.raises(ValueError, match="as many images as boxes"):
        measure_throughput(load_method("meanshape"), images, boxes[:3])


def test_command_writes_the_table(tmp_path):
    out = CliRunner().invoke(main, ["compare", "meanshape", "--dataset", "builtin", "--results", str(tmp_path),
                                    "--timing-images", "2", "--no-progress"])
    assert out.exit_code == 0, out.output
    assert "| meanshape |" in out.output
    assert (tmp_path / "compare" / "builtin-all.csv").is_file()
    assert (tmp_path / "compare" / "builtin-all-ced.png").is_file()


def test_command_rejects_weights_it_cannot_assign(tmp_path):
    for methods, weights in ((["meanshape", "ert"], "some/path"), (["meanshape"], "sdm=some/path")):
        out = CliRunner().invoke(main, ["compare", *methods, "--dataset", "builtin", "--results", str(tmp_path),
                                        "--weights", weights])
        assert out.exit_code == 2 and "METHOD=PATH" in out.output, out.output
    assert not tmp_path.joinpath("meanshape").exists()          # refused before any run


def test_boxless_initialisation_is_timed_through_its_procedure(builtin, tmp_path):
    from dataclasses import replace

    from faceeval.datasets import Dataset
    from faceeval.io import DataError

    no_boxes = Dataset("builtin", "all", [replace(s, box=None) for s in builtin], None)
    with pytest.raises(DataError, match="no initial box"):
        compare_methods(["meanshape"], no_boxes, tmp_path, timing_images=1, progress=False)
    rows = compare_methods(["meanshape"], no_boxes, tmp_path, init="two-step", timing_images=1, progress=False)
    # the same computation as `faceeval run --init two-step`: the same key, so the same stored run
    from faceeval.runs import run_method

    run = run_method(load_method("meanshape"), no_boxes, tmp_path, init="two-step", progress=False)
    assert run.reused and rows[0].run.path == run.path and run.path.name == "all@two-step,fraction=0.46"
    assert rows[0].speed.batch1 > 0 and rows[0].summary.n == 4


def test_paired_rows_are_the_stats_of_the_stored_errors(compared, tmp_path):
    from faceeval.compare import paired_comparisons
    from faceeval.stats import Bootstrap, paired_comparison

    _, rows = compared
    if len(rows) < 2:
        pytest.skip("ert unavailable: one method only")
    boot = Bootstrap(2000, seed=5)
    (pair,) = paired_comparisons(rows, boot)
    assert (pair.name_a, pair.name_b) == (rows[0].method.name, rows[1].method.name)
    assert pair == paired_comparison(rows[0].errors, rows[1].errors, pair.name_a, pair.name_b, boot)
    written = write_comparison(rows, tmp_path / "cmp", "builtin", [pair])
    names = sorted(p.name for p in written)
    assert "cmp-paired.csv" in names and f"cmp-{pair.name_a}-vs-{pair.name_b}.png" in names
    line = next(csv.DictReader(open(tmp_path / "cmp-paired.csv")))
    assert float(line["mean_difference"]) == pytest.approx(pair.mean_difference, rel=1e-5)
    assert line["verdict"] == pair.verdict


def test_command_compares_pairs_with_intervals_and_scatter_plots(tmp_path):
    """The same method twice: identical errors, so 'no significant difference', and every
    single-method number carries its interval."""
    from PIL import Image

    from faceeval.report.diagnostics import SCATTER_PX

    out = CliRunner().invoke(main, ["compare", "meanshape", "meanshape", "--dataset", "builtin", "--results",
                                    str(tmp_path), "--timing-images", "1", "--no-progress", "--ci-resamples", "500"])
    assert out.exit_code == 0, out.output
    assert "### Paired comparisons (same images)" in out.output
    assert "| +0.000 [0.000, 0.000] | +0.000 [0.000, 0.000] | 1 | 0.0% |" in out.output
    assert ("- meanshape [49276864] vs meanshape [49276864]: no significant difference at 95%, on average or on a "
            "typical image.") in out.output
    row = next(line for line in out.output.splitlines() if line.startswith("| meanshape |"))
    assert re.search(r"\| \d+\.\d\d \[\d+\.\d\d, \d+\.\d\d\] \|", row), row
    table = list(csv.DictReader(open(tmp_path / "compare" / "builtin-all.csv")))
    assert list(table[0])[:len(COLUMNS)] == list(COLUMNS)          # existing columns first, unchanged
    low, high = float(table[0]["mean error % CI low"]), float(table[0]["mean error % CI high"])
    assert low <= float(table[0]["mean error %"]) <= high
    scatters = list((tmp_path / "compare").glob("builtin-all-meanshape*-vs-*.png"))
    assert len(scatters) == 1
    with Image.open(scatters[0]) as im:
        assert im.size == SCATTER_PX


def test_compare_passes_init_options_to_the_run_and_the_timing(builtin, tmp_path):
    from dataclasses import replace

    from faceeval.datasets import Dataset

    no_boxes = Dataset("builtin", "all", [replace(s, box=None) for s in builtin], None)
    seen = []

    class Recording(type(load_method("meanshape"))):
        def predict(self, images, boxes):
            seen.append(np.asarray(boxes)[:, 2] - np.asarray(boxes)[:, 0])      # box sides
            return super().predict(images, boxes)

    rows = compare_methods([Recording()], no_boxes, tmp_path, init="two-step", init_options={"fraction": 0.3},
                           timing_images=2, progress=False)
    assert rows[0].run.meta["init_options"] == {"fraction": 0.3}
    assert rows[0].run.path.name == "all@two-step,fraction=0.3"
    heights = [s.load_image().shape[0] for s in builtin.samples]
    step_one = [sides for sides in seen if len(sides) and not np.allclose(sides, 0)][0]
    np.testing.assert_allclose(step_one[0], 0.3 * heights[0])       # step 1 of the first image: 0.3 x its height


def test_compare_command_takes_the_box_fraction_and_names_the_output_by_the_run_key(tmp_path):
    out = CliRunner().invoke(main, ["compare", "meanshape", "--dataset", "builtin", "--init", "two-step",
                                    "--box-fraction", "0.3", "--results", str(tmp_path), "--timing-images", "1",
                                    "--no-progress"])
    assert out.exit_code == 0, out.output
    assert [p.name for p in tmp_path.glob("meanshape/*/builtin/*")] == ["all@two-step,fraction=0.3"]
    assert (tmp_path / "compare" / "builtin-all@two-step,fraction=0.3.csv").is_file()
    assert "builtin/all@two-step,fraction=0.3 (4 faces)" in out.output
