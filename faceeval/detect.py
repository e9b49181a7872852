"""Face detection in plain photos, and box styles: each detector's boxes mapped to the boxes a method expects.

Detectors and methods disagree on what a face box is. The 300W protocol's boxes (style
``300w``: the face-detector boxes of the DAN release, about the extent of the 68 landmarks)
initialise DAN, SDM and the mean shape; dlib's HOG detector (``dlib-hog``) gives squares
that sit higher on the face, which is what dlib's ERT predictor was trained from; dlib's CNN
(MMOD) detector (``dlib-cnn``) gives smaller squares again. A :class:`BoxMapping` turns
boxes of one style into another:

    size   = sqrt(w * h)                     of the given box (w, h, centre cx, cy)
    centre = (cx + offset_x * size, cy + offset_y * size)
    w'     = scale_x * size,  h' = scale_y * size

The mappings from the detectors' styles are fitted once on the 300W TRAINING faces (never a
test face; :func:`fit_mapping`, ``python -m faceeval.detect --data-root DIR``) and ship in
``faceeval/data/box_mappings.json`` with their figures (faces, spread, overlap before and
after). dlib comes from the ``peers`` extra; the CNN detector's model file from
face-recognition-models, which that extra brings too.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, ClassVar, Sequence

import numpy as np

from .errors import MissingExtraError, MissingWeightsError, OptionError
from .resources import _json

#: The box styles, each with what it is.
BOX_STYLES = {
    "300w": "the 300W protocol's face-detector boxes (DAN release): about the extent of the 68 landmarks",
    "dlib-hog": "dlib's HOG frontal face detector: squares from the brows to the chin",
    "dlib-cnn": "dlib's CNN (MMOD) face detector",
}
MAPPINGS_FILE = "box_mappings.json"
#: The CNN detector's model file (in face-recognition-models).
CNN_MODEL = "mmod_human_face_detector.dat"


@dataclass(frozen=True)
class BoxMapping:
    """Boxes of style ``source`` as boxes of style ``target`` (see the module docstring for the formula).

    >>> BoxMapping("a", "b", 1.0, 1.0, 0.0, -0.1).apply(np.array([[0., 0., 100., 100.]])).tolist()
    [[0.0, -10.0, 100.0, 90.0]]
    """

    source: str
    target: str
    scale_x: float = 1.0
    scale_y: float = 1.0
    offset_x: float = 0.0
    offset_y: float = 0.0
    #: How it was measured (faces, spread, overlap): shipped with the numbers, never used to map.
    figures: dict = field(default_factory=dict, compare=False)

    @property
    def identity(self) -> bool:
        return (self.scale_x, self.scale_y, self.offset_x, self.offset_y) == (1, 1, 0, 0)

    def apply(self, boxes: np.ndarray) -> np.ndarray:
        """``(N, 4)`` boxes x0, y0, x1, y1 of style ``source`` -> ``(N, 4)`` of style ``target``
        (the identity leaves them as they are, oblong ones too)."""
        b = np.atleast_2d(np.asarray(boxes, dtype=np.float64)).reshape(-1, 4)
        if self.identity:
            return b.copy()
        size = np.sqrt(np.prod(b[:, 2:] - b[:, :2], axis=1))
        centre = (b[:, :2] + b[:, 2:]) / 2 + np.stack([self.offset_x * size, self.offset_y * size], axis=1)
        half = np.stack([self.scale_x * size, self.scale_y * size], axis=1) / 2
        return np.concatenate([centre - half, centre + half], axis=1)

    @classmethod
    def fit(cls, source_boxes: np.ndarray, target_boxes: np.ndarray, source: str, target: str) -> "BoxMapping":
        """The mapping whose four numbers are the means, over faces, of the target box's size and
        centre offset relative to the source box (``(N, 4)`` each, one pair per face).

        >>> src = np.array([[0., 0., 100., 100.], [50., 50., 250., 250.]])
        >>> m = BoxMapping.fit(src, src + [10., 0., 10., 0.], "a", "b")
        >>> round(m.offset_x, 3), m.scale_x, m.scale_y, m.figures["faces"]
        (0.075, 1.0, 1.0, 2)
        """
        src = np.asarray(source_boxes, dtype=np.float64).reshape(-1, 4)
        dst = np.asarray(target_boxes, dtype=np.float64).reshape(-1, 4)
        size = np.sqrt(np.prod(src[:, 2:] - src[:, :2], axis=1))[:, None]
        rows = np.concatenate([(dst[:, 2:] - dst[:, :2]) / size,
                               ((dst[:, :2] + dst[:, 2:]) - (src[:, :2] + src[:, 2:])) / 2 / size], axis=1)
        names = ("scale_x", "scale_y", "offset_x", "offset_y")
        mean = dict(zip(names, rows.mean(axis=0).tolist()))
        mapping = cls(source, target, **mean)
        figures = {"faces": len(src), "std": dict(zip(names, np.round(rows.std(axis=0), 4).tolist())),
                   "iou_before": round(float(np.mean(box_iou(src, dst))), 4),
                   "iou_after": round(float(np.mean(box_iou(mapping.apply(src), dst))), 4)}
        return cls(source, target, **{k: round(v, 4) for k, v in mean.items()}, figures=figures)

    def to_json(self) -> dict:
        return {"source": self.source, "target": self.target, "scale_x": self.scale_x, "scale_y": self.scale_y,
                "offset_x": self.offset_x, "offset_y": self.offset_y, "figures": self.figures}


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of box pairs ``(N, 4)`` and ``(N, 4)``.

    >>> box_iou(np.array([[0., 0., 2., 2.]]), np.array([[1., 0., 3., 2.]])).round(3).tolist()
    [0.333]
    """
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    wh = np.clip(np.minimum(a[:, 2:], b[:, 2:]) - np.maximum(a[:, :2], b[:, :2]), 0, None)
    inter = wh[:, 0] * wh[:, 1]
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)            # noqa: E731
    return inter / (area(a) + area(b) - inter)


