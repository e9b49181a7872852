"""The run store: predictions of a method on a dataset subset, with their provenance.

A run is identified by its :class:`RunKey`: the method, its version, weights hash and the
load options that change its predictions, the dataset and subset, and the initialisation
with its options (defaults filled in). The same key names the run's folder, decides
whether a stored run is reused, names ``faceeval compare``'s output and groups the tables::

    RESULTS/<method>/<weights_hash>@v<version>[,<option>=<value>...]/<dataset>/<subset>[@<init>[,<option>=<value>...]]/
        predictions.npz   ids, predictions (N, P, 2), ground_truth (N, P, 2) or empty, boxes (N, 4),
                          visible (N, P) where the ground truth marks occlusion, box_size (N,) where the
                          dataset ships one (P: the points of the landmark scheme)
        meta.json         the key's fields, description, n, expected (the official count, or null),
                          partial (n < expected), timings (load_seconds: reading and decoding images;
                          predict_seconds, split by the method into <part>_seconds), reused_faces (taken
                          from runs on other subsets, named in reused_from), machine, created
        pts/<id>.pts      one 1-based .pts file per face of this run, and no other

Everything is written atomically. Work proceeds in chunks of about five seconds saved under
``.partial/``, so a killed run resumes where it stopped; faces that finished runs of the same
computation on other subsets hold (the challenging faces of a full run) are taken from them;
a finished run is reused unless forced, and
a run redone (forced, or for another list of faces) replaces the old one only once it
is complete. Tables and figures are a pure function of stored runs.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from .datasets import Dataset
from .errors import DataError, OptionError
from .io import atomic_write, open_npz, read_json_object, safe_name, save_npz, write_json, write_pts
from .initialisers import (BOXLESS_INITIALISERS, INIT_OPTION_RESOLVERS, INITIALISERS, Initialiser,  # noqa: F401
                           initial_boxes, register_initialiser, resolve_init_options)
from .machine import cpu_model, machine  # noqa: F401 - part of this module's public names
from .methods import LandmarkMethod

#: The init tag of imported released predictions: the authors' own pipeline placed the faces
#: (``faceeval import-run``); no initialiser of faceeval's produced them.
RELEASED_INIT = "released"


def results_root(path: str | os.PathLike | None = None) -> Path:
    """``path``, else ``$FACEEVAL_RESULTS``, else ``./results``."""
    return Path(path or os.environ.get("FACEEVAL_RESULTS", "results")).expanduser()


def _safe(part: str) -> str:
    return safe_name(part, keep="-_.@,=")


def _items(options: Mapping | None) -> tuple:
    """Options as sorted ``(name, value)`` pairs, ``None`` values dropped: hashable, order-free."""
    return tuple(sorted((str(k), v) for k, v in (options or {}).items() if v is not None))


def _value_text(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


def option_tag(head: str, options: Mapping | Sequence | None) -> str:
    """``head`` followed by ``,name=value`` per option, sorted by name.

    >>> option_tag("two-step", {"fraction": 0.46})
    'two-step,fraction=0.46'
    """
    items = _items(options) if isinstance(options, Mapping) or options is None else tuple(options)
    return ",".join([head] + [f"{k}={_value_text(v)}" for k, v in items])


def subset_tag(subset: str, init: str = "boxes", init_options: Mapping | None = None) -> str:
    """``full`` for detector boxes, else ``full@<init>[,option=value...]``: how runs and comparisons name a set.

    >>> subset_tag("test", "two-step", {"fraction": 0.46})
    'test@two-step,fraction=0.46'
    """
    tag = option_tag(init, init_options)
    return subset if tag == "boxes" else f"{subset}@{tag}"


@dataclass(frozen=True)
class RunKey:
    """Everything that decides a run's predictions, and so its identity.

    ``options`` are the method's load options that change predictions
    (:meth:`~faceeval.methods.LandmarkMethod.options`, e.g. DAN's stages and precision);
    ``init_options`` are the initialiser's options with defaults filled in (e.g. the
    two-step box fraction), both as sorted ``(name, value)`` pairs; ``scheme`` is the landmark
    scheme the method predicts, which must be the dataset's. Two runs are the same
    computation exactly when their keys are equal.
    """

    method: str
    version: str
    weights_hash: str
    options: tuple
    dataset: str
    subset: str
    init: str = "boxes"
    init_options: tuple = ()
    scheme: str = "ibug68"

    @classmethod
    def of(cls, method: LandmarkMethod, dataset: Dataset, init: str = "boxes",
           init_options: Mapping | None = None) -> "RunKey":
        """The key of running ``method`` on ``dataset``; ``init_options`` are validated and completed.
        A method of another landmark scheme than the dataset's is an :class:`OptionError` naming both."""
        check_scheme(method, dataset)
        return cls(method.name, str(method.version), method.weights_hash, _items(method.options()),
                   dataset.name, dataset.subset, init, _items(resolve_init_options(init, init_options)),
                   dataset.scheme)

    @classmethod
    def from_meta(cls, meta: Mapping) -> "RunKey":
        """The key of a stored run, from its ``meta.json``."""
        return cls(meta["method"], str(meta.get("version", "0")), meta.get("weights_hash", "none"),
                   _items(meta.get("options")), meta.get("dataset", "?"), meta.get("subset", "?"),
                   meta.get("init", "boxes"), _items(meta.get("init_options")), meta.get("scheme", "ibug68"))

    @property
    def model(self) -> tuple:
        """The method part (method, version, weights hash, options): what a table row stands for."""
        return self.method, self.version, self.weights_hash, self.options

    @property
    def model_tag(self) -> str:
        """``<weights_hash>@v<version>[,option=value...]``: the model's folder name."""
        return option_tag(f"{self.weights_hash}@v{self.version}", self.options)

    @property
    def init_tag(self) -> str:
        """``boxes``, or e.g. ``two-step,fraction=0.46``."""
        return option_tag(self.init, self.init_options)

    @property
    def subset_tag(self) -> str:
        return self.subset if self.init_tag == "boxes" else f"{self.subset}@{self.init_tag}"

    def folder(self, root: str | os.PathLike) -> Path:
        """Where the run is stored under the results root."""
        return (Path(root) / _safe(self.method) / _safe(self.model_tag) / _safe(self.dataset)
                / _safe(self.subset_tag))

    def as_dict(self) -> dict:
        return {"method": self.method, "version": self.version, "weights_hash": self.weights_hash,
                "options": dict(self.options), "dataset": self.dataset, "subset": self.subset,
                "init": self.init, "init_options": dict(self.init_options), "scheme": self.scheme}


