"""DAN connection layers, model shapes, mirroring and cropping (fast, narrow models)."""
import numpy as np
import pytest
from conftest import needs_extra_module

needs_extra_module("dan")

import torch

from faceeval import geometry as G
from faceeval.datasets import load_dataset
from faceeval_methods.dan.geometry_torch import apply_affine, estimate_similarity
from faceeval.landmarks import MIRROR_PERMUTATION
from faceeval_methods.dan.augment import Canvases, mirror_batch, warp_to_frames
from faceeval_methods.dan.config import DANConfig, frame_mean_shape
from faceeval_methods.dan.layers import Connection, landmark_heatmap, untransform
from faceeval_methods.dan.model import DANModel, alignment_loss

NARROW = (4, 8, 8, 16)
RNG = np.random.default_rng(1)


def _naive_heatmap(shape, size, mode, half=8, radius=16.0):
    """The protocol's heatmap, pixel by pixel, landmark by landmark."""
    h = np.zeros((size, size))
    for x, y in np.asarray(shape, dtype=np.float64):
        if mode == "square":
            x, y = np.clip(x, half, size - 1 - half), np.clip(y, half, size - 1 - half)
            px, py = int(x), int(y)
            for dy in range(-half, half + 1):
                for dx in range(-half, half + 1):
                    v = 1.0 / (1.0 + np.hypot(px + dx - x, py + dy - y))
                    h[py + dy, px + dx] = max(h[py + dy, px + dx], v)
        else:
            for yy in range(size):
                for xx in range(size):
                    d = np.hypot(xx - x, yy - y)
                    if d <= radius:
                        h[yy, xx] = max(h[yy, xx], 1.0 / (1.0 + d))
    return h


@pytest.mark.parametrize("mode", ["square", "circle"])
def test_heatmap_matches_formula_inside_patches_and_zero_outside(mode):
    size = 112
    pts = np.array([[30.3, 40.7], [33.9, 41.2], [80.5, 70.25], [2.2, 108.9], [111.0, 0.0], [56.0, 56.0]])
    got = landmark_heatmap(torch.tensor(pts[None], dtype=torch.float32), size, mode)[0, 0].double().numpy()
    ref = _naive_heatmap(pts, size, mode)
    np.testing.assert_allclose(got, ref, atol=1e-6)
    inside = ref > 0
    assert (got[~inside] == 0).all() and inside.sum() > 1000
    if mode == "square":          # 17x17 patches: the isolated landmark covers exactly 289 pixels
        single = landmark_heatmap(torch.tensor([[[56.4, 60.6]]]), size, mode)[0, 0]
        assert int((single > 0).sum()) == 289 and float(single.max()) == pytest.approx(1 / (1 + np.hypot(.4, .4)), rel=1e-5)  # nearest pixel (56, 61)


def test_heatmap_is_batched_and_differentiable():
    pts = torch.tensor(RNG.uniform(10, 100, (3, 68, 2)), dtype=torch.float32, requires_grad=True)
    h = landmark_heatmap(pts)
    assert h.shape == (3, 1, 112, 112)
    for i in range(3):
        np.testing.assert_allclose(h[i, 0].detach().numpy(), _naive_heatmap(pts[i].detach().numpy(), 112, "square"),
                                   atol=1e-6)
    h.sum().backward()
    assert torch.isfinite(pts.grad).all() and pts.grad.abs().sum() > 0


def test_connection_transform_recovers_similarity_and_inverse_is_identity():
    mean = torch.tensor(frame_mean_shape(), dtype=torch.float32)
    m = torch.tensor(G.similarity_matrix([1.3, 0.7], [0.4, -0.9], [5.0, -12.0], [3.0, 8.0]), dtype=torch.float32)
    shape = apply_affine(mean.expand(2, 68, 2), m)                      # mean shape moved by a known similarity
    conn = Connection()
    x, t, moved = conn(torch.rand(2, 1, 112, 112), shape, torch.rand(2, 256), mean)
    assert x.shape == (2, 3, 112, 112)
    inv = torch.tensor(G.invert_affine(m.double().numpy()), dtype=torch.float32)
    torch.testing.assert_close(t, inv, atol=1e-4, rtol=1e-4)          # T is the inverse of the known motion
    torch.testing.assert_close(moved, mean.expand(2, 68, 2), atol=1e-3, rtol=0)
    noisy = shape + torch.randn(2, 68, 2)
    t2 = estimate_similarity(noisy, mean)
    torch.testing.assert_close(untransform(apply_affine(noisy, t2), t2), noisy, atol=1e-3, rtol=0)  # T^-1 T = id
    # the warped image channel is the image resampled by T (a constant image stays constant inside)
    x, _, _ = conn(torch.full((2, 1, 112, 112), 3.0), shape, torch.rand(2, 256), mean)
    assert float(x[0, 0, 56, 56].detach()) == pytest.approx(3.0)


