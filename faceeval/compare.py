"""Methods side by side: accuracy and speed measured in one run on one machine.

:func:`compare_methods` runs every method on the same dataset subset through the run
store (:func:`faceeval.runs.run_method`, so predictions are cached and reused), scores
them with :mod:`faceeval.metrics`, and times each method in a separate pass on a
sample of already-loaded images: one image per ``predict`` call (batch 1) and the
method's preferred batch size. :func:`write_comparison` writes the table as Markdown
and CSV plus a joint CED plot.

Example::

    from faceeval.datasets import load_dataset
    rows = compare_methods(["meanshape", "ert"], load_dataset("builtin"), timing_images=8)
    write_comparison(rows, "results/compare/builtin-all")   # .md, .csv, -ced.png, -ced.pdf
"""
from __future__ import annotations

import csv
import io
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from .datasets import Dataset
from .io import DataError, atomic_write
from .errors import MissingDependencyError, MissingWeightsError, OptionError
from .methods import LandmarkMethod, load_method
from .metrics import ALPHA, Summary, align_by_ids, evaluate
from .report.ced import curve_from_errors, plot_ced
from .runs import BOXLESS_INITIALISERS, INITIALISERS, Run, resolve_init_options, run_method
from .stats import Bootstrap, PairedComparison, SummaryIntervals, format_with_interval, paired_comparison, \
    summary_intervals

#: ``predict(images, boxes) -> (N, P, 2)``
Predict = Callable[[Sequence[np.ndarray], np.ndarray], np.ndarray]

#: Columns of the comparison table, in order.
COLUMNS = ("method", "weights", "n", "mean error %", "median error %", "AUC", "failure %",
           "img/s batch 1", "img/s batched", "batch size")
#: Columns that get a confidence interval, and the statistic each shows.
INTERVAL_COLUMNS = {"mean error %": "mean_error", "median error %": "median_error", "AUC": "auc",
                    "failure %": "failure_rate"}


@dataclass
class Throughput:
    """Images per second of ``predict`` (image loading excluded) at batch 1 and batched."""

    batch1: float
    batched: float
    batch_size: int
    n_images: int


@dataclass
class Comparison:
    """One method's row: its stored run, scores and measured speed (None for released
    predictions, which ran elsewhere: ``method`` is then a :class:`~faceeval.released.ReleasedPredictions`)."""

    method: LandmarkMethod
    run: Run
    summary: Summary
    errors: np.ndarray
    speed: Throughput | None
    intervals: SummaryIntervals | None = None

    def row(self) -> dict:
        s = self.summary
        speed = self.speed
        return {"method": self.method.name + (" (released predictions)" if speed is None else ""),
                "weights": self.method.weights_hash, "n": s.n,
                "mean error %": s.mean_error * 100, "median error %": s.median_error * 100,
                "AUC": s.auc * 100, "failure %": s.failure_rate * 100,
                "img/s batch 1": speed.batch1 if speed else "–", "img/s batched": speed.batched if speed else "–",
                "batch size": speed.batch_size if speed else "–"}


def _images_per_second(predict: Predict, images: Sequence[np.ndarray], boxes: np.ndarray, batch_size: int) -> float:
    start = time.perf_counter()
    for b in range(0, len(images), batch_size):
        predict(images[b:b + batch_size], boxes[b:b + batch_size])
    return len(images) / max(time.perf_counter() - start, 1e-9)


def measure_throughput(method: LandmarkMethod, images: Sequence[np.ndarray], boxes: np.ndarray,
                       batch_size: int | None = None, warmup: int = 1, predict: Predict | None = None) -> Throughput:
    """Time ``method.predict`` on in-memory ``images`` one at a time, then ``batch_size`` at a time.

    ``warmup`` untimed calls come first (lazy initialisation, caches, thread pools).
    ``predict(images, boxes)`` replaces ``method.predict`` where the run uses another
    initialisation procedure (e.g. two-step), so that the timing covers what the run does.
    """
    images = list(images)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if not images or len(images) != len(boxes):
        raise ValueError(f"measure_throughput: need as many images as boxes, got {len(images)} and {len(boxes)}")
    predict = predict or method.predict
    batch_size = max(1, min(batch_size or method.batch_size, len(images)))
    for _ in range(warmup):
        predict(images[:batch_size], boxes[:batch_size])
    return Throughput(batch1=_images_per_second(predict, images, boxes, 1),
                      batched=_images_per_second(predict, images, boxes, batch_size),
                      batch_size=batch_size, n_images=len(images))


