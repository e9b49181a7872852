"""The standard table of each benchmark (``faceeval tables --benchmark wflw|cofw|aflw|300w``): our
measured rows beside the published ones, each published row labelled with its normalisation and
marked where it is not comparable with the benchmark's protocol; CED figures per subset.

The published numbers are ``published_benchmarks.csv`` (package data, copied from the project's
survey; every row names its source: a README or paper with line numbers, ``SECONDARY:`` where one
method's source quotes another's number). Their normalisation is given as text; :func:`classify_norm`
reads which of faceeval's normalisers it is, or None where the text leaves it open.

Layouts (one table per metric, a column per subset):

* WFLW: test (the full 2,500) and the six attribute subsets × NME, FR@0.10, AUC@0.10;
* COFW: test × NME, FR@0.10, AUC@0.10;  AFLW: full and frontal × NME;
* 300W: common, challenging, full and private × NME.
"""
from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..metrics import summarize
from ..runs import Run, RunKey
from .table_format import MEASURED, Cell, Row, Table

PUBLISHED_ROW = "published"
#: Marks a published row normalised otherwise than the benchmark's protocol.
NOT_COMPARABLE = "†"
#: Marks a published row whose normalisation its source does not state.
UNSTATED = "?"


@dataclass(frozen=True)
class Layout:
    """A benchmark's standard table: its dataset, subsets (dataset name -> column title and the CSV's
    subset labels) and metrics (title -> CSV metric labels, our statistic, scale to percent)."""

    benchmark: str                      # the CSV's benchmark name
    dataset: str                        # the registered dataset
    subsets: tuple[tuple[str, str, tuple[str, ...]], ...]
    metrics: tuple[tuple[str, tuple[str, ...], str], ...]


LAYOUTS = {
    "wflw": Layout("WFLW", "wflw",
                   (("test", "full", ("full(2500)", "full")), ("largepose", "pose", ("pose",)),
                    ("expression", "expression", ("expression",)), ("illumination", "illumination", ("illumination",)),
                    ("makeup", "make-up", ("makeup",)), ("occlusion", "occlusion", ("occlusion",)),
                    ("blur", "blur", ("blur",))),
                   (("NME (%)", ("NME(%)",), "mean_error"), ("FR@0.10 (%)", ("FR@0.10(%)",), "failure_rate"),
                    ("AUC@0.10 (%)", ("AUC@0.10(%)", "AUC@0.10(0-1)"), "auc"))),
    "cofw": Layout("COFW", "cofw", (("test", "test", ("test(507)", "test")),),
                   (("NME (%)", ("NME(%)",), "mean_error"), ("FR@0.10 (%)", ("FR@0.10(%)",), "failure_rate"),
                    ("AUC@0.10 (%)", ("AUC@0.10(%)", "AUC@0.10(0-1)"), "auc"))),
    "aflw": Layout("AFLW", "aflw", (("full", "full", ("full(4386)", "full")),
                                    ("frontal", "frontal", ("frontal(1314)", "frontal"))),
                   (("NME (%)", ("NME(%)",), "mean_error"),)),
    "300w": Layout("300W", "300w", (("common", "common", ("common(554)",)),
                                    ("challenging", "challenging", ("challenging(135)",)),
                                    ("full", "full", ("full(689)",)), ("private", "private", ("private-test(600)",))),
                   (("NME (%)", ("NME(%)",), "mean_error"),)),
}
BENCHMARKS = tuple(LAYOUTS)


def published_benchmarks() -> pd.DataFrame:
    """Every published number of the survey: benchmark, subset, method, metric, value, normalisation, source.

    >>> df = published_benchmarks()
    >>> float(df.query("benchmark == 'WFLW' and method == 'HRNetV2-W18' and subset == 'full(2500)'").value.iloc[0])
    4.6
    """
    from ..resources import data_text

    return pd.read_csv(io.StringIO(data_text("published_benchmarks.csv")))


