"""The 68-point iBUG scheme's indices as module constants, for code written against 68 points.

They are read off the registered :data:`faceeval.protocol.schemes.IBUG68` value, the one
source of these indices; code that serves several schemes asks a
:class:`~faceeval.protocol.Scheme` instead (see ``docs/protocol.md``).
Shapes are arrays ``(N, 68, 2)`` of ``(x, y)`` in 0-based pixels.
"""
from __future__ import annotations

import numpy as np

from .protocol.schemes import IBUG68

N_POINTS = IBUG68.n_points

#: Index groups (0-based, half-open ranges) of the Multi-PIE markup.
GROUPS: dict[str, range] = {name: range(idx[0], idx[-1] + 1) for name, idx in IBUG68.groups.items()}

#: Coarse face regions (unions of :data:`GROUPS`) for reporting where a method fails.
REGIONS: dict[str, tuple[str, ...]] = dict(IBUG68.regions)


def region_indices(region: str) -> np.ndarray:
    """0-based point indices of a region of :data:`REGIONS`.

    >>> region_indices("eyes").tolist() == list(range(36, 48))
    True
    """
    return IBUG68.region_indices(region)


#: Outer eye corners used by the inter-ocular normaliser.
OUTER_EYE_CORNERS = IBUG68.outer_eye_corners
#: The two eyes whose centres define the inter-pupil normaliser.
EYE_A = np.asarray(IBUG68.eye_centres[0])
EYE_B = np.asarray(IBUG68.eye_centres[1])

#: ``mirrored_shape[:, i] = reflect(shape[:, MIRROR_PERMUTATION[i]])``; an involution.
MIRROR_PERMUTATION = IBUG68.mirror_permutation


def mirror_shapes(shapes: np.ndarray, image_width: float | np.ndarray) -> np.ndarray:
    """Mirror shapes horizontally in an image of the given width (0-based pixels).

    The x coordinate maps to ``width - 1 - x`` and the points are re-indexed with
    :data:`MIRROR_PERMUTATION` so that each landmark keeps its anatomical label.

    >>> s = np.zeros((1, 68, 2)); s[0, 36, 0] = 10.0
    >>> bool(mirror_shapes(s, 100)[0, 45, 0] == 89.0)
    True
    """
    return IBUG68.mirror(shapes, image_width)
