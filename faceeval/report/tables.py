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
>>> tuple(t.key for t in tables)
('table2', 'table3', 'table4', 'table5', 'table6')
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable, Sequence

from ..protocol import normaliser
from ..metrics import ALPHA, ALPHA_BBOX_DIAGONAL
from ..runs import Run
from ..stats import Bootstrap
from .evaluation import Evaluator, Measured, summary_cells
from .hints import Context, default_method_status, root_text, weights_flag, why_300w, why_menpo
from .published import challenge_curves, published_results
from .run_groups import Model, group_models, model_stages
from .table_format import DITTO, FROM_CED, MEASURED, NOT_PRINTED, PUBLISHED, PUBLISHED_OWN, RELEASED, Cell, Row, Table

#: This module's names and the public names of its parts, importable from here.
__all__ = ["W300_TEST_SUBSETS", "TABLE2_NORMS", "NORM_SHORT", "MEASURED", "PUBLISHED", "FROM_CED", "NOT_PRINTED",
           "DITTO", "Cell", "Row", "Table", "Model", "group_models", "model_stages", "Measured", "Evaluator",
           "summary_cells", "Context", "default_method_status", "why_300w", "why_menpo", "table2", "table3",
           "table4", "table5", "table6", "table_cofw68", "build_tables", "write_tables"]

W300_TEST_SUBSETS = ("common", "challenging", "full")
#: What a measured cell says where a table-wide note explains the missing data.
NO_DATA_SEE_NOTE = "no data (see note)"
#: Row order of every table: measured rows, then the paper's, then those read off published curves.
SOURCE_ORDER = {MEASURED: 0, RELEASED: 1, PUBLISHED: 2, PUBLISHED_OWN: 3, FROM_CED: 4}
TABLE2_NORMS = ("inter-pupil", "inter-ocular", "bbox-diagonal")
NORM_SHORT = {n: normaliser(n).short for n in TABLE2_NORMS}     # IP, IO, BD


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
    of the method (their cells say which run is missing), else None (a method never run).
    Released predictions get a row only where they are on the table's set (nothing can run them)."""
    own = [m for m in models if m.method == name]
    relevant = _relevant(own, predicate)
    if relevant:
        return relevant
    computed = [m for m in own if not m.released]
    return computed or ([] if own else [None])


def _source(model: Model | None) -> str:
    return RELEASED if model is not None and model.released else MEASURED


def _is_300w(subsets, key) -> bool:
    """A run key on one of the 300W ``subsets``, from detector boxes or released predictions."""
    from ..runs import RELEASED_INIT

    return key[0] == "300w" and key[1] in subsets and key[2] in ("boxes", RELEASED_INIT)


def _own_published_rows(models: Sequence[Model], columns: dict[str, tuple[str, str, str]]) -> list[Row]:
    """The figures that released predictions' authors printed (their metrics files, kept in the source
    description), for the released models in the table; ``columns`` maps column -> (metric, subset, norm)
    with metric ``nme``, ``auc`` or ``fr``. A row is added only where one of its cells is known."""
    rows, seen = [], set()
    for model in models:
        released = model.meta.get("released") or {}
        if not model.released or released.get("source") in seen:
            continue
        seen.add(released.get("source"))
        source = _source_of(model)
        if source is None:
            continue
        cells, files = {}, set()
        for col, (metric, subset, norm) in columns.items():
            cells[col] = Cell(why=NOT_PRINTED)
            for f in source.files:
                own = f.own_metrics or {}
                values = own.get(metric) or {}
                alpha_ok = metric == "nme" or values.get("alpha") in (None, ALPHA)
                if own.get("norm") == norm and subset in values and alpha_ok:
                    cells[col] = Cell(float(values[subset]))
                    files.add(own.get("file", f.name))
        if files:
            rows.append(Row(source.title, PUBLISHED_OWN, "", cells,
                            f"{source.repository}@{source.commit[:7]}: {', '.join(sorted(files))}; {source.paper}"))
    return rows


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
    t.rows += _own_published_rows(models, {c: ("nme", s, n) for c, (n, s) in cols.items()})
    is_300w = lambda k: _is_300w(W300_TEST_SUBSETS, k)  # noqa: E731
    for name in _method_names(ctx, models):
        ms = _rows_models(models, name, is_300w)
        for model in ms:
            cells, sizes, notes = {}, {}, set()
            for c, (norm, subset) in cols.items():
                got = ev.errors(model, "300w", subset, norm, model.init) if model else None
                if isinstance(got, Measured):
                    cells[c] = summary_cells(got, ALPHA, norm)["mean"]
                    sizes[subset] = got.n_text
                    if got.note:
                        notes.add(got.note)
                else:
                    cells[c] = Cell(why=got or why_300w(ctx, name, subset, model))
            n = "/".join(sizes.get(s, "–") for s in W300_TEST_SUBSETS)
            t.rows.append(Row(model.label if model else name, _source(model), n, cells, _note(model, notes)))
    _released_note(t, models)
    return t


