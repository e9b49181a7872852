"""Tables 2-6 from a tiny results store of real runs (written by ``run_method``).

The faces live in memory (no 300W needed); a small method predicts the mean shape in the
face's box plus seeded noise. The store helpers here are shared by the figure and HTML tests.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from faceeval.cli import main
from faceeval.datasets import Dataset, Sample
from faceeval.geometry import fit_shape_to_boxes, shape_boxes
from faceeval.methods import LandmarkMethod
from faceeval.metrics import evaluate
from faceeval.report.published import challenge_curves, curve_auc
from faceeval.report.tables import FROM_CED, MEASURED, NORM_SHORT, PUBLISHED, build_tables
from faceeval.resources import challenge_ced, dan_mean_shape
from faceeval.runs import find_runs, run_method

from conftest import face_shapes

SIZES = {"common": 6, "challenging": 3, "private": 5}


class NoisyMeanShape(LandmarkMethod):
    """Mean shape in the box plus Gaussian noise of ``sigma`` pixels (seeded by sigma)."""

    name = "noisy"
    version = "1"
    batch_size = 4

    def __init__(self, sigma: float = 1.0, stages: int | None = None):
        self.sigma, self.stages = sigma, stages
        self._rng = np.random.default_rng(int(sigma * 1000))

    @property
    def weights_hash(self) -> str:
        return f"sigma{self.sigma:g}".replace(".", "p")

    def predict(self, images, boxes):
        base = fit_shape_to_boxes(dan_mean_shape(), np.asarray(boxes, dtype=np.float64))
        return base + self._rng.normal(0, self.sigma, base.shape)

    def provenance(self) -> dict:
        meta = super().provenance()
        if self.stages is not None:
            meta["stages"] = self.stages
        return meta


class FakeDAN(NoisyMeanShape):
    name = "dan"


def _image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (100, 100, 3), dtype=np.uint8)


def memory_dataset(name: str, subset: str, n: int, seed: int) -> Dataset:
    """``n`` faces of about 40 px in 100 x 100 images, boxes = tight ground-truth boxes."""
    shapes = face_shapes(n, seed=seed, size=40, centre=(50, 50))
    samples = [Sample(f"{subset}/face_{i:02d}", None, s, shape_boxes(s[None])[0], pixels=lambda i=i: _image(i))
               for i, s in enumerate(shapes)]
    return Dataset(name, subset, samples, None)


def datasets() -> dict[str, Dataset]:
    return {s: memory_dataset("300w", s, n, seed=k) for k, (s, n) in enumerate(SIZES.items())}


def build_store(results: Path) -> dict:
    """Runs: noisy(1) on common + challenging + private (no 'full': tables combine it),
    noisy(3) on common only, dan 1 and 2 stages on private, a dan without stage info on private."""
    ds = datasets()
    runs = {}
    for subset in ("common", "challenging", "private"):
        runs[("noisy1", subset)] = run_method(NoisyMeanShape(1.0), ds[subset], results, progress=False)
    runs[("noisy3", "common")] = run_method(NoisyMeanShape(3.0), ds["common"], results, progress=False)
    runs[("dan1", "private")] = run_method(FakeDAN(2.0, stages=1), ds["private"], results, progress=False)
    runs[("dan2", "private")] = run_method(FakeDAN(0.5, stages=2), ds["private"], results, progress=False)
    runs[("dan?", "private")] = run_method(FakeDAN(0.7), ds["private"], results, progress=False)
    return runs


# --- tests -------------------------------------------------------------------------------

PROTOCOL = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"
NO_WEIGHTS = "no weights: `faceeval train other --data-root DIR`"


def status_stub(name):
    return NO_WEIGHTS if name == "other" else None


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    results = tmp_path_factory.mktemp("report") / "results"
    runs = build_store(results)
    tables = {t.key: t for t in build_tables(find_runs(results), methods=["noisy", "other"], method_status=status_stub)}
    return results, runs, tables


def _summary(runs, norm, alpha=0.08):
    pred = np.concatenate([r.predictions for r in runs])
    gt = np.concatenate([r.ground_truth for r in runs])
    return evaluate(pred, gt, norm, alpha)[0]


def test_table2_measured_cells_are_the_metrics_core_numbers(store):
    _, runs, tables = store
    row = tables["table2"].row("noisy [sigma1]", MEASURED)
    assert row.n == f"{SIZES['common']}/{SIZES['challenging']}/{SIZES['common'] + SIZES['challenging']}"
    for norm in ("inter-pupil", "inter-ocular", "bbox-diagonal"):
        for subset in ("common", "challenging"):
            expected = evaluate(runs[("noisy1", subset)].predictions, runs[("noisy1", subset)].ground_truth, norm)[0]
            assert row.cells[f"{NORM_SHORT[norm]} {subset}"].value == pytest.approx(expected.mean_error * 100, rel=1e-12)
        # no 'full' run: common + challenging combined, said in the note
        full = _summary([runs[("noisy1", "common")], runs[("noisy1", "challenging")]], norm)
        assert row.cells[f"{NORM_SHORT[norm]} full"].value == pytest.approx(full.mean_error * 100, rel=1e-12)
    assert "combined" in row.note


def test_tables_3_and_4_use_auc_and_failure_of_the_metrics_core(store):
    _, runs, tables = store
    full = _summary([runs[("noisy1", "common")], runs[("noisy1", "challenging")]], "inter-ocular")
    t3 = tables["table3"].row("noisy [sigma1]", MEASURED)
    assert t3.cells["AUC_0.08"].value == pytest.approx(full.auc * 100, rel=1e-12)
    assert t3.cells["failure @ 0.08"].value == pytest.approx(full.failure_rate * 100, rel=1e-12)
    private = _summary([runs[("noisy1", "private")]], "inter-ocular")
    t4 = tables["table4"].row("noisy [sigma1]", MEASURED)
    assert t4.n == str(SIZES["private"])
    assert [t4.cells[c].value for c in ("mean error", "AUC_0.08", "failure @ 0.08")] == pytest.approx(
        [private.mean_error * 100, private.auc * 100, private.failure_rate * 100], rel=1e-12)


def _protocol_numbers():
    """The paper's DAN numbers from the protocol's table: {(table, key): [values]}."""
    if not PROTOCOL.is_file():
        pytest.skip(f"{PROTOCOL} not found (the shared folder beside the checkout)")
    text = PROTOCOL.read_text()
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0].isdigit():
            nums = lambda s: [float(v) for v in re.findall(r"\d+\.\d+", s)]  # noqa: E731
            rows[(int(cells[0]), cells[2])] = (nums(cells[3]), nums(cells[4]), nums(cells[5]))
    menpo = text[text.index("DAN-Menpo"):].split("Speed")[0]
    return rows, [float(v) for v in re.findall(r"(?<![_\d.])\d+\.\d+", menpo)]


def test_published_rows_are_the_papers_numbers_from_the_protocol(store):
    _, _, tables = store
    rows, menpo = _protocol_numbers()
    dan2 = tables["table2"].row("DAN", PUBLISHED)
    for norm in ("inter-pupil", "inter-ocular", "box diagonal"):
        short = {"box diagonal": "BD"}.get(norm) or NORM_SHORT[norm]
        means, _, _ = rows[(2, norm)]
        assert [dan2.cells[f"{short} {s}"].value for s in ("common", "challenging", "full")] == means
    _, auc3, fail3 = rows[(3, "inter-ocular")]
    t3 = tables["table3"].row("DAN", PUBLISHED)
    assert [t3.cells["AUC_0.08"].value, t3.cells["failure @ 0.08"].value] == auc3 + fail3
    mean4, auc4, fail4 = rows[(4, "inter-ocular")]
    t4 = tables["table4"].row("DAN", PUBLISHED)
    assert [t4.cells[c].value for c in ("mean error", "AUC_0.08", "failure @ 0.08")] == mean4 + auc4 + fail4
    mean6, auc6, fail6 = rows[(6, "inter-ocular")]
    for k, label in enumerate(("DAN 1 stage", "DAN 2 stages", "DAN 3 stages")):
        r = tables["table6"].row(label, PUBLISHED)
        assert [r.cells[c].value for c in ("mean error", "AUC_0.08", "failure @ 0.08")] == [mean6[k], auc6[k], fail6[k]]
    # DAN-Menpo: full 3.44 IOD, AUC, failure; private mean/AUC/failure; Menpo test mean/AUC_0.03/failure
    assert tables["table2"].row("DAN-Menpo").cells["IO full"].value == menpo[0]
    assert [tables["table3"].row("DAN-Menpo").cells[c].value for c in ("AUC_0.08", "failure @ 0.08")] == menpo[1:3]
    assert [tables["table4"].row("DAN-Menpo").cells[c].value
            for c in ("mean error", "AUC_0.08", "failure @ 0.08")] == menpo[3:6]
    assert [tables["table5"].row("DAN-Menpo").cells[c].value
            for c in ("mean error", "AUC_0.03", "failure @ 0.03")] == menpo[6:9]


def test_a_missing_subset_says_why_and_how_to_fill_it(store, fake_300w):
    results, _, _ = store
    t2 = {t.key: t for t in build_tables(find_runs(results), methods=["noisy"], method_status=status_stub)}["table2"]
    row = t2.row("noisy [sigma3]", MEASURED)          # ran on common only
    assert row.n == "6/–/–"
    assert row.cells["IO common"].value is not None
    assert row.cells["IO challenging"].value is None
    assert row.cells["IO challenging"].why == "no run: `faceeval run noisy --subset challenging --data-root DIR`"
    # with a data root: present subsets say "no run" with the root, absent ones "no data"
    tree = fake_300w(counts={"lfpw/testset": 1, "helen/testset": 1, "ibug": 1})
    by_key = {t.key: t for t in build_tables(find_runs(results), data_root=tree.root, methods=["noisy"],
                                             method_status=status_stub)}
    row = by_key["table2"].row("noisy [sigma3]", MEASURED)
    assert row.cells["BD challenging"].why == f"no run: `faceeval run noisy --subset challenging --data-root {tree.root}`"
    t6 = by_key["table6"].row("dan, 3 stages", MEASURED)
    assert t6.cells["mean error"].why == "no data (see note)"


def test_tables_4_to_6_each_carry_one_note_that_the_data_is_absent(store, fake_300w):
    results, _, _ = store
    tree = fake_300w(counts={"lfpw/testset": 1, "helen/testset": 1, "ibug": 1})
    by_key = {t.key: t for t in build_tables(find_runs(results), data_root=tree.root, methods=["noisy"],
                                             method_status=status_stub)}
    for key in ("table4", "table6"):
        t = by_key[key]
        assert len(t.notes) == 1
        assert t.notes[0].startswith("The 300W private test set's images (300W/01_Indoor + 300W/02_Outdoor, 600 "
                                     f"faces) are not in the data under {tree.root}, so no method can be run on it")
        whys = {c.why for r in t.rows if r.source == MEASURED for c in r.cells.values()}
        assert not any(w and "not under" in w for w in whys)
        assert t.to_markdown().count("are not in the data") == 1
    assert by_key["table6"].row("dan, 3 stages", MEASURED).cells["AUC_0.08"].why == "no data (see note)"
    assert by_key["table4"].row("noisy [sigma1]", MEASURED).cells["AUC_0.08"].value is not None   # runs still shown
    (t5,) = [by_key["table5"]]
    assert len(t5.notes) == 1 and t5.notes[0].startswith("Menpo 2D semi-frontal is not in the data (no --menpo-root")
    assert "private set" in t5.notes[0]
    assert not any(t.notes for t in build_tables(find_runs(results), methods=[]) if t.key in ("table4", "table6"))


def test_full_is_the_mean_of_the_concatenated_errors_not_the_mean_of_the_two_means(store):
    _, runs, tables = store
    common, challenging = runs[("noisy1", "common")], runs[("noisy1", "challenging")]
    per_image = [evaluate(r.predictions, r.ground_truth, "inter-ocular")[1] for r in (common, challenging)]
    concatenated = np.concatenate(per_image).mean() * 100
    of_means = np.mean([e.mean() for e in per_image]) * 100
    assert abs(concatenated - of_means) > 1e-3        # 6 and 3 faces: the two definitions differ
    cell = tables["table2"].row("noisy [sigma1]", MEASURED).cells["IO full"].value
    assert cell == pytest.approx(concatenated, rel=1e-12)


def _partial_store(results):
    """noisy(2) on 6 of common's 554 faces and 3 of challenging's 135 (datasets that know their size)."""
    for subset, n, expected in (("common", 6, 554), ("challenging", 3, 135)):
        ds = memory_dataset("300w", subset, n, seed=7)
        ds.expected = expected
        run_method(NoisyMeanShape(2.0), ds, results, progress=False)
    return find_runs(results)


def test_every_cell_built_from_a_partial_subset_says_partial_with_its_n(tmp_path):
    from faceeval.report.html import table_html

    tables = {t.key: t for t in build_tables(_partial_store(tmp_path), methods=[])}
    row = tables["table2"].row("noisy [sigma2]", MEASURED)
    assert row.n == "6 of 554 (partial)/3 of 135 (partial)/9 of 689 (partial)"
    flags = {c: row.cells[c].flag for c in tables["table2"].columns}
    assert {c: f for c, f in flags.items() if c.endswith("common")} == {
        f"{k} common": "partial: n = 6 of 554" for k in ("IP", "IO", "BD")}
    assert {f for c, f in flags.items() if c.endswith("full")} == {"partial: n = 9 of 689"}
    t3 = tables["table3"].row("noisy [sigma2]", MEASURED)
    assert t3.n == "9 of 689 (partial)"
    assert t3.cells["AUC_0.08"].text().endswith(" (partial: n = 9 of 689)")
    for key in ("table2", "table3"):
        t = tables[key]
        md, csv, html = t.to_markdown(), t.to_csv(), table_html(t)
        for column in t.columns:
            value = f"{row.cells[column].value:.2f}" if key == "table2" else f"{t3.cells[column].value:.2f}"
            assert f"{value} (partial: n = " in md and f"{value} (partial: n = " in csv
            assert f"{value} <span class=\"flag\">(partial: n = " in html


def test_complete_or_unsized_subsets_carry_no_partial_label(store):
    _, runs, tables = store
    assert not any(c.flag for t in tables.values() for r in t.rows for c in r.cells.values())
    run = runs[("noisy1", "common")]
    assert (run.meta["expected"], run.meta["partial"], run.partial_label) == (None, False, "")
    # runs stored before meta.json had "expected" fall back to the official 300W counts
    old = dict(run.meta)
    del old["expected"]
    assert type(run)(run.path, old, run.ids, run.predictions, run.ground_truth).partial_label == "partial: n = 6 of 554"


class CaveatMeanShape(NoisyMeanShape):
    """A method that stores a caveat with its runs, as ERT does."""

    name = "caveated"

    def provenance(self) -> dict:
        return {**super().provenance(), "caveat": "trained on the test faces"}


def test_a_methods_caveat_is_printed_beside_its_300w_test_rows(tmp_path):
    ds = datasets()
    for subset in ("common", "challenging", "private"):
        run_method(CaveatMeanShape(1.0), ds[subset], tmp_path, progress=False)
    tables = {t.key: t for t in build_tables(find_runs(tmp_path), methods=[])}
    for key in ("table2", "table3"):
        assert tables[key].row("caveated [sigma1]", MEASURED).note.endswith("trained on the test faces")
    assert "trained on the test faces" not in tables["table4"].row("caveated [sigma1]", MEASURED).note


PAPER_TABLES = Path(__file__).resolve().parents[1].parent / "shared" / "docs" / "paper_tables.csv"


@pytest.mark.skipif(not PAPER_TABLES.is_file(), reason="../shared/docs/paper_tables.csv is not beside this checkout")
def test_the_published_file_holds_every_number_of_the_papers_tables():
    from faceeval.report.published import published_results

    paper = pd.read_csv(PAPER_TABLES, comment="#", dtype=str)
    refs = pd.read_csv(PAPER_TABLES.with_name("paper_methods.csv"))
    ours = pd.read_csv(Path(__file__).resolve().parents[1] / "faceeval" / "data" / "published_results.csv",
                       comment="#", dtype=str)
    key = ["table", "method", "subset", "norm", "metric", "alpha", "value"]
    assert ours[key].fillna("").values.tolist() == paper[key].fillna("").values.tolist()
    for method, reference in zip(refs.method, refs.reference):
        assert set(ours[ours.method == method].reference) == {reference}
    assert ours.source.str.fullmatch(r"DAN paper, Table [2-6](; Menpo challenge test set)?").all()
    assert published_results().value.dtype == float


def test_tables_2_to_4_print_every_published_method(store):
    from faceeval.report.published import published_results

    _, _, tables = store
    df = published_results()
    for k in (2, 3, 4):
        rows = [r.method for r in tables[f"table{k}"].rows if r.source == PUBLISHED]
        assert rows == list(dict.fromkeys(df[df.table == k].method))
    esr = tables["table2"].row("ESR", PUBLISHED)
    assert [esr.cells[f"IP {s}"].value for s in ("common", "challenging", "full")] == [5.28, 17.00, 7.58]
    assert esr.cells["IO common"].text() == "–"
    assert esr.note.startswith("Cao, Wei, Wen, Sun: Face alignment by explicit shape regression")
    mdm = tables["table4"].row("MDM", PUBLISHED)
    assert [mdm.cells[c].value for c in ("mean error", "AUC_0.08", "failure @ 0.08")] == [5.05, 45.32, 6.80]


def test_a_method_without_runs_or_weights_gets_a_row_that_says_so(store):
    _, _, tables = store
    for key in ("table2", "table3", "table4", "table5"):
        row = tables[key].row("other", MEASURED)
        assert row.n in ("–", "–/–/–")
        assert {c.why for c in row.cells.values()} == {NO_WEIGHTS}
        assert all(c.value is None for c in row.cells.values())


def test_table6_tells_dan_models_apart_by_stages(store):
    _, runs, tables = store
    t6 = tables["table6"]
    measured = [r for r in t6.rows if r.source == MEASURED]
    assert [r.method for r in measured] == ["dan, 1 stage [sigma2]", "dan, 2 stages [sigma0p5]", "dan [sigma0p7]",
                                            "dan, 3 stages"]
    for key, row in (("dan1", measured[0]), ("dan2", measured[1]), ("dan?", measured[2])):
        s = _summary([runs[(key, "private")]], "inter-ocular")
        assert row.cells["AUC_0.08"].value == pytest.approx(s.auc * 100, rel=1e-12)
    assert "stages not stored" in measured[2].note
    assert measured[3].cells["AUC_0.08"].why.startswith("no weights: `faceeval train dan --stages 3")


def _simpson_by_hand(y: np.ndarray, h: float) -> float:
    """Composite Simpson's rule on an even number of equal intervals."""
    assert (len(y) - 1) % 2 == 0
    return h / 3 * (y[0] + y[-1] + 4 * y[1:-1:2].sum() + 2 * y[2:-1:2].sum())


