"""The run store: layout, provenance, cache reuse, --force, resume after a kill, atomic files."""
import json

import numpy as np
import pytest

from faceeval.geometry import fit_shape_to_boxes, shape_boxes
from faceeval.resources import dan_mean_shape
from faceeval.runs import find_runs, load_run, results_root, run_dir, run_method
from methods.meanshape import MeanShape


class CountingMeanShape(MeanShape):
    """The mean-shape baseline, counting how many images it was asked to predict."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = 0
        self.calls = []

    def predict(self, images, boxes):
        self.seen += len(images)
        self.calls.append(len(images))
        return super().predict(images, boxes)


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_run_stores_predictions_pts_and_provenance(tmp_path, builtin):
    method = CountingMeanShape()
    run = run_method(method, builtin, tmp_path, progress=False)
    assert run.path == tmp_path / "meanshape" / method.weights_hash / "builtin" / "all"
    assert not run.reused and method.seen == 4
    expected = fit_shape_to_boxes(dan_mean_shape(), shape_boxes(builtin.ground_truth))
    np.testing.assert_array_equal(run.predictions, expected)
    np.testing.assert_array_equal(run.ground_truth, builtin.ground_truth)
    assert _files(run.path) == ["meta.json", "predictions.npz"] + [f"pts/{i}.pts" for i in sorted(builtin.ids)]
    meta = json.loads((run.path / "meta.json").read_text())
    assert {k: meta[k] for k in ("method", "version", "weights_hash", "dataset", "subset", "init", "n")} == {
        "method": "meanshape", "version": "1", "weights_hash": method.weights_hash, "dataset": "builtin",
        "subset": "all", "init": "boxes", "n": 4}
    loaded = load_run(run.path)
    assert loaded.ids == builtin.ids and loaded.meta == meta
    np.testing.assert_array_equal(loaded.predictions, run.predictions)
    np.testing.assert_array_equal(loaded.boxes, builtin.boxes)
    from faceeval.io import read_pts

    np.testing.assert_allclose(read_pts(run.path / "pts" / "lenna.pts"), run.predictions[3], atol=5e-7)
    assert [r.path for r in find_runs(tmp_path)] == [run.path]


def test_rerun_reuses_the_cache_unless_forced(tmp_path, builtin):
    first = run_method(MeanShape(), builtin, tmp_path, progress=False)
    stamp = (first.path / "predictions.npz").stat().st_mtime_ns
    method = CountingMeanShape()
    again = run_method(method, builtin, tmp_path, progress=False)
    assert again.reused and method.seen == 0
    assert (first.path / "predictions.npz").stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(again.predictions, first.predictions)
    forced = run_method(method, builtin, tmp_path, force=True, progress=False)
    assert not forced.reused and method.seen == 4


def test_cache_is_not_reused_for_a_different_sample_list(tmp_path, builtin):
    run_method(MeanShape(), builtin, tmp_path, progress=False)
    smaller = builtin.subset_of(builtin.ids[:2], "all")
    method = CountingMeanShape()
    run = run_method(method, smaller, tmp_path, progress=False)
    assert not run.reused and method.seen == 2 and run.ids == builtin.ids[:2]


def test_resume_after_a_kill_continues_and_gives_identical_predictions(tmp_path, builtin):
    reference = run_method(MeanShape(), builtin, tmp_path / "clean", progress=False)
    method = CountingMeanShape()
    with pytest.raises(KeyboardInterrupt):
        run_method(method, builtin, tmp_path / "killed", batch_size=1, chunk_size=1, stop_after_chunks=1,
                   progress=False)
    out = run_dir(tmp_path / "killed", method, builtin)
    assert method.seen == 1
    assert _files(out) == [".partial/chunk_0000000.npz"]      # no meta, no predictions, no half file
    with pytest.raises(KeyboardInterrupt):                     # a second kill after one more chunk
        run_method(method, builtin, tmp_path / "killed", batch_size=1, chunk_size=1, stop_after_chunks=1,
                   progress=False)
    assert method.seen == 2 and len(list((out / ".partial").iterdir())) == 2
    resumed = run_method(method, builtin, tmp_path / "killed", batch_size=1, chunk_size=1, progress=False)
    assert method.seen == 4                                    # only the two missing faces were predicted
    np.testing.assert_array_equal(resumed.predictions, reference.predictions)
    assert not (out / ".partial").exists() and not [p for p in out.rglob("*.part")]
    np.testing.assert_array_equal(load_run(out).predictions, reference.predictions)


def test_a_kill_while_saving_leaves_no_half_file(tmp_path, builtin, monkeypatch):
    import faceeval.runs as runs

    def dying_savez(fh, **arrays):
        fh.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(runs.np, "savez", dying_savez)
    with pytest.raises(KeyboardInterrupt):
        run_method(MeanShape(), builtin, tmp_path, progress=False)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    monkeypatch.undo()
    run = run_method(MeanShape(), builtin, tmp_path, progress=False)
    assert not run.reused and run.predictions.shape == (4, 68, 2)


def test_gt_box_init_is_a_separate_run(tmp_path, builtin):
    a = run_method(MeanShape(), builtin, tmp_path, progress=False)
    b = run_method(MeanShape(), builtin, tmp_path, init="gt-box", progress=False)
    assert b.path.name == "all@gt-box" and b.meta["init"] == "gt-box" and a.path != b.path
    with pytest.raises(ValueError, match="unknown --init 'magic'"):
        run_method(MeanShape(), builtin, tmp_path, init="magic", progress=False)


def test_bad_method_output_is_reported(tmp_path, builtin):
    class Broken(MeanShape):
        def predict(self, images, boxes):
            return np.zeros((len(images), 67, 2))

    with pytest.raises(ValueError, match=r"returned shape \(4, 67, 2\) for 4 images"):
        run_method(Broken(), builtin, tmp_path, progress=False)


def test_results_root(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEEVAL_RESULTS", str(tmp_path / "env"))
    assert results_root() == tmp_path / "env"
    assert results_root(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("FACEEVAL_RESULTS")
    assert str(results_root()) == "results"


def test_large_images_split_a_batch_without_changing_predictions(tmp_path, builtin, monkeypatch):
    import faceeval.runs as runs

    whole = CountingMeanShape()
    reference = run_method(whole, builtin, tmp_path / "a", progress=False, batch_size=4)
    assert whole.calls == [4]
    # a budget the first two images exceed: breakingbad (6.2 MB) alone, then einstein + takeo, then lenna
    sizes = [s.load_image().nbytes for s in builtin.samples]
    assert sizes[0] > sizes[1] + sizes[2]
    monkeypatch.setattr(runs, "BATCH_PIXEL_BYTES", sizes[1] + sizes[2])
    split = CountingMeanShape()
    again = run_method(split, builtin, tmp_path / "b", progress=False, batch_size=4)
    assert split.calls == [1, 2, 1]
    np.testing.assert_array_equal(again.predictions, reference.predictions)
