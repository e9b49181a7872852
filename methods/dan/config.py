"""DAN configuration: a plain dataclass, stored as the JSON beside the weights."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from faceeval.plugin import dan_mean_shape

#: Version of the model/weights format; bump when a stored config stops being loadable.
FORMAT_VERSION = 2
HEATMAPS = ("square", "circle")


@dataclass
class DANConfig:
    """Architecture and frame geometry of one DAN model.

    ``heatmap="square"`` is the released implementation's 17x17 patch (``heatmap_half=8``)
    with clipped landmarks, the protocol default; ``"circle"`` is the paper's text
    (radius ``circle_radius``, no clipping). ``input_bn``: batch norm on the input
    ``[warped image, heatmap, feature image]`` of stages 2+, as the released code has it
    (format 1 weights predate it and load without).
    """

    stages: int = 2
    image_size: int = 112
    frame_fraction: float = 0.25
    heatmap: str = "square"
    heatmap_half: int = 8
    circle_radius: float = 16.0
    fc1: int = 256
    feature_size: int = 56
    dropout: float = 0.5
    widths: tuple = (64, 128, 256, 512)
    input_bn: bool = True
    format_version: int = FORMAT_VERSION

    def __post_init__(self):
        if self.stages not in (1, 2, 3):
            raise ValueError(f"stages must be 1, 2 or 3, got {self.stages!r}")
        if self.heatmap not in HEATMAPS:
            raise ValueError(f"heatmap must be one of {HEATMAPS}, got {self.heatmap!r}")
        if self.image_size % 16 or self.image_size != 2 * self.feature_size:
            raise ValueError("image_size must be a multiple of 16 and twice feature_size")
        self.widths = tuple(int(w) for w in self.widths)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "DANConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown DAN config keys: {sorted(unknown)}")
        version = int(d.get("format_version", 1))
        if version > FORMAT_VERSION:
            raise ValueError(f"weights format {version} is newer than this faceeval ({FORMAT_VERSION})")
        if version < 2:                    # format 1: no batch norm on the stage-2+ input
            d = {**d, "input_bn": False, "format_version": FORMAT_VERSION}
        return cls(**d)


def frame_mean_shape(image_size: int = 112, frame_fraction: float = 0.25,
                     template: np.ndarray | None = None) -> np.ndarray:
    """The canonical shape in the model's frame ``(68, 2)``: the DAN mean shape scaled so its
    larger side spans ``image_size * (1 - 2 * frame_fraction)`` pixels, centred on the frame."""
    t = dan_mean_shape() if template is None else np.asarray(template, dtype=np.float64)
    lo, hi = t.min(axis=0), t.max(axis=0)
    scale = image_size * (1 - 2 * frame_fraction) / (hi - lo).max()
    return (t - (lo + hi) / 2) * scale + (image_size - 1) / 2