def test_table4_reads_the_challenge_entries_off_their_published_curves(store):
    _, _, tables = store
    data = challenge_ced()["subsets"]["private"]
    rows = [r for r in tables["table4"].rows if r.source == FROM_CED]
    assert [r.method for r in rows] == list(data["curves"])
    x = np.asarray(data["x"], dtype=np.float64)
    grid = np.arange(801) * 1e-4                             # the protocol grid 0, 1e-4, ..., 0.08
    for r in rows:
        y = np.asarray(data["curves"][r.method], dtype=np.float64)
        # the curve linearly interpolated onto the grid, integrated with Simpson's rule, over alpha
        expected_auc = _simpson_by_hand(np.interp(grid, x, y), 1e-4) / 0.08
        assert r.cells["AUC_0.08"].value == pytest.approx(expected_auc * 100, rel=1e-9)
        assert r.cells["failure @ 0.08"].value == pytest.approx((1 - y[np.isclose(x, 0.08)][0]) * 100, rel=1e-12)
        assert r.cells["mean error"].value is None
    # the table's numbers are the challenge entries' own, not one curve repeated
    assert len({r.cells["AUC_0.08"].value for r in rows}) == len(rows) == 4


def test_curve_auc_on_the_protocol_grid_is_the_metrics_auc():
    from faceeval.metrics import auc, ced, ced_grid, failure_rate
    from faceeval.report.published import curve_failure

    errors = np.random.default_rng(3).gamma(2.0, 0.02, 500)
    grid = ced_grid(0.08)
    assert curve_auc(grid, ced(errors, grid), 0.08) == pytest.approx(auc(errors, 0.08), abs=1e-12)
    assert curve_failure(grid, ced(errors, grid), 0.08) == pytest.approx(failure_rate(errors, 0.08), abs=1e-12)
    # the published curves' coarser 5e-4 grid, interpolated, stays within half a step's worth
    coarse = np.linspace(0, 0.35, 701)
    assert curve_auc(coarse, ced(errors, coarse), 0.08) == pytest.approx(auc(errors, 0.08), abs=5e-3)
    assert len(challenge_curves()) == 4