def _released_note(t: Table, models: Sequence[Model]) -> None:
    """Say once what a 'released predictions' row is and how its numbers may differ from its authors'."""
    if any(r.source == RELEASED for r in t.rows):
        t.notes.append("Rows 'measured (released predictions)' score the per-face predictions a method's authors "
                       "released (`faceeval import-run`), with this toolkit's protocol, against the same ground "
                       "truth; rows 'published (authors' metrics)' are what the authors' own code printed for those "
                       "files. They may differ in the AUC rule (here Simpson's rule on a 1e-4 grid of the CED; SPIGA "
                       "integrates a 10,000-bin histogram of the errors) and in the normaliser the authors chose.")


def _three_col_table(key, title, caption, table_no, subset, norm, alpha, models, ctx, ev, dataset="300w",
                     predicate=None, why=None, parts=None) -> Table:
    """Mean error, AUC_alpha and failure per model on one set; ``parts`` ((subset, label suffix), ...)
    adds a row per part of the set where a model's runs cover it (the private set's indoor and
    outdoor halves), after the row of the whole set."""
    a = f"{alpha:g}"
    cols = {"mean error": "mean", f"AUC_{a}": "auc", f"failure @ {a}": "failure"}
    t = Table(key, title, caption, list(cols))
    t.rows += _published_rows(table_no, {c: ({"mean": "mean_error"}.get(m, m), None, None) for c, m in cols.items()})
    t.rows += _own_published_rows(models, {c: ({"mean": "nme", "failure": "fr"}.get(m, m), subset, norm)
                                           for c, m in cols.items()})
    for name in _method_names(ctx, models):
        ms = _rows_models(models, name, predicate)
        for model in ms:
            inits = (sorted({k[2] for k in model.runs if predicate(k)}) if model else []) or [
                model.init if model else "boxes"]
            for init in inits:
                for part, part_label in parts or ((subset, ""),):
                    got = ev.errors(model, dataset, part, norm, init) if model else None
                    label = ((model.label if model else name) + (f" (init {init})" if init not in ("boxes", "released")
                                                                 else "") + part_label)
                    if isinstance(got, Measured):
                        sc = summary_cells(got, alpha, norm)
                        cells = {c: sc[m] for c, m in cols.items()}
                        caveat = (dataset == "300w" and subset in W300_TEST_SUBSETS) or bool(model and model.released)
                        t.rows.append(Row(label, _source(model), got.n_text, cells, _note(model, {got.note}, caveat)))
                    elif not part_label:
                        reason = got or why(ctx, name, model)
                        t.rows.append(Row(label, _source(model), "–", {c: Cell(why=reason) for c in cols}))
    _released_note(t, models)
    return t


def table3(models, ctx, ev) -> Table:
    t = _three_col_table(
        "table3", "Table 3: AUC_0.08 and failure rate (%) on the 300W public test set (full)",
        "Inter-ocular normalisation, full set (common + challenging, 689 faces), failure = error > 0.08.",
        3, "full", "inter-ocular", ALPHA, models, ctx, ev,
        predicate=lambda k: _is_300w(("full", "common", "challenging"), k),
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
        predicate=lambda k: _is_300w(("private",), k),
        why=lambda ctx, name, model: why_300w(ctx, name, "private", model),
        parts=(("private", ""), ("private_indoor", " – indoor"), ("private_outdoor", " – outdoor")))
    for curve in challenge_curves("private", ALPHA):
        cells = {"mean error": Cell(why="not readable from a CED"), "AUC_0.08": Cell(curve.auc * 100),
                 "failure @ 0.08": Cell(curve.failure * 100)}
        t.rows.append(Row(curve.label.replace(" (published)", ""), FROM_CED, "600", cells,
                          "300w_challenge_ced.json (jiankangdeng/MenpoBenchmark)"))
    _private_note(t, ctx)
    _not_run_note(t, models, ctx, ev)
    return t


