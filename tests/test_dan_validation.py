"""Judging DAN weights on the held-out validation faces: which faces, and whether a difference is noise."""
import numpy as np
import pytest
from conftest import needs_extra_module, write_pack_files

needs_extra_module("dan")

import torch

from faceeval.datasets import load_dataset
from faceeval.metrics import point_to_point_error
from faceeval_methods.dan import DAN
from faceeval_methods.dan.model import DANConfig, DANModel
from faceeval_methods.dan.validation import (compare_report, held_out, jittered_boxes, main, photo_id,
                                             training_records, validation_errors, validation_faces, validation_split)
from faceeval_methods.dan.weights import save_weights


def _model(seed: int) -> DANModel:
    torch.manual_seed(seed)
    m = DANModel(DANConfig(stages=2, widths=(4, 8, 8, 16)))
    for st in m.stages:
        torch.nn.init.normal_(st.fc2.weight, std=0.2)
    return m.eval()


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    from conftest import build_fake_300w

    tree = build_fake_300w(tmp_path_factory.mktemp("300w"), {"afw": 2, "lfpw/trainset": 3, "helen/trainset": 2,
                                                             "lfpw/testset": 2, "helen/testset": 2, "ibug": 2})
    write_pack_files(tree)
    return tree


def test_validation_faces_are_the_first_training_faces_the_training_holds_out(pack):
    faces = validation_faces(pack.root, val_count=4)
    train = load_dataset("300w", "train", pack.root)
    assert len(faces.images) == 4
    np.testing.assert_array_equal(faces.ground_truth, train.ground_truth[:4])
    np.testing.assert_array_equal(faces.boxes, train.boxes[:4])
    # training order puts LFPW train first, so the validation faces are never a test face
    assert [s.id.split("/")[0] for s in train.samples[:3]] == ["lfpw"] * 3
    test_gt = load_dataset("300w", "full", pack.root).ground_truth
    assert not any(np.array_equal(g, t) for g in faces.ground_truth for t in test_gt)


def test_photo_split_takes_whole_photos_from_every_training_folder_and_never_a_test_face():
    ids = ([f"lfpw/trainset/image_{i:04d}" for i in range(1, 201)]
           + [f"helen/trainset/{p}_{k}" for p in range(100, 260) for k in ((1, 2) if p % 7 == 0 else (1,))]
           + [f"afw/{p}_{k}" for p in range(500, 600) for k in range(1, 1 + p % 3 + 1)])
    val = validation_split(ids, 300, "photos")
    chosen = {ids[i] for i in val}
    # the first 100 LFPW faces (the shipped weights' validation faces) stay validation faces
    assert {f"lfpw/trainset/image_{i:04d}" for i in range(1, 101)} <= chosen
    for folder in ("lfpw/trainset", "helen/trainset", "afw"):
        n = sum(c.startswith(folder + "/") for c in chosen)
        assert 100 <= n <= 102, (folder, n)                 # a share of 100, whole photos may overshoot
    # no photo has faces on both sides
    train = {photo_id(i) for k, i in enumerate(ids) if k not in set(val.tolist())}
    assert not {photo_id(c) for c in chosen} & train
    assert validation_split(ids, 300, "photos").tolist() == val.tolist()       # deterministic
    assert validation_split(ids, 7, "first").tolist() == list(range(7))


def test_photo_split_on_a_pack_holds_out_training_faces_only(pack):
    faces = validation_faces(pack.root, val_count=6, split="photos")
    train = load_dataset("300w", "train", pack.root)
    assert faces.ids == [train.ids[i] for i in faces.indices]
    assert {i.split("/")[0] for i in faces.ids} == {"lfpw", "helen", "afw"}
    full = set(load_dataset("300w", "full", pack.root).ids)
    assert not set(faces.ids) & full


def test_validation_errors_are_the_weights_per_face_errors(pack, tmp_path):
    save_weights(_model(1), tmp_path / "w")
    faces = validation_faces(pack.root, val_count=5)
    errors = validation_errors(tmp_path / "w", faces)
    pred = DAN.load(tmp_path / "w", precision="fp32").predict(faces.images, faces.boxes)
    np.testing.assert_allclose(errors, point_to_point_error(pred, faces.ground_truth, "inter-ocular"))
    assert errors.shape == (5,) and np.all(errors > 0)


