"""The Deep Alignment Network (Kowalski et al., CVPR-W 2017), Table 1, in torch.

Every stage sees a 112x112 frame in which the current shape estimate has been brought
onto the mean shape. Stage 1 sees the (normalised) input frame; stage ``t > 1`` sees
``[I warped by T_t, heatmap of T_t(S_{t-1}), feature image]`` and outputs
``S_t = T_t^-1(T_t(S_{t-1}) + dS_t)``. Shapes are in frame pixels throughout.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from faceeval.plugin import EYE_A, EYE_B

from .config import DANConfig, frame_mean_shape
from .layers import Connection, untransform

Tensor = torch.Tensor


def _conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class Stage(nn.Module):
    """One feed-forward stage: [input BN,] 4 x (conv3x3-BN-ReLU x2, maxpool 2), dropout, fc1 (256, BN, ReLU),
    fc2 (136). Stages 2+ normalise their 3-channel input with batch norm (released code, ``cfg.input_bn``)."""

    def __init__(self, in_channels: int, cfg: DANConfig):
        super().__init__()
        self.input_bn = nn.BatchNorm2d(in_channels) if in_channels > 1 and cfg.input_bn else nn.Identity()
        layers, c = [], in_channels
        for w in cfg.widths:
            layers += _conv_bn_relu(c, w) + _conv_bn_relu(w, w) + [nn.MaxPool2d(2)]
            c = w
        self.features = nn.Sequential(*layers)
        self.image_size = cfg.image_size
        flat = c * (cfg.image_size // 2 ** len(cfg.widths)) ** 2
        self.dropout = nn.Dropout(cfg.dropout)
        self.fc1 = nn.Linear(flat, cfg.fc1, bias=False)
        self.bn1 = nn.BatchNorm1d(cfg.fc1)
        self.fc2 = nn.Linear(cfg.fc1, 136)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        # Start as the identity update: a new stage first reproduces its input shape.
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = torch.flatten(self.features(self.input_bn(x)), 1)
        fc1 = F.relu(self.bn1(self.fc1(self.dropout(h))))
        with torch.autocast(x.device.type, enabled=False):     # the update in float32: it is added to pixels
            delta = self.fc2(fc1.float()).view(-1, 68, 2)
        return delta, fc1


class DANModel(nn.Module):
    """The whole network; ``forward(frames)`` returns the shape after each stage.

    ``frames`` are ``(N, 1, S, S)`` grey frames in 0..255 in which the initial shape is
    the mean shape (see :mod:`faceeval_methods.dan.augment`); normalisation by the stored per-pixel
    mean/std happens inside, so a weights file is self-contained.
    """

    def __init__(self, cfg: DANConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or DANConfig()
        s = cfg.image_size
        self.register_buffer("mean_shape", torch.tensor(frame_mean_shape(s, cfg.frame_fraction), dtype=torch.float32))
        self.register_buffer("norm_mean", torch.zeros(1, s, s))
        self.register_buffer("norm_std", torch.ones(1, s, s))
        self.stages = nn.ModuleList([Stage(1 if i == 0 else 3, cfg) for i in range(cfg.stages)])
        self.connections = nn.ModuleList([
            Connection(cfg.fc1, cfg.feature_size, s, cfg.heatmap, cfg.heatmap_half, cfg.circle_radius)
            for _ in range(cfg.stages - 1)])

    def normalise(self, frames: Tensor) -> Tensor:
        return (frames - self.norm_mean) / self.norm_std

    def _image(self, frames: Tensor) -> Tensor:
        image = self.normalise(frames.float())
        first = self.stages[0]
        channels_last = getattr(first, "channels_last", None)   # fused stages say so (see .fused)
        if channels_last is None:
            w = first.features[3].weight                       # the 64x64 conv: its layout is unambiguous
            channels_last = w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
        if channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        return image

    def _stages(self, image: Tensor, first: int, last: int, frozen: int, shape, fc1):
        """Yield ``(shape, fc1)`` after each stage ``first..last-1`` (0-based)."""
        for t in range(first, last):
            with torch.set_grad_enabled(torch.is_grad_enabled() and t >= frozen):
                if t == 0:
                    delta, fc1 = self.stages[0](image)
                    shape = self.mean_shape + delta
                else:
                    x, tr, moved = self.connections[t - 1](image, shape, fc1, self.mean_shape)
                    delta, fc1 = self.stages[t](x)
                    with torch.autocast(image.device.type, enabled=False):
                        shape = untransform(moved + delta, tr)
            yield shape, fc1

    def forward(self, frames: Tensor, n_stages: int | None = None, frozen: int = 0,
                start: tuple[Tensor, Tensor] | None = None) -> list[Tensor]:
        """Shapes ``(N, 68, 2)`` after stages ``1..n_stages`` (default all).

        The first ``frozen`` stages run without autograd (stage-wise training). With
        ``start = (shape, fc1)``, the outputs of stage ``frozen`` computed earlier (see
        :meth:`frozen_outputs`), the frozen stages are skipped and their entries are ``None``.
        """
        n_stages = n_stages or self.cfg.stages
        image = self._image(frames)
        if start is None:
            return [s for s, _ in self._stages(image, 0, n_stages, frozen, None, None)]
        if frozen < 1:
            raise ValueError("start= needs frozen >= 1 (it replaces the frozen stages)")
        return [None] * frozen + [s for s, _ in self._stages(image, frozen, n_stages, frozen, *start)]

    def frozen_outputs(self, frames: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """``(shape, fc1)`` after the first ``k`` stages: what a cache of frozen stages holds."""
        out = None
        for out in self._stages(self._image(frames), 0, k, k, None, None):
            pass
        return out

    def stage_parameters(self, t: int) -> list[nn.Parameter]:
        """Parameters trained when stage ``t`` (1-based) is added: the stage and its connection."""
        params = list(self.stages[t - 1].parameters())
        if t > 1:
            params += list(self.connections[t - 2].parameters())
        return params


def pupil_distance(shapes: Tensor) -> Tensor:
    """Inter-pupil distance ``(N,)``: eye centres = means of the points of each eye
    (:data:`faceeval.landmarks.EYE_A` and ``EYE_B``, 36-41 and 42-47)."""
    return (shapes[:, EYE_A].mean(1) - shapes[:, EYE_B].mean(1)).norm(dim=-1)


def alignment_loss(pred: Tensor, gt: Tensor) -> Tensor:
    """DAN's loss: mean point error / inter-pupil distance of the ground truth, averaged over the batch."""
    return ((pred.float() - gt.float()).norm(dim=-1).mean(dim=1) / pupil_distance(gt.float())).mean()



