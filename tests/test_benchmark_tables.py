"""`faceeval tables --benchmark`: each benchmark's standard layout, our measured rows (from stored runs,
scored by the benchmark's protocol) beside the published ones, each labelled with its normalisation and
marked where not comparable; a CED figure per subset."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from benchmark_files import loop_nme, scheme_shapes, write_wflw
from conftest import write_image
from faceeval.cli import main
from faceeval.datasets import load_dataset
from faceeval.methods import LandmarkMethod
from faceeval.report.benchmarks import classify_norm, published_benchmarks
from faceeval.runs import run_method

pytestmark = pytest.mark.filterwarnings("ignore::faceeval.datasets.IncompleteDataWarning")

IMAGES = [f"{k % 3}--Event/img_{k // 2}.jpg" for k in range(10)]
FLAGS = np.array([[k % 2, 0, k % 3 == 0, 0, k % 4 == 0, 0] for k in range(10)])


class Template98(LandmarkMethod):
    """A 98-point 'method': a fixed template stretched over each box (deterministic, image-blind)."""

    name, version, scheme = "template98", "1", "wflw98"
    template = scheme_shapes(1, 98, seed=7, size=1.0)[0]

    def predict(self, images, boxes):
        t = (self.template - self.template.min(0)) / np.ptp(self.template, axis=0)
        return boxes[:, None, :2] + t[None] * (boxes[:, None, 2:] - boxes[:, None, :2])


@pytest.fixture
def wflw_run(tmp_path):
    root = tmp_path / "wflw"
    gt = scheme_shapes(len(IMAGES), 98, seed=61)
    write_wflw(root, "test", gt, IMAGES, FLAGS)
    for image in set(IMAGES):
        write_image(root / "WFLW_images" / image)
    ds = load_dataset("wflw", "test", root)
    run = run_method(Template98(), ds, tmp_path / "results", progress=False, write_pts_files=False)
    return root, tmp_path / "results", run, ds


def test_wflw_table_measured_and_published_rows(wflw_run, tmp_path):
    root, results, run, ds = wflw_run
    out = CliRunner().invoke(main, ["tables", "--benchmark", "wflw", "--results", str(results), "--data-root",
                                    str(root), "--out", str(tmp_path / "reports"), "--quiet"])
    assert out.exit_code == 0, out.output
    nme = pd.read_csv(tmp_path / "reports" / "wflw-mean-error.csv")
    ours = nme[nme.source == "measured"].iloc[0]
    e = loop_nme(run.predictions, ds.ground_truth, lambda g: np.hypot(*(g[60] - g[72])))
    assert str(ours["full"]).startswith(f"{e.mean() * 100:.2f} (partial: n = 10 of 2500")
    pose = FLAGS[:, 0] == 1                       # from the test run, restricted to the subset's faces
    assert str(ours["pose"]).startswith(f"{e[pose].mean() * 100:.2f} (partial: n = {pose.sum()} of 326")
    fr = pd.read_csv(tmp_path / "reports" / "wflw-failure-rate.csv")
    assert str(fr[fr.source == "measured"].iloc[0]["full"]).startswith(f"{np.mean(e > 0.1) * 100:.2f}")
    hrnet = nme[(nme.method == "HRNetV2-W18") & nme.note.str.contains("README.md#L43-45")].iloc[0]
    assert float(hrnet["full"]) == 4.60 and float(hrnet["pose"]) == 7.86 and float(hrnet["make-up"]) == 4.26
    assert "inter-ocular: comparable" in hrnet.note or "normalised by inter-ocular: comparable" in hrnet.note
    auc = pd.read_csv(tmp_path / "reports" / "wflw-auc.csv")
    csv = published_benchmarks()
    zero_one = csv[(csv.benchmark == "WFLW") & (csv.metric == "AUC@0.10(0-1)")].iloc[0]
    row = auc[auc.method.str.startswith(zero_one.method) & (auc.source != "measured")].iloc[0]
    column = {"full(2500)": "full", "pose": "pose"}.get(zero_one.subset, zero_one.subset)
    assert float(row[column]) == pytest.approx(float(zero_one.value) * 100)     # AUC (0-1) printed in percent
    for subset in ("test", "largepose"):
        assert (tmp_path / "reports" / f"wflw-ced-{subset}.png").is_file()


def test_cofw_rows_are_marked_by_the_normalisation_they_use(tmp_path):
    def run(*extra):
        return CliRunner().invoke(main, ["tables", "--benchmark", "cofw", "--results", str(tmp_path / "r"),
                                         "--out", str(tmp_path / "o"), "--quiet", *extra])

    assert run().exit_code == 0
    table = pd.read_csv(tmp_path / "o" / "cofw-mean-error.csv")
    assert table.method.str.startswith("HRNetV2-W18 †").any()            # corners 8/9: not the pupils' protocol
    assert (table.method == "ADNet").any()                               # pupils 16/17: comparable
    assert run("--norm", "inter-ocular").exit_code == 0                    # HRNet's convention as the protocol
    table = pd.read_csv(tmp_path / "o" / "cofw-mean-error.csv")
    assert (table.method == "HRNetV2-W18").any() and (table.method == "ADNet †").any()


def test_published_normalisations_are_classified():
    csv = published_benchmarks()
    assert len(csv) == 316
    found = {text: classify_norm(text) for text in csv.normalisation.unique()}
    assert found["inter-ocular: outer eye corners idx 60/72 (0-based)"] == "inter-ocular"
    assert found["README L75 says inter-pupils; code uses idx 36/45 outer corners (conf/alignment.py L80-81)"] \
        == "inter-ocular"
    assert found["CSV box_size column"] == "dataset-box"
    assert found["as labelled by STAR table"] is None
    assert found["bbox_size = max side of GT bbox built from center+200*scale [keypoint_2d_metrics.py L828-836]"] \
        == "bbox-max-side"