def classify_norm(text: str) -> str | None:
    """Which faceeval normaliser a published row's normalisation text names, or None (not stated,
    ambiguous, or one faceeval does not compute).

    >>> classify_norm("inter-pupil idx 16/17 of COFW-29"), classify_norm("outer eye corners idx 8/9 of COFW-29")
    ('inter-pupil', 'inter-ocular')
    >>> classify_norm("sqrt(w*h) of GT-landmark bbox (SPIGA lnd_bbox)"), classify_norm("not stated in README")
    ('bbox-size', None)
    """
    t = str(text).lower()
    if re.search(r"label \"inter-pupils\".*code uses idx 36/45|code uses idx 36/45", t):
        return "inter-ocular"                     # the README says pupils, the code uses the corners
    if "not stated" in t or "as labelled by" in t or "as listed in" in t or t.strip() in ("as above", ""):
        return None
    if "conflict" in t:
        return None
    if "pupil" in t:
        return "inter-pupil"
    if "outer eye corners" in t or "inter-ocular" in t:
        return "inter-ocular"
    if "sqrt(w*h)" in t or "lnd_bbox" in t:
        return "bbox-size"
    if "box_size column" in t:
        return "dataset-box"
    if "max side of gt bbox" in t:
        return "bbox-max-side"                   # mmpose's AFLW rule: not one of faceeval's
    return None


def comparability(text: str, protocol_norm: str) -> tuple[str, str]:
    """(mark, note) of a published row against the protocol's normaliser: ``""`` when comparable,
    :data:`NOT_COMPARABLE` when normalised otherwise, :data:`UNSTATED` when the source does not say."""
    found = classify_norm(text)
    if found == protocol_norm:
        return "", f"normalised by {protocol_norm}: comparable"
    if found is None:
        return UNSTATED, "normalisation not stated or ambiguous in the source: comparability unknown"
    how = {"bbox-max-side": "the longer side of the box (mmpose)"}.get(found, found)
    rerun = f"; `--norm {found}` scores ours that way" if found != "bbox-max-side" else ""
    return NOT_COMPARABLE, f"normalised by {how}, not {protocol_norm}: not comparable{rerun}"


def _published_rows(layout: Layout, protocol_norm: str, metric_labels: tuple[str, ...]) -> list[Row]:
    df = published_benchmarks()
    df = df[(df.benchmark == layout.benchmark) & df.metric.isin(metric_labels)]
    rows: dict[tuple[str, str, str], Row] = {}
    for rec in df.itertuples(index=False):
        column = next((title for _, title, labels in layout.subsets if rec.subset in labels), None)
        if column is None:
            continue
        value = float(rec.value) * (100.0 if "(0-1)" in rec.metric else 1.0)
        source = str(rec.source)
        secondary = source.startswith("SECONDARY:")
        mark, note = comparability(rec.normalisation, protocol_norm)
        key = (rec.method, source, mark)
        if key not in rows:
            label = f"{rec.method} {mark}".strip()
            rows[key] = Row(label, PUBLISHED_ROW + (" (quoted)" if secondary else ""), "", {},
                            f"{rec.normalisation} — {note}; source: {source.removeprefix('SECONDARY:').strip()}")
        rows[key].cells.setdefault(column, Cell(value))
    return list(rows.values())


def _models(runs: Sequence[Run], dataset: str) -> dict[tuple, dict[str, Run]]:
    """Runs on ``dataset`` with detector/dataset boxes, by model, then subset (newest run kept)."""
    out: dict[tuple, dict[str, Run]] = {}
    for run in runs:
        key = RunKey.from_meta(run.meta)
        if key.dataset == dataset and key.init == "boxes" and run.ground_truth is not None:
            out.setdefault(key.model, {})[key.subset] = run
    return out


def _subset_errors(runs: dict[str, Run], subset: str, spec, protocol, data_root,
                   subset_ids: dict[str, frozenset[str]]) -> tuple[np.ndarray, Run] | str:
    """Per-image errors of a model on ``subset``: from its run on it, else from its run on the larger
    subset that holds it (restricted to the subset's faces; needs the data root to know them, read once
    per table build into ``subset_ids``)."""
    from ..datasets import load_dataset
    from ..metrics import point_to_point_error

    run = runs.get(subset)
    keep = None
    if run is None:
        parent = spec.parents.get(subset)
        run = runs.get(parent) if parent else None
        if run is None:
            return f"no run (`faceeval run METHOD --dataset {spec.name} --subset {subset}`)"
        if data_root is None:
            return f"from its {parent} run with --data-root"
        if subset not in subset_ids:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                subset_ids[subset] = frozenset(load_dataset(spec.name, subset, data_root).ids)
        keep = np.array([i in subset_ids[subset] for i in run.ids])
    errors = point_to_point_error(run.predictions, run.ground_truth, protocol.norm, run.ids,
                                  scheme=spec.scheme, box_size=run.box_sizes)
    return (errors if keep is None else errors[keep]), run


