"""The 68-point iBUG landmark scheme: index groups, mirror permutation, normaliser points.

Everything else in faceeval and in the method plugins asks this module about the
scheme instead of hard-coding indices (see ``docs/protocol.md``).
Shapes are arrays ``(N, 68, 2)`` of ``(x, y)`` in 0-based pixels.
"""
from __future__ import annotations

import numpy as np

N_POINTS = 68

#: Index groups (0-based, half-open ranges) of the Multi-PIE markup.
GROUPS: dict[str, range] = {
    "jaw": range(0, 17),
    "right_brow": range(17, 22),
    "left_brow": range(22, 27),
    "nose_bridge": range(27, 31),
    "nostrils": range(31, 36),
    "eye_a": range(36, 42),
    "eye_b": range(42, 48),
    "outer_lip": range(48, 60),
    "inner_lip": range(60, 68),
}

#: Coarse face regions (unions of :data:`GROUPS`) for reporting where a method fails.
REGIONS: dict[str, tuple[str, ...]] = {
    "jaw": ("jaw",),
    "brows": ("right_brow", "left_brow"),
    "nose": ("nose_bridge", "nostrils"),
    "eyes": ("eye_a", "eye_b"),
    "mouth": ("outer_lip", "inner_lip"),
}


def region_indices(region: str) -> np.ndarray:
    """0-based point indices of a region of :data:`REGIONS`.

    >>> region_indices("eyes").tolist() == list(range(36, 48))
    True
    """
    return np.concatenate([np.arange(GROUPS[g].start, GROUPS[g].stop) for g in REGIONS[region]])


#: Outer eye corners used by the inter-ocular normaliser.
OUTER_EYE_CORNERS = (36, 45)
#: The two eyes whose centres define the inter-pupil normaliser.
EYE_A = np.arange(36, 42)
EYE_B = np.arange(42, 48)

#: Pairs swapped by a horizontal mirror; every other point maps to itself.
_MIRROR_PAIRS = (
    [(i, 16 - i) for i in range(8)]                       # jaw ends
    + [(17 + i, 26 - i) for i in range(5)]                # brows
    + [(31, 35), (32, 34)]                                # nose wings
    + [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    + [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]  # outer lip
    + [(60, 64), (61, 63), (65, 67)]                      # inner lip
)


def _mirror_permutation() -> np.ndarray:
    perm = np.arange(N_POINTS)
    for a, b in _MIRROR_PAIRS:
        perm[a], perm[b] = b, a
    perm.flags.writeable = False
    return perm


#: ``mirrored_shape[:, i] = reflect(shape[:, MIRROR_PERMUTATION[i]])``; an involution.
MIRROR_PERMUTATION = _mirror_permutation()


def mirror_shapes(shapes: np.ndarray, image_width: float | np.ndarray) -> np.ndarray:
    """Mirror shapes horizontally in an image of the given width (0-based pixels).

    The x coordinate maps to ``width - 1 - x`` and the points are re-indexed with
    :data:`MIRROR_PERMUTATION` so that each landmark keeps its anatomical label.

    >>> s = np.zeros((1, 68, 2)); s[0, 36, 0] = 10.0
    >>> bool(mirror_shapes(s, 100)[0, 45, 0] == 89.0)
    True
    """
    shapes = np.asarray(shapes, dtype=np.float64)
    width = np.asarray(image_width, dtype=np.float64).reshape(-1, 1) if shapes.ndim == 3 else image_width
    out = shapes[..., MIRROR_PERMUTATION, :].copy()
    out[..., 0] = (width - 1.0) - out[..., 0]
    return out
