"""Getting faces into DAN's frame, and the protocol's training augmentation, batched in torch.

* :func:`warp_to_frames` crops variable-size uint8 images into fixed frames with one
  ``grid_sample`` call (the per-image Python work is only slicing the region each face
  needs, with an integer box-filter when the frame is much smaller than the face).
* Training images are first put on *canvases*: ``(2 S) x (2 S)`` crops at frame
  resolution around the ground-truth-box initialisation, held in memory as uint8 on
  the training device. Mirroring and the 10 similarity perturbations per image
  (translation ``N(0, 0.2 x mean-shape width/height)``, rotation ``N(0, 20 deg)``, scale
  ``N(1, 0.25)``) are then applied to whole batches on the device.

The translation has two readings (``docs/protocol.md``): ``"released"`` (the default, what
produced the paper's numbers) draws it in *original-photo pixels*, sigma = 0.2 x the mean
shape's size in the 112-px frame (about 11 px), so relative to the face it is small and
depends on the photo's resolution; ``"face"`` (the paper's text) draws it as 0.2 x the
face's own size.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import torch

from faceeval.plugin import geometry as G
from .geometry_torch import apply_affine, estimate_similarity, similarity_matrix, warp_affine
from faceeval.plugin import to_gray
from faceeval.plugin import MIRROR_PERMUTATION
from faceeval.plugin import dan_mean_shape

Tensor = torch.Tensor

#: Protocol perturbation sizes (translation is a fraction of the mean shape's width/height).
TRANSLATION_SIGMA = G.TRAIN_TRANSLATION_SIGMA
#: Readings of the translation perturbation: original-photo pixels (released code) or face size.
TRANSLATION_MODES = ("released", "face")
ROTATION_SIGMA_DEG = G.TRAIN_ROTATION_SIGMA_DEG
SCALE_SIGMA = G.TRAIN_SCALE_SIGMA


def frame_transforms(init_shapes: np.ndarray, frame_shape: np.ndarray) -> np.ndarray:
    """Similarities ``(N, 2, 3)`` (image -> frame) taking each initial shape onto the frame's mean shape."""
    return G.estimate_similarity(np.asarray(init_shapes, dtype=np.float64), frame_shape)


def box_initialisation(boxes: np.ndarray) -> np.ndarray:
    """The protocol's initial shapes ``(N, 68, 2)``: the DAN mean shape fitted to each box."""
    return G.fit_shape_to_boxes(dan_mean_shape(), np.asarray(boxes, dtype=np.float64).reshape(-1, 4))


