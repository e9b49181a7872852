"""DAN's stages as fused oneDNN kernels for CPU inference, in bf16 or int8.

:func:`fuse_stages` replaces each :class:`~faceeval_methods.dan.model.Stage` of a batch-norm-folded
model with a :class:`FusedStage`; the connection layers (similarity fit, warp, heatmap, feature
image) and the final update stay as they are, in float. What the fused stage changes:

* every convolution runs with its ReLU fused (``mkldnn._convolution_pointwise`` for bf16,
  ``onednn.qconv_pointwise`` for int8), on weights reordered once into oneDNN's layout;
  the bf16 path no longer casts the weights at every call (what autocast does) nor makes a
  separate pass for each ReLU;
* 2x2 max pooling is two element-wise maxima over channels-last views (exact; ATen's
  ``max_pool2d`` on bf16 channels-last computes indices too and is several times slower); in bf16
  on the bits read as int16 (the same order for the non-negative values a ReLU leaves; 1.5x faster);
* int8: activations are uint8 with one static scale per layer (calibrated on training faces,
  :mod:`faceeval_methods.dan.calibration`), weights int8 with one scale per output channel;
  each convolution writes uint8 at the next layer's scale, so the feature maps stay 8-bit from
  the stage's input to fc1 (int8 too, float output). fc2, the 136 numbers added to pixel
  coordinates (0.1% of a stage's arithmetic), stays float32, as in the bf16 path.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .model import ChannelAffine, DANModel, Stage

Tensor = torch.Tensor
CL = torch.channels_last


def max_pool_2x2(x: Tensor) -> Tensor:
    """``F.max_pool2d(x, 2)`` for a channels-last ``(N, C, H, W)`` tensor with even ``H``, ``W``, by two
    element-wise maxima over strided views (any dtype, uint8 included); the result is channels-last.

    >>> x = torch.randn(2, 8, 6, 4).contiguous(memory_format=torch.channels_last)
    >>> torch.equal(max_pool_2x2(x), torch.nn.functional.max_pool2d(x, 2))
    True
    """
    n, c, h, w = x.shape
    v = x.permute(0, 2, 3, 1).reshape(n, h // 2, 2, w // 2, 2 * c)      # (row pair, column pair x channels)
    rows = torch.maximum(v[:, :, 0], v[:, :, 1]).view(n, h // 2, w // 2, 2, c)
    return torch.maximum(rows[:, :, :, 0], rows[:, :, :, 1]).permute(0, 3, 1, 2)


def _conv_layers(stage: Stage) -> list[tuple[nn.Conv2d, bool]]:
    """``(conv, pool_after)`` of a folded stage's features (conv, Identity, ReLU, ..., MaxPool2d)."""
    out: list[tuple[nn.Conv2d, bool]] = []
    for layer in stage.features:
        if isinstance(layer, nn.Conv2d):
            out.append((layer, False))
        elif isinstance(layer, nn.MaxPool2d):
            out[-1] = (out[-1][0], True)
        elif isinstance(layer, nn.BatchNorm2d):
            raise ValueError("fuse_stages needs a model with batch norm folded (model.fold_batchnorm)")
    return out


#: Stage inputs (1 or 3 channels) are zero-padded to this many: oneDNN's convolutions of 1 and 3
#: input channels run 1.5-5x slower than of 4 (measured on AMX and AVX-512 machines), and a 1-channel
#: map cannot be told apart from a channels-last one.
IN_CHANNELS = 4


#: Frames per pass through the convolutions: the same bytes of feature maps in both precisions (a 64-channel
#: 112x112 map is 1.6 MB a frame in bf16, 0.8 MB in uint8). On 2 threads of the AMX machine 8 bf16 frames
#: ran 5-25% faster than 32; 16 to 32 int8 frames within the noise of each other.
MICRO_BATCH = {"bf16": 8, "int8": 16}


def _pad_channels(weight: Tensor, channels: int) -> Tensor:
    """A convolution weight ``(O, C, kh, kw)`` with zero input channels appended up to ``channels``."""
    if weight.shape[1] >= channels:
        return weight
    return torch.cat([weight, weight.new_zeros(weight.shape[0], channels - weight.shape[1], *weight.shape[2:])], 1)


def _pad_input(x: Tensor, channels: int = IN_CHANNELS) -> Tensor:
    """``(N, C, H, W)`` -> ``(N, channels, H, W)`` channels-last, the extra channels zero."""
    n, c, h, w = x.shape
    if c >= channels:
        return x.contiguous(memory_format=CL)
    out = x.new_zeros(n, h, w, channels)
    out[..., :c] = x.permute(0, 2, 3, 1)
    return out.permute(0, 3, 1, 2)