@pytest.mark.parametrize("stages", [1, 2, 3])
def test_forward_shapes_and_identity_start(stages):
    model = DANModel(DANConfig(stages=stages, widths=NARROW)).eval()
    frames = torch.rand(5, 1, 112, 112) * 255
    out = model(frames)
    assert len(out) == stages and all(o.shape == (5, 68, 2) for o in out)
    # fc2 starts at zero: every stage reproduces its input shape, stage 1 the mean shape
    for o in out:
        torch.testing.assert_close(o, model.mean_shape.expand(5, 68, 2), atol=1e-3, rtol=0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert model(frames)[-1].dtype == torch.float32


def test_stagewise_gradients_reach_only_the_trained_stage():
    model = DANModel(DANConfig(stages=2, widths=NARROW))
    for p in model.stages[0].parameters():
        torch.nn.init.normal_(p, std=0.05) if p.dim() > 1 else None
    model.train()
    model.stages[0].eval()
    gt = model.mean_shape + torch.randn(4, 68, 2)
    loss = alignment_loss(model(torch.rand(4, 1, 112, 112) * 255, 2, frozen=1)[-1], gt)
    loss.backward()
    assert all(p.grad is None for p in model.stages[0].parameters())
    assert model.stages[1].fc2.weight.grad.abs().sum() > 0
    assert model.connections[0].feature.weight.grad is not None


def test_mirror_twice_is_identity_and_keeps_anatomical_sides():
    ds = load_dataset("builtin")
    s = ds.samples[1]
    img = torch.tensor(s.load_image().astype(np.float32))
    img = img[None, None] if img.dim() == 2 else img.permute(2, 0, 1)[None]
    shape = torch.tensor(s.ground_truth[None], dtype=torch.float32)
    mi, ms = mirror_batch(img, shape)
    back_i, back_s = mirror_batch(mi, ms)
    assert torch.equal(back_i, img) and torch.allclose(back_s, shape)
    assert (np.asarray(MIRROR_PERMUTATION)[MIRROR_PERMUTATION] == np.arange(68)).all()
    w = img.shape[-1]
    # subject's right side (jaw 0-7, brow 17-21, eye 36-41) stays left of the left side in the image
    for a, b in [(0, 16), (17, 26), (36, 45), (39, 42), (31, 35), (48, 54)]:
        assert np.sign(float(shape[0, b, 0] - shape[0, a, 0])) == np.sign(float(ms[0, b, 0] - ms[0, a, 0])) != 0
    # pixels follow: the mirrored image at mirrored landmark i is the original at landmark perm[i]
    for i in (36, 45, 48, 8):
        x, y = ms[0, i].round().long().tolist()
        ox, oy = shape[0, MIRROR_PERMUTATION[i]].round().long().tolist()
        assert x == w - 1 - ox and torch.equal(mi[0, :, y, x], img[0, :, oy, ox])


def _dot_image(points, h, w, r=4):
    img = np.zeros((h, w), np.uint8)
    for x, y in np.round(points).astype(int):
        img[y - r:y + r + 1, x - r:x + r + 1] = 255
    return img


@pytest.mark.parametrize("scale", [1.6, 0.21])   # up-sampled face, and a large face box-filtered by 4
def test_warp_to_frames_puts_pixels_where_the_landmarks_go(scale):
    pts = np.array([[200.0, 150.0], [230.0, 160.0], [215.0, 185.0]])
    img = _dot_image(pts, 400, 500)
    m = G.similarity_matrix([scale], [0.3], [10.0], [-20.0])
    m[0, :, 2] += 56 - G.apply_affine(pts.mean(0)[None, None], m)[0, 0]   # centre the dots in the frame
    frames = warp_to_frames([img, np.stack([img] * 3, -1)], np.concatenate([m, m]), 112)
    assert frames.shape == (2, 1, 112, 112)
    torch.testing.assert_close(frames[0], frames[1], atol=0.6, rtol=0)   # grey == RGB of a grey image
    for x, y in G.apply_affine(pts[None], m)[0]:
        patch = frames[0, 0, int(round(y)) - 1:int(round(y)) + 2, int(round(x)) - 1:int(round(x)) + 2]
        assert float(patch.max()) > 100
    assert float(frames[0, 0, 5:20, 5:20].max()) == 0.0


def test_canvas_batches_are_consistent_with_their_ground_truth():
    pts = RNG.uniform(150, 350, (68, 2))
    img = _dot_image(pts[[8, 30, 36]], 500, 500)
    frame = frame_mean_shape()
    canv = Canvases([img], pts[None], frame, 112)
    n = 6
    perturb = torch.tensor([[0, 0, 0, 1], [5, -3, 0.3, 1.2], [-8, 4, -0.5, 0.8]] * 2, dtype=torch.float32)
    frames, gt = canv.batch(torch.zeros(n, dtype=torch.long), torch.tensor([0, 0, 0, 1, 1, 1], dtype=torch.bool),
                            perturb)
    assert frames.shape == (n, 1, 112, 112) and gt.shape == (n, 68, 2)
    for k in range(n):
        for i in (8, 30, 36):
            i = int(MIRROR_PERMUTATION[i]) if k >= 3 else i     # mirrored: the dot of 36 is now point 45
            x, y = gt[k, i].round().long().tolist()
            if 1 <= x < 111 and 1 <= y < 111:
                assert float(frames[k, 0, y - 1:y + 2, x - 1:x + 2].max()) > 60, (k, i)
    # mirrored samples with the same perturbation: the mirror landmark goes to the reflected place
    gt_m = gt[3]
    torch.testing.assert_close(gt[0, 8, 1], gt_m[8, 1], atol=0.5, rtol=0)


@pytest.mark.parametrize("mode", ["released", "face"])
def test_translation_perturbation_is_in_photo_pixels_or_face_size(mode):
    """The released code adds its translation (sigma ~11 px) in original-photo pixels, before
    cropping; the paper's text reads it as a fraction of the face. Planted case: the ground
    truth is the frame's mean shape scaled by k, so one canvas pixel is k image pixels, and
    the image is a crop at scale p of its photo (p image pixels per photo pixel)."""
    frame = frame_mean_shape()
    k, p = 3.0, 0.5
    gt = frame * k + 40.0
    img = np.zeros((600, 600), np.uint8)
    canv = Canvases([img], gt[None], frame, 112, translation=mode, photo_scales=np.array([p]))
    dx, dy = 6.0, -4.0
    perturb = torch.tensor([[0, 0, 0, 1], [dx, dy, 0, 1]], dtype=torch.float32)
    _, out = canv.batch(torch.zeros(2, dtype=torch.long), torch.zeros(2, dtype=torch.bool), perturb)
    # moving the initial shape by d canvas pixels moves the ground truth by -d in the frame
    expected = np.array([dx, dy]) * (p / k if mode == "released" else 1.0)
    shift = (out[0] - out[1]).double().numpy()
    np.testing.assert_allclose(shift, np.broadcast_to(expected, (68, 2)), atol=1e-3)


def test_canvases_refuse_an_unknown_translation_mode():
    with pytest.raises(ValueError, match="translation must be one of"):
        Canvases([np.zeros((50, 50), np.uint8)], frame_mean_shape()[None], frame_mean_shape(), 112,
                 translation="photo")


def test_later_stages_batch_normalise_their_input_and_old_configs_load_without():
    model = DANModel(DANConfig(stages=2, widths=NARROW))
    assert isinstance(model.stages[0].input_bn, torch.nn.Identity)       # grey frame: per-pixel normalised
    assert isinstance(model.stages[1].input_bn, torch.nn.BatchNorm2d)
    assert model.stages[1].input_bn.num_features == 3
    old = DANConfig(stages=2, widths=NARROW).to_dict()
    old.pop("input_bn")
    old["format_version"] = 1
    cfg = DANConfig.from_dict(old)
    assert cfg.input_bn is False
    assert isinstance(DANModel(cfg).stages[1].input_bn, torch.nn.Identity)
    with pytest.raises(ValueError, match="newer than this faceeval"):
        DANConfig.from_dict({**old, "format_version": 99})