def fold_batchnorm(model: DANModel) -> DANModel:
    """A copy of ``model`` for inference with every BatchNorm folded into the conv/linear before it.

    Exact up to float rounding (uses the running statistics, i.e. eval mode); saves a pass
    over every activation map (about 10% of a CPU forward). The copy cannot be trained.
    """
    model = copy.deepcopy(model).eval()
    for stage in model.stages:
        if isinstance(stage.input_bn, nn.BatchNorm2d):     # nothing before it to fold into
            stage.input_bn = ChannelAffine.from_batchnorm(stage.input_bn)
        layers = list(stage.features)
        for i, layer in enumerate(layers):
            if isinstance(layer, nn.BatchNorm2d):
                _fold(layers[i - 1], layer)
                stage.features[i] = nn.Identity()
        if isinstance(stage.bn1, nn.BatchNorm1d):
            _fold(stage.fc1, stage.bn1)
            stage.bn1 = nn.Identity()
    return model


class ChannelAffine(nn.Module):
    """``x * scale + shift`` per channel: an eval-mode batch norm with its statistics baked in."""

    def __init__(self, scale: Tensor, shift: Tensor):
        super().__init__()
        self.register_buffer("scale", scale.detach().clone().view(1, -1, 1, 1))
        self.register_buffer("shift", shift.detach().clone().view(1, -1, 1, 1))

    @classmethod
    def from_batchnorm(cls, bn: nn.BatchNorm2d) -> "ChannelAffine":
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        return cls(scale, bn.bias - bn.running_mean * scale)

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale.to(x.dtype) + self.shift.to(x.dtype)


@torch.no_grad()
def _fold(layer: nn.Module, bn: nn.modules.batchnorm._BatchNorm) -> None:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    layer.weight.mul_(scale.view((-1,) + (1,) * (layer.weight.dim() - 1)))
    bias = layer.bias if layer.bias is not None else torch.zeros_like(bn.running_mean)
    layer.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias, requires_grad=False)
