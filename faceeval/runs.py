"""The run store: predictions of a method on a dataset subset, with their provenance.

A run lives in ``RESULTS/<method>/<weights_hash>/<dataset>/<subset>[@<init>]/``::

    predictions.npz   ids, predictions (N, 68, 2), ground_truth (N, 68, 2) or empty, boxes (N, 4)
    meta.json         method, version, weights hash, dataset, subset, init, n, expected (the official
                      count, or null), partial (n < expected), timings, created
    pts/<id>.pts      one 1-based .pts file per face

Everything is written atomically. Work proceeds in chunks saved under ``.partial/``,
so a killed run resumes where it stopped; a finished run is reused unless forced.
Tables and figures are a pure function of stored runs.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .datasets import Dataset
from .io import atomic_write, safe_name, save_npz, write_json, write_pts
from .methods import LandmarkMethod

#: Initialisation procedures: name -> fn(method, images, boxes or None, **init_options) -> (N, 68, 2).
Initialiser = Callable[[LandmarkMethod, Sequence[np.ndarray], np.ndarray], np.ndarray]
INITIALISERS: dict[str, Initialiser] = {}
#: Initialisers that need no dataset box (they find the face themselves).
BOXLESS_INITIALISERS: set[str] = set()


def register_initialiser(name: str, fn: Initialiser, needs_boxes: bool = True) -> None:
    """Add an initialisation procedure selectable with ``faceeval run --init NAME``."""
    INITIALISERS[name] = fn
    if not needs_boxes:
        BOXLESS_INITIALISERS.add(name)


register_initialiser("boxes", lambda method, images, boxes: method.predict(images, boxes))
register_initialiser("gt-box", lambda method, images, boxes: method.predict(images, boxes))


def _two_step(method, images, boxes, fraction: float | None = None):
    from .twostep import two_step_predict

    return two_step_predict(method, images, fraction=fraction)


register_initialiser("two-step", _two_step, needs_boxes=False)


def machine() -> str:
    """The CPU model and core count of this computer, stored with runs beside their timings."""
    import platform

    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def results_root(path: str | os.PathLike | None = None) -> Path:
    """``path``, else ``$FACEEVAL_RESULTS``, else ``./results``."""
    return Path(path or os.environ.get("FACEEVAL_RESULTS", "results")).expanduser()


def _safe(part: str) -> str:
    return safe_name(part, keep="-_.@,=")


@dataclass
class Run:
    """Stored predictions with provenance; ``ground_truth`` is None where the dataset has none."""

    path: Path
    meta: dict
    ids: list[str]
    predictions: np.ndarray
    ground_truth: np.ndarray | None
    boxes: np.ndarray | None = None
    reused: bool = field(default=False, compare=False)

    @property
    def label(self) -> str:
        return self.meta.get("label") or self.meta["method"]

    @property
    def expected(self) -> int | None:
        """The official face count of the run's subset (None where none is defined).

        Stored in ``meta.json``; runs made before it was stored fall back to the 300W counts.
        """
        if "expected" in self.meta:
            return self.meta["expected"]
        from .datasets import W300_EXPECTED

        return W300_EXPECTED.get(self.meta.get("subset", "")) if self.meta.get("dataset") == "300w" else None

    @property
    def partial_label(self) -> str:
        """``"partial: n = 1 of 135"`` when the run covers fewer faces than its subset's official count."""
        from .datasets import partial_label

        return partial_label(len(self.ids), self.expected)


def _init_tag(init: str, init_options: dict | None) -> str:
    """``two-step`` or ``two-step,fraction=0.4``: options that change predictions are in the path."""
    opts = ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in sorted((init_options or {}).items()) if v is not None)
    return f"{init},{opts}" if opts else init


def run_dir(root: Path, method: LandmarkMethod, dataset: Dataset, init: str = "boxes",
            init_options: dict | None = None) -> Path:
    tag = _init_tag(init, init_options)
    subset = dataset.subset if tag == "boxes" else f"{dataset.subset}@{tag}"
    return root / _safe(method.name) / _safe(method.weights_hash) / _safe(dataset.name) / _safe(subset)


def load_run(path: str | os.PathLike) -> Run:
    """Load a finished run from its folder."""
    path = Path(path)
    meta = json.loads((path / "meta.json").read_text())
    with np.load(path / "predictions.npz", allow_pickle=False) as z:
        gt = z["ground_truth"]
        return Run(path, meta, [str(i) for i in z["ids"]], z["predictions"],
                   gt if gt.size else None, z["boxes"] if "boxes" in z.files else None)


def find_runs(root: str | os.PathLike | None = None) -> list[Run]:
    """Every finished run under the results root, oldest first."""
    root = results_root(root)
    runs = [load_run(p.parent) for p in sorted(root.glob("*/*/*/*/meta.json"))]
    return sorted(runs, key=lambda r: r.meta.get("created", ""))


def _initial_boxes(dataset: Dataset, init: str) -> np.ndarray | None:
    if init == "gt-box":
        from .geometry import shape_boxes

        return shape_boxes(dataset.ground_truth)
    if init in BOXLESS_INITIALISERS:
        return None
    return dataset.boxes


