"""The run store: layout, provenance, cache reuse, --force, resume after a kill, atomic files."""
import json

import numpy as np
import pytest

from faceeval.errors import OptionError
from faceeval.geometry import fit_shape_to_boxes, shape_boxes
from faceeval.resources import dan_mean_shape
from faceeval.runs import find_runs, load_run, results_root, run_dir, run_method
from faceeval_methods.meanshape import MeanShape


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
    assert run.path == tmp_path / "meanshape" / f"{method.weights_hash}@v1" / "builtin" / "all"
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


def test_a_different_sample_list_is_a_new_run_that_takes_the_stored_faces(tmp_path, builtin):
    first = run_method(MeanShape(), builtin, tmp_path, progress=False)
    smaller = builtin.subset_of(builtin.ids[:2], "all")
    method = CountingMeanShape()
    run = run_method(method, smaller, tmp_path, progress=False)
    assert not run.reused and run.ids == builtin.ids[:2] and run.meta["n"] == 2
    assert method.seen == 0 and run.meta["reused_faces"] == 2          # the same faces, the same inputs
    np.testing.assert_array_equal(run.predictions, first.predictions[:2])
    forced = CountingMeanShape()
    run_method(forced, builtin, tmp_path, force=True, progress=False)
    assert forced.seen == 4                                          # --force recomputes every face


def test_resume_after_a_kill_continues_and_gives_identical_predictions(tmp_path, builtin):
    reference = run_method(MeanShape(), builtin, tmp_path / "clean", progress=False)
    method = CountingMeanShape()
    with pytest.raises(KeyboardInterrupt):
        run_method(method, builtin, tmp_path / "killed", batch_size=1, chunk_size=1, stop_after_chunks=1,
                   progress=False)
    out = run_dir(tmp_path / "killed", method, builtin)
    assert method.seen == 1
    assert _files(out) == [".partial/chunk_0000000.npz", ".partial/key.json"]   # no meta, no predictions, no half file
    with pytest.raises(KeyboardInterrupt):                     # a second kill after one more chunk
        run_method(method, builtin, tmp_path / "killed", batch_size=1, chunk_size=1, stop_after_chunks=1,
                   progress=False)
    assert method.seen == 2 and len(list((out / ".partial").glob("chunk_*.npz"))) == 2
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
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["key.json"]     # which run the chunks are for
    monkeypatch.undo()
    run = run_method(MeanShape(), builtin, tmp_path, progress=False)
    assert not run.reused and run.predictions.shape == (4, 68, 2)


def test_gt_box_init_is_a_separate_run(tmp_path, builtin):
    a = run_method(MeanShape(), builtin, tmp_path, progress=False)
    b = run_method(MeanShape(), builtin, tmp_path, init="gt-box", progress=False)
    assert b.path.name == "all@gt-box" and b.meta["init"] == "gt-box" and a.path != b.path
    with pytest.raises(OptionError, match="unknown --init 'magic'"):
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


# --- one run, one identity (issue 13) ---------------------------------------------------------

def test_a_redone_run_holds_exactly_its_own_pts_files(tmp_path, builtin):
    run_method(MeanShape(), builtin, tmp_path, progress=False)
    two = builtin.subset_of(builtin.ids[:2], "all")            # same dataset/subset name, fewer faces
    redone = run_method(MeanShape(), two, tmp_path, progress=False)
    assert not redone.reused
    assert sorted(p.stem for p in (redone.path / "pts").glob("*.pts")) == sorted(builtin.ids[:2])
    without_pts = run_method(MeanShape(), builtin, tmp_path, write_pts_files=False, progress=False)
    assert without_pts.path == redone.path and not (without_pts.path / "pts").exists()


class MeanShapeV2(CountingMeanShape):
    """The same method and weights under a new version: its predictions may differ."""

    version = "2"


class FlavouredMeanShape(CountingMeanShape):
    """A load option that changes predictions but not the weights (as DAN's precision)."""

    def __init__(self, flavour="plain"):
        super().__init__()
        self.flavour = flavour

    def options(self):
        return {"flavour": self.flavour}


def test_version_and_prediction_options_are_part_of_the_run(tmp_path, builtin):
    first = run_method(MeanShape(), builtin, tmp_path, progress=False)
    v2 = MeanShapeV2()
    second = run_method(v2, builtin, tmp_path, progress=False)
    assert not second.reused and v2.seen == 4 and second.path != first.path
    plain, odd = FlavouredMeanShape("plain"), FlavouredMeanShape("odd")
    a = run_method(plain, builtin, tmp_path, progress=False)
    b = run_method(odd, builtin, tmp_path, progress=False)
    assert not b.reused and odd.seen == 4 and len({first.path, second.path, a.path, b.path}) == 4
    again = FlavouredMeanShape("odd")
    assert run_method(again, builtin, tmp_path, progress=False).reused and again.seen == 0
    assert sorted((r.meta["version"], r.meta["options"].get("flavour", "-")) for r in find_runs(tmp_path)) == [
        ("1", "-"), ("1", "odd"), ("1", "plain"), ("2", "-")]


