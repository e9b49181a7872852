"""Batched, differentiable 2-D geometry in torch: the twin of :mod:`faceeval.geometry`.

Same conventions as the numpy module: shapes are ``(N, P, 2)`` of ``(x, y)`` in 0-based
pixels, transforms are affine matrices ``(N, 2, 3)`` acting on column vectors
``[x, y, 1]``. Every function works on any float dtype/device and keeps the autograd
graph, so DAN's connection layers are built from these. The test-suite checks each
function against its numpy counterpart.

>>> import torch
>>> src = torch.tensor([[[0., 0.], [1., 0.], [0., 1.]]])
>>> m = similarity_matrix(torch.tensor([2.]), torch.tensor([0.]), torch.tensor([1.]), torch.tensor([0.]))
>>> torch.allclose(estimate_similarity(src, apply_affine(src, m)), m, atol=1e-6)
True
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

Tensor = torch.Tensor

__all__ = ["shape_boxes", "fit_shape_to_boxes", "estimate_similarity", "apply_affine", "invert_affine",
           "compose_affine", "similarity_matrix", "warp_affine"]


def shape_boxes(shapes: Tensor) -> Tensor:
    """Tight boxes ``[x_min, y_min, x_max, y_max]`` ``(N, 4)`` around each shape ``(N, P, 2)``."""
    return torch.cat([shapes.amin(dim=-2), shapes.amax(dim=-2)], dim=-1)


def fit_shape_to_boxes(template: Tensor, boxes: Tensor) -> Tensor:
    """Place a template ``(P, 2)`` in each box ``(N, 4)`` (the protocol's box initialisation).

    Scale = mean of (box width / template width, box height / template height); the
    template's box centre goes to the box centre. See :func:`faceeval.geometry.fit_shape_to_boxes`.
    """
    boxes = boxes.reshape(-1, 4).to(template.dtype)
    t_min, t_max = template.amin(dim=0), template.amax(dim=0)
    t_size, t_centre = t_max - t_min, (t_min + t_max) / 2
    b_size = boxes[:, 2:] - boxes[:, :2]
    b_centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    scale = (b_size / t_size).mean(dim=1)
    return (template - t_centre)[None] * scale[:, None, None] + b_centre[:, None, :]


def estimate_similarity(src: Tensor, dst: Tensor) -> Tensor:
    """Least-squares similarity mapping ``src`` onto ``dst`` (both ``(N, P, 2)`` or ``(P, 2)``).

    Closed form on centred points: ``a = sum(s.d)/|s|^2``, ``b = sum(s x d)/|s|^2``, linear
    part ``[[a, -b], [b, a]]``. Returns ``(N, 2, 3)``; differentiable in both arguments.
    """
    if src.dim() == 2:
        src = src[None]
    if dst.dim() == 2:
        dst = dst[None]
    src, dst = torch.broadcast_tensors(src, dst)
    mu_s, mu_d = src.mean(dim=1), dst.mean(dim=1)
    s, d = src - mu_s[:, None], dst - mu_d[:, None]
    norm = (s * s).sum(dim=(1, 2))
    a = (s * d).sum(dim=(1, 2)) / norm
    b = (s[..., 0] * d[..., 1] - s[..., 1] * d[..., 0]).sum(dim=1) / norm
    lin = torch.stack([torch.stack([a, -b], -1), torch.stack([b, a], -1)], -2)      # (N, 2, 2)
    t = mu_d - (lin @ mu_s[..., None])[..., 0]
    return torch.cat([lin, t[..., None]], dim=-1)


def apply_affine(shapes: Tensor, matrices: Tensor) -> Tensor:
    """Apply ``(N, 2, 3)`` (or one ``(2, 3)``) affine matrices to shapes ``(N, P, 2)``."""
    return shapes @ matrices[..., :, :2].transpose(-1, -2) + matrices[..., None, :, 2]


def invert_affine(matrices: Tensor) -> Tensor:
    """Inverse of ``(..., 2, 3)`` affine matrices (closed-form 2x2 inverse, batched)."""
    a, b = matrices[..., 0, 0], matrices[..., 0, 1]
    c, d = matrices[..., 1, 0], matrices[..., 1, 1]
    det = a * d - b * c
    lin = torch.stack([torch.stack([d, -b], -1), torch.stack([-c, a], -1)], -2) / det[..., None, None]
    t = -(lin @ matrices[..., :, 2:])
    return torch.cat([lin, t], dim=-1)


def compose_affine(outer: Tensor, inner: Tensor) -> Tensor:
    """The affine map ``x -> outer(inner(x))`` as ``(..., 2, 3)``."""
    lin = outer[..., :, :2] @ inner[..., :, :2]
    t = (outer[..., :, :2] @ inner[..., :, 2:])[..., 0] + outer[..., :, 2]
    return torch.cat([lin, t[..., None]], dim=-1)


def similarity_matrix(scale: Tensor, angle: Tensor, tx: Tensor, ty: Tensor) -> Tensor:
    """Affine matrices ``(N, 2, 3)`` from scale, angle (radians, counter-clockwise in x-y) and translation."""
    scale, angle, tx, ty = torch.broadcast_tensors(*(torch.as_tensor(v).reshape(-1) for v in (scale, angle, tx, ty)))
    c, s = scale * torch.cos(angle), scale * torch.sin(angle)
    return torch.stack([torch.stack([c, -s, tx], -1), torch.stack([s, c, ty], -1)], -2)


def warp_affine(images: Tensor, matrices: Tensor, size: int | tuple[int, int],
                padding_mode: str = "zeros") -> Tensor:
    """Warp images ``(N, C, H, W)`` by affine maps ``(N, 2, 3)`` from input to output pixels.

    Output pixel ``(x, y)`` (0-based, ``size`` = ``(height, width)`` or one int) takes the
    bilinear sample of the input at ``matrices^-1 (x, y)``; outside is 0 (``padding_mode``).
    Like ``cv2.warpAffine`` with its forward matrix; differentiable in images and matrices.
    """
    h_out, w_out = (size, size) if isinstance(size, int) else size
    n, _, h_in, w_in = images.shape
    inv = invert_affine(matrices.to(torch.float32))                           # output -> input pixels
    # Fold the pixel -> [-1, 1] normalisations (align_corners=True) into one matrix per image.
    dev, dt = inv.device, inv.dtype
    out_px = torch.tensor([[(w_out - 1) / 2, 0, (w_out - 1) / 2],
                           [0, (h_out - 1) / 2, (h_out - 1) / 2],
                           [0, 0, 1]], device=dev, dtype=dt)                   # normalised -> pixels
    in_norm = torch.tensor([[2 / max(w_in - 1, 1), 0, -1],
                            [0, 2 / max(h_in - 1, 1), -1]], device=dev, dtype=dt)  # pixels -> normalised
    theta = in_norm @ torch.cat([inv, inv.new_tensor([0, 0, 1]).expand(n, 1, 3)], 1) @ out_px
    grid = F.affine_grid(theta, [n, 1, h_out, w_out], align_corners=True)
    return F.grid_sample(images, grid.to(images.dtype), mode="bilinear", padding_mode=padding_mode,
                         align_corners=True)
