"""The 68-point scheme: groups, mirror permutation, mirroring of shapes."""
import numpy as np
import pytest

from faceeval.landmarks import EYE_A, EYE_B, GROUPS, MIRROR_PERMUTATION, N_POINTS, OUTER_EYE_CORNERS, mirror_shapes
from faceeval.resources import dan_mean_shape

#: Points on the face's vertical midline: the chin, the nose bridge, the nose tip and the
#: middle of both lips (0-based).
MIDLINE = {8, 27, 28, 29, 30, 33, 51, 57, 62, 66}


def test_groups_partition_the_68_points_as_the_protocol_lists():
    covered = sorted(i for g in GROUPS.values() for i in g)
    assert covered == list(range(N_POINTS))
    assert [(g.start, g.stop - 1) for g in GROUPS.values()] == [
        (0, 16), (17, 21), (22, 26), (27, 30), (31, 35), (36, 41), (42, 47), (48, 59), (60, 67)]
    assert OUTER_EYE_CORNERS == (36, 45)
    assert EYE_A.tolist() == list(range(36, 42)) and EYE_B.tolist() == list(range(42, 48))


def test_mirror_permutation_is_an_involution_and_a_permutation():
    p = MIRROR_PERMUTATION
    assert sorted(p.tolist()) == list(range(N_POINTS))
    np.testing.assert_array_equal(p[p], np.arange(N_POINTS))
    assert not p.flags.writeable


def test_mirror_permutation_fixes_exactly_the_midline():
    assert {i for i in range(N_POINTS) if MIRROR_PERMUTATION[i] == i} == MIDLINE


@pytest.mark.parametrize("a, b", [("right_brow", "left_brow"), ("eye_a", "eye_b")])
def test_mirror_swaps_left_and_right_groups(a, b):
    assert sorted(MIRROR_PERMUTATION[list(GROUPS[a])].tolist()) == list(GROUPS[b])


def test_mirror_pairs_specific_landmarks():
    pairs = {0: 16, 7: 9, 17: 26, 21: 22, 31: 35, 36: 45, 39: 42, 48: 54, 60: 64, 59: 55}
    for i, j in pairs.items():
        assert MIRROR_PERMUTATION[i] == j and MIRROR_PERMUTATION[j] == i


def test_mirrored_frontal_face_keeps_its_anatomical_sides():
    width = 201
    face = dan_mean_shape()[None] + [(width - 1) / 2, 120.0]    # symmetric face centred in the image
    mirrored = mirror_shapes(face, width)
    # the mean face is (nearly) symmetric, so a correct mirror maps it (nearly) onto itself
    np.testing.assert_allclose(mirrored, face, atol=0.5)
    for shape in (face[0], mirrored[0]):
        assert shape[36, 0] < shape[45, 0]                      # eye A corner left of eye B's
        assert shape[0, 0] < shape[8, 0] < shape[16, 0]          # jaw runs left to right
        assert shape[48, 0] < shape[54, 0]                      # mouth corners
        assert shape[GROUPS["eye_a"], 0].max() < shape[GROUPS["eye_b"], 0].min()


def test_mirror_reflects_x_in_the_pixel_frame_and_is_its_own_inverse(make_faces):
    shapes = make_faces(3, seed=2)
    widths = np.array([100, 120, 90])
    m = mirror_shapes(shapes, widths)
    np.testing.assert_allclose(m[:, 45, 0], widths - 1 - shapes[:, 36, 0])
    np.testing.assert_allclose(m[:, 45, 1], shapes[:, 36, 1])
    np.testing.assert_allclose(mirror_shapes(m, widths), shapes, atol=1e-12)
    # a single (68, 2) shape with a scalar width works too
    np.testing.assert_allclose(mirror_shapes(shapes[0], 100), m[0])
