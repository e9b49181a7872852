"""Reading and writing the field's formats, atomically: ``.pts`` landmarks, images, menpo interop.

``.pts`` files are 1-based on disk and 0-based in memory (subtract 1 on read, add 1
on write). Every writer goes through :func:`atomic_write`, so a killed process never
leaves half a file behind.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import DataError
from .landmarks import N_POINTS


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w") -> Iterator:
    """Write to a temporary file beside ``path`` and rename it into place on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)      # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: str | os.PathLike, obj) -> None:
    with atomic_write(path) as fh:
        json.dump(obj, fh, indent=2, sort_keys=True)


def save_npz(path: str | os.PathLike, **arrays) -> None:
    """``np.savez`` through :func:`atomic_write` (numpy would otherwise append ``.npz``)."""
    with atomic_write(path, "wb") as fh:
        np.savez(fh, **arrays)


def read_pts(path: str | os.PathLike, n_points: int | None = N_POINTS) -> np.ndarray:
    """Read an ibug ``.pts`` file into a 0-based ``(P, 2)`` float64 array of (x, y)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise DataError(f"{path}: cannot read landmarks ({exc.strerror or exc})") from exc
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    try:
        start, end = lines.index("{"), lines.index("}")
    except ValueError:
        raise DataError(f"{path}: not a .pts file (no '{{ ... }}' block)") from None
    declared = None
    for ln in lines[:start]:
        key, _, value = ln.partition(":")
        if key.strip() == "n_points":
            try:
                declared = int(value)
            except ValueError:
                raise DataError(f"{path}: unreadable header line {ln!r}") from None
    rows = []
    for k, ln in enumerate(lines[start + 1:end], start=1):
        parts = ln.split()
        if len(parts) < 2:
            raise DataError(f"{path}: point {k} needs two numbers (x y), got {ln!r}")
        try:
            rows.append((float(parts[0]), float(parts[1])))
        except ValueError:
            raise DataError(f"{path}: unreadable coordinate in point {k}: {ln!r}") from None
    pts = np.array(rows, dtype=np.float64).reshape(-1, 2)
    if declared is not None and declared != len(pts):
        raise DataError(f"{path}: header says n_points {declared} but the file lists {len(pts)}")
    if n_points is not None and len(pts) != n_points:
        raise DataError(f"{path}: expected {n_points} points, found {len(pts)}")
    if not np.isfinite(pts).all():
        raise DataError(f"{path}: non-finite coordinates")
    return pts - 1.0


def format_pts(shape: np.ndarray) -> str:
    s = np.asarray(shape, dtype=np.float64) + 1.0
    body = "\n".join(f"{x:.6f} {y:.6f}" for x, y in s)
    return f"version: 1\nn_points: {len(s)}\n{{\n{body}\n}}\n"


def write_pts(path: str | os.PathLike, shape: np.ndarray) -> None:
    """Write a 0-based ``(P, 2)`` shape as a 1-based ``.pts`` file, atomically."""
    shape = np.asarray(shape)
    if shape.ndim != 2 or shape.shape[1] != 2:
        raise ValueError(f"{path}: a .pts shape must be (P, 2), got {shape.shape}")
    with atomic_write(path) as fh:
        fh.write(format_pts(shape))


def safe_name(part: str, keep: str = "-_.") -> str:
    """``part`` usable as a file name: characters other than letters, digits and ``keep`` become ``-``.

    >>> safe_name("dan/1 stage", keep="-_.")
    'dan-1-stage'
    """
    return "".join(c if c.isalnum() or c in keep else "-" for c in part)


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff")


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Load an image as uint8 ``(H, W)`` (grey) or ``(H, W, 3)`` (RGB)."""
    from PIL import Image

    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode not in ("L", "RGB"):
                im = im.convert("RGB" if im.mode in ("RGBA", "P", "CMYK", "YCbCr", "LA") else "L")
            return np.asarray(im, dtype=np.uint8)
    except (OSError, SyntaxError) as exc:
        raise DataError(f"{path}: cannot read image ({exc})") from exc


def to_gray(image: np.ndarray) -> np.ndarray:
    """Greyscale float32 in 0..255 (ITU-R 601 luma) from a grey or RGB image."""
    img = np.asarray(image)
    if img.ndim == 2:
        return img.astype(np.float32)
    return (img[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32))


# --- menpo interop: menpo stores (y, x); faceeval stores (x, y) -------------------------

def shape_from_menpo(pointcloud) -> np.ndarray:
    """A menpo ``PointCloud`` (or landmark group) as a ``(P, 2)`` (x, y) array."""
    return np.asarray(pointcloud.points, dtype=np.float64)[:, ::-1].copy()


def shape_to_menpo(shape: np.ndarray):
    """A ``(P, 2)`` (x, y) array as a menpo ``PointCloud``."""
    from menpo.shape import PointCloud

    return PointCloud(np.asarray(shape, dtype=np.float64)[:, ::-1].copy())


def image_from_menpo(image) -> np.ndarray:
    """A menpo ``Image`` (channels first, float 0..1) as uint8 ``(H, W)`` or ``(H, W, 3)``."""
    px = np.clip(np.rint(image.pixels * 255.0), 0, 255).astype(np.uint8)
    return px[0] if px.shape[0] == 1 else np.moveaxis(px[:3], 0, -1)


def read_pts_tree(root: str | os.PathLike, n_points: int | None = N_POINTS) -> dict[str, np.ndarray]:
    """Every ``.pts`` under ``root`` keyed by its relative path without suffix (``ibug/image_003_1``)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder of .pts files")
    shapes = {p.relative_to(root).with_suffix("").as_posix(): read_pts(p, n_points)
              for p in sorted(root.rglob("*.pts"))}
    if not shapes:
        raise DataError(f"{root}: no .pts files found")
    return shapes