def shipped_mappings() -> dict[tuple[str, str], BoxMapping]:
    """The fitted mappings in ``faceeval/data/box_mappings.json``, by (source, target)."""
    out = {}
    for entry in _json(MAPPINGS_FILE)["mappings"]:
        entry = dict(entry)
        out[entry["source"], entry["target"]] = BoxMapping(**entry)
    return out


def box_mapping(source: str, target: str) -> BoxMapping | None:
    """The mapping from style ``source`` to ``target``: the identity for one style, a shipped one, or None."""
    if source == target:
        return BoxMapping(source, target)
    return shipped_mappings().get((source, target))


def mappings_for(method_styles: Sequence[str], sources: Sequence[str]) -> dict[str, BoxMapping]:
    """The mappings from each of a detector's styles to one of a method's box styles: the first that
    every source reaches, a style some source already has first (an identity wins), else an
    :class:`OptionError` naming them.

    >>> {s: m.target for s, m in mappings_for(["dlib-hog", "300w"], ["dlib-hog", "dlib-cnn"]).items()}
    {'dlib-hog': 'dlib-hog', 'dlib-cnn': 'dlib-hog'}
    """
    ordered = [s for s in method_styles if s in sources] + [s for s in method_styles if s not in sources]
    for style in ordered:
        found = {source: box_mapping(source, style) for source in sources}
        if all(m is not None for m in found.values()):
            return found
    raise OptionError(f"no box mapping from {' and '.join(sources)} boxes to {' or '.join(method_styles)} "
                      "boxes is shipped")


# --- detectors --------------------------------------------------------------------------------

def _import_dlib(what: str):
    try:
        import dlib
    except ImportError as exc:
        raise MissingExtraError(what, "peers") from exc
    return dlib


def find_model_file(name: str) -> Path | None:
    """A model file of face-recognition-models (the ``peers`` extra), found without importing the
    package (its ``__init__`` needs ``pkg_resources``, which recent setuptools no longer ships)."""
    try:
        spec = importlib.util.find_spec("face_recognition_models")
    except (ImportError, ValueError):
        spec = None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "models" / name
        if candidate.is_file():
            return candidate
    return None


