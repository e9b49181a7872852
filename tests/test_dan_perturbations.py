"""DAN's training perturbations against the protocol (shared/docs/protocol.md, "Initialisation"
and "Released training code"): translation ~ N(0, 0.2 x the frame-scaled mean shape's width /
height), rotation ~ N(0, 20 deg), scale ~ N(1, 0.25); the released code's translation is in
original-photo pixels. The draws are checked by their sample means and spreads, and the
training batches by recovering, face by face, the perturbation they applied."""
from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import needs_extra_module

needs_extra_module("dan")

import torch

from faceeval.geometry import estimate_similarity, shape_boxes
from faceeval.resources import dan_mean_shape
from faceeval_methods.dan.augment import Canvases, sample_perturbations
from faceeval_methods.dan.config import frame_mean_shape

N = 40_000


def _frame_size_by_hand() -> np.ndarray:
    """Width and height of the DAN mean shape scaled so its larger side is 112 x (1 - 2 x 0.25) = 56 px."""
    extent = np.ptp(dan_mean_shape(), axis=0)
    return extent * 56 / extent.max()


def test_drawn_perturbations_have_the_protocols_means_and_spreads():
    frame = frame_mean_shape(112, 0.25)
    size = _frame_size_by_hand()
    np.testing.assert_allclose(np.ptp(frame, axis=0), size, rtol=1e-12)
    p = sample_perturbations(N, torch.Generator().manual_seed(0), frame).double().numpy()
    expected = {"dx (frame px)": (0.0, 0.2 * size[0]), "dy (frame px)": (0.0, 0.2 * size[1]),
                "angle (rad)": (0.0, math.radians(20)), "scale": (1.0, 0.25)}
    for column, (name, (mean, sd)) in enumerate(expected.items()):
        values = p[:, column]
        # 4 standard errors: the sample mean's is sd / sqrt(N), the sample spread's about sd / sqrt(2N)
        assert abs(values.mean() - mean) < 4 * sd / math.sqrt(N), name
        assert abs(values.std() - sd) < 4 * sd / math.sqrt(2 * N), name
    assert p[:, 3].min() >= 0.2                       # the scale is clipped, never flips the face


@pytest.fixture(scope="module")
def faces(builtin):
    return [s.load_image() for s in builtin.samples], builtin.ground_truth


def _applied(canvases: Canvases, index: torch.Tensor, perturb: torch.Tensor) -> np.ndarray:
    """``(n, 4)`` (shift x, shift y in canvas px, angle, scale) that the batches applied, recovered from
    the ground truth of perturbed and unperturbed batches: with fc the frame's centroid,
    gt_p = R(-angle) (gt_0 - fc - shift) / scale + fc."""
    no_mirror = torch.zeros(len(index), dtype=torch.bool)
    identity = torch.tensor([[0.0, 0.0, 0.0, 1.0]]).repeat(len(index), 1)
    _, gt0 = canvases.batch(index, no_mirror, identity)
    _, gtp = canvases.batch(index, no_mirror, perturb)
    q = estimate_similarity(gt0.double().numpy(), gtp.double().numpy())         # gt_0 -> gt_p
    inv_scale = np.sqrt(np.abs(np.linalg.det(q[:, :, :2])))
    angle = -np.arctan2(q[:, 1, 0], q[:, 0, 0])
    scale = 1 / inv_scale
    fc = canvases.frame_shape.mean(axis=0)
    moved = np.einsum("nij,j->ni", q[:, :, :2], fc) + q[:, :, 2] - fc             # Q(fc) - fc
    rot = np.stack([np.stack([np.cos(angle), -np.sin(angle)], -1), np.stack([np.sin(angle), np.cos(angle)], -1)], 1)
    shift = -scale[:, None] * np.einsum("nij,nj->ni", rot, moved)
    return np.column_stack([shift, angle, scale])


@pytest.mark.parametrize("mode", ["face", "released"])
def test_training_batches_apply_the_drawn_perturbation(faces, mode):
    images, gt = faces
    frame = frame_mean_shape(112, 0.25)
    canvases = Canvases(images, gt, frame, 112, translation=mode)
    n = 64
    perturb = sample_perturbations(n, torch.Generator().manual_seed(1), frame)
    index = torch.arange(n) % len(images)
    applied = _applied(canvases, index, perturb)
    p = perturb.double().numpy()
    np.testing.assert_allclose(applied[:, 3], p[:, 3], rtol=2e-4)
    np.testing.assert_allclose(applied[:, 2], p[:, 2], atol=2e-4)
    if mode == "face":                     # in the face's frame: canvas pixels are frame pixels
        per_px = np.ones(len(images))
    else:                                  # in the photo's pixels: canvas px per image px, by hand
        t = dan_mean_shape()
        t_size = np.ptp(t, axis=0)
        box = shape_boxes(gt)
        box_scale = ((box[:, 2] - box[:, 0]) / t_size[0] + (box[:, 3] - box[:, 1]) / t_size[1]) / 2
        per_px = (56 / t_size.max()) / box_scale
        assert np.ptp(per_px) > 0.1                     # the faces differ in size: the modes differ
    scale = per_px[index.numpy()][:, None]
    np.testing.assert_allclose(applied[:, :2] / scale, p[:, :2], atol=2e-3 * np.abs(p[:, :2]).max())


def test_training_options_widen_or_narrow_the_rotation_and_scale_draws():
    """``--rotation`` and ``--scale`` set the spreads of the epoch's draws (the translation's stays
    the protocol's); out-of-range values are refused before any work."""
    from faceeval.errors import OptionError
    from faceeval_methods.dan.train import TrainOptions, sample_set

    frame = frame_mean_shape(112, 0.25)
    size = _frame_size_by_hand()
    opts = TrainOptions(augment="fresh", rotation=40.0, scale=0.1)
    _, _, p = sample_set(opts, 2000, 0, 0, frame)
    p = p.double().numpy()
    n = len(p)
    assert n == 2000 * 20
    for column, sd in ((0, 0.2 * size[0]), (2, math.radians(40)), (3, 0.1)):
        assert abs(p[:, column].std() - sd) < 4 * sd / math.sqrt(2 * n), column
    assert abs(p[:, 3].mean() - 1) < 4 * 0.1 / math.sqrt(n)
    for bad in ({"rotation": -1.0}, {"rotation": 200.0}, {"scale": 1.5}, {"scale": float("nan")}):
        with pytest.raises(OptionError, match="--rotation"):
            TrainOptions(**bad)
