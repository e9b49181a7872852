"""Writers of the benchmark files exactly as distributed (WFLW list lines, COFW's MATLAB v7.3 files,
HRNet's AFLW CSV), shapes of any point count, and the obvious per-image NME written out apart from
the metrics core, for the tests of the loaders and of their protocols."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def invoke(*args, ok=True):
    """``faceeval ARGS`` through click's runner; exit 0 expected unless ``ok=False``."""
    from click.testing import CliRunner

    from faceeval.cli import main

    result = CliRunner().invoke(main, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, result.output
    return result


def one_line_error(result, *fragments):
    """Exit 1 with exactly one ``Error:`` line holding every fragment, and no traceback."""
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, result.output
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def scheme_shapes(n: int, n_points: int, seed: int = 0, size: float = 120.0) -> np.ndarray:
    """``n`` shapes of ``n_points`` points ``(n, n_points, 2)``: one random template about ``size``
    pixels wide, scaled, shifted and jittered per face (no two points coincide)."""
    rng = np.random.default_rng(seed)
    template = rng.uniform(0, 1, (n_points, 2))
    scale = size * rng.uniform(0.8, 1.2, (n, 1, 1))
    offset = rng.uniform(50, 150, (n, 1, 2))
    return template[None] * scale + offset + rng.normal(0, 1.0, (n, n_points, 2))


def loop_nme(pred: np.ndarray, gt: np.ndarray, distance) -> np.ndarray:
    """Per image: the mean over points of the point distance, divided by ``distance(gt_face)``."""
    out = []
    for p, g in zip(np.asarray(pred, dtype=float), np.asarray(gt, dtype=float)):
        out.append(sum(np.hypot(*(p[i] - g[i])) for i in range(len(g))) / len(g) / distance(g))
    return np.array(out)


# --- WFLW -------------------------------------------------------------------------------------

WFLW_LIST = "WFLW_annotations/list_98pt_rect_attr_train_test/list_98pt_rect_attr_{}.txt"


def wflw_line(points: np.ndarray, rect, flags, image: str) -> str:
    """One line of a WFLW list: 196 coordinates, the rectangle, 6 flags, the image path (as distributed)."""
    coords = " ".join(f"{v:.6f}" for v in np.asarray(points).ravel())
    return f"{coords} {' '.join(str(int(v)) for v in rect)} {' '.join(str(int(f)) for f in flags)} {image}"


def write_wflw(root: Path, split: str, shapes: np.ndarray, images: list[str], flags: np.ndarray) -> Path:
    """A WFLW list of ``split`` under ``root`` (rectangles: the shapes' boxes, 5 px larger)."""
    lines = []
    for shape, image, f in zip(shapes, images, flags):
        lo, hi = np.floor(shape.min(axis=0)) - 5, np.ceil(shape.max(axis=0)) + 5
        lines.append(wflw_line(shape, [*lo, *hi], f, image))
    path = root / WFLW_LIST.format(split)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


# --- COFW (MATLAB v7.3 = HDF5 with a 512-byte MATLAB header) ------------------------------------

def write_mat73(path: Path, variables: dict[str, np.ndarray], images: dict[str, list[np.ndarray]] | None = None):
    """A MATLAB v7.3 file as MATLAB writes one: the 512-byte header, then HDF5 with every matrix stored
    transposed (MATLAB is column-major) and cell arrays as object references into ``#refs#``."""
    import h5py

    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, value in variables.items():
            data = f.create_dataset(name, data=np.asarray(value, dtype=np.float64).T)
            data.attrs["MATLAB_class"] = np.bytes_("double")
        for name, cell in (images or {}).items():
            refs = f.require_group("#refs#")
            ref_data = []
            for k, image in enumerate(cell):
                item = refs.create_dataset(f"{name}_{k}", data=np.asarray(image, dtype=np.uint8).T)
                item.attrs["MATLAB_class"] = np.bytes_("uint8")
                ref_data.append(item.ref)
            cell_set = f.create_dataset(name, data=np.array([ref_data], dtype=h5py.ref_dtype).T)
            cell_set.attrs["MATLAB_class"] = np.bytes_("cell")
    with open(path, "r+b") as fh:                     # MATLAB's text header in the user block
        fh.write(header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM")
    return path


def cofw_phis(shapes_1based: np.ndarray, occluded: np.ndarray) -> np.ndarray:
    """COFW's N x 87 ``phis``: 29 x, 29 y, 29 occlusion flags per face (1-based coordinates)."""
    return np.concatenate([shapes_1based[..., 0], shapes_1based[..., 1], occluded.astype(float)], axis=1)


# --- AFLW (HRNet's CSV) ------------------------------------------------------------------------

AFLW_HEAD = ["image_name", "scale", "box_size", "center_w", "center_h"] + [
    f"original_{k}_{c}" for k in range(19) for c in ("x", "y")]


def write_aflw_csv(path: Path, images: list[str], shapes: np.ndarray, box_sizes: np.ndarray) -> Path:
    """HRNet's AFLW CSV: a header line, then name, scale, box_size, centre and 19 (x, y) per face."""
    rows = [",".join(AFLW_HEAD)]
    for image, shape, size in zip(images, shapes, box_sizes):
        centre = (shape.min(axis=0) + shape.max(axis=0)) / 2
        values = [size / 200.0, size, *centre, *shape.ravel()]
        rows.append(",".join([image] + [repr(float(v)) for v in values]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + "\n")
    return path
