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


def read_text(path: Path, what: str) -> str:
    """The text of ``path`` as UTF-8, or a :class:`DataError` naming the file (missing, unreadable,
    binary or in another encoding): ``PATH: cannot read WHAT (...)``."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read {what} ({exc.strerror or exc})") from exc
    if b"\0" in data:
        raise DataError(f"{path}: cannot read {what}: a binary file (it holds NUL bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: cannot read {what}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                        f"{exc.start})") from None


def read_json(path: str | os.PathLike, what: str = "JSON") -> object:
    """The JSON value in ``path``; an unreadable, non-UTF-8 or invalid file is a :class:`DataError`
    that names it and says where the file stops being JSON."""
    path = Path(path)
    text = read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: cannot read {what}: invalid JSON ({exc})") from None


def read_json_object(path: str | os.PathLike, what: str = "JSON", expected: str = "") -> dict:
    """:func:`read_json` for files that must hold a JSON object (``expected`` describes it)."""
    data = read_json(path, what)
    if not isinstance(data, dict):
        raise DataError(f"{path}: cannot read {what}: expected a JSON object{' ' + expected if expected else ''}, "
                        f"got a {type(data).__name__}")
    return data


@contextlib.contextmanager
def open_npz(path: str | os.PathLike, what: str = "arrays") -> Iterator:
    """``np.load(path, allow_pickle=False)`` as a context; every way the archive can fail (missing,
    truncated, not a zip, pickled or missing arrays, also while the body reads them) is a
    :class:`DataError`: ``PATH: cannot read WHAT (...)``."""
    import zipfile

    path = Path(path)
    problems = (OSError, ValueError, EOFError, zipfile.BadZipFile)
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise DataError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    if not magic.startswith(b"PK"):          # a zip archive; numpy would call anything else "pickled data"
        raise DataError(f"{path}: cannot read {what}: not an .npz archive")
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: cannot read {what} (no such file)") from None
    except problems as exc:
        raise DataError(f"{path}: cannot read {what} ({exc})") from None
    with archive:
        try:
            yield archive
        except KeyError as exc:
            raise DataError(f"{path}: cannot read {what}: incomplete, {exc.args[0] if exc.args else exc}") from None
        except problems as exc:
            if isinstance(exc, DataError):
                raise
            raise DataError(f"{path}: cannot read {what} ({exc})") from None


def read_pts(path: str | os.PathLike, n_points: int | None = N_POINTS) -> np.ndarray:
    """Read an ibug ``.pts`` file into a 0-based ``(P, 2)`` float64 array of (x, y).

    Every point line holds exactly two numbers; anything else (a third number, a binary or
    non-UTF-8 file, a header that disagrees with the points) is a :class:`DataError` naming the file.
    """
    path = Path(path)
    text = read_text(path, "landmarks")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    try:
        start = lines.index("{")
        end = lines.index("}", start)
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
        if len(parts) != 2:
            raise DataError(f"{path}: point {k} needs two numbers (x y), got {len(parts)}: {ln[:60]!r}")
        try:
            rows.append((float(parts[0]), float(parts[1])))
        except ValueError:
            raise DataError(f"{path}: unreadable coordinate in point {k}: {ln[:60]!r}") from None
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
    shapes, unusable = read_pts_tree_lenient(root, n_points, strict=True)
    return shapes


def read_pts_tree_lenient(root: str | os.PathLike, n_points: int | None = N_POINTS, strict: bool = False
                          ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Every ``.pts`` under ``root`` as :func:`read_pts_tree` keys them, and those that could not be used.

    Returns ``(shapes, unusable)``: ``unusable`` maps the key of each file that is not a
    ``n_points`` shape (menpo's 19-point ``tongue.pts``, a 39-point profile, a damaged file) to
    the reason, so that a ground-truth folder can serve the files that match predictions.
    ``strict=True`` raises the first problem instead.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder of .pts files")
    shapes: dict[str, np.ndarray] = {}
    unusable: dict[str, str] = {}
    for p in sorted(root.rglob("*.pts")):
        key = p.relative_to(root).with_suffix("").as_posix()
        try:
            shapes[key] = read_pts(p, n_points)
        except DataError as exc:
            if strict:
                raise
            unusable[key] = str(exc).removeprefix(f"{p}: ")
    if not shapes and (strict or not unusable):
        raise DataError(f"{root}: no .pts files found")
    if not shapes:
        first = next(iter(unusable.items()))
        raise DataError(f"{root}: none of its {len(unusable)} .pts files is usable (first: {first[0]}.pts: {first[1]})")
    return shapes, unusable


def read_boxes(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Initial face boxes from a JSON object ``{id: [x_min, y_min, x_max, y_max]}`` (0-based pixels).

    Each box must be four finite numbers with ``x_max > x_min`` and ``y_max > y_min``; the
    first that is not is a :class:`DataError` naming the file and the id.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "boxes.json"
    >>> _ = path.write_text('{"ibug/image_003_1": [10, 20, 110, 130]}')
    >>> read_boxes(path)["ibug/image_003_1"].tolist()
    [10.0, 20.0, 110.0, 130.0]
    """
    data = read_json_object(path, "boxes", "{id: [x_min, y_min, x_max, y_max]}")
    boxes = {}
    for key, value in data.items():
        numbers = (isinstance(value, list) and len(value) == 4
                   and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))
        try:
            box = np.asarray(value, dtype=np.float64) if numbers else None
        except OverflowError:                    # an integer beyond any float
            box = None
        if box is None or not np.isfinite(box).all() or (box[2:] <= box[:2]).any():
            raise DataError(f"{path}: box of {key!r} is {str(value)[:60]}; expected [x_min, y_min, x_max, y_max], "
                            f"four finite numbers with x_max > x_min and y_max > y_min")
        boxes[str(key)] = box
    return boxes


def replace_marked_block(text: str, block: str, begin: str, end: str) -> str:
    """``text`` with everything between the ``begin`` and ``end`` marker lines replaced by ``block``
    (a README's generated table); a ``ValueError`` unless there is one of each, in that order.

    >>> replace_marked_block("a|<b>|old|<e>|z".replace("|", chr(10)), "new", "<b>", "<e>").split(chr(10))
    ['a', '<b>', 'new', '<e>', 'z']
    """
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise ValueError(f"expected one {begin} line followed by one {end} line")
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    return f"{head}{begin}\n{block.strip()}\n{end}{tail}"


def is_number(text: str) -> bool:
    """Whether ``text`` reads as a float (for messages that name the first field that does not).

    >>> is_number("1e-3"), is_number("n/a")
    (True, False)
    """
    try:
        float(text)
    except ValueError:
        return False
    return True