def test_jittered_boxes_move_and_resize_about_the_centre_by_the_seeded_draws():
    boxes = np.array([[10.0, 20.0, 110.0, 70.0], [0.0, 0.0, 40.0, 90.0]])
    rng = np.random.default_rng(4)                  # the draws, made independently
    d, f = rng.normal(0, 0.1, (2, 2)), np.clip(rng.normal(1, 0.3, (2, 1)), 0.5, 1.5)
    size = np.sqrt([[100 * 50], [40 * 90]])
    centre = np.array([[60.0, 45.0], [20.0, 45.0]]) + d * size
    half = np.array([[50.0, 25.0], [20.0, 45.0]]) * f
    np.testing.assert_allclose(jittered_boxes(boxes, 0.1, 0.3, seed=4), np.hstack([centre - half, centre + half]))
    np.testing.assert_array_equal(jittered_boxes(boxes, 0.1, 0.3, 4), jittered_boxes(boxes, 0.1, 0.3, 4))
    assert not np.allclose(jittered_boxes(boxes, 0.1, 0.3, 4), jittered_boxes(boxes, 0.1, 0.3, 5))


def test_robustness_judgement_averages_each_face_over_the_same_jittered_boxes(pack, tmp_path, capsys):
    save_weights(_model(1), tmp_path / "w")
    faces = validation_faces(pack.root, val_count=5)
    errors = validation_errors(tmp_path / "w", faces, shift=0.1, scale=0.1, draws=2)
    dan = DAN.load(tmp_path / "w", precision="fp32")
    each = [point_to_point_error(dan.predict(faces.images, jittered_boxes(faces.boxes, 0.1, 0.1, seed)),
                                 faces.ground_truth, "inter-ocular") for seed in (0, 1)]
    np.testing.assert_allclose(errors, (each[0] + each[1]) / 2)
    assert not np.allclose(errors, validation_errors(tmp_path / "w", faces))       # the boxes did move
    later = validation_errors(tmp_path / "w", faces, shift=0.1, scale=0.1, draws=1, seed=1)
    np.testing.assert_allclose(later, each[1])                                     # --seed: where the draws start
    save_weights(_model(2), tmp_path / "v")
    with pytest.raises(SystemExit) as done:
        main([str(tmp_path / "w"), str(tmp_path / "v"), "--data-root", str(pack.root), "--val-count", "5",
              "--val-split", "first", "--box-shift", "0.1", "--box-scale", "0.1", "--draws", "2"])
    out = capsys.readouterr().out.splitlines()
    assert done.value.code == 0 and out[0] == ("5 validation faces (--val-split first), inter-ocular, from boxes "
                                               "moved by N(0, 0.1) box sizes and resized by N(1, 0.1), 2 draws a face "
                                               "(seeds 0-1):")
    assert any(line.startswith(f"{tmp_path / 'w'}: mean {errors.mean() * 100:.3f}%") for line in out), out


def test_compare_report_tells_a_real_difference_from_noise():
    rng = np.random.default_rng(0)
    a = rng.uniform(0.02, 0.06, 100)
    noisy = a + rng.normal(0, 0.004, 100)           # the same model, evaluated with jitter
    better = a * 0.9                                 # 10% lower on every face
    lines = compare_report(["old", "noisy", "better"], [a, noisy, better], resamples=2000)
    assert lines[0].startswith(f"old: mean {a.mean() * 100:.3f}%") and "(n = 100)" in lines[0]
    assert lines[3].startswith("old - noisy:") and lines[3].endswith(
        "no significant difference at 95%, on average or on a typical image")
    assert lines[4].startswith(f"old - better: +{(a - better).mean() * 100:.3f} points")
    assert ("better lower on 100% of faces: better is lower both on average and on a typical image (100% of "
            "images)") in lines[4]


def test_cli_compares_weights_and_names_a_file_that_is_not_weights(pack, tmp_path, capsys):
    save_weights(_model(1), tmp_path / "a")
    save_weights(_model(2), tmp_path / "b")
    with pytest.raises(SystemExit) as done:
        main([str(tmp_path / "a"), str(tmp_path / "b"), "--data-root", str(pack.root), "--val-count", "4",
              "--val-split", "first"])
    assert done.value.code == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "4 validation faces (--val-split first), inter-ocular:"
    assert len(out) == 6 and out[5].startswith(f"{tmp_path / 'a'} - {tmp_path / 'b'}:")   # 2 notes: no records
    # weights without a training record: compared on every face, with a note
    with pytest.raises(SystemExit) as done:
        main([str(tmp_path / "a"), str(tmp_path / "b"), "--data-root", str(pack.root), "--val-count", "6"])
    out = capsys.readouterr().out.splitlines()
    assert done.value.code == 0 and out[0] == "6 validation faces (--val-split photos), inter-ocular:"
    assert out[1] == f"note: {tmp_path / 'a'} has no training record; whether it trained on any of them is unknown"
    assert len(out) == 6 and out[5].startswith(f"{tmp_path / 'a'} - {tmp_path / 'b'}:")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "dan.safetensors").write_bytes(b"not weights at all")
    (tmp_path / "c" / "dan.json").write_text("{}")
    with pytest.raises(SystemExit) as done:
        main([str(tmp_path / "a"), str(tmp_path / "c"), "--data-root", str(pack.root), "--val-count", "4"])
    err = capsys.readouterr().err
    assert done.value.code == 1 and "Traceback" not in err and str(tmp_path / "c") in err