def _nhwc_fc1(weight: Tensor, channels: int) -> Tensor:
    """fc1's weight with its columns in channels-last order, so the pooled map flattens without a copy."""
    out, flat = weight.shape
    side = int(round((flat // channels) ** 0.5))
    return weight.view(out, channels, side, side).permute(0, 2, 3, 1).reshape(out, flat).contiguous()


def _flatten_nhwc(x: Tensor) -> Tensor:
    """A channels-last ``(N, C, H, W)`` map as ``(N, H * W * C)`` in memory order (a view)."""
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)


class FusedStage(nn.Module):
    """One folded DAN stage on fused kernels: ``forward(x) -> (delta (N, 68, 2) float32, fc1)``, as
    :class:`~faceeval_methods.dan.model.Stage` returns them.

    ``precision`` is ``"bf16"`` or ``"int8"``; int8 needs ``scales``: ``"input"`` ``[scale, zero_point]``
    of the (affine-normalised) stage input and ``"conv"``: the output scale of each convolution (after its
    ReLU), in order.
    """

    channels_last = True
    #: Frames per pass through the convolutions (0: all at once; None: :data:`MICRO_BATCH` of the precision).
    micro_batch: int | None = None

    def __init__(self, stage: Stage, precision: str, scales: dict | None = None):
        super().__init__()
        if precision not in ("bf16", "int8"):
            raise ValueError(f"precision must be bf16 or int8, got {precision!r}")
        self.precision = precision
        self.input_affine = stage.input_bn if isinstance(stage.input_bn, ChannelAffine) else None
        if isinstance(stage.input_bn, nn.BatchNorm2d) or isinstance(stage.bn1, nn.BatchNorm1d):
            raise ValueError("fuse_stages needs a model with batch norm folded (model.fold_batchnorm)")
        convs = _conv_layers(stage)
        self.pool_after = [p for _, p in convs]
        # each convolution's input shape, batch aside: oneDNN lays a weight out for the input shape it
        # will see (see _packed); a layout made for another shape is reordered again at every call
        side = stage.image_size
        self.input_shapes = []
        for conv, pool in convs:
            self.input_shapes.append([1, max(conv.in_channels, IN_CHANNELS), side, side])
            side //= 2 if pool else 1
        self.fc2 = stage.fc2
        self._packs: dict[int, list[Tensor]] = {}
        w1 = _nhwc_fc1(stage.fc1.weight.detach().float(), convs[-1][0].out_channels)
        b1 = stage.fc1.bias.detach().float()
        if precision == "bf16":
            self._prepare_bf16(convs, w1, b1)
        else:
            if scales is None:
                raise ValueError("int8 needs calibrated activation scales")
            self._prepare_int8(convs, w1, b1, scales)

    # -- bf16 -----------------------------------------------------------------------------------
    def _prepare_bf16(self, convs, w1: Tensor, b1: Tensor) -> None:
        self.weights = [_pad_channels(conv.weight.detach(), IN_CHANNELS).to(torch.bfloat16).contiguous(memory_format=CL)
                        for conv, _ in convs]
        self.biases = [conv.bias.detach().to(torch.bfloat16) for conv, _ in convs]
        self.w1, self.b1 = w1.to(torch.bfloat16), b1.to(torch.bfloat16)

    def _pack(self, i: int, shape: list[int]) -> Tensor:
        if self.precision == "bf16":
            return torch.ops.mkldnn._reorder_convolution_weight(self.weights[i], [1, 1], [1, 1], [1, 1], 1, shape)
        return torch.ops.onednn.qconv_prepack(self.weights[i], self.w_scales[i], self.x_scales[i], self.x_zps[i],
                                              [1, 1], [1, 1], [1, 1], 1, shape)

    def _packed(self, n: int) -> list[Tensor]:
        """The convolution weights in oneDNN's layout for batches of ``n`` (made once per batch size; the
        last few sizes kept: a run sees two, its batch size and the remainder)."""
        if n not in self._packs:
            if len(self._packs) >= 4:
                self._packs.pop(next(iter(self._packs)))
            self._packs[n] = [self._pack(i, [n, *shape[1:]]) for i, shape in enumerate(self.input_shapes)]
        return self._packs[n]

    def _features_bf16(self, x: Tensor) -> Tensor:
        x = _pad_input(x.to(torch.bfloat16))
        for w, b, pool in zip(self._packed(x.shape[0]), self.biases, self.pool_after):
            x = torch.ops.mkldnn._convolution_pointwise(x, w, b, [1, 1], [1, 1], [1, 1], 1, "relu", [], "")
            if pool:   # after a ReLU every bf16 is >= 0, ordered as its bits read as int16: a faster maximum
                x = max_pool_2x2(x.view(torch.int16)).view(torch.bfloat16)
        return _flatten_nhwc(x)

    def _fc1_bf16(self, flat: Tensor) -> Tensor:
        return F.relu(F.linear(flat, self.w1, self.b1))

    # -- int8 -----------------------------------------------------------------------------------
    def _prepare_int8(self, convs, w1: Tensor, b1: Tensor, scales: dict) -> None:
        conv_scales = [float(s) for s in scales["conv"]]
        if len(conv_scales) != len(convs):
            raise ValueError(f"calibration has {len(conv_scales)} convolution scales, the stage {len(convs)}")
        in_scale, in_zp = float(scales["input"][0]), int(scales["input"][1])
        self.in_scale, self.in_zp = in_scale, in_zp
        self.weights, self.w_scales, self.biases, self.x_scales, self.x_zps, self.y_scales = [], [], [], [], [], []
        x_scale, x_zp = in_scale, in_zp
        for (conv, _), y_scale in zip(convs, conv_scales):
            q, ws = quantize_per_channel(_pad_channels(conv.weight.detach().float(), IN_CHANNELS))
            self.weights.append(q.contiguous(memory_format=CL))
            self.w_scales.append(ws)
            self.biases.append(conv.bias.detach().float())
            self.x_scales.append(x_scale)
            self.x_zps.append(x_zp)
            self.y_scales.append(y_scale)
            x_scale, x_zp = y_scale, 0                    # the next layer reads this one's uint8 output
        q1, self.w1_scales = quantize_per_channel(w1)
        self.packed_w1 = torch.ops.onednn.qlinear_prepack(q1, None)
        self.b1 = b1
        self.fc1_scale = x_scale
        self.zero_points = {}

    def _zeros(self, n: int) -> Tensor:
        if n not in self.zero_points:
            self.zero_points[n] = torch.zeros(n, dtype=torch.int64)
        return self.zero_points[n]

    def quantize_input(self, x: Tensor) -> Tensor:
        """The stage input as uint8 at its calibrated scale and zero point (values outside saturate)."""
        return _pad_input(torch.round(x.float() / self.in_scale).add_(self.in_zp).clamp_(0, 255).to(torch.uint8))

    def _features_int8(self, x: Tensor) -> Tensor:
        q = self.quantize_input(x)
        packed = self._packed(q.shape[0])
        for i, pool in enumerate(self.pool_after):
            ws = self.w_scales[i]
            q = torch.ops.onednn.qconv_pointwise(q, self.x_scales[i], self.x_zps[i], packed[i], ws,
                                                 self._zeros(ws.numel()), self.biases[i], [1, 1], [1, 1], [1, 1],
                                                 1, self.y_scales[i], 0, None, "relu", [], "")
            if pool:
                q = max_pool_2x2(q)
        return _flatten_nhwc(q)

    def _fc1_int8(self, flat: Tensor) -> Tensor:
        return torch.ops.onednn.qlinear_pointwise(flat, self.fc1_scale, 0, self.packed_w1, self.w1_scales,
                                                  self._zeros(self.w1_scales.numel()), self.b1, 1.0, 0,
                                                  torch.float32, "relu", [], "")

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.input_affine is not None:
            x = self.input_affine(x)
        # the convolutions a few frames at a time, so a block's feature maps stay in the caches between its
        # convolutions and its pooling (a 64-channel 112x112 map is 1.6 MB a frame in bf16); fc1 on all
        # of them at once, so its weights (6-13 MB) are read once
        features, fc1 = ((self._features_bf16, self._fc1_bf16) if self.precision == "bf16"
                         else (self._features_int8, self._fc1_int8))
        micro = MICRO_BATCH[self.precision] if self.micro_batch is None else self.micro_batch
        chunks = x.split(micro) if micro else [x]
        fc1 = fc1(torch.cat([features(c) for c in chunks]) if len(chunks) > 1 else features(x))
        with torch.autocast(x.device.type, enabled=False):     # the update in float32: it is added to pixels
            delta = self.fc2(fc1.float()).view(-1, 68, 2)
        return delta, fc1


def quantize_per_channel(weight: Tensor) -> tuple[Tensor, Tensor]:
    """Symmetric int8 with one float32 scale per output channel: ``(q, scale)``, ``w ~= q * scale``.

    >>> q, s = quantize_per_channel(torch.tensor([[1.0, -0.5], [0.0, 0.25]]))
    >>> q.tolist(), [round(v, 6) for v in s.tolist()]
    ([[127, -64], [0, 127]], [0.007874, 0.001969])
    """
    w = weight.reshape(weight.shape[0], -1)
    scale = w.abs().amax(dim=1).clamp(min=1e-12) / 127.0
    q = torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return q.reshape(weight.shape), scale.float()


def fuse_stages(folded: DANModel, precision: str, scales: list[dict] | None = None) -> DANModel:
    """``folded`` (batch norm folded, eval mode, on the CPU) with every stage a :class:`FusedStage`:
    in place; returns it. ``scales``: one dict per stage for int8 (see :class:`FusedStage`)."""
    stages = [FusedStage(s, precision, None if scales is None else scales[i]) for i, s in enumerate(folded.stages)]
    folded.stages = nn.ModuleList(stages)
    return folded