def check_scheme(method: LandmarkMethod, dataset: Dataset) -> None:
    """An :class:`OptionError` unless ``method`` predicts the landmark scheme of ``dataset``."""
    from .protocol import scheme

    ours, theirs = scheme(getattr(method, "scheme", "ibug68")), scheme(dataset.scheme)
    if ours.name != theirs.name:
        raise OptionError(f"method {method.name!r} predicts {ours.n_points}-point {ours.name} shapes, but dataset "
                          f"{dataset.name}/{dataset.subset} is annotated with {theirs.n_points}-point {theirs.name}: "
                          f"run a {theirs.name} method on it")


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
    #: ``(N, 68)`` booleans, False where the ground truth marks a point occluded (COFW-68); else None.
    visible: np.ndarray | None = None
    #: ``(N,)`` the dataset's own box size per face where it ships one (AFLW's box-size protocol); else None.
    box_sizes: np.ndarray | None = None

    @property
    def label(self) -> str:
        return self.meta.get("label") or self.meta["method"]

    @property
    def released(self) -> dict | None:
        """Where the predictions come from when they are a method's released predictions
        (``faceeval import-run``), else None (a run faceeval computed)."""
        return self.meta.get("released")

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


def run_dir(root: str | os.PathLike, method: LandmarkMethod, dataset: Dataset, init: str = "boxes",
            init_options: Mapping | None = None) -> Path:
    """The folder of the run of ``method`` on ``dataset`` (see :class:`RunKey`)."""
    return RunKey.of(method, dataset, init, init_options).folder(root)


RUN_META = "meta.json"      # a run folder's key, provenance and counts; written last, so it marks the run finished