def test_a_training_checkpoint_given_as_weights_is_named_with_what_to_give_instead(pack, tmp_path, capsys):
    import json
    import shutil

    save_weights(_model(1), tmp_path / "a")
    (tmp_path / "run").mkdir()
    shutil.copy(tmp_path / "a" / "dan.safetensors", tmp_path / "run" / "checkpoint.safetensors")
    (tmp_path / "run" / "checkpoint.json").write_text(json.dumps({"global_step": 7, "history": [], "phase": 1}))
    with pytest.raises(SystemExit) as done:
        main([str(tmp_path / "a"), str(tmp_path / "run" / "checkpoint.safetensors"), "--data-root", str(pack.root)])
    err = capsys.readouterr().err
    assert done.value.code == 1
    assert f"{tmp_path / 'run' / 'checkpoint.json'}: not a faceeval DAN config" in err
    assert "training checkpoint: give its folder's best.safetensors" in err


def _run_folder(path, model, options, validation_ids=None):
    """A training folder as `faceeval train dan` leaves it: best weights beside checkpoint.json."""
    import json

    path.mkdir()
    save_weights(model, path / "best.safetensors")
    (path / "checkpoint.json").write_text(json.dumps({"options": options, "validation_ids": validation_ids}))
    return path / "best.safetensors"


def test_weights_are_compared_only_on_faces_that_none_of_them_trained_on(pack, tmp_path, capsys):
    train_ids = load_dataset("300w", "train", pack.root).ids
    photos = [train_ids[i] for i in validation_split(train_ids, 6, "photos")]
    first2 = _run_folder(tmp_path / "first2", _model(1), {"val_split": "first", "val_count": 2})
    photo_run = _run_folder(tmp_path / "photos", _model(2), {"val_split": "photos", "val_count": 6}, photos)
    # a run started from first2's weights holds out only what both runs held out
    later = _run_folder(tmp_path / "later", _model(3), {"val_split": "photos", "val_count": 6,
                                                         "init_weights": str(first2)}, photos)
    assert held_out(first2, train_ids) == set(train_ids[:2])
    assert held_out(photo_run, train_ids) == set(photos)
    assert held_out(later, train_ids) == set(train_ids[:2]) & set(photos)
    assert set(train_ids[:2]) <= set(photos) and len(photos) == 6
    with pytest.raises(SystemExit) as done:
        main([str(first2), str(photo_run), "--data-root", str(pack.root), "--val-count", "6"])
    out = capsys.readouterr().out.splitlines()
    assert done.value.code == 0
    assert out[1] == f"{first2} trained on 4 of them" and out[2] == "compared on the 2 of them that no weights trained on:"
    faces = validation_faces(pack.root, 6, "photos")
    keep = np.isin(faces.ids, train_ids[:2])
    e = [validation_errors(w, faces)[keep] for w in (first2, photo_run)]
    assert out[3:] == compare_report([str(first2), str(photo_run)], e)
    assert out[3].endswith("(n = 2)")
    # a run that validated on its training faces held out none: nothing fair to compare on
    demo = _run_folder(tmp_path / "demo", _model(4), {"val_count": 0}, train_ids)
    with pytest.raises(SystemExit) as done:
        main([str(photo_run), str(demo), "--data-root", str(pack.root), "--val-count", "6"])
    assert done.value.code == 1 and "share 0 held-out validation faces" in capsys.readouterr().err


def test_a_release_names_its_held_out_faces_through_the_runs_it_started_from(tmp_path):
    import json

    ids = [f"lfpw/trainset/image_{i:04d}" for i in range(1, 9)]
    save_weights(_model(1), tmp_path / "rel")
    meta = json.loads((tmp_path / "rel" / "dan.json").read_text())
    stage1 = {"options": {"val_count": 3, "val_split": None}}
    stage2 = {"options": {"val_count": 4, "val_split": "first", "init_weights": "/gone/best.safetensors"},
              "initial_weights": {"path": "/gone/best.safetensors", "training": stage1}}
    (tmp_path / "rel" / "dan.json").write_text(json.dumps({**meta, "provenance": stage2}))
    assert held_out(tmp_path / "rel", ids) == set(ids[:3])
    del stage2["initial_weights"]["training"]                 # the earlier run's record was lost
    (tmp_path / "rel" / "dan.json").write_text(json.dumps({**meta, "provenance": stage2}))
    assert training_records(tmp_path / "rel") is None and held_out(tmp_path / "rel", ids) is None
