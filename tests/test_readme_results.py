"""The README's "Results on real 300W" block is generated from stored runs (faceeval.report.readme)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceeval.metrics import evaluate
from faceeval.report.readme import BEGIN, END, main, replace_block, result_rows, results_markdown
from faceeval.runs import find_runs, machine, run_method

from test_report_tables import NoisyMeanShape, memory_dataset

README = Path(__file__).resolve().parents[1] / "README.md"


class Caveated(NoisyMeanShape):
    name = "peer"

    def provenance(self) -> dict:
        return {**super().provenance(), "caveat": "trained on data including the test images"}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("readme") / "results"
    data = {s: memory_dataset("300w", s, n, seed=k) for k, (s, n) in enumerate((("common", 6), ("challenging", 3)))}
    for subset in ("common", "challenging"):
        run_method(NoisyMeanShape(1.0), data[subset], root, progress=False)
        run_method(Caveated(2.0), data[subset], root, progress=False)
    run_method(NoisyMeanShape(4.0), data["challenging"], root, progress=False)   # a model with one subset only
    return root


def test_every_model_gets_a_row_per_subset_with_the_metrics_core_numbers(results):
    runs = find_runs(results)
    rows = {(r["model"], r["subset"]): r for r in result_rows(runs)}
    assert sorted(rows) == [("noisy [sigma1]", "challenging"), ("noisy [sigma1]", "common"),
                            ("noisy [sigma1]", "full"), ("noisy [sigma4]", "challenging"),
                            ("peer [sigma2]", "challenging"), ("peer [sigma2]", "common"), ("peer [sigma2]", "full")]
    by_key = {(r.meta["weights_hash"], r.meta["subset"]): r for r in runs}
    common, challenging = by_key[("sigma1", "common")], by_key[("sigma1", "challenging")]
    for norm in ("inter-ocular", "inter-pupil", "bbox-diagonal"):
        s = evaluate(common.predictions, common.ground_truth, norm)[0]
        assert rows[("noisy [sigma1]", "common")][norm].value == pytest.approx(s.mean_error * 100, rel=1e-12)
    full = evaluate(np.concatenate([common.predictions, challenging.predictions]),
                    np.concatenate([common.ground_truth, challenging.ground_truth]), "inter-ocular")[0]
    row = rows[("noisy [sigma1]", "full")]
    assert row["n"] == "9" and row["auc"].value == pytest.approx(full.auc * 100, rel=1e-12)
    assert row["failure"].value == pytest.approx(full.failure_rate * 100, rel=1e-12)
    assert row["command"] == "common + challenging runs combined"
    assert rows[("noisy [sigma1]", "common")]["command"] == "`faceeval run noisy --subset common --data-root DATA/300w`"


def test_the_block_names_date_machine_commit_command_and_caveats(results):
    text = results_markdown(find_runs(results), "make readme-results RESULTS=x", commit="abc1234", today="2026-11-27")
    first = text.splitlines()[0]
    assert first.startswith("Generated 2026-11-27 from the stored runs (") and "at commit abc1234" in first
    assert f"runs made on: {machine()}" in first and first.endswith("Regenerate with `make readme-results RESULTS=x`.")
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| model | subset | n | IO mean % | IP mean % | BD mean % | AUC_0.08 (IO) % |")
    assert len(table) == 1 + 7
    assert "| peer [sigma2] ¹ | challenging | 3 |" in text
    assert "¹ peer [sigma2]: trained on data including the test images." in text
    assert "docs/protocol.md" in text


def test_nothing_run_yet_says_so(tmp_path):
    text = results_markdown([], "make readme-results", commit="abc1234", today="2026-11-27")
    assert text == "Generated 2026-11-27: no stored run on a 300W test subset yet. Regenerate with `make readme-results`."


def test_only_the_marked_block_is_replaced_and_markers_are_required():
    text = f"# title\nintro\n{BEGIN}\nold table\n{END}\nafter\n"
    assert replace_block(text, "new\n") == f"# title\nintro\n{BEGIN}\nnew\n{END}\nafter\n"
    assert replace_block(replace_block(text, "a"), "b") == replace_block(text, "b")
    for broken in ("no markers", f"{END}\n{BEGIN}\n", f"{BEGIN}\n{BEGIN}\n{END}\n"):
        with pytest.raises(ValueError, match="expected one"):
            replace_block(broken, "x")


def test_the_command_rewrites_a_readme_in_place(results, tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"# project\n\n## Results on real 300W\n\n{BEGIN}\nstale\n{END}\n\n## Next\n")
    main(["--results", str(results), "--readme", str(readme), "--command", "make readme-results"])
    text = readme.read_text()
    assert "stale" not in text and text.startswith("# project\n") and text.endswith(f"{END}\n\n## Next\n")
    assert "| noisy [sigma4] | challenging | 3 |" in text
    assert f"wrote the results block of {readme}" in capsys.readouterr().out


def test_the_project_readme_has_one_generated_block():
    text = README.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    block = text.split(BEGIN)[1].split(END)[0]
    assert "Regenerate with `make readme-results" in block


def test_the_stamped_commit_is_dirty_for_other_changes_but_not_for_the_readme_being_regenerated(tmp_path):
    import shutil
    import subprocess

    from faceeval.report.readme import git_commit

    if shutil.which("git") is None:
        pytest.skip("no git")

    def git(*args):
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path,
                              check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    (tmp_path / "README.md").write_text("a\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "code.py").write_text("x = 1\n")
    git("add", ".")
    git("commit", "-qm", "one")
    head = git("rev-parse", "--short", "HEAD")
    assert git_commit(tmp_path) == head
    (tmp_path / "README.md").write_text("b\n")
    assert git_commit(tmp_path) == f"{head}-dirty"
    assert git_commit(tmp_path / "sub", ignore=[tmp_path / "README.md"]) == head      # from any folder
    (tmp_path / "sub" / "code.py").write_text("x = 2\n")
    assert git_commit(tmp_path, ignore=[tmp_path / "README.md"]) == f"{head}-dirty"
    assert git_commit(tmp_path.parent / "not-a-repo-here") == "unknown"