class Detector:
    """A face detector: :meth:`detect` gives the boxes ``(K, 4)`` (x0, y0, x1, y1, 0-based
    pixels) of every face in an image, in the detector's box ``style``."""

    name: ClassVar[str]
    style: ClassVar[str]
    #: Image upsampling steps of dlib's detectors: each doubles the size, finding faces half as
    #: small (about 80 px at 0 for HOG), at about 3-4 times the time.
    default_upsample: ClassVar[int] = 1

    def __init__(self, upsample: int | None = None):
        self.upsample = self.default_upsample if upsample is None else int(upsample)
        if self.upsample < 0:
            raise OptionError(f"--upsample must be >= 0, got {upsample}")

    def detect(self, image: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @property
    def styles(self) -> tuple[str, ...]:
        """Every box style :meth:`find` can give."""
        return (self.style,)

    def find(self, image: np.ndarray) -> tuple[np.ndarray, str, str]:
        """The boxes of :meth:`detect`, their style and the name of the detector that found them."""
        return self.detect(image), self.style, self.name

    def describe(self) -> dict:
        return {"detector": self.name, "style": self.style, "upsample": self.upsample}


@lru_cache(maxsize=1)
def _hog():
    return _import_dlib("the hog face detector").get_frontal_face_detector()    # about a second to build


@lru_cache(maxsize=1)
def _cnn():
    dlib = _import_dlib("the cnn face detector")
    path = find_model_file(CNN_MODEL)
    if path is None:
        raise MissingWeightsError(f"dlib's {CNN_MODEL} was not found: pip install \"faceeval[peers]\" "
                                  "(it ships in face-recognition-models)")
    return dlib.cnn_face_detection_model_v1(str(path))


class DlibHog(Detector):
    """dlib's HOG + linear SVM frontal face detector (fast on a CPU; frontal and near-frontal faces)."""

    name, style = "hog", "dlib-hog"

    def __init__(self, upsample: int | None = None):
        super().__init__(upsample)
        self._detector = _hog()

    def detect(self, image: np.ndarray) -> np.ndarray:
        found = self._detector(np.ascontiguousarray(image, dtype=np.uint8), self.upsample)
        return _rects(found)


class DlibCnn(Detector):
    """dlib's CNN (MMOD) face detector: finds turned and partly hidden faces HOG misses; slow on a CPU
    (seconds per photo), so it does not upsample by default."""

    name, style = "cnn", "dlib-cnn"
    default_upsample = 0

    def __init__(self, upsample: int | None = None):
        super().__init__(upsample)
        self._detector = _cnn()

    def detect(self, image: np.ndarray) -> np.ndarray:
        found = self._detector(np.ascontiguousarray(image, dtype=np.uint8), self.upsample)
        return _rects([d.rect for d in found])


class HogThenCnn(Detector):
    """dlib's HOG detector, and its CNN detector on the photos where HOG finds no face (turned or
    tilted faces): the CNN's time is spent only where it is needed."""

    name, style = "auto", "dlib-hog"

    def __init__(self, upsample: int | None = None):
        super().__init__(upsample)
        self.hog = DlibHog(upsample)
        self._cnn: DlibCnn | None = None
        self._upsample = upsample

    @property
    def styles(self) -> tuple[str, ...]:
        return DlibHog.style, DlibCnn.style

    def find(self, image: np.ndarray) -> tuple[np.ndarray, str, str]:
        boxes = self.hog.detect(image)
        if len(boxes):
            return boxes, self.hog.style, self.hog.name
        if self._cnn is None:
            self._cnn = DlibCnn(self._upsample)
        return self._cnn.detect(image), self._cnn.style, self._cnn.name

    def describe(self) -> dict:
        cnn_upsample = DlibCnn.default_upsample if self._upsample is None else self._upsample
        return {"detector": self.name, "hog_upsample": self.hog.upsample, "cnn_upsample": cnn_upsample}


def _rects(rects) -> np.ndarray:
    return np.array([[r.left(), r.top(), r.right(), r.bottom()] for r in rects], dtype=np.float64).reshape(-1, 4)


#: The detectors of ``faceeval predict --detector``.
DETECTORS: dict[str, Callable[..., Detector]] = {"auto": HogThenCnn, "hog": DlibHog, "cnn": DlibCnn}


def dlib_detections(image: np.ndarray, upsample: int = 1) -> np.ndarray:
    """Boxes ``(K, 4)`` found by dlib's HOG frontal face detector in ``image``."""
    return DlibHog(upsample).detect(image)


def matching_detection(detections: np.ndarray, shape: np.ndarray) -> np.ndarray | None:
    """The detection whose centre lies inside the tight box of ``shape`` (68, 2), closest to its centre.

    >>> shape = np.array([[10., 10.], [50., 60.]])
    >>> matching_detection(np.array([[0., 0., 20., 20.], [12., 14., 48., 58.]]), shape).tolist()
    [12.0, 14.0, 48.0, 58.0]
    """
    detections = np.asarray(detections, dtype=np.float64).reshape(-1, 4)
    lo, hi = shape.min(axis=0), shape.max(axis=0)
    centres = (detections[:, :2] + detections[:, 2:]) / 2
    inside = np.all((centres > lo) & (centres < hi), axis=1)
    if not inside.any():
        return None
    dist = np.linalg.norm(centres - (lo + hi) / 2, axis=1)
    return detections[np.flatnonzero(inside)[np.argmin(dist[inside])]]


# --- fitting the shipped mappings (training faces only) ----------------------------------------

def fit_mappings(detector: Detector, samples: Sequence, targets: Sequence[str] = ("300w",),
                 progress: bool = True) -> list[BoxMapping]:
    """Fit ``detector``'s style -> each of ``targets`` on ``samples``: 300W TRAINING faces, whose
    detector box is the ``300w`` target; a ``dlib-hog`` target runs the HOG detector on the same faces.

    A face's detection is the one whose centre lies in its ground truth's tight box
    (:func:`matching_detection`); the faces a detector misses are counted in the figures.
    """
    from tqdm.auto import tqdm

    hog = DlibHog() if "dlib-hog" in targets and detector.style != "dlib-hog" else None
    found: list = []
    goals: dict[str, list] = {t: [] for t in targets}
    for sample in tqdm(samples, desc=f"fitting {detector.name} boxes", unit="face", disable=not progress):
        image = sample.load_image()
        box = matching_detection(detector.detect(image), sample.ground_truth)
        found.append(box)
        for target in targets:
            if target == "300w":
                goals[target].append(sample.box)
            elif target == detector.style:
                goals[target].append(box)
            else:
                goals[target].append(matching_detection(hog.detect(image), sample.ground_truth))
    out = []
    for target in targets:
        pairs = [(f, g) for f, g in zip(found, goals[target]) if f is not None and g is not None]
        mapping = BoxMapping.fit(np.array([f for f, _ in pairs]), np.array([g for _, g in pairs]),
                                 detector.style, target)
        mapping.figures.update({"missed": len(samples) - len(pairs), **detector.describe()})
        out.append(mapping)
    return out


def _main(argv: Sequence[str] | None = None) -> None:  # pragma: no cover - run by hand, writes package data
    import argparse
    import json

    from .datasets import load_dataset
    from .io import write_json
    from .resources import data_path

    parser = argparse.ArgumentParser(prog="python -m faceeval.detect",
                                     description="Fit the shipped box mappings on the 300W training faces.")
    parser.add_argument("--data-root", required=True, help="300W root (its train subset is used; never a test set)")
    parser.add_argument("--faces", type=int, nargs=2, default=(600, 120), metavar=("HOG", "CNN"),
                        help="seeded random training faces used for the hog and the cnn fits")
    parser.add_argument("--out", default=str(data_path(MAPPINGS_FILE)))
    args = parser.parse_args(argv)
    train = load_dataset("300w", "train", args.data_root)
    order = np.random.default_rng(0).permutation(len(train))
    pick = lambda n: [train.samples[i] for i in np.sort(order[:n])]          # noqa: E731
    mappings = fit_mappings(DlibHog(), pick(args.faces[0])) + fit_mappings(DlibCnn(), pick(args.faces[1]),
                                                                          ("300w", "dlib-hog"))
    for m in mappings:
        m.figures.update({"data": f"300w train ({len(train)} faces), seeded subset (numpy default_rng(0))"})
    write_json(args.out, {"about": "faceeval.detect box mappings, fitted by `python -m faceeval.detect` on 300W "
                                   "training faces only", "mappings": [m.to_json() for m in mappings]})
    print(json.dumps([m.to_json() for m in mappings], indent=1))


if __name__ == "__main__":  # pragma: no cover
    _main()


__all__ = ["BOX_STYLES", "BoxMapping", "box_iou", "box_mapping", "mappings_for", "shipped_mappings", "Detector",
           "DlibHog", "DlibCnn", "HogThenCnn", "DETECTORS", "dlib_detections", "matching_detection", "fit_mappings", "find_model_file"]
