"""The landmark schemes faceeval ships: ``ibug68``, ``wflw98``, ``cofw29``, ``aflw19`` and ``menpo39``.

Indices are 0-based. Sources (the survey in the project's ``benchmarks.md``, which cites the
reference code with file and line): 68 points, the Multi-PIE markup of 300W (``docs/protocol.md``);
98 points, WFLW's groups and mirror pairs as ADNet/STAR/HRNet list them, outer eye corners 60/72
and pupils 96/97; 29 points, COFW's groups and pairs (ADNet), corners 8/9 and pupils 16/17;
19 points, AFLW's pairs (HRNet/mmpose), corners 6/11; 39 points, Menpo's profile faces, for which
no group or reference-point list was found (they are normalised by the box diagonal), so the
scheme has one region and no mirror pairs.
"""
from __future__ import annotations

from .scheme import Scheme, ranges

IBUG68 = Scheme(
    "ibug68", 68, "the 68-point iBUG / Multi-PIE markup (300W, Menpo semi-frontal, COFW-68)",
    groups=ranges(jaw=(0, 17), right_brow=(17, 22), left_brow=(22, 27), nose_bridge=(27, 31), nostrils=(31, 36),
                  eye_a=(36, 42), eye_b=(42, 48), outer_lip=(48, 60), inner_lip=(60, 68)),
    regions={"jaw": ("jaw",), "brows": ("right_brow", "left_brow"), "nose": ("nose_bridge", "nostrils"),
             "eyes": ("eye_a", "eye_b"), "mouth": ("outer_lip", "inner_lip")},
    mirror_pairs=tuple([(i, 16 - i) for i in range(8)] + [(17 + i, 26 - i) for i in range(5)]
                       + [(31, 35), (32, 34)]
                       + [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
                       + [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]
                       + [(60, 64), (61, 63), (65, 67)]),
    outer_eye_corners=(36, 45), eye_centres=(tuple(range(36, 42)), tuple(range(42, 48))),
    closed_groups=frozenset({"eye_a", "eye_b", "outer_lip", "inner_lip"}),
    source="docs/protocol.md; benchmarks.md section 4")

WFLW98 = Scheme(
    "wflw98", 98, "the 98-point WFLW markup",
    groups={**ranges(contour=(0, 33), right_brow=(33, 42), left_brow=(42, 51), nose_line=(51, 55),
                     nose_bottom=(55, 60), right_eye=(60, 68), left_eye=(68, 76), outer_lip=(76, 88),
                     inner_lip=(88, 96)), "right_pupil": (96,), "left_pupil": (97,)},
    regions={"contour": ("contour",), "brows": ("right_brow", "left_brow"), "nose": ("nose_line", "nose_bottom"),
             "eyes": ("right_eye", "left_eye", "right_pupil", "left_pupil"), "mouth": ("outer_lip", "inner_lip")},
    mirror_pairs=tuple([(i, 32 - i) for i in range(16)]
                       + [(33, 46), (34, 45), (35, 44), (36, 43), (37, 42), (38, 50), (39, 49), (40, 48), (41, 47)]
                       + [(60, 72), (61, 71), (62, 70), (63, 69), (64, 68), (65, 75), (66, 74), (67, 73)]
                       + [(55, 59), (56, 58)]
                       + [(76, 82), (77, 81), (78, 80), (87, 83), (86, 84)] + [(88, 92), (89, 91), (95, 93)]
                       + [(96, 97)]),
    outer_eye_corners=(60, 72), eye_centres=((96,), (97,)),
    closed_groups=frozenset({"right_brow", "left_brow", "right_eye", "left_eye", "outer_lip", "inner_lip"}),
    source="benchmarks.md section 1 (HRNet, ADNet, STAR, mmpose)")

COFW29 = Scheme(
    "cofw29", 29, "the 29-point COFW markup",
    groups={"brow_a": (0, 4, 2, 5), "brow_b": (1, 6, 3, 7), "eye_a": (8, 12, 10, 13), "eye_b": (9, 14, 11, 15),
            "pupil_a": (16,), "pupil_b": (17,), "nose": (18, 20, 19, 21), "outer_lip": (22, 24, 23, 25),
            "inner_lip": (26, 27), "chin": (28,)},
    regions={"brows": ("brow_a", "brow_b"), "eyes": ("eye_a", "eye_b", "pupil_a", "pupil_b"), "nose": ("nose",),
             "mouth": ("outer_lip", "inner_lip"), "chin": ("chin",)},
    mirror_pairs=((0, 1), (4, 6), (2, 3), (5, 7), (8, 9), (10, 11), (12, 14), (16, 17), (13, 15), (18, 19), (22, 23)),
    outer_eye_corners=(8, 9), eye_centres=((16,), (17,)),
    closed_groups=frozenset({"brow_a", "brow_b", "eye_a", "eye_b", "outer_lip"}),
    source="benchmarks.md section 2.1 (ADNet groups and pairs; HRNet/mmpose corners 8/9; STAR/ADNet pupils 16/17)")

AFLW19 = Scheme(
    "aflw19", 19, "the 19-point AFLW markup (SAN/HRNet split)",
    groups=ranges(brow_a=(0, 3), brow_b=(3, 6), eye_a=(6, 9), eye_b=(9, 12), nose=(12, 15), mouth=(15, 18),
                  chin=(18, 19)),
    regions={"brows": ("brow_a", "brow_b"), "eyes": ("eye_a", "eye_b"), "nose": ("nose",), "mouth": ("mouth",),
             "chin": ("chin",)},
    mirror_pairs=((0, 5), (1, 4), (2, 3), (6, 11), (7, 10), (8, 9), (12, 14), (15, 17)),
    outer_eye_corners=(6, 11), eye_centres=((6, 7, 8), (9, 10, 11)),
    source="benchmarks.md section 3 (HRNet/mmpose mirror pairs; LUVLi corners 6/11); eye centres = the mean of "
           "each eye's three points")

MENPO39 = Scheme(
    "menpo39", 39, "the 39-point Menpo profile markup (normalised by the box diagonal; no reference points)",
    groups=ranges(face=(0, 39)), regions={"face": ("face",)},
    source="benchmarks.md section 5 (count and normalisation only)")

BUILTIN_SCHEMES = (IBUG68, WFLW98, COFW29, AFLW19, MENPO39)

__all__ = ["IBUG68", "WFLW98", "COFW29", "AFLW19", "MENPO39", "BUILTIN_SCHEMES"]