def benchmark_tables(benchmark: str, runs: Sequence[Run], data_root: str | os.PathLike | None = None,
                     protocol=None) -> tuple[list[Table], dict[str, list[tuple[str, np.ndarray]]]]:
    """The tables of ``benchmark`` (one per metric) and, per subset, the measured models' per-image
    errors (for the CED figures). ``protocol``: the benchmark dataset's by default."""
    from ..datasets import get_spec
    from ..protocol import resolve_protocol

    layout = LAYOUTS[benchmark]
    spec = get_spec(layout.dataset)
    protocol = protocol or resolve_protocol(spec.name)
    measured: dict[str, list[tuple[str, np.ndarray]]] = {s: [] for s, _, _ in layout.subsets}
    model_rows: list[tuple[str, dict[str, Cell | str], str]] = []
    subset_ids: dict[str, frozenset[str]] = {}        # a subset's ids, read once for all models
    for model, by_subset in _models(runs, spec.name).items():
        label = f"{model[0]} [{model[2][:8]}]"
        cells: dict[str, object] = {}
        for subset, title, _ in layout.subsets:
            got = _subset_errors(by_subset, subset, spec, protocol, data_root, subset_ids)
            if isinstance(got, str):
                cells[title] = got
                continue
            errors, run = got
            if errors.size == 0:
                cells[title] = f"none of its faces is in {subset}"
                continue
            measured[subset].append((label, errors))
            cells[title] = (summarize(errors, protocol.alpha, protocol.norm, protocol.inclusive_failure), len(errors),
                            spec.expected.get(subset))
        model_rows.append((label, cells, ""))
    tables = []
    for title, labels, statistic in layout.metrics:
        columns = [t for _, t, _ in layout.subsets]
        rows = []
        for label, cells, note in model_rows:
            row_cells = {}
            for column in columns:
                got = cells.get(column)
                if isinstance(got, tuple):
                    summary, n, expected = got
                    flag = f"partial: n = {n} of {expected}" if expected and n < expected else ""
                    row_cells[column] = Cell(getattr(summary, statistic) * 100, flag=flag)
                else:
                    row_cells[column] = Cell(why=got or "no run")
            rows.append(Row(label, MEASURED, "", row_cells, f"{protocol.describe()}"))
        rows += _published_rows(layout, protocol.norm, labels)
        key = f"{benchmark}-{statistic.replace('_', '-')}"
        tables.append(Table(
            key, f"{layout.benchmark}: {title}", f"{layout.benchmark} by its protocol: {protocol.describe()}. "
            f"Measured rows come from stored runs (`faceeval run`); published rows from the survey of the field's "
            f"reference code, each with its normalisation and source.", columns, rows,
            [f"{NOT_COMPARABLE} normalised otherwise than the protocol: not comparable",
             f"{UNSTATED} the source does not state the normalisation (or contradicts itself)",
             "published (quoted): a number quoted by another method's paper or README"]))
    return tables, measured


def write_benchmark(tables: Sequence[Table], measured: dict[str, list[tuple[str, np.ndarray]]], benchmark: str,
                    out: str | os.PathLike, protocol, figures: bool = True) -> list[Path]:
    """Each table as Markdown, LaTeX and CSV, ``<benchmark>.md`` with all of them, and a CED figure per
    subset with measured rows (``<benchmark>-ced-<subset>.png/.pdf``)."""
    from .ced import curve_from_errors, plot_ced
    from .tables import write_tables

    out = Path(out)
    written = write_tables(tables, out, index=f"{benchmark}.md")
    if figures:
        for subset, curves in measured.items():
            if not curves:
                continue
            drawn = [curve_from_errors(label, errors, protocol.alpha, inclusive_failure=protocol.inclusive_failure)
                     for label, errors in curves]
            written += plot_ced(drawn, out / f"{benchmark}-ced-{subset}", protocol.alpha, protocol.norm,
                                title=f"CED on {LAYOUTS[benchmark].benchmark} {subset}: {protocol.norm}, "
                                      f"AUC and failure at α = {protocol.alpha:g}")
    return written


__all__ = ["LAYOUTS", "BENCHMARKS", "published_benchmarks", "classify_norm", "comparability", "benchmark_tables",
           "write_benchmark", "NOT_COMPARABLE", "UNSTATED"]