def _not_run_note(t: Table, models: Sequence[Model], ctx: Context, ev: Evaluator) -> None:
    """Table 4: which methods have a measured private-set row and which could not be run (the images
    of the private set are not public; released predictions need only its ground truth), and the
    released models' numbers under their authors' own normaliser beside their authors' figures."""
    from ..metrics import auc_histogram, summarize

    released = [m for m in models if m.released and m.run("300w", "private", m.init) is not None]
    if not released:
        return
    computed = sorted({m.method for m in models if not m.released and m.run("300w", "private") is not None})
    others = sorted(set(_method_names(ctx, models)) - {m.method for m in released} - set(computed))
    if ctx.w300_missing("private") or ctx.data_root is None:
        t.notes.append("The measured rows come from released predictions scored against the official ground truth "
                       "of the 600 faces, which needs no image (`faceeval import-run`). " + (
                           f"Could not be run for lack of the private set's images: {', '.join(others)}."
                           if others else ""))
    for model in released:
        own = _own_figures(model, "private")
        if own is None:
            continue
        norm, alpha, nme, auc = own
        got = ev.errors(model, "300w", "private", norm, model.init)
        if isinstance(got, Measured):
            s = summarize(got.errors, alpha=alpha, norm=norm)
            theirs = auc_histogram(got.errors, alpha)[0]
            t.notes.append(f"{model.label}: its authors report the private set with the {norm} normaliser "
                           f"(sqrt(w*h) of the ground-truth landmark box): NME {nme:.4f}%, AUC_{alpha:g} {auc:.2f}; "
                           f"measured here with that normaliser: NME {s.mean_error * 100:.4f}%, AUC_{alpha:g} "
                           f"{s.auc * 100:.2f} (Simpson on the 1e-4 grid; {theirs * 100:.2f} by SPIGA's rule, a "
                           f"10,000-bin histogram of the errors: `faceeval eval --explain`).")


def _source_of(model: Model):
    """The source description of a released model's runs (shipped, or the file it was imported with), or
    None where it is gone (which only costs the authors' figures beside the measured ones)."""
    from ..released import load_source, shipped_sources

    released = model.meta.get("released") or {}
    name = released.get("source")
    spec = name if name in shipped_sources() else released.get("description_file")
    try:
        return load_source(spec) if spec else None
    except Exception:  # noqa: BLE001 - see above
        return None


def _own_figures(model: Model, subset: str) -> tuple[str, float, float, float] | None:
    """(norm, alpha, NME %, AUC %) that a released model's authors printed for ``subset``, if known."""
    source = _source_of(model)
    if source is None:
        return None
    for f in source.files:
        own = f.own_metrics or {}
        if subset in (own.get("nme") or {}) and subset in (own.get("auc") or {}):
            return own["norm"], float(own["auc"]["alpha"]), float(own["nme"][subset]), float(own["auc"][subset])
    return None


def _absent_data_note(t: Table, missing: str | None, note: str, extra: str = "") -> None:
    """One table-wide note for data that is not there (``note``, then ``extra`` about this table);
    the measured cells then point to it."""
    if missing is None:
        return
    t.notes.append(note + extra)
    t.explained[NO_DATA_SEE_NOTE] = note
    for r in t.rows:
        for c in r.cells.values() if r.source == MEASURED else ():
            if c.why == missing:
                c.why = NO_DATA_SEE_NOTE


def _private_note(t: Table, ctx: Context, instead: str = "") -> None:
    root = ctx.data_root
    _absent_data_note(t, ctx.w300_missing("private"),
                      f"The 300W private test set's images (300W/01_Indoor + 300W/02_Outdoor, 600 faces) are not in "
                      f"the data under {root}, so no method can be run on it here; `faceeval data "
                      f"check {root}` shows what is there (the set is distributed by ibug: "
                      f"ibug.doc.ic.ac.uk/resources/300-W).", instead)


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
    # the most stages of any stored model's weights: fewer are one -O stages=k away, more need training
    ran = [m for m in models if m.method == method]
    trained = max((m.meta.get("trained_stages") or model_stages(m.meta) or 0 for m in ran), default=0)
    root = root_text(ctx.data_root)
    for k in (1, 2, 3):
        if k in seen:
            continue
        base = next((m for m in ran if (m.meta.get("trained_stages") or model_stages(m.meta) or 0) >= k), None)
        run_k = f"`faceeval run {method}{weights_flag(base)} -O stages={k} --subset private --data-root {root}`"
        reason = ctx.w300_missing("private") or (
            f"no run: {run_k}" if not trained or k <= trained else
            f"no weights with {k} stages: `faceeval train {method} --stages {k} --data-root {root}`, then "
            f"`faceeval run {method} --weights W --subset private --data-root {root}`")
        t.rows.append(Row(f"{method}, {k} stage{'s' if k > 1 else ''}", MEASURED, "–", {c: Cell(why=reason) for c in cols}))
    _private_note(t, ctx, " The table's question (what each stage adds) is measured on 300W full instead, "
                          "in the rows marked [300W full], where such runs exist.")
    return t


