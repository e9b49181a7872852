"""DAN's connection layers as batched, differentiable torch ops.

Between stages: the similarity ``T`` taking the current shape to the mean shape,
the input image warped by ``T``, the transformed landmarks drawn as a heatmap, and
the feature image from the previous stage's fc1.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .geometry_torch import apply_affine, estimate_similarity, invert_affine, warp_affine

Tensor = torch.Tensor


def _offsets(half: int, device) -> Tensor:
    r = torch.arange(-half, half + 1, device=device)
    return torch.stack(torch.meshgrid(r, r, indexing="xy"), -1).reshape(-1, 2)      # (K, 2) x, y


def landmark_heatmap(shapes: Tensor, size: int = 112, mode: str = "square", half: int = 8,
                     radius: float = 16.0) -> Tensor:
    """Heatmaps ``(N, 1, size, size)`` of landmarks ``(N, P, 2)`` (frame pixels).

    ``H(x, y) = 1 / (1 + min_i |(x, y) - s_i|)`` near the landmarks, 0 elsewhere.

    * ``"square"`` (the released implementation, protocol default): landmarks are clipped to
      ``[half, size - 1 - half]`` so each patch stays inside; each is drawn into the
      ``(2 half + 1)^2`` square of integer pixels at offsets ``-half..half`` from its integer
      pixel (``floor``), with the sub-pixel distance; the maximum is taken over landmarks.
    * ``"circle"`` (the paper's text): every pixel within ``radius`` of a landmark, no clipping.

    Built with one ``scatter_reduce(amax)``: no loop over images or landmarks.
    """
    n, p, _ = shapes.shape
    s = shapes.float()
    if mode == "square":
        s = s.clamp(float(half), float(size - 1 - half))
        k = half
    elif mode == "circle":
        k = int(torch.tensor(radius).ceil())
    else:
        raise ValueError(f"heatmap mode must be 'square' or 'circle', got {mode!r}")
    base = s.detach().floor()
    loc = base[:, :, None, :] + _offsets(k, s.device).to(s.dtype)                 # (N, P, K, 2)
    dist = (loc - s[:, :, None, :]).norm(dim=-1)
    val = 1.0 / (1.0 + dist)
    li = loc.long()
    if mode == "circle":
        keep = (dist <= radius) & (li >= 0).all(-1) & (li < size).all(-1)
        val = val * keep
        li = li.clamp(0, size - 1)
    idx = (li[..., 1] * size + li[..., 0]).reshape(n, -1)
    out = s.new_zeros(n, size * size).scatter_reduce(1, idx, val.reshape(n, -1), "amax", include_self=True)
    return out.view(n, 1, size, size)


class Connection(nn.Module):
    """Connection layers feeding stage ``t + 1`` from stage ``t``'s shape and fc1 output."""

    def __init__(self, fc1: int = 256, feature_size: int = 56, image_size: int = 112, heatmap: str = "square",
                 heatmap_half: int = 8, circle_radius: float = 16.0):
        super().__init__()
        self.feature = nn.Linear(fc1, feature_size * feature_size)
        self.feature_size, self.image_size = feature_size, image_size
        self.heatmap, self.heatmap_half, self.circle_radius = heatmap, heatmap_half, circle_radius

    def forward(self, image: Tensor, shape: Tensor, fc1: Tensor, mean_shape: Tensor
                ) -> tuple[Tensor, Tensor, Tensor]:
        """Return the next stage's input ``(N, 3, S, S)`` = [warped image, heatmap, feature image],
        ``T`` ``(N, 2, 3)`` (current shape -> mean shape) and ``T(shape)``; geometry in float32."""
        with torch.autocast(image.device.type, enabled=False):
            t = estimate_similarity(shape.float(), mean_shape.float())
            moved = apply_affine(shape.float(), t)
            warped = warp_affine(image.float(), t, self.image_size)
            heat = landmark_heatmap(moved, self.image_size, self.heatmap, self.heatmap_half, self.circle_radius)
        feat = F.relu(self.feature(fc1)).view(-1, 1, self.feature_size, self.feature_size)
        feat = F.interpolate(feat, scale_factor=2, mode="nearest")
        x = torch.cat([warped.to(feat.dtype), heat.to(feat.dtype), feat], dim=1)
        return x, t, moved


def untransform(shape_in_frame: Tensor, t: Tensor) -> Tensor:
    """``T^-1`` applied to shapes: back from the canonical frame of a stage."""
    return apply_affine(shape_in_frame, invert_affine(t))
