"""Numpy geometry: boxes, the protocol's box initialisation, similarity fits, affine helpers."""
import numpy as np
import pytest

from faceeval.geometry import (apply_affine, estimate_similarity, fit_shape_to_boxes, invert_affine, shape_boxes,
                               similarity_matrix)
from faceeval.resources import dan_mean_shape

RNG = np.random.default_rng(0)


def test_shape_boxes(make_faces):
    shapes = make_faces(4)
    boxes = shape_boxes(shapes)
    np.testing.assert_array_equal(boxes[:, :2], shapes.min(axis=1))
    np.testing.assert_array_equal(boxes[:, 2:], shapes.max(axis=1))
    assert shape_boxes(np.array([[1.0, 5.0], [3.0, 2.0]])).tolist() == [1.0, 2.0, 3.0, 5.0]


def test_fit_shape_to_boxes_matches_the_protocol_formula():
    # protocol: scale = mean(box w / shape w, box h / shape h); shape's box centre on the box centre
    mean = dan_mean_shape()
    boxes = np.array([[10.0, 20.0, 110.0, 140.0], [-5.0, 3.0, 45.0, 40.0]])
    got = fit_shape_to_boxes(mean, boxes)
    for box, shape in zip(boxes, got):
        w, h = box[2] - box[0], box[3] - box[1]
        sw, sh = np.ptp(mean[:, 0]), np.ptp(mean[:, 1])
        scale = (w / sw + h / sh) / 2
        centre_mean = (mean.min(axis=0) + mean.max(axis=0)) / 2
        expected = (mean - centre_mean) * scale + [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]
        np.testing.assert_allclose(shape, expected, rtol=0, atol=1e-12)
        fitted = shape_boxes(shape)
        np.testing.assert_allclose((fitted[:2] + fitted[2:]) / 2, (box[:2] + box[2:]) / 2, atol=1e-12)


def test_fit_shape_to_a_box_of_the_same_aspect_fills_it():
    mean = dan_mean_shape()
    box = shape_boxes(mean * 2.5 + 7)
    np.testing.assert_allclose(fit_shape_to_boxes(mean, box)[0], mean * 2.5 + 7, atol=1e-9)


def test_estimate_similarity_recovers_a_known_transform(make_faces):
    src = make_faces(5, seed=1)
    scale, angle = RNG.uniform(0.3, 3, 5), RNG.uniform(-np.pi, np.pi, 5)
    tx, ty = RNG.normal(0, 50, 5), RNG.normal(0, 50, 5)
    truth = similarity_matrix(scale, angle, tx, ty)
    dst = apply_affine(src, truth)
    np.testing.assert_allclose(estimate_similarity(src, dst), truth, atol=1e-9)
    # broadcast: one template against many shapes
    est = estimate_similarity(src[0], dst[:1].repeat(3, axis=0))
    assert est.shape == (3, 2, 3)
    np.testing.assert_allclose(est, np.repeat(truth[:1], 3, axis=0), atol=1e-9)


def test_estimate_similarity_is_the_least_squares_fit_under_noise(make_faces):
    src = make_faces(1, seed=3)[0]
    dst = apply_affine(src, similarity_matrix(1.5, 0.3, 4, -2)[0]) + RNG.normal(0, 0.5, src.shape)
    m = estimate_similarity(src, dst)[0]
    best = ((apply_affine(src, m) - dst) ** 2).sum()
    for delta in np.eye(4) * 1e-3:                     # any nearby similarity fits worse
        a, b = m[0, 0] + delta[0], m[1, 0] + delta[1]
        other = np.array([[a, -b, m[0, 2] + delta[2]], [b, a, m[1, 2] + delta[3]]])
        assert ((apply_affine(src, other) - dst) ** 2).sum() > best


def test_similarity_matrix_closed_form():
    m = similarity_matrix(2.0, np.pi / 2, 3.0, -1.0)
    np.testing.assert_allclose(m, [[[0, -2, 3], [2, 0, -1]]], atol=1e-15)
    np.testing.assert_allclose(apply_affine(np.array([[[1.0, 0.0]]]), m), [[[3.0, 1.0]]], atol=1e-15)


def test_invert_affine_round_trip(make_faces):
    shapes = make_faces(3, seed=4)
    m = similarity_matrix(RNG.uniform(0.5, 2, 3), RNG.uniform(-1, 1, 3), RNG.normal(0, 9, 3), RNG.normal(0, 9, 3))
    m[:, 0, 1] += 0.2                                  # a general affine, not only similarities
    back = apply_affine(apply_affine(shapes, m), invert_affine(m))
    np.testing.assert_allclose(back, shapes, atol=1e-9)
    np.testing.assert_allclose(apply_affine(shapes[0], m[0]), apply_affine(shapes[:1], m[:1])[0])


@pytest.mark.parametrize("n", [1, 7])
def test_fit_shape_to_boxes_batches(n):
    boxes = np.column_stack([RNG.uniform(0, 50, (n, 2)), RNG.uniform(100, 200, (n, 2))])
    assert fit_shape_to_boxes(dan_mean_shape(), boxes).shape == (n, 68, 2)
    assert fit_shape_to_boxes(dan_mean_shape(), boxes[0]).shape == (1, 68, 2)