def timing_sample(dataset: Dataset, boxes: np.ndarray, n: int) -> tuple[list[np.ndarray], np.ndarray]:
    """The first ``n`` images of ``dataset`` (loaded, so loading is not timed) and their boxes;
    repeated cyclically when the dataset is smaller than ``n``."""
    if len(dataset) == 0:
        raise DataError(f"{dataset.name}/{dataset.subset}: no samples to time")
    take = [i % len(dataset) for i in range(n)]
    loaded = {i: dataset.samples[i].load_image() for i in sorted(set(take))}
    return [loaded[i] for i in take], boxes[take]


def compare_methods(methods: Sequence[str | LandmarkMethod], dataset: Dataset, results: str | os.PathLike | None = None,
                    init: str = "boxes", norm: str = "inter-ocular", alpha: float = ALPHA,
                    timing_images: int = 32, weights: Mapping[str, str] | None = None,
                    force: bool = False, progress: bool = True,
                    init_options: Mapping | None = None, bootstrap: Bootstrap | None = None,
                    on_unavailable: Callable[[str, Exception], None] | None = None) -> list[Comparison]:
    """Run (or reuse), score and time each method on ``dataset``; one :class:`Comparison` per method.

    ``methods`` are registered names (loaded with ``weights[name]`` where given) or
    ready instances; ``bootstrap`` adds confidence intervals to each row. Each run is the
    one ``faceeval run`` stores for the same method, ``init`` and ``init_options`` (one run
    key). Timing goes through the same initialisation procedure with the same options (the
    dataset's boxes, the tight ground-truth boxes for ``init="gt-box"``, or a box-less
    procedure such as two-step).

    Every method is loaded before any runs. With ``on_unavailable``, a method that cannot be
    loaded here (no trained weights, a missing optional dependency) is left out and
    ``on_unavailable(name, error)`` is called, so the others are still compared; without it,
    that error is raised. Anything else (an unknown name, a damaged weights file) always fails.

    A name that is not a registered method but has released predictions stored on ``dataset``
    (``faceeval import-run``) is compared from them, on the same faces, without timing.
    """
    from .methods import available_methods
    from .released import ReleasedPredictions, find_released_run

    from .geometry import shape_boxes

    init_options = resolve_init_options(init, init_options)       # before any work: bad options fail here
    weights = dict(weights or {})
    boxless = init in BOXLESS_INITIALISERS
    if boxless:                        # the initialiser finds the face: boxes are placeholders
        timing_boxes = np.zeros((len(dataset), 4))
    else:
        timing_boxes = shape_boxes(dataset.ground_truth) if init == "gt-box" else dataset.boxes
    loaded, released = [], {}
    for entry in methods:
        if not isinstance(entry, str):
            loaded.append(entry)
            continue
        if entry not in available_methods():
            run = find_released_run(results, entry, dataset)
            if run is not None:
                released[entry] = run
                loaded.append(ReleasedPredictions.of(run))
                continue
        try:
            loaded.append(load_method(entry, weights.get(entry)))
        except (MissingWeightsError, MissingDependencyError) as exc:
            if on_unavailable is None:
                raise
            on_unavailable(entry, exc)
    if not loaded:
        raise OptionError(f"none of the methods {', '.join(map(str, methods))} can run here; nothing to compare")
    timed = [m for m in loaded if not isinstance(m, ReleasedPredictions)]
    sample_images, sample_boxes = timing_sample(dataset, timing_boxes, timing_images) if timed else ([], None)
    rows = []
    for method in loaded:
        if isinstance(method, ReleasedPredictions):
            run = released[method.name]
            summary, errors = evaluate(run.predictions, run.ground_truth, norm, alpha, ids=run.ids)
            intervals = summary_intervals(errors, alpha, bootstrap=bootstrap) if bootstrap else None
            rows.append(Comparison(method, run, summary, errors, None, intervals))
            continue
        run = run_method(method, dataset, results, init=init, force=force, progress=progress,
                         init_options=init_options)
        if run.ground_truth is None:
            raise DataError(f"{dataset.name}/{dataset.subset}: no ground truth, nothing to compare")
        summary, errors = evaluate(run.predictions, run.ground_truth, norm, alpha, ids=run.ids, scheme=dataset.scheme,
                                   box_size=dataset.box_sizes)
        initialise = INITIALISERS[init]
        speed = measure_throughput(method, sample_images, sample_boxes,
                                   predict=lambda imgs, b, m=method: initialise(m, imgs, None if boxless else b,
                                                                                **init_options))
        intervals = summary_intervals(errors, alpha, bootstrap=bootstrap) if bootstrap else None
        rows.append(Comparison(method, run, summary, errors, speed, intervals))
    return rows