def test_init_options_are_resolved_up_front_and_never_read_from_the_environment(tmp_path, builtin, monkeypatch):
    from dataclasses import replace

    from faceeval.datasets import Dataset
    from faceeval.twostep import two_step_predict

    monkeypatch.setenv("FACEEVAL_TWO_STEP_FRACTION", "0.3")     # a library call does not look at it
    no_boxes = Dataset("builtin", "all", [replace(s, box=None) for s in builtin], None)
    run = run_method(MeanShape(), no_boxes, tmp_path, init="two-step", progress=False)
    assert run.meta["init_options"] == {"fraction": 0.46} and run.path.name == "all@two-step,fraction=0.46"
    images = [s.load_image() for s in builtin.samples]
    # the mean shape ignores the image: a 0.46 box centred in each image, fitted by hand
    h = np.array([im.shape[0] for im in images], dtype=np.float64)
    w = np.array([im.shape[1] for im in images], dtype=np.float64)
    boxes = np.stack([(w - 1) / 2 - 0.23 * h, (h - 1) / 2 - 0.23 * h, (w - 1) / 2 + 0.23 * h, (h - 1) / 2 + 0.23 * h], 1)
    np.testing.assert_allclose(run.predictions, fit_shape_to_boxes(dan_mean_shape(), boxes), atol=1e-6)
    np.testing.assert_array_equal(two_step_predict(MeanShape(), images), two_step_predict(MeanShape(), images, 0.46))
    other = run_method(MeanShape(), no_boxes, tmp_path, init="two-step", init_options={"fraction": 0.3},
                       progress=False)
    assert other.path.name == "all@two-step,fraction=0.3" and not other.reused


def test_bad_init_options_fail_before_any_file_is_written(tmp_path, builtin):
    from faceeval.errors import OptionError

    for init, options, message in (("two-step", {"fraction": 5.0}, "fraction"),
                                   ("two-step", {"fraction": "big"}, "fraction"),
                                   ("two-step", {"size": 0.4}, "size"),
                                   ("boxes", {"fraction": 0.4}, "fraction"),
                                   ("magic", {}, "unknown --init 'magic'")):
        with pytest.raises(OptionError, match=message):
            run_method(MeanShape(), builtin, tmp_path, init=init, init_options=options, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_the_newest_of_several_runs_with_one_key_wins(tmp_path, builtin):
    """Two folders can hold one key (a copied store, an old layout): the newest run is used."""
    import shutil

    from faceeval.report.run_groups import group_models

    old = run_method(MeanShape(), builtin, tmp_path, progress=False)
    copy = old.path.parent / "all-copy"
    shutil.copytree(old.path, copy)
    meta = json.loads((copy / "meta.json").read_text())
    meta["created"] = "2999-01-01T00:00:00+00:00"
    (copy / "meta.json").write_text(json.dumps(meta))
    with np.load(copy / "predictions.npz") as z:
        arrays = dict(z)
    arrays["predictions"] = arrays["predictions"] + 1.0
    np.savez(copy / "predictions.npz", **arrays)
    models = group_models(find_runs(tmp_path))
    assert len(models) == 1 and models[0].run("builtin", "all").path == copy
    np.testing.assert_array_equal(models[0].run("builtin", "all").predictions, old.predictions + 1.0)


def test_every_methods_predict_gets_its_arguments_checked_by_the_base_class():
    from faceeval.methods import LandmarkMethod

    class Bare(LandmarkMethod):
        name = "bare"

        def predict(self, images, boxes):
            self.got = (type(images), boxes.dtype, boxes.shape)
            return np.zeros((len(images), 68, 2))

    m = Bare()
    assert m.predict((np.zeros((4, 4)) for _ in range(2)), [[0, 0, 1, 1], [1, 1, 2, 2]]).shape == (2, 68, 2)
    assert m.got == (list, np.dtype("float64"), (2, 4))
    with pytest.raises(ValueError, match="bare: predict got 2 images but 1 boxes"):
        m.predict([np.zeros((4, 4))] * 2, [0, 0, 1, 1])
    del m.got
    assert m.predict([], np.zeros((0, 4))).shape == (0, 68, 2) and not hasattr(m, "got")
    # a subclass that calls super().predict is checked once per level, with the same result
    assert CountingMeanShape().predict([np.zeros((4, 4))], [0, 0, 2, 2]).shape == (1, 68, 2)


def test_chunks_hold_about_five_seconds_of_work_and_a_kill_keeps_each_finished_one(tmp_path, monkeypatch):
    """A method taking 1 s per face with a batch size of 256: the first call takes 8 faces, later ones
    as many as fit in CHUNK_SECONDS at the measured speed; each is saved as it finishes."""
    import faceeval.runs as runs
    from test_report_tables import memory_dataset

    clock = [0.0]
    monkeypatch.setattr(runs.time, "perf_counter", lambda: clock[0])

    class Slow(CountingMeanShape):
        batch_size = 256

        def predict(self, images, boxes):
            clock[0] += float(len(images))          # one second per face
            return super().predict(images, boxes)

    data = memory_dataset("builtin", "all", 40, seed=3)
    method = Slow()
    with pytest.raises(runs.RunInterrupted) as stop:
        runs.run_method(method, data, tmp_path, stop_after_chunks=3, progress=False)
    assert method.calls == [8, 5, 5] and runs.CHUNK_SECONDS == 5.0
    assert stop.value.saved == 18
    out = run_dir(tmp_path, method, data)
    assert sorted(p.name for p in (out / ".partial").glob("chunk_*.npz")) == [
        "chunk_0000000.npz", "chunk_0000008.npz", "chunk_0000013.npz"]
    again = Slow()
    run = runs.run_method(again, data, tmp_path, progress=False)
    assert sum(again.calls) == 22 and max(again.calls) <= 5 and run.meta["predict_seconds"] == pytest.approx(40)