def run_method(method: LandmarkMethod, dataset: Dataset, results: str | os.PathLike | None = None,
               init: str = "boxes", force: bool = False, batch_size: int | None = None,
               chunk_size: int | None = None, progress: bool = True, write_pts_files: bool = True,
               stop_after_chunks: int | None = None, init_options: dict | None = None) -> Run:
    """Run ``method`` on every sample of ``dataset`` and store the predictions (or reuse them).

    ``init_options`` are passed to the initialiser (e.g. ``{"fraction": 0.4}`` for two-step)
    and recorded in the run's folder name and meta.
    ``stop_after_chunks`` stops early after that many new chunks (to simulate a kill in tests).
    """
    if init not in INITIALISERS:
        raise ValueError(f"unknown --init {init!r}; choose one of {', '.join(sorted(INITIALISERS))}")
    init_options = {k: v for k, v in (init_options or {}).items() if v is not None}
    out = run_dir(results_root(results), method, dataset, init, init_options)
    if (out / "meta.json").is_file() and not force:
        run = load_run(out)
        if run.ids == dataset.ids:
            run.reused = True
            return run
    if force and out.exists():
        shutil.rmtree(out)
    partial = out / ".partial"
    partial.mkdir(parents=True, exist_ok=True)
    boxes = _initial_boxes(dataset, init)
    batch_size = batch_size or method.batch_size
    chunk_size = max(chunk_size or 4 * batch_size, batch_size)
    n = len(dataset)
    ids = dataset.ids
    predictions = np.full((n, 68, 2), np.nan)
    timings = {"predict_seconds": 0.0, "load_seconds": 0.0}
    starts = list(range(0, n, chunk_size))
    bar = _progress(total=n, desc=f"{method.name} on {dataset.name}/{dataset.subset}", enabled=progress)
    new_chunks = 0
    for start in starts:
        stop = min(start + chunk_size, n)
        chunk_file = partial / f"chunk_{start:07d}.npz"
        if chunk_file.is_file():
            with np.load(chunk_file, allow_pickle=False) as z:
                if [str(i) for i in z["ids"]] == ids[start:stop]:
                    predictions[start:stop] = z["predictions"]
                    timings["predict_seconds"] += float(z["predict_seconds"])
                    timings["load_seconds"] += float(z["load_seconds"])
                    bar.update(stop - start)
                    continue
        if stop_after_chunks is not None and new_chunks >= stop_after_chunks:
            bar.close()
            raise KeyboardInterrupt(f"stopped after {new_chunks} chunks (simulated kill)")
        load_s = pred_s = 0.0
        b = start
        while b < stop:
            t0 = time.perf_counter()
            images = _load_batch(dataset.samples[b:min(b + batch_size, stop)], BATCH_PIXEL_BYTES)
            e = b + len(images)
            t1 = time.perf_counter()
            pred = INITIALISERS[init](method, images, None if boxes is None else boxes[b:e], **init_options)
            t2 = time.perf_counter()
            pred = np.asarray(pred, dtype=np.float64)
            if pred.shape != (e - b, 68, 2):
                raise ValueError(f"method {method.name!r} returned shape {pred.shape} for {e - b} images")
            predictions[b:e] = pred
            load_s, pred_s = load_s + t1 - t0, pred_s + t2 - t1
            bar.update(e - b)
            b = e
        save_npz(chunk_file, ids=np.array(ids[start:stop]), predictions=predictions[start:stop],
                 predict_seconds=pred_s, load_seconds=load_s)
        timings["predict_seconds"] += pred_s
        timings["load_seconds"] += load_s
        new_chunks += 1
    bar.close()
    gt = dataset.ground_truth if all(s.ground_truth is not None for s in dataset.samples) else np.zeros((0, 68, 2))
    meta = {**method.provenance(), "description": method.description, "dataset": dataset.name,
            "subset": dataset.subset, "init": init, "init_options": init_options, "n": n,
            "expected": dataset.expected, "partial": dataset.partial,
            "data_root": str(dataset.root) if dataset.root else None,
            "dataset_notes": dataset.notes, "batch_size": batch_size, "machine": machine(), **timings,
            "images_per_second": n / timings["predict_seconds"] if timings["predict_seconds"] > 0 else None,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    save_npz(out / "predictions.npz", ids=np.array(ids), predictions=predictions, ground_truth=gt,
             boxes=boxes if boxes is not None else np.zeros((0, 4)))
    if write_pts_files:
        for sid, shape in zip(ids, predictions):
            write_pts(out / "pts" / f"{sid}.pts", shape)
    write_json(out / "meta.json", meta)      # last: its presence marks the run finished
    shutil.rmtree(partial, ignore_errors=True)
    return Run(out, meta, ids, predictions, gt if gt.size else None, boxes)


#: Pixel bytes one predict call may hold: a batch stops early when its images reach it
#: (300W images reach 5000 x 3000 px, so 256 of them could take gigabytes).
BATCH_PIXEL_BYTES = 1 << 30


def _load_batch(samples: Sequence, max_bytes: int) -> list[np.ndarray]:
    """Images of ``samples`` in order, stopping once they hold ``max_bytes`` (at least one image)."""
    images, total = [], 0
    for sample in samples:
        image = sample.load_image()
        images.append(image)
        total += image.nbytes
        if total >= max_bytes:
            break
    return images


class _NullBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, desc: str, enabled: bool = True):
    if not enabled:
        return _NullBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="img", leave=False)


__all__ = ["Run", "run_method", "load_run", "find_runs", "results_root", "run_dir", "register_initialiser",
           "INITIALISERS", "atomic_write"]