def paired_comparisons(rows: Sequence[Comparison], bootstrap: Bootstrap | None = None) -> list[PairedComparison]:
    """Every pair of rows (in table order) compared image by image (:func:`faceeval.stats.paired_comparison`)."""
    out = []
    for i, a in enumerate(rows):
        for b in rows[i + 1:]:
            errors_b = b.errors[align_by_ids(b.run.ids, a.run.ids)]
            out.append(paired_comparison(a.errors, errors_b, _label(a, rows), _label(b, rows), bootstrap))
    return out


def _label(row: Comparison, rows: Sequence[Comparison]) -> str:
    """The method's name, with its weights hash where two rows share a name."""
    same = sum(r.method.name == row.method.name for r in rows) > 1
    return f"{row.method.name} [{row.method.weights_hash[:8]}]" if same else row.method.name


def machine_description() -> str:
    """Where the speeds were measured (they are only comparable within one machine)."""
    threads = ""
    try:
        import torch

        threads = f", torch {torch.__version__} with {torch.get_num_threads()} threads"
    except ImportError:
        pass
    return (f"{platform.node() or 'unknown host'}: {platform.machine()} {platform.processor() or ''}".rstrip()
            + f", {os.cpu_count()} CPUs, Python {platform.python_version()}{threads}")


def _format(value) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _cell(row: Comparison, column: str) -> str:
    value = row.row()[column]
    if row.intervals is not None and column in INTERVAL_COLUMNS:
        return format_with_interval(value / 100, row.intervals[INTERVAL_COLUMNS[column]])
    return _format(value)


def comparison_markdown(rows: Sequence[Comparison], title: str = "",
                        pairs: Sequence[PairedComparison] = (), skipped: Mapping[str, str] | None = None) -> str:
    """The table as GitHub Markdown, with the protocol and the machine underneath (and the
    paired comparisons, where given); ``skipped`` (name -> why) lists methods left out."""
    lines = [f"## {title}", ""] if title else []
    lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" if c in ("method", "weights") else "---:"
                                                               for c in COLUMNS) + "|"]
    lines += ["| " + " | ".join(_cell(r, c) for c in COLUMNS) + " |" for r in rows]
    if rows:
        s = rows[0].summary
        timed = next((r.speed for r in rows if r.speed is not None), None)
        speeds = (f" Speeds: `predict` only (images preloaded), {timed.n_images} images, measured in one run on "
                  f"{machine_description()}." if timed else "")
        lines += ["", f"Errors normalised by {s.norm} distance; AUC and failure "
                      f"(error {'>=' if s.inclusive_failure else '>'} {s.alpha:g}) at "
                      f"alpha = {s.alpha:g}.{speeds}"]
        if any(r.speed is None for r in rows):
            lines += ["", "Released predictions: the method's authors ran it (their own pipeline and face crops); "
                          "they are scored here on the same faces and ground truth, and have no speed."]
        boot = next((r.intervals.bootstrap for r in rows if r.intervals is not None), None)
        if boot is not None:
            lines += ["", f"[low, high]: {boot.level * 100:g}% confidence interval, percentile bootstrap over "
                          f"images ({boot.resamples} resamples, seed {boot.seed})."]
        notes = [f"- {r.method.name}: {r.method.description}" for r in rows if r.method.description]
        lines += ["", *notes] if notes else []
    if skipped:
        lines += ["", *(f"- not compared: {name} ({why})" for name, why in skipped.items())]
    if pairs:
        lines += ["", paired_markdown(pairs)]
    return "\n".join(lines) + "\n"


PAIRED_COLUMNS = ("A", "B", "n", "mean A − B %", "95% CI", "Wilcoxon p", "A better", "B better", "verdict")