def warp_to_frames(images: Sequence[np.ndarray], matrices: np.ndarray, size: int,
                   device: str | torch.device = "cpu") -> Tensor:
    """Grey frames ``(N, 1, size, size)`` float32 (0..255) of ``images`` warped by ``matrices``
    (``(N, 2, 3)``, image pixels -> frame pixels), bilinear, zeros outside the image.

    Each image contributes only the region its frame covers; where a frame pixel spans
    ``k >= 2`` image pixels, that region is first box-filtered by ``k`` (exact bookkeeping
    of pixel centres), which bounds memory and avoids aliasing.
    """
    m = np.asarray(matrices, dtype=np.float64).reshape(-1, 2, 3)
    n = len(images)
    if m.shape[0] != n:
        raise ValueError(f"{n} images but {m.shape[0]} transforms")
    if n == 0:
        return torch.zeros(0, 1, size, size, device=device)
    inv = G.invert_affine(m)
    corners = np.array([[0, 0], [size - 1, 0], [0, size - 1], [size - 1, size - 1]], dtype=np.float64)
    pre = G.apply_affine(np.broadcast_to(corners, (n, 4, 2)), inv)
    k = np.maximum(1, np.floor(np.sqrt(np.abs(np.linalg.det(inv[:, :, :2]))))).astype(int)
    lo = np.floor(pre.min(axis=1)).astype(int) - 2 * k[:, None]
    hi = np.ceil(pre.max(axis=1)).astype(int) + 2 * k[:, None]
    crops, to_crop = [], np.zeros((n, 2, 3))
    for i, img in enumerate(images):
        h, w = img.shape[:2]
        x0, y0 = max(lo[i, 0], 0), max(lo[i, 1], 0)
        x1, y1 = min(hi[i, 0], w), min(hi[i, 1], h)
        ki = int(k[i])
        if x1 - x0 < ki or y1 - y0 < ki:          # the frame lies outside the image
            crop = np.zeros((1, 1), np.float32)
            x0 = y0 = -10 ** 6
        else:
            x1, y1 = x0 + (x1 - x0) // ki * ki, y0 + (y1 - y0) // ki * ki
            crop = to_gray(img[y0:y1, x0:x1])
            if ki > 1:
                crop = crop.reshape(crop.shape[0] // ki, ki, crop.shape[1] // ki, ki).mean(axis=(1, 3))
        crops.append(crop)
        # crop pixel (u, v) has its centre at image pixel (k u + (k - 1)/2 + x0, ...)
        off = (ki - 1) / 2
        crop_to_img = np.array([[ki, 0, x0 + off], [0, ki, y0 + off]], dtype=np.float64)
        to_crop[i] = np.concatenate([m[i, :, :2] @ crop_to_img[:, :2],
                                     (m[i, :, :2] @ crop_to_img[:, 2] + m[i, :, 2])[:, None]], axis=1)
    hmax = max(c.shape[0] for c in crops)
    wmax = max(c.shape[1] for c in crops)
    batch = np.zeros((n, 1, hmax, wmax), np.float32)
    for i, c in enumerate(crops):
        batch[i, 0, :c.shape[0], :c.shape[1]] = c
    return warp_affine(torch.from_numpy(batch).to(device), torch.from_numpy(to_crop).float().to(device), size)


def mirror_batch(images: Tensor, shapes: Tensor) -> tuple[Tensor, Tensor]:
    """Mirror images ``(N, C, H, W)`` and their shapes ``(N, 68, 2)`` horizontally.

    ``x -> W - 1 - x`` and landmarks re-indexed by :data:`faceeval.landmarks.MIRROR_PERMUTATION`,
    so each keeps its anatomical label; an involution.
    """
    perm = torch.as_tensor(np.array(MIRROR_PERMUTATION), device=shapes.device)
    out = shapes[:, perm].clone()
    out[..., 0] = (images.shape[-1] - 1) - out[..., 0]
    return images.flip(-1), out


def sample_perturbations(n: int, generator: torch.Generator, frame_shape: np.ndarray,
                         translation: float = TRANSLATION_SIGMA, rotation_deg: float = ROTATION_SIGMA_DEG,
                         scale: float = SCALE_SIGMA) -> Tensor:
    """``(n, 4)`` = (dx, dy, angle rad, scale) drawn as the protocol (scale clipped to >= 0.2)."""
    size = np.ptp(frame_shape, axis=0)
    z = torch.randn(n, 4, generator=generator, dtype=torch.float64)
    out = torch.empty(n, 4, dtype=torch.float64)
    out[:, 0] = z[:, 0] * translation * size[0]
    out[:, 1] = z[:, 1] * translation * size[1]
    out[:, 2] = z[:, 2] * math.radians(rotation_deg)
    out[:, 3] = (1 + z[:, 3] * scale).clamp(min=0.2)
    return out.float()


class Canvases:
    """Training faces held in memory on the device, ready for batched augmentation.

    ``images`` uint8 ``(M, 1, C, C)``, ``shapes`` ``(M, 68, 2)`` ground truth in canvas
    pixels; the initial (gt-box) shape of every face sits on ``canvas_shape`` =
    the frame's mean shape centred in the canvas, at frame resolution.
    """

    def __init__(self, images: Sequence[np.ndarray], ground_truth: np.ndarray, frame_shape: np.ndarray,
                 frame_size: int, device: str | torch.device = "cpu", zoom: int = 2, chunk: int = 256,
                 translation: str = "face", photo_scales: np.ndarray | None = None):
        if translation not in TRANSLATION_MODES:
            raise ValueError(f"translation must be one of {TRANSLATION_MODES}, got {translation!r}")
        self._frame(frame_shape, frame_size, zoom * frame_size)
        gt = np.asarray(ground_truth, dtype=np.float64)
        init = box_initialisation(G.shape_boxes(gt))
        m = frame_transforms(init, self.canvas_shape)
        parts = [warp_to_frames(images[i:i + chunk], m[i:i + chunk], self.size).round_().clamp_(0, 255)
                 .to(torch.uint8) for i in range(0, len(images), chunk)]
        # Per face, the factor applied to the frame-pixel translation draws: 1 for "face";
        # canvas pixels per original-photo pixel for "released".
        scale = np.ones(len(gt))
        if translation == "released":
            canvas_per_image = np.sqrt(np.abs(np.linalg.det(m[:, :, :2])))
            photo = np.ones(len(gt)) if photo_scales is None else np.asarray(photo_scales, dtype=np.float64)
            scale = canvas_per_image * photo
        self._hold(torch.cat(parts), G.apply_affine(gt, m), scale, device)

    @classmethod
    def from_arrays(cls, images: np.ndarray | Tensor, shapes: np.ndarray, translation_scale: np.ndarray,
                    frame_shape: np.ndarray, frame_size: int, device: str | torch.device = "cpu") -> "Canvases":
        """Canvases made earlier (e.g. read from a training pack): uint8 ``(M, 1, C, C)``, shapes in
        canvas pixels ``(M, 68, 2)`` and the per-face translation factor ``(M,)``."""
        self = cls.__new__(cls)
        images = torch.as_tensor(images)
        self._frame(frame_shape, frame_size, int(images.shape[-1]))
        self._hold(images, shapes, translation_scale, device)
        return self

    def _frame(self, frame_shape: np.ndarray, frame_size: int, size: int) -> None:
        """The canvas geometry: the frame's mean shape centred in a ``size`` canvas."""
        self.frame_size, self.size = frame_size, size
        self.frame_shape = np.asarray(frame_shape, dtype=np.float64)
        self.canvas_shape = self.frame_shape - (frame_size - 1) / 2 + (size - 1) / 2

    def _hold(self, images: Tensor, shapes: np.ndarray, translation_scale: np.ndarray, device) -> None:
        self.device = torch.device(device)
        self.images = images.to(torch.uint8).to(self.device)
        self.shapes = torch.as_tensor(np.asarray(shapes), dtype=torch.float32, device=self.device)
        self.translation_scale = torch.as_tensor(np.asarray(translation_scale), dtype=torch.float32,
                                                 device=self.device)
        self._canvas_shape_t = torch.as_tensor(self.canvas_shape, dtype=torch.float32, device=self.device)
        self._frame_shape_t = torch.as_tensor(self.frame_shape, dtype=torch.float32, device=self.device)

    def __len__(self) -> int:
        return self.images.shape[0]

    def batch(self, index: Tensor, mirror: Tensor, perturb: Tensor) -> tuple[Tensor, Tensor]:
        """Frames ``(B, 1, S, S)`` float32 and ground truth ``(B, 68, 2)`` in frame pixels for
        faces ``index``, mirrored where ``mirror``, initial shape perturbed by ``perturb`` (B, 4)."""
        dev = self.device
        index, mirror, perturb = index.to(dev), mirror.to(dev), perturb.to(dev)
        img = self.images[index].float()
        gt = self.shapes[index]
        if bool(mirror.any()):
            mi, ms = mirror_batch(img, gt)
            img = torch.where(mirror[:, None, None, None], mi, img)
            gt = torch.where(mirror[:, None, None], ms, gt)
        c = self._canvas_shape_t.mean(0)
        shift = perturb[:, :2] * self.translation_scale[index][:, None]
        p = similarity_matrix(perturb[:, 3], perturb[:, 2], c[0] + shift[:, 0], c[1] + shift[:, 1])
        init = apply_affine(self._canvas_shape_t - c, p)                        # perturbed initial shapes
        t = estimate_similarity(init, self._frame_shape_t)                       # canvas -> frame
        return warp_affine(img, t, self.frame_size), apply_affine(gt, t)


@dataclass(frozen=True)
class Photometric:
    """Photometric and occlusion augmentation of training frames, each off at 0.

    ``brightness``: add U(-b, b) x 255; ``contrast``: scale about the frame's mean by U(1-c, 1+c);
    ``gamma``: ``255 (x/255)^g`` with ``log g ~ U(-γ, γ)``; ``blur``: with probability 1/3, a
    Gaussian of sigma U(0, blur) px; ``noise``: Gaussian noise of sigma U(0, noise) grey levels;
    ``erase``: with this probability, one rectangle of 2-20 % of the frame (aspect 1/2-2) filled
    with a uniform random grey level (occlusion).
    """

    brightness: float = 0.0
    contrast: float = 0.0
    gamma: float = 0.0
    blur: float = 0.0
    noise: float = 0.0
    erase: float = 0.0

    def __post_init__(self):
        for name, value in asdict(self).items():
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.erase > 1:
            raise ValueError(f"erase is a probability (0..1), got {self.erase!r}")
        if self.contrast >= 1:
            raise ValueError(f"contrast must be below 1 (a factor U(1-c, 1+c)), got {self.contrast!r}")

    @property
    def active(self) -> bool:
        return any(v > 0 for v in asdict(self).values())


def _gaussian_blur(frames: Tensor, sigma: Tensor) -> Tensor:
    """Blur each frame ``(B, 1, S, S)`` by its own Gaussian ``sigma`` (B,) px (separable, reflect-padded)."""
    radius = max(1, int(math.ceil(3 * float(sigma.max()))))
    x = torch.arange(-radius, radius + 1, dtype=frames.dtype, device=frames.device)
    k = torch.exp(-0.5 * (x[None, :] / sigma.clamp(min=1e-3)[:, None]) ** 2)
    k = k / k.sum(1, keepdim=True)                                              # (B, K)
    b = frames.shape[0]
    padded = torch.nn.functional.pad(frames, (radius, radius, radius, radius), mode="reflect")
    # grouped convolution: one kernel per frame
    rows = torch.nn.functional.conv2d(padded.reshape(1, b, *padded.shape[2:]), k[:, None, None, :], groups=b)
    out = torch.nn.functional.conv2d(rows, k[:, None, :, None], groups=b)
    return out.reshape(frames.shape)


def photometric(frames: Tensor, spec: Photometric, generator: torch.Generator) -> Tensor:
    """``frames`` (B, 1, S, S) float, 0..255, augmented by ``spec`` with draws from ``generator``
    (CPU, so the same on every device); returns new frames clamped to 0..255."""
    if not spec.active:
        return frames
    b, s = frames.shape[0], frames.shape[-1]
    u = torch.rand(b, 10, generator=generator, dtype=torch.float64).to(frames.device, frames.dtype)
    x = frames
    if spec.contrast > 0:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = mean + (x - mean) * (1 + spec.contrast * (2 * u[:, 0] - 1)).view(b, 1, 1, 1)
    if spec.brightness > 0:
        x = x + (255 * spec.brightness * (2 * u[:, 1] - 1)).view(b, 1, 1, 1)
    if spec.gamma > 0:
        g = torch.exp(spec.gamma * (2 * u[:, 2] - 1)).view(b, 1, 1, 1)
        x = 255 * (x.clamp(0, 255) / 255) ** g
    if spec.blur > 0:
        sigma = spec.blur * u[:, 4]
        chosen = (u[:, 3] < 1 / 3) & (sigma > 0.2)
        if bool(chosen.any()):
            x = x.clone()
            x[chosen] = _gaussian_blur(x[chosen], sigma[chosen])
    if spec.noise > 0:
        z = torch.randn(x.shape, generator=generator, dtype=torch.float32).to(x.device, x.dtype)
        x = x + z * (spec.noise * u[:, 5]).view(b, 1, 1, 1)
    if spec.erase > 0:
        area = (0.02 + 0.18 * u[:, 7]) * s * s
        aspect = torch.exp(math.log(2) * (2 * u[:, 8] - 1))
        h = (area * aspect).sqrt().clamp(1, s)
        w = (area / aspect).sqrt().clamp(1, s)
        pos = torch.rand(b, 2, generator=generator, dtype=torch.float64).to(x.device, x.dtype)
        y0, x0 = pos[:, 0] * (s - h), pos[:, 1] * (s - w)
        grid = torch.arange(s, device=x.device, dtype=x.dtype)
        inside = ((grid[None, :, None] >= y0[:, None, None]) & (grid[None, :, None] < (y0 + h)[:, None, None])
                  & (grid[None, None, :] >= x0[:, None, None]) & (grid[None, None, :] < (x0 + w)[:, None, None]))
        inside = inside & (u[:, 6] < spec.erase)[:, None, None]
        fill = (255 * u[:, 9]).view(b, 1, 1).expand(b, s, s)
        x = torch.where(inside[:, None], fill[:, None], x)
    return x.clamp(0, 255)