def table_cofw68(models, ctx, ev) -> Table:
    """COFW-68 (507 faces) by the benchmark's protocol: eye-centre normalisation over all 68 points and over
    the visible ones, failure = error > 0.1 (success <= 0.1); plus sqrt(w*h) of the ground-truth box, the
    normaliser SPIGA reports. Rows for models with COFW-68 runs (released predictions: the images are not read)."""
    from ..datasets.cofw68 import PROTOCOL

    alpha = PROTOCOL["alpha"]
    a = f"{alpha:g}"
    cols = {"IP mean (68 points)": ("inter-pupil", False, "mean"), "IP mean (visible points)": ("inter-pupil", True, "mean"),
            f"AUC_{a}": ("inter-pupil", False, "auc"), f"failure @ {a}": ("inter-pupil", False, "failure"),
            "box-size mean": ("bbox-size", False, "mean")}
    t = Table("cofw68", "COFW-68: the 507 COFW test faces with 68 points (the benchmark's protocol)",
              f"Mean error normalised by the distance between the eye centres (inter-pupil, the benchmark's "
              f"LandmarkLocalizationEval.m), over the 68 points and over the visible ones (Occ == 0, its second "
              f"evaluation); AUC_{a} and failure = error > {a} (the benchmark's success = error <= {a}); 'box-size "
              f"mean': normalised by sqrt(w*h) of the ground-truth landmark box, as SPIGA reports COFW-68.",
              list(cols))
    t.rows += _own_published_rows(models, {c: ({"mean": "nme", "failure": "fr"}.get(m, m), "test", norm)
                                           for c, (norm, _, m) in cols.items()})
    for model in (m for m in models if m.runs and any(k[:2] == ("cofw68", "test") for k in m.runs)):
        init = next(k[2] for k in model.runs if k[:2] == ("cofw68", "test"))
        cells, n, notes = {}, "–", set()
        for c, (norm, visible, stat) in cols.items():
            got = ev.errors(model, "cofw68", "test", norm, init, visible_only=visible)
            if isinstance(got, Measured):
                cells[c] = summary_cells(got, alpha, norm)[stat]
                n = got.n_text
                notes.add(got.note)
            else:
                cells[c] = Cell(why=got or "no run")
        t.rows.append(Row(model.label, _source(model), n, cells, _note(model, notes, caveat=False)))
    t.notes.append("faceeval reads COFW-68's annotations as distributed (golnazghiasi/cofw68-benchmark), not its "
                   "images (COFW's COFW_test.mat): methods are not run on it here; measured rows come from "
                   "predictions scored against its ground truth (`faceeval eval FILE --gt cofw68`, "
                   "`faceeval import-run`).")
    _released_note(t, models)
    return t


def build_tables(runs: Iterable[Run], data_root: str | os.PathLike | None = None,
                 menpo_root: str | os.PathLike | None = None, methods: Sequence[str] | None = None,
                 method_status: Callable[[str], str | None] | None = default_method_status,
                 bootstrap: Bootstrap | None = None) -> list[Table]:
    """Tables 2-6 from stored runs (a pure function of the runs, the published file and the data root),
    and the COFW-68 table where there are COFW-68 runs.

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
    if any(k[0] == "cofw68" for m in models for k in m.runs):
        tables.append(table_cofw68(models, ctx, ev))
    for t in tables:          # what we measured first, the paper's numbers below (stable: each group keeps its order)
        t.rows.sort(key=lambda r: SOURCE_ORDER.get(r.source, len(SOURCE_ORDER)))
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