def is_finished_run(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds a finished run (its ``meta.json``, written last)."""
    return (Path(folder) / RUN_META).is_file()


def read_run_meta(folder: str | os.PathLike) -> dict:
    """A run folder's ``meta.json`` (its key, provenance and counts); a damaged one is a
    :class:`DataError` naming it."""
    return read_json_object(Path(folder) / RUN_META, "a run's provenance")


def load_run(path: str | os.PathLike) -> Run:
    """Load a finished run from its folder."""
    path = Path(path)
    meta = read_run_meta(path)
    with open_npz(path / "predictions.npz", "a run's predictions") as z:
        gt = z["ground_truth"]
        visible = z["visible"].astype(bool) if "visible" in z.files and z["visible"].size else None
        sizes = np.asarray(z["box_size"], dtype=np.float64) if "box_size" in z.files else None
        return Run(path, meta, [str(i) for i in z["ids"]], z["predictions"],
                   gt if gt.size else None, z["boxes"] if "boxes" in z.files else None, visible=visible,
                   box_sizes=sizes)


def find_runs(root: str | os.PathLike | None = None) -> list[Run]:
    """Every finished run under the results root, oldest first."""
    root = results_root(root)
    runs = [load_run(p.parent) for p in sorted(root.glob(f"*/*/*/*/{RUN_META}"))]
    return sorted(runs, key=lambda r: r.meta.get("created", ""))


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (or a simulated kill) during :func:`run_method`; ``saved`` of ``total`` faces are on disk
    and the same call resumes from them. Derives from ``KeyboardInterrupt``, so it still stops a program."""

    def __init__(self, saved: int, total: int, path: Path):
        self.saved, self.total, self.path = saved, total, Path(path)
        super().__init__(f"interrupted: {saved} of {total} faces are saved (in {self.path / '.partial'}); "
                         f"run the same command again to resume")


def inputs_digest(dataset: Dataset, boxes: np.ndarray | None) -> str:
    """A digest of what the method is given besides the images' files: the ids, the initial boxes
    and the ground truth (which decides gt-box and a folder's tight boxes). A stored run is reused
    only for the same inputs, so another boxes file (``--boxes``), another re-cut of a dataset or
    another folder with the same file names never returns stale predictions."""
    import hashlib

    h = hashlib.sha256("\n".join(dataset.ids).encode())
    h.update(b"boxes" + (np.ascontiguousarray(boxes, dtype=np.float64).tobytes() if boxes is not None else b"none"))
    if all(s.ground_truth is not None for s in dataset.samples):
        h.update(b"gt" + np.ascontiguousarray(dataset.ground_truth, dtype=np.float64).tobytes())
    return h.hexdigest()[:16]


#: Seconds of work one saved chunk may hold: a chunk is one ``predict`` call, sized from the speed
#: measured so far, so Ctrl-C never loses more than about this much.
CHUNK_SECONDS = 5.0
#: Faces in the first call, before any speed is known (then at most ``CHUNK_GROWTH`` times the last).
FIRST_CHUNK = 8
CHUNK_GROWTH = 4


def _read_chunks(partial: Path, index: Mapping[str, int], n_points: int) -> dict[int, tuple[np.ndarray, float, float]]:
    """Faces saved by earlier, interrupted calls: position -> (prediction, predict and load seconds per face).

    The ``.partial`` folder is stamped with the run's key and inputs, so its chunks are this
    computation's; a chunk naming a face not in ``index`` or unreadable is ignored (recomputed).
    """
    found: dict[int, tuple[np.ndarray, float, float]] = {}
    for chunk_file in sorted(partial.glob("chunk_*.npz")):
        try:
            with np.load(chunk_file, allow_pickle=False) as z:
                got = [str(i) for i in z["ids"]]
                pred = np.asarray(z["predictions"], dtype=np.float64)
                pred_s, load_s = float(z["predict_seconds"]), float(z["load_seconds"])
        except Exception:  # noqa: BLE001 - any unreadable chunk is simply recomputed
            continue
        if not got or pred.shape != (len(got), n_points, 2) or any(i not in index for i in got):
            continue
        for sid, shape in zip(got, pred):
            found[index[sid]] = (shape, pred_s / len(got), load_s / len(got))
    return found


def _same_rows(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | bool:
    """Per row, whether ``a`` and ``b`` hold the same numbers (both absent counts as the same)."""
    if a is None or b is None:
        return a is None and b is None
    return np.all(np.asarray(a, dtype=np.float64).reshape(len(a), -1) ==
                  np.asarray(b, dtype=np.float64).reshape(len(b), -1), axis=1)


def reusable_faces(key: "RunKey", dataset: Dataset, boxes: np.ndarray | None, results: str | os.PathLike | None,
                   wanted: Sequence[int] | None = None) -> dict[int, tuple[np.ndarray, float, Path]]:
    """Faces of ``dataset`` already predicted by stored runs of the same computation on other
    subsets (or an earlier list of faces of this one): position -> (prediction, predict seconds
    per face in that run, its folder).

    A face is taken from a finished run whose key differs from ``key`` at most in the subset,
    when its id, its initial box and its ground truth are the same as here: the same inputs,
    so the same prediction (the check :func:`inputs_digest` makes for a whole run, per face).
    """
    folder = key.folder(results_root(results))
    wanted = range(len(dataset)) if wanted is None else wanted
    index = {dataset.samples[i].id: i for i in wanted}
    gt_known = all(s.ground_truth is not None for s in dataset.samples)
    gt = dataset.ground_truth if gt_known else None
    found: dict[int, tuple[np.ndarray, float, Path]] = {}
    for meta_file in sorted(folder.parent.glob(f"*/{RUN_META}")):
        if not index:
            break
        try:    # the key from meta.json alone; the predictions are read only for runs of the same computation
            other = RunKey.from_meta(read_run_meta(meta_file.parent))
        except DataError:
            continue
        if (other.model, other.dataset, other.init, other.init_options) != (key.model, key.dataset, key.init,
                                                                             key.init_options):
            continue
        try:
            run = load_run(meta_file.parent)
        except DataError:
            continue
        here = [(j, index[sid]) for j, sid in enumerate(run.ids) if sid in index]
        if not here:
            continue
        theirs, ours = (np.array(v) for v in zip(*here))
        stored_boxes = run.boxes if run.boxes is not None and len(run.boxes) == len(run.ids) else None
        same = _same_rows(None if boxes is None else boxes[ours],
                          None if stored_boxes is None else stored_boxes[theirs])
        same = same & _same_rows(None if gt is None else gt[ours],
                                 None if run.ground_truth is None else run.ground_truth[theirs])
        seconds = run.meta.get("predict_seconds") or 0.0
        per_face = float(seconds) / max(len(run.ids), 1)
        for j, i, ok in zip(theirs, ours, np.broadcast_to(same, theirs.shape)):
            if ok and np.all(np.isfinite(run.predictions[j])):
                found[int(i)] = (run.predictions[j], per_face, run.path)
                index.pop(dataset.samples[int(i)].id)
    return found


def run_method(method: LandmarkMethod, dataset: Dataset, results: str | os.PathLike | None = None,
               init: str = "boxes", force: bool = False, batch_size: int | None = None,
               chunk_size: int | None = None, progress: bool = True, write_pts_files: bool = True,
               stop_after_chunks: int | None = None, init_options: dict | None = None,
               report: Callable[[str], None] | None = None) -> Run:
    """Run ``method`` on every sample of ``dataset`` and store the predictions (or reuse them).

    ``init_options`` are passed to the initialiser (e.g. ``{"fraction": 0.4}`` for two-step);
    they are validated, completed with the initialiser's defaults and made part of the
    run's key (:class:`RunKey`) before any work starts. A stored run is reused when its key,
    its list of faces and its inputs (:func:`inputs_digest`) are this run's; otherwise faces
    that stored runs of the same computation on other subsets already hold are taken from
    them (:func:`reusable_faces`; ``report`` is told ``reused N of M faces from stored runs``)
    and only the others are predicted. ``force`` recomputes every face.

    Work is saved in chunks of one ``predict`` call each, at most ``batch_size`` (the method's
    default) and ``chunk_size`` faces, sized from the speed so far to take about
    :data:`CHUNK_SECONDS`. Ctrl-C keeps every finished chunk and raises :class:`RunInterrupted`
    saying how many faces are saved; the same call then resumes, and ``report`` (if given) is
    told ``resuming: N of M faces done``. ``stop_after_chunks`` stops early after that many
    new chunks (to simulate a kill in tests).
    """
    key = RunKey.of(method, dataset, init, init_options)        # raises OptionError before any file is written
    blind = [s.id for s in dataset.samples if s.image_path is None and s.pixels is None]
    if blind:
        raise DataError(f"{dataset.name}/{dataset.subset} under {dataset.root}: {len(blind)} faces have no image (first: "
                        f"{blind[0]}); a method cannot run on ground truth alone: score predictions made elsewhere "
                        f"with `faceeval eval FILE --gt {dataset.name}:{dataset.subset}` or `faceeval import-run`")
    init_options = dict(key.init_options)
    out = key.folder(results_root(results))
    boxes = initial_boxes(dataset, init)
    inputs = inputs_digest(dataset, boxes)
    if is_finished_run(out) and not force:
        try:
            run = load_run(out)
        except DataError:                    # a damaged stored run is computed again, not trusted
            run = None
        if (run is not None and RunKey.from_meta(run.meta) == key and run.ids == dataset.ids
                and run.meta.get("inputs", inputs) == inputs):
            run.reused = True
            return run
    partial = _partial_folder(out, key, inputs, fresh=force)
    batch_size = batch_size or method.batch_size
    cap = max(1, min(batch_size, chunk_size or batch_size))
    n = len(dataset)
    ids = dataset.ids
    n_points = dataset.scheme_value.n_points
    predictions = np.full((n, n_points, 2), np.nan)
    done = np.zeros(n, dtype=bool)
    predict_s = load_s = 0.0
    for i, (shape, pred_s, face_load_s) in _read_chunks(partial, {sid: i for i, sid in enumerate(ids)}, n_points).items():
        predictions[i], done[i] = shape, True
        predict_s, load_s = predict_s + pred_s, load_s + face_load_s
    resumed, resumed_seconds = int(done.sum()), predict_s + load_s
    parts_before = method.predict_timings()
    if resumed and report is not None:
        report(f"resuming: {resumed} of {n} faces done (saved in {partial})")
    reused = {} if force else reusable_faces(key, dataset, boxes, results, wanted=np.flatnonzero(~done))
    for i, (shape, pred_s, _) in reused.items():
        predictions[i], done[i] = shape, True
        predict_s += pred_s                  # their share of the time the stored runs took
    if reused and report is not None:
        report(f"reused {len(reused)} of {n} faces from stored runs")
    todo = np.flatnonzero(~done)
    finished = n - len(todo)                 # faces whose predictions are on disk
    bar = _progress(total=n, desc=f"{method.name} on {dataset.name}/{dataset.subset}", enabled=progress)
    bar.update(finished)
    # the first call's size: from the speed of the chunks saved before (a resumed run), else small
    step = _next_step(resumed, resumed_seconds, cap) if resumed else min(FIRST_CHUNK, cap)
    new_chunks, pos = 0, 0
    try:
        while pos < len(todo):
            if stop_after_chunks is not None and new_chunks >= stop_after_chunks:
                raise KeyboardInterrupt(f"stopped after {new_chunks} chunks (simulated kill)")
            t0 = time.perf_counter()
            images = _load_batch([dataset.samples[i] for i in todo[pos:pos + step]], BATCH_PIXEL_BYTES)
            take = todo[pos:pos + len(images)]
            t1 = time.perf_counter()
            pred = INITIALISERS[init](method, images, None if boxes is None else boxes[take], **init_options)
            t2 = time.perf_counter()
            pred = np.asarray(pred, dtype=np.float64)
            if pred.shape != (len(take), n_points, 2):
                raise ValueError(f"method {method.name!r} returned shape {pred.shape} for {len(take)} images")
            predictions[take] = pred
            _save_chunk(partial, int(take[0]), [ids[i] for i in take], pred, t2 - t1, t1 - t0)
            finished += len(take)
            predict_s, load_s = predict_s + t2 - t1, load_s + t1 - t0
            bar.update(len(take))
            pos += len(take)
            new_chunks += 1
            step = _next_step(len(take), t2 - t0, cap)
        bar.close()
        timings = {"predict_seconds": predict_s, "load_seconds": load_s}
        # the parts of predict the method times (of the faces computed by this call, not resumed ones)
        timings.update({f"{part}_seconds": seconds - parts_before.get(part, 0.0)
                        for part, seconds in method.predict_timings().items()})
        sources = sorted({path.name for _, _, path in reused.values()})
        return _finish(method, dataset, key, out, partial, predictions, boxes, inputs, timings, batch_size,
                       write_pts_files, {"reused_faces": len(reused), "reused_from": sources})
    except KeyboardInterrupt as exc:
        bar.close()
        if isinstance(exc, RunInterrupted):
            raise
        raise RunInterrupted(finished, n, out) from None


def _next_step(faces: int, seconds: float, cap: int) -> int:
    """Faces for the next ``predict`` call: about :data:`CHUNK_SECONDS` at the speed just measured,
    at most ``CHUNK_GROWTH`` times the last call and ``cap``.

    >>> _next_step(8, 0.4, 256), _next_step(32, 0.4, 256), _next_step(100, 10.0, 256)
    (32, 128, 50)
    """
    rate = faces / max(seconds, 1e-6)
    return int(max(1, min(cap, faces * CHUNK_GROWTH, int(rate * CHUNK_SECONDS))))


def _save_chunk(partial: Path, start: int, ids: Sequence[str], predictions: np.ndarray, predict_seconds: float,
                load_seconds: float) -> None:
    save_npz(partial / f"chunk_{start:07d}.npz", ids=np.array(ids), predictions=predictions,
             predict_seconds=predict_seconds, load_seconds=load_seconds)


def _finish(method: LandmarkMethod, dataset: Dataset, key: RunKey, out: Path, partial: Path, predictions: np.ndarray,
            boxes: np.ndarray | None, inputs: str, timings: dict, batch_size: int, write_pts_files: bool,
            extra: dict | None = None) -> Run:
    """Write the finished run (predictions, .pts files, meta.json last) in place of any older one."""
    n = len(dataset)
    ids = dataset.ids
    gt = (dataset.ground_truth if all(s.ground_truth is not None for s in dataset.samples)
          else np.zeros((0, dataset.scheme_value.n_points, 2)))
    meta = {**method.provenance(), **key.as_dict(), "description": method.description, "n": n,
            "expected": dataset.expected, "partial": dataset.partial,
            "data_root": str(dataset.root) if dataset.root else None, "inputs": inputs,
            "dataset_notes": dataset.notes, "batch_size": batch_size, "machine": machine(), **timings, **(extra or {}),
            "images_per_second": n / timings["predict_seconds"] if timings["predict_seconds"] > 0 else None,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    return store_run(out, partial, meta, ids, predictions, gt, boxes, write_pts_files, dataset.visible,
                     dataset.box_sizes)


def store_run(out: Path, partial: Path, meta: dict, ids: Sequence[str], predictions: np.ndarray, gt: np.ndarray,
              boxes: np.ndarray | None, write_pts_files: bool = True, visible: np.ndarray | None = None,
              box_sizes: np.ndarray | None = None) -> Run:
    """Write a finished run into ``out`` in place of any older one (``.pts`` files prepared under
    ``partial``, ``meta.json`` last: its presence marks the run finished); ``gt`` may be empty;
    ``visible``: the ground truth's occlusion flags, where it has them; ``box_sizes``: the dataset's
    own box size per face (AFLW), where it ships one."""
    ids = list(ids)
    new_pts = partial / "pts"
    shutil.rmtree(new_pts, ignore_errors=True)
    if write_pts_files:
        for sid, shape in zip(ids, predictions):
            write_pts(new_pts / f"{sid}.pts", shape)
    # From here the old run (if any) is replaced: unmark it, swap in the new files, mark the new one.
    (out / RUN_META).unlink(missing_ok=True)
    extra = {"visible": np.asarray(visible, dtype=bool)} if visible is not None else {}
    if box_sizes is not None:
        extra["box_size"] = np.asarray(box_sizes, dtype=np.float64)
    save_npz(out / "predictions.npz", ids=np.array(ids), predictions=predictions, ground_truth=gt,
             boxes=boxes if boxes is not None else np.zeros((0, 4)), **extra)
    shutil.rmtree(out / "pts", ignore_errors=True)         # a redone run holds its own faces only
    if write_pts_files:
        new_pts.rename(out / "pts")
    write_json(out / RUN_META, meta)      # last: its presence marks the run finished
    shutil.rmtree(partial, ignore_errors=True)
    return Run(out, meta, ids, predictions, gt if gt.size else None, boxes,
               visible=None if visible is None else np.asarray(visible, dtype=bool),
               box_sizes=extra.get("box_size"))


def _partial_folder(out: Path, key: RunKey, inputs: str, fresh: bool = False) -> Path:
    """``out/.partial`` for the chunks of this key's run on these inputs; chunks of another
    computation (or all of them when ``fresh``) are discarded."""
    partial = out / ".partial"
    stamp = partial / "key.json"
    wanted = {**key.as_dict(), "inputs": inputs}
    if partial.exists():
        try:
            same = json.loads(stamp.read_text()) == wanted
        except (OSError, ValueError):
            same = False
        if fresh or not same:
            shutil.rmtree(partial)
    if not stamp.is_file():
        write_json(stamp, wanted)
    return partial


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


__all__ = ["Run", "RunKey", "RunInterrupted", "run_method", "store_run", "RELEASED_INIT", "inputs_digest", "reusable_faces", "load_run", "find_runs", "results_root", "run_dir", "register_initialiser",
           "resolve_init_options", "option_tag", "subset_tag", "INITIALISERS", "BOXLESS_INITIALISERS", "atomic_write"]
