"""The paper's Tables 2-6, as a pure function of stored runs and the published numbers.

Each table holds the published rows (``published_results.csv``) and one row per model we
ran (a method and its weights hash), marked ``measured``, with the subset sizes actually
evaluated. A cell we could not measure says why (no run, no data at the root, no weights)
and how to fix it; a measured row never borrows a number from the paper. Every number comes
from :func:`faceeval.metrics.evaluate`.

The parts live beside this module: :mod:`~faceeval.report.table_format` (cells, rows, tables and
their Markdown, LaTeX and CSV), :mod:`~faceeval.report.run_groups` (runs grouped into models),
:mod:`~faceeval.report.evaluation` (the cached per-image errors and summary cells) and
:mod:`~faceeval.report.hints` (why a cell is empty); their public names can be imported from here too.

>>> from faceeval.runs import find_runs
>>> tables = build_tables(find_runs("no-such-results-folder"), methods=["meanshape"])
>>> [t.key for t in tables]
['table2', 'table3', 'table4', 'table5', 'table6']
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable, Sequence

from ..metrics import ALPHA, ALPHA_BBOX_DIAGONAL
from ..runs import Run
from ..stats import Bootstrap
from .evaluation import Evaluator, Measured, summary_cells
from .hints import Context, default_method_status, root_text, why_300w, why_menpo
from .published import challenge_curves, published_results
from .run_groups import Model, group_models, model_stages
from .table_format import DITTO, FROM_CED, MEASURED, NOT_PRINTED, PUBLISHED, Cell, Row, Table

#: This module's names and the public names of its parts, importable from here.
__all__ = ["W300_TEST_SUBSETS", "TABLE2_NORMS", "NORM_SHORT", "MEASURED", "PUBLISHED", "FROM_CED", "NOT_PRINTED",
           "DITTO", "Cell", "Row", "Table", "Model", "group_models", "model_stages", "Measured", "Evaluator",
           "summary_cells", "Context", "default_method_status", "why_300w", "why_menpo", "table2", "table3",
           "table4", "table5", "table6", "build_tables", "write_tables"]

W300_TEST_SUBSETS = ("common", "challenging", "full")
TABLE2_NORMS = ("inter-pupil", "inter-ocular", "bbox-diagonal")
NORM_SHORT = {"inter-pupil": "IP", "inter-ocular": "IO", "bbox-diagonal": "BD"}


def _published_rows(table: int, columns: dict[str, tuple[str, str | None, str | None]]) -> list[Row]:
    """Rows of the paper for ``table``; ``columns`` maps column -> (metric, subset, norm)."""
    df = published_results()
    df = df[df.table == table]
    rows = []
    for method in dict.fromkeys(df.method):   # keep file order
        mdf = df[df.method == method]
        cells = {}
        for col, (metric, subset, norm) in columns.items():
            sel = mdf[(mdf.metric == metric) & ((mdf.subset == subset) if subset else True)
                      & ((mdf.norm == norm) if norm else True)]
            cells[col] = Cell(float(sel.value.iloc[0])) if len(sel) else Cell(why=NOT_PRINTED)
        refs = sorted(set(mdf.reference.dropna())) if "reference" in mdf else []
        note = "; ".join(refs + [f"as printed in the {src}" for src in sorted(set(mdf.source))])
        rows.append(Row(method, PUBLISHED, "", cells, note))
    return rows


def _relevant(models: Sequence[Model], predicate) -> list[Model]:
    return [m for m in models if any(predicate(k) for k in m.runs)]


def _rows_models(models: Sequence[Model], name: str, predicate) -> list[Model | None]:
    """The models of ``name`` that get a row: those with runs for the table, else every model
    of the method (their cells say which run is missing), else None (a method never run)."""
    own = [m for m in models if m.method == name]
    return _relevant(own, predicate) or own or [None]


def _note(model: Model | None, notes: Iterable[str] = (), caveat: bool = True) -> str:
    """A measured row's note: how its numbers were obtained, then the model's caveat (on the
    300W public test tables, where it applies)."""
    parts = sorted(n for n in set(notes) if n)
    if caveat and model is not None and model.caveat:
        parts.append(model.caveat)
    return "; ".join(parts)


def _method_names(ctx: Context, models: Sequence[Model]) -> list[str]:
    return sorted(set(ctx.methods) | {m.method for m in models})


def table2(models, ctx, ev) -> Table:
    cols = {f"{NORM_SHORT[n]} {s}": (n, s) for n in TABLE2_NORMS for s in W300_TEST_SUBSETS}
    t = Table("table2", "Table 2: mean error (%) on the 300W public test set",
              "Mean point-to-point error normalised by the inter-pupil (IP), inter-ocular (IO) and "
              "ground-truth box-diagonal (BD) distance, on common (554), challenging (135) and full (689); "
              "detector-box initialisation. n = faces evaluated (common/challenging/full).", list(cols))
    t.rows += _published_rows(2, {c: ("mean_error", s, n) for c, (n, s) in cols.items()})
    is_300w = lambda k: k[0] == "300w" and k[1] in W300_TEST_SUBSETS and k[2] == "boxes"  # noqa: E731
    for name in _method_names(ctx, models):
        ms = _rows_models(models, name, is_300w)
        for model in ms:
            cells, sizes, notes = {}, {}, set()
            for c, (norm, subset) in cols.items():
                got = ev.errors(model, "300w", subset, norm) if model else None
                if isinstance(got, Measured):
                    cells[c] = summary_cells(got, ALPHA, norm)["mean"]
                    sizes[subset] = got.n_text
                    if got.note:
                        notes.add(got.note)
                else:
                    cells[c] = Cell(why=got or why_300w(ctx, name, subset, model))
            n = "/".join(sizes.get(s, "–") for s in W300_TEST_SUBSETS)
            t.rows.append(Row(model.label if model else name, MEASURED, n, cells, _note(model, notes)))
    return t


def _three_col_table(key, title, caption, table_no, subset, norm, alpha, models, ctx, ev, dataset="300w",
                     predicate=None, why=None) -> Table:
    a = f"{alpha:g}"
    cols = {"mean error": "mean", f"AUC_{a}": "auc", f"failure @ {a}": "failure"}
    t = Table(key, title, caption, list(cols))
    t.rows += _published_rows(table_no, {c: ({"mean": "mean_error"}.get(m, m), None, None) for c, m in cols.items()})
    for name in _method_names(ctx, models):
        ms = _rows_models(models, name, predicate)
        for model in ms:
            inits = (sorted({k[2] for k in model.runs if predicate(k)}) if model else []) or ["boxes"]
            for init in inits:
                got = ev.errors(model, dataset, subset, norm, init) if model else None
                label = (model.label if model else name) + (f" (init {init})" if init != "boxes" else "")
                if isinstance(got, Measured):
                    sc = summary_cells(got, alpha, norm)
                    cells = {c: sc[m] for c, m in cols.items()}
                    caveat = dataset == "300w" and subset in W300_TEST_SUBSETS
                    t.rows.append(Row(label, MEASURED, got.n_text, cells, _note(model, {got.note}, caveat)))
                else:
                    reason = got or why(ctx, name, model)
                    t.rows.append(Row(label, MEASURED, "–", {c: Cell(why=reason) for c in cols}))
    return t


def table3(models, ctx, ev) -> Table:
    t = _three_col_table(
        "table3", "Table 3: AUC_0.08 and failure rate (%) on the 300W public test set (full)",
        "Inter-ocular normalisation, full set (common + challenging, 689 faces), failure = error > 0.08.",
        3, "full", "inter-ocular", ALPHA, models, ctx, ev,
        predicate=lambda k: k[0] == "300w" and k[1] in ("full", "common", "challenging") and k[2] == "boxes",
        why=lambda ctx, name, model: why_300w(ctx, name, "full", model))
    # The paper's Table 3 prints AUC and failure only; drop the mean column.
    t.columns = [c for c in t.columns if c != "mean error"]
    return t


def table4(models, ctx, ev) -> Table:
    t = _three_col_table(
        "table4", "Table 4: results on the 300W private test set",
        "Inter-ocular normalisation, 600 faces (indoor + outdoor), failure = error > 0.08. Rows marked "
        "'from published CED' are read off the 300W challenge entries' published curves "
        "(linear interpolation onto the 1e-4 grid, Simpson's rule, as for measured curves).",
        4, "private", "inter-ocular", ALPHA, models, ctx, ev,
        predicate=lambda k: k[0] == "300w" and k[1] == "private" and k[2] == "boxes",
        why=lambda ctx, name, model: why_300w(ctx, name, "private", model))
    for curve in challenge_curves("private", ALPHA):
        cells = {"mean error": Cell(why="not readable from a CED"), "AUC_0.08": Cell(curve.auc * 100),
                 "failure @ 0.08": Cell(curve.failure * 100)}
        t.rows.append(Row(curve.label.replace(" (published)", ""), FROM_CED, "600", cells,
                          "300w_challenge_ced.json (jiankangdeng/MenpoBenchmark)"))
    _private_note(t, ctx)
    return t


def _absent_data_note(t: Table, missing: str | None, note: str) -> None:
    """One table-wide note for data that is not there; the measured cells then point to it."""
    if missing is None:
        return
    t.notes.append(note)
    for r in t.rows:
        for c in r.cells.values() if r.source == MEASURED else ():
            if c.why == missing:
                c.why = "no data (see note)"


def _private_note(t: Table, ctx: Context, instead: str = "") -> None:
    root = ctx.data_root
    _absent_data_note(t, ctx.w300_missing("private"),
                      f"The 300W private test set (300W/01_Indoor + 300W/02_Outdoor, 600 faces) is not in the data "
                      f"under {root}, so no measured private-set row of this table can be filled; `faceeval data "
                      f"check {root}` shows what is there (the set is distributed by ibug: "
                      f"ibug.doc.ic.ac.uk/resources/300-W).{instead}")


def table5(models, ctx, ev) -> Table:
    t = _three_col_table(
        "table5", "Table 5: Menpo 2D semi-frontal, box-diagonal normalisation",
        "Mean error, AUC_0.03 and failure (error > 0.03), normalised by the ground-truth box diagonal, on "
        "faceeval's held-out split of the Menpo training set (the challenge test annotations were never "
        "released). The published row is on the Menpo challenge test set, so it is not the same images.",
        5, "test", "bbox-diagonal", ALPHA_BBOX_DIAGONAL, models, ctx, ev, dataset="menpo",
        predicate=lambda k: k[0] == "menpo" and k[1] == "test",
        why=lambda ctx, name, model: why_menpo(ctx, name, model))
    if not any(k[:2] == ("menpo", "test") for m in models for k in m.runs):
        where = ("no --menpo-root / FACEEVAL_MENPO_ROOT given" if ctx.menpo_root is None
                 else f"{ctx.menpo_root} does not exist" if not Path(ctx.menpo_root).is_dir()
                 else f"not yet run on {ctx.menpo_root}")
        t.notes.append(f"Menpo 2D semi-frontal is not in the data ({where}), and neither is the 300W private set: "
                       f"no measured row of this table is filled; each says which command fills it.")
    return t


def table6(models, ctx, ev, method: str = "dan") -> Table:
    cols = {"mean error": "mean", "AUC_0.08": "auc", "failure @ 0.08": "failure"}
    t = Table("table6", "Table 6: DAN with 1, 2 and 3 stages on the 300W private test set",
              "Inter-ocular normalisation, 600 faces, failure = error > 0.08. The number of stages of a "
              "measured model is read from its run's meta ('stages').", list(cols))
    t.rows += _published_rows(6, {c: ({"mean": "mean_error"}.get(m, m), None, None) for c, m in cols.items()})
    seen = set()
    # The private set answers the table's question; where it is missing, the same question
    # (how much each stage adds) is measured on the public full set and labelled so.
    for subset, where in (("private", ""), ("full", "on 300W full (public test set), not the private set")):
        dan_models = sorted((m for m in models if m.method == method and m.run("300w", subset) is not None),
                            key=lambda m: (model_stages(m.meta) or 99, m.weights_hash))
        for model in dan_models:
            got = ev.errors(model, "300w", subset, "inter-ocular")
            stages = model_stages(model.meta)
            if subset == "private":
                seen.add(stages)
            note = "; ".join(n for n in (where, "" if stages else "number of stages not stored in the run's meta") if n)
            label = model.label + (" [300W full]" if where else "")
            if isinstance(got, Measured):
                sc = summary_cells(got, ALPHA, "inter-ocular")
                t.rows.append(Row(label, MEASURED, got.n_text, {c: sc[m] for c, m in cols.items()}, note))
            else:
                t.rows.append(Row(label, MEASURED, "–", {c: Cell(why=got) for c in cols}, note))
    for k in (1, 2, 3):
        if k in seen:
            continue
        reason = ctx.w300_missing("private") or (
            f"no weights: `faceeval train {method} --stages {k} --data-root {root_text(ctx.data_root)}`, then "
            f"`faceeval run {method} --weights W --subset private --data-root {root_text(ctx.data_root)}`")
        t.rows.append(Row(f"{method}, {k} stage{'s' if k > 1 else ''}", MEASURED, "–", {c: Cell(why=reason) for c in cols}))
    _private_note(t, ctx, " The table's question (what each stage adds) is measured on 300W full instead, "
                          "in the rows marked [300W full], where such runs exist.")
    return t


def build_tables(runs: Iterable[Run], data_root: str | os.PathLike | None = None,
                 menpo_root: str | os.PathLike | None = None, methods: Sequence[str] | None = None,
                 method_status: Callable[[str], str | None] | None = default_method_status,
                 bootstrap: Bootstrap | None = None) -> list[Table]:
    """Tables 2-6 from stored runs (a pure function of the runs, the published file and the data root).

    ``methods``: registered method names that get a row even without runs (default: every
    registered method); ``method_status(name)`` says why a method without runs cannot run;
    ``bootstrap``: measured cells carry a confidence interval, printed ``5.24 [4.95, 5.58]``.
    """
    if methods is None:
        from ..methods import available_methods

        methods = sorted(available_methods())
    ctx = Context(Path(data_root).expanduser() if data_root else None,
                  Path(menpo_root).expanduser() if menpo_root else None, list(methods), method_status)
    models = group_models(runs)
    ev = Evaluator(bootstrap)
    tables = [table2(models, ctx, ev), table3(models, ctx, ev), table4(models, ctx, ev), table5(models, ctx, ev),
              table6(models, ctx, ev)]
    if bootstrap is not None:
        for t in tables:
            t.notes.append(f"[low, high] after a measured number: its {bootstrap.level * 100:g}% confidence interval, "
                           f"percentile bootstrap over images ({bootstrap.resamples} resamples, seed {bootstrap.seed}).")
    return tables


def write_tables(tables: Sequence[Table], out: str | os.PathLike, index: str = "tables.md") -> list[Path]:
    """Write each table as Markdown, LaTeX and CSV into ``out``, plus ``index`` with all of them."""
    from ..io import atomic_write

    out = Path(out)
    written = []
    for t in tables:
        for suffix, text in ((".md", t.to_markdown()), (".tex", t.to_latex()), (".csv", t.to_csv())):
            path = out / f"{t.key}{suffix}"
            with atomic_write(path) as fh:
                fh.write(text)
            written.append(path)
    path = out / index
    with atomic_write(path) as fh:
        fh.write("\n".join(t.to_markdown() for t in tables))
    written.append(path)
    return written
