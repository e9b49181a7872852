"""faceeval_methods.dan.geometry_torch (DAN's torch geometry) against the numpy faceeval.geometry and closed-form cases."""
import numpy as np
import pytest
from conftest import needs_extra_module

needs_extra_module("dan")

import torch

from faceeval import geometry as G
from faceeval_methods.dan import geometry_torch as GT
from faceeval.resources import dan_mean_shape

RNG = np.random.default_rng(0)


def _t(a):
    return torch.as_tensor(np.asarray(a), dtype=torch.float64)


def _random_similarities(n):
    return G.similarity_matrix(RNG.uniform(0.3, 3, n), RNG.uniform(-np.pi, np.pi, n),
                               RNG.normal(0, 50, n), RNG.normal(0, 50, n))


def test_shape_boxes_and_box_fit_match_numpy():
    shapes = RNG.normal(0, 30, (5, 68, 2))
    np.testing.assert_allclose(GT.shape_boxes(_t(shapes)).numpy(), G.shape_boxes(shapes))
    boxes = np.column_stack([RNG.uniform(0, 50, (5, 2)), RNG.uniform(100, 300, (5, 2))])
    mean = dan_mean_shape()
    np.testing.assert_allclose(GT.fit_shape_to_boxes(_t(mean), _t(boxes)).numpy(),
                               G.fit_shape_to_boxes(mean, boxes), rtol=1e-12, atol=1e-9)


def test_estimate_similarity_recovers_known_transform_and_matches_numpy():
    src = dan_mean_shape()[None] + RNG.normal(0, 3, (6, 68, 2))
    m = _random_similarities(6)
    dst = G.apply_affine(src, m)
    est = GT.estimate_similarity(_t(src), _t(dst)).numpy()
    np.testing.assert_allclose(est, m, atol=1e-9)
    noisy = dst + RNG.normal(0, 2, dst.shape)
    np.testing.assert_allclose(GT.estimate_similarity(_t(src), _t(noisy)).numpy(),
                               G.estimate_similarity(src, noisy), atol=1e-9)
    # a single (P, 2) source broadcasts against a batch
    np.testing.assert_allclose(GT.estimate_similarity(_t(src[0]), _t(dst[:1])).numpy(), m[:1], atol=1e-9)


def test_apply_invert_compose_match_numpy_and_roundtrip():
    m = _random_similarities(4)
    pts = RNG.normal(0, 40, (4, 68, 2))
    np.testing.assert_allclose(GT.apply_affine(_t(pts), _t(m)).numpy(), G.apply_affine(pts, m), atol=1e-9)
    np.testing.assert_allclose(GT.invert_affine(_t(m)).numpy(), G.invert_affine(m), atol=1e-12)
    back = GT.apply_affine(GT.apply_affine(_t(pts), _t(m)), GT.invert_affine(_t(m)))
    np.testing.assert_allclose(back.numpy(), pts, atol=1e-9)
    m2 = _random_similarities(4)
    np.testing.assert_allclose(GT.apply_affine(_t(pts), GT.compose_affine(_t(m2), _t(m))).numpy(),
                               G.apply_affine(G.apply_affine(pts, m), m2), atol=1e-8)
    s, a, tx, ty = RNG.uniform(0.5, 2, 3), RNG.uniform(-3, 3, 3), RNG.normal(size=3), RNG.normal(size=3)
    np.testing.assert_allclose(GT.similarity_matrix(_t(s), _t(a), _t(tx), _t(ty)).numpy(),
                               G.similarity_matrix(s, a, tx, ty), atol=1e-12)


def test_similarity_fit_is_differentiable():
    src = _t(dan_mean_shape()[None] + RNG.normal(0, 3, (2, 68, 2))).requires_grad_()
    dst = _t(dan_mean_shape())
    assert torch.autograd.gradcheck(lambda s: GT.estimate_similarity(s, dst[:5]), (src[:, :5].detach().requires_grad_(),))
    GT.estimate_similarity(src, dst).sum().backward()
    assert torch.isfinite(src.grad).all() and src.grad.abs().sum() > 0


def test_warp_affine_integer_shift_and_landmark_consistency():
    img = torch.zeros(2, 1, 40, 50)
    img[0, 0, 10, 20] = 1.0     # (x=20, y=10)
    img[1, 0, 30, 5] = 1.0      # (x=5, y=30)
    m = torch.tensor(G.similarity_matrix([1, 1], [0, 0], [3, -2], [4, 1]), dtype=torch.float32)
    out = GT.warp_affine(img, m, (40, 50))
    assert out[0, 0, 14, 23] == pytest.approx(1.0) and out[1, 0, 31, 3] == pytest.approx(1.0)
    assert out.sum().item() == pytest.approx(2.0, abs=1e-4)
    # a rotation+scale: a bright pixel lands where apply_affine sends its coordinate
    m = torch.tensor(G.similarity_matrix([2.0], [np.pi / 2], [40.0], [0.0]), dtype=torch.float32)
    src = torch.zeros(1, 1, 20, 20)
    src[0, 0, 3, 7] = 1.0
    out = GT.warp_affine(src, m, 48)
    expect = GT.apply_affine(torch.tensor([[[7.0, 3.0]]]), m)[0, 0]
    yx = divmod(int(out[0, 0].argmax()), 48)
    assert (yx[1], yx[0]) == (round(float(expect[0])), round(float(expect[1])))


def test_warp_affine_matches_numpy_warp_image_inside():
    img = RNG.uniform(0, 255, (60, 80)).astype(np.float32)
    m = G.similarity_matrix([0.8], [0.35], [10.0], [-5.0])[0]        # input -> output pixels
    ref = G.warp_image(img, G.invert_affine(m), (50, 70))              # numpy takes output -> input
    got = GT.warp_affine(torch.from_numpy(img)[None, None], torch.tensor(m[None]), (50, 70))[0, 0].numpy()
    ys, xs = np.mgrid[0:50, 0:70]
    pre = G.apply_affine(np.stack([xs, ys], -1).reshape(1, -1, 2).astype(np.float64), G.invert_affine(m))[0]
    inside = ((pre[:, 0] > 1) & (pre[:, 0] < 78) & (pre[:, 1] > 1) & (pre[:, 1] < 58)).reshape(50, 70)
    assert inside.sum() > 1500
    np.testing.assert_allclose(got[inside], ref[inside], atol=1e-2)   # float32 grids