def paired_markdown(pairs: Sequence[PairedComparison]) -> str:
    """Paired comparisons as Markdown: mean per-image difference with its interval, Wilcoxon
    signed-rank p, how often each method has the lower error, and the verdict."""
    level = f"{pairs[0].bootstrap.level * 100:g}%"
    cols = [c.replace("95%", level) for c in PAIRED_COLUMNS]
    lines = ["### Paired comparisons (same images)", "", "| " + " | ".join(cols) + " |",
             "|---|---|" + "---:|" * 6 + "---|"]
    for p in pairs:
        lines.append(f"| {p.name_a} | {p.name_b} | {p.n} | {p.mean_difference * 100:+.3f} | {p.interval.text(digits=3)} | "
                     f"{p.wilcoxon_p:.2g} | {p.a_better * 100:.1f}% | {p.b_better * 100:.1f}% | {p.verdict} |")
    b = pairs[0].bootstrap
    lines += ["", f"Differences are A − B in percent of the normaliser (negative: A has the lower error). "
                  f"Interval: paired percentile bootstrap over images ({b.resamples} resamples, seed {b.seed}); "
                  f"Wilcoxon signed-rank test, two-sided (scipy); ties count for neither."]
    return "\n".join(lines) + "\n"


def paired_csv(pairs: Sequence[PairedComparison]) -> str:
    buffer = io.StringIO()
    fields = ["a", "b", "n", "mean_difference", "ci_low", "ci_high", "wilcoxon_p", "a_better", "b_better", "ties",
              "significant", "verdict"]
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for p in pairs:
        d = p.as_dict()
        d["ci_low"], d["ci_high"] = d.pop("mean_difference_ci")
        writer.writerow({k: (f"{d[k]:.6g}" if isinstance(d[k], float) else d[k]) for k in fields})
    return buffer.getvalue()


def comparison_csv(rows: Sequence[Comparison]) -> str:
    """The table as CSV; rows with intervals add ``<column> CI low`` / ``CI high`` columns at the end."""
    ci_fields = [f"{c} CI {end}" for c in INTERVAL_COLUMNS for end in ("low", "high")]
    with_ci = any(r.intervals is not None for r in rows)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS) + (ci_fields if with_ci else []), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        record = dict(r.row())
        if r.intervals is not None:
            for c, stat in INTERVAL_COLUMNS.items():
                record[f"{c} CI low"], record[f"{c} CI high"] = (v * 100 for v in r.intervals[stat].as_list())
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in record.items()})
    return buffer.getvalue()


def write_comparison(rows: Sequence[Comparison], stem: str | os.PathLike, title: str = "",
                     pairs: Sequence[PairedComparison] = (), skipped: Mapping[str, str] | None = None) -> list[Path]:
    """Write ``STEM.md``, ``STEM.csv`` and the joint CED plot ``STEM-ced.png`` (+ ``.pdf``) atomically;
    with ``pairs`` also ``STEM-paired.csv`` and a scatter plot per pair, ``STEM-A-vs-B.png`` (+ ``.pdf``)."""
    if not rows:
        raise ValueError("write_comparison: no methods to write")
    stem = Path(stem)
    written = []
    files = [(".md", comparison_markdown(rows, title, pairs, skipped)), (".csv", comparison_csv(rows))]
    files += [("-paired.csv", paired_csv(pairs))] if pairs else []
    for suffix, text in files:
        path = stem.with_name(stem.name + suffix)
        with atomic_write(path) as fh:
            fh.write(text)
        written.append(path)
    alpha, norm = rows[0].summary.alpha, rows[0].summary.norm
    curves = [curve_from_errors(r.method.name, r.errors, alpha) for r in rows]
    written += plot_ced(curves, stem.with_name(stem.name + "-ced"), alpha, norm, title=title or None)
    if pairs:
        from .io import safe_name
        from .report.diagnostics import paired_scatter

        errors = {_label(r, rows): r for r in rows}
        for p in pairs:
            a, b = errors[p.name_a], errors[p.name_b]
            name = f"{stem.name}-{safe_name(p.name_a)}-vs-{safe_name(p.name_b)}"
            subtitle = (f"mean A − B {p.mean_difference * 100:+.3f} {p.interval.text(digits=3)}, Wilcoxon p {p.wilcoxon_p:.2g}: "
                        f"{p.verdict}")
            fig = paired_scatter(a.errors, b.errors[align_by_ids(b.run.ids, a.run.ids)], p.name_a, p.name_b,
                                 stem.with_name(name), norm, subtitle)
            written += fig.paths
    return written


__all__ = ["Comparison", "Throughput", "compare_methods", "measure_throughput", "timing_sample",
           "comparison_markdown", "comparison_csv", "write_comparison", "machine_description", "COLUMNS",
           "paired_comparisons", "paired_markdown", "paired_csv"]