def test_tables_command_writes_markdown_latex_csv_and_prints_markdown(store, tmp_path):
    results, runs, _ = store
    out = tmp_path / "reports"
    res = CliRunner().invoke(main, ["tables", "--results", str(results), "--out", str(out), "--measured-only"])
    assert res.exit_code == 0, res.output
    assert "### Table 2" in res.output and "### Table 6" in res.output
    for k in range(2, 7):
        for suffix in (".md", ".tex", ".csv"):
            assert (out / f"table{k}{suffix}").stat().st_size > 100
    assert "\\begin{tabular}" in (out / "table4.tex").read_text()
    df = pd.read_csv(out / "table4.csv")
    cell = df[(df.method == "noisy [sigma1]") & (df.source == MEASURED)]["AUC_0.08"].iloc[0]
    assert float(cell) == _summary([runs[("noisy1", "private")]], "inter-ocular").auc * 100
    md = (out / "table2.md").read_text()
    assert "| noisy [sigma3] | measured | 6/–/– |" in md
    assert "no run: `faceeval run noisy --subset challenging --data-root DIR`" in md


def test_ced_command_draws_the_challenge_reference_curves(tmp_path, make_faces, drawn):
    from faceeval.io import write_pts
    from PIL import Image

    gt = make_faces(5, seed=1)
    for i, s in enumerate(gt):
        write_pts(tmp_path / "gt" / f"f{i}.pts", s)
        write_pts(tmp_path / "pred" / f"f{i}.pts", s + 0.5)
    out = tmp_path / "ced.png"
    args = ["ced", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "-o", str(out), "--reference", "300w-challenge"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert Image.open(out).size == (768, 576)
    ax = drawn[0].axes[0]
    styles = [ln.get_linestyle() for ln in ax.lines if not ln.get_label().startswith("_")]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert styles == ["-"] + ["--"] * 4
    assert [lab.split(" (published)")[0] for lab in labels[1:]] == list(challenge_ced()["subsets"]["private"]["curves"])
    res = CliRunner().invoke(main, args + ["--norm", "bbox-diagonal"])
    assert res.exit_code == 1 and "inter-ocular" in res.output


class OptionedMeanShape(NoisyMeanShape):
    """A method whose load option changes its predictions, as DAN's stages or ERT's box_style do."""

    name = "optioned"

    def __init__(self, sigma: float = 1.0, flavour: str = "plain"):
        super().__init__(sigma)
        self.flavour = flavour

    @property
    def weights_hash(self) -> str:
        return super().weights_hash + ("" if self.flavour == "plain" else f"-{self.flavour}")

    def options(self) -> dict:
        return {} if self.flavour == "plain" else {"flavour": self.flavour}


def test_method_options_label_rows_and_rerun_hints(tmp_path):
    ds = datasets()
    for flavour in ("plain", "odd"):
        run_method(OptionedMeanShape(2.0, flavour), ds["common"], tmp_path, progress=False)
    runs = find_runs(tmp_path)
    assert sorted(r.meta["options"].get("flavour", "plain") for r in runs) == ["odd", "plain"]
    t2 = next(t for t in build_tables(runs, data_root=None, menpo_root=None, methods=[]) if t.key == "table2")
    rows = {r.method: r for r in t2.rows}
    assert "optioned [sigma2]" in rows and "optioned, flavour=odd [sigma2-o]" in rows
    plain, odd = rows["optioned [sigma2]"], rows["optioned, flavour=odd [sigma2-o]"]
    assert any("-O flavour=odd --subset challenging" in str(c) for c in odd.cells.values())
    assert not any("-O flavour" in str(c) for c in plain.cells.values())


def test_measured_cells_carry_bootstrap_intervals_when_asked(store, tmp_path):
    from faceeval.report.tables import write_tables
    from faceeval.stats import Bootstrap, summary_intervals

    results, runs, plain = store
    boot = Bootstrap(1000, seed=2)
    tables = {t.key: t for t in build_tables(find_runs(results), methods=["noisy"], method_status=status_stub,
                                             bootstrap=boot)}
    cell = tables["table2"].row("noisy [sigma1]", MEASURED).cells["IO challenging"]
    _, errors = evaluate(runs[("noisy1", "challenging")].predictions, runs[("noisy1", "challenging")].ground_truth,
                         "inter-ocular")
    ci = summary_intervals(errors, 0.08, bootstrap=boot).mean_error
    assert cell.ci == pytest.approx((ci.low * 100, ci.high * 100)) and cell.ci[0] <= cell.value <= cell.ci[1]
    assert cell.text() == f"{cell.value:.2f} [{ci.low * 100:.2f}, {ci.high * 100:.2f}]"
    assert tables["table2"].row("DAN", PUBLISHED).cells["IO full"].ci is None    # the paper gives none
    assert plain["table2"].row("noisy [sigma1]", MEASURED).cells["IO challenging"].ci is None
    write_tables(list(tables.values()), tmp_path)
    df = pd.read_csv(tmp_path / "table3.csv")
    assert list(df.columns) == ["method", "source", "n", "AUC_0.08", "failure @ 0.08", "note", "AUC_0.08 CI low",
                                "AUC_0.08 CI high", "failure @ 0.08 CI low", "failure @ 0.08 CI high"]
    row = df[(df.method == "noisy [sigma1]") & (df.source == MEASURED)].iloc[0]
    assert row["AUC_0.08 CI low"] <= float(row["AUC_0.08"]) <= row["AUC_0.08 CI high"]
    assert "95% confidence interval" in (tmp_path / "table3.md").read_text()


def test_a_no_weights_hint_names_the_data_root(store, fake_300w):
    results, _, _ = store
    tree = fake_300w(counts={"ibug": 1})
    t2 = build_tables(find_runs(results), data_root=tree.root, methods=["other"], method_status=status_stub)[0]
    assert {c.why for c in t2.row("other", MEASURED).cells.values()} == {
        f"no weights: `faceeval train other --data-root {tree.root}`"}


def test_runs_that_differ_in_init_options_or_version_get_rows_of_their_own(tmp_path):
    """Two-step at 0.46 and at 0.3 are two computations: two Table 5 rows, each its own numbers."""
    ds = memory_dataset("menpo", "test", 4, seed=11)
    by_fraction = {f: run_method(NoisyMeanShape(0.3), ds, tmp_path, init="two-step", init_options={"fraction": f},
                                 progress=False) for f in (0.46, 0.3)}

    class NoisyV2(NoisyMeanShape):
        version = "2"

    v2 = run_method(NoisyV2(0.3), ds, tmp_path, init="two-step", init_options={"fraction": 0.3}, progress=False)
    t5 = next(t for t in build_tables(find_runs(tmp_path), methods=[]) if t.key == "table5")
    measured = {r.method: r for r in t5.rows if r.source == MEASURED}
    assert sorted(measured) == ["noisy v1 [sigma0p3] (init two-step,fraction=0.3)",
                                "noisy v1 [sigma0p3] (init two-step,fraction=0.46)",
                                "noisy v2 [sigma0p3] (init two-step,fraction=0.3)"]
    for label, run in ((f"noisy v1 [sigma0p3] (init two-step,fraction={f:g})", r) for f, r in by_fraction.items()):
        s = evaluate(run.predictions, run.ground_truth, "bbox-diagonal", 0.03)[0]
        assert measured[label].cells["AUC_0.03"].value == pytest.approx(s.auc * 100, rel=1e-12)
    s2 = evaluate(v2.predictions, v2.ground_truth, "bbox-diagonal", 0.03)[0]
    assert measured["noisy v2 [sigma0p3] (init two-step,fraction=0.3)"].cells["mean error"].value == pytest.approx(
        s2.mean_error * 100, rel=1e-12)


def test_latex_escapes_every_special_character_once():
    from faceeval.report.table_format import Cell, Row, Table

    t = Table("tableX", "Title_1 & more", "50% of #faces cost $5 {each}", ["IO full"])
    t.rows.append(Row("dan_v2 [ab~cd^e]", MEASURED, "6/–/–", {"IO full": Cell(1.5)}, note="back\\slash `tick`"))
    t.rows.append(Row("other", MEASURED, "–", {"IO full": Cell(why="no run: `faceeval run other`")}))
    lines = t.to_latex().splitlines()
    assert lines[2] == r"\caption{Title\_1 \& more. 50\% of \#faces cost \$5 \{each\}}"
    assert lines[6] == r"method & source & n & IO full & note \\"
    assert lines[8] == (r"dan\_v2 [ab\textasciitilde{}cd\^{}e] & measured & 6/--/-- & 1.50 & "
                        r"back\textbackslash{}slash \texttt{tick} \\")
    assert lines[9] == r"other & measured & -- & no run: \texttt{faceeval run other} &  \\"
    assert lines[4] == r"\begin{tabular}{lllrl}"


def test_table6_measures_the_stages_question_on_full_when_the_private_set_is_missing(tmp_path):
    """No private runs: 1- and 2-stage runs on 300W full answer Table 6's question, labelled so,
    each with its own numbers; the rows that need the private set still say why they are empty."""
    runs = {}
    for stages, sigma in ((1, 3.0), (2, 1.0)):
        ds = memory_dataset("300w", "full", 8, seed=stages)
        runs[stages] = run_method(FakeDAN(sigma, stages=stages), ds, tmp_path, progress=False)
    t6 = next(t for t in build_tables(find_runs(tmp_path), methods=[]) if t.key == "table6")
    measured = {r.method: r for r in t6.rows if r.source == MEASURED}
    assert set(measured) >= {"dan, 1 stage [sigma3] [300W full]", "dan, 2 stages [sigma1] [300W full]",
                             "dan, 1 stage", "dan, 2 stages", "dan, 3 stages"}
    for stages, sigma in ((1, 3), (2, 1)):
        row = measured[f"dan, {stages} stage{'s' if stages > 1 else ''} [sigma{sigma}] [300W full]"]
        assert "not the private set" in row.note and row.n == "8"
        s = _summary([runs[stages]], "inter-ocular")
        assert row.cells["mean error"].value == pytest.approx(s.mean_error * 100, rel=1e-12)
        assert row.cells["failure @ 0.08"].value == pytest.approx(s.failure_rate * 100, rel=1e-12)
    assert measured["dan, 2 stages"].cells["AUC_0.08"].value is None


def test_a_test_time_augmented_model_is_labelled_as_its_own_row():
    from faceeval.report.run_groups import Model

    class _Run:
        def __init__(self, options):
            self.meta = {"options": options}

    flip = Model("dan", "abcdef0123", {("300w", "full", "boxes"): _Run({"stages": 2, "precision": "bf16",
                                                                          "tta": "flip"})})
    single = Model("dan", "abcdef0123", {("300w", "full", "boxes"): _Run({"stages": 2, "precision": "bf16"})})
    assert flip.label == "dan + flip test, 2 stages, precision=bf16 [abcdef01]"
    assert single.label == "dan, 2 stages, precision=bf16 [abcdef01]"
