"""The paper's Tables 2-6, as a pure function of stored runs and the published numbers.

Each table holds the published rows (``published_results.csv``) and one row per model we
ran (a method and its weights hash), marked ``measured``, with the subset sizes actually
evaluated. A cell we could not measure says why (no run, no data at the root, no weights)
and how to fix it; a measured row never borrows a number from the paper. Every number comes
from :func:`faceeval.metrics.evaluate`.

>>> from faceeval.runs import find_runs
>>> tables = build_tables(find_runs("no-such-results-folder"), methods=["meanshape"])
>>> [t.key for t in tables]
['table2', 'table3', 'table4', 'table5', 'table6']
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from ..metrics import ALPHA, ALPHA_BBOX_DIAGONAL, evaluate
from ..runs import Run, RunKey
from ..stats import Bootstrap, SummaryIntervals, summary_intervals
from .published import challenge_curves, published_results

W300_TEST_SUBSETS = ("common", "challenging", "full")
TABLE2_NORMS = ("inter-pupil", "inter-ocular", "bbox-diagonal")
NORM_SHORT = {"inter-pupil": "IP", "inter-ocular": "IO", "bbox-diagonal": "BD"}
MEASURED = "measured"
PUBLISHED = "published (paper)"
FROM_CED = "from published CED"
#: What a cell that the paper's table leaves empty shows.
NOT_PRINTED = "–"
#: Formatted output writes a reason shared by a whole row once, then this.
DITTO = "〃"


@dataclass
class Cell:
    """A table cell: a number in percent, or the reason there is none.

    ``flag`` marks a number that must not be read alone, e.g. ``"partial: n = 1 of 135"``
    for a score on an incomplete subset; it is printed with the number everywhere.
    """

    value: float | None = None
    why: str | None = None
    #: Confidence interval (low, high) in percent, for measured cells when asked for.
    ci: tuple[float, float] | None = None
    #: Shown beside the value, e.g. "partial: n = 3 of 135".
    flag: str = ""

    def text(self, digits: int = 2) -> str:
        if self.value is None:
            return self.why or NOT_PRINTED
        ci = f" [{self.ci[0]:.{digits}f}, {self.ci[1]:.{digits}f}]" if self.ci is not None else ""
        return f"{self.value:.{digits}f}" + (f" ({self.flag})" if self.flag else "") + ci

    def raw(self):
        """The CSV value: the number, or text where it needs its flag (intervals have their own columns)."""
        if self.value is None:
            return self.why or NOT_PRINTED
        return f"{self.value:.2f} ({self.flag})" if self.flag else self.value


@dataclass
class Row:
    method: str
    source: str
    n: str
    cells: dict[str, Cell]
    note: str = ""


@dataclass
class Table:
    key: str
    title: str
    caption: str
    columns: list[str]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def frame(self, formatted: bool = False) -> pd.DataFrame:
        """The table as a DataFrame: numbers (or the why-text) per cell.

        ``formatted``: strings with two decimals, and a reason shared by every cell of a row
        written once (then :data:`DITTO`), as the Markdown and LaTeX tables show it.
        """
        records = []
        for r in self.rows:
            rec = {"method": r.method, "source": r.source, "n": r.n}
            whys = {r.cells.get(c, Cell()).why for c in self.columns}
            same_why = formatted and len(self.columns) > 1 and len(whys) == 1 and None not in whys
            for i, c in enumerate(self.columns):
                cell = r.cells.get(c, Cell())
                rec[c] = (DITTO if same_why and i else cell.text()) if formatted else cell.raw()
            rec["note"] = r.note
            if not formatted:                  # intervals as extra columns at the end of the CSV
                for c in self.columns:
                    ci = r.cells.get(c, Cell()).ci
                    rec[f"{c} CI low"], rec[f"{c} CI high"] = ci if ci is not None else (None, None)
            records.append(rec)
        columns = ["method", "source", "n", *self.columns, "note"]
        if not formatted and any(cell.ci is not None for r in self.rows for cell in r.cells.values()):
            columns += [f"{c} CI {end}" for c in self.columns for end in ("low", "high")]
        return pd.DataFrame.from_records(records, columns=columns)

    def row(self, method: str, source: str | None = None) -> Row:
        """The row of ``method`` (and ``source``); KeyError if absent."""
        for r in self.rows:
            if r.method == method and (source is None or r.source == source):
                return r
        raise KeyError(f"{self.key}: no row {method!r} ({source})")

    def to_markdown(self) -> str:
        df = self.frame(formatted=True)
        esc = lambda s: str(s).replace("|", "\\|")  # noqa: E731
        lines = [f"### {self.title}", "", "| " + " | ".join(esc(c) for c in df.columns) + " |",
                 "|" + "|".join("---" for _ in df.columns) + "|"]
        lines += ["| " + " | ".join(esc(v) for v in rec) + " |" for rec in df.itertuples(index=False)]
        lines += ["", self.caption] + [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"

    def to_latex(self) -> str:
        df = self.frame(formatted=True)
        tex = lambda s: _latex_escape(str(s))  # noqa: E731
        spec = "lll" + "r" * len(self.columns) + "l"
        title = re.sub(r"^Table \d+:\s*", "", self.title)       # LaTeX numbers its tables itself
        lines = ["\\begin{table}[t]", "\\centering", f"\\caption{{{tex(title)}. {tex(self.caption)}}}",
                 f"\\label{{tab:{self.key}}}", f"\\begin{{tabular}}{{{spec}}}", "\\hline",
                 " & ".join(tex(c) for c in df.columns) + " \\\\", "\\hline"]
        lines += [" & ".join(tex(v) for v in rec) + " \\\\" for rec in df.itertuples(index=False)]
        lines += ["\\hline", "\\end{tabular}", "\\end{table}"]
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        return self.frame().to_csv(index=False)


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}", "–": "--", DITTO: "''", "-": "-{}",
          ">": "$>$", "<": "$<$", "≥": r"$\geq$", "≤": r"$\leq$", "±": r"$\pm$", "×": r"$\times$",
          "α": r"$\alpha$", "−": "$-$", "≈": r"$\approx$"}
#: A comparison with a number (``> 0.08``) goes into math mode whole; ``-`` before another ``-`` is
#: split from it (``--subset`` would print as an en dash); the other specials are escaped alone.
_LATEX_RE = re.compile(r"(?P<cmp>(?:>=|<=|[<>≥≤])\s*-?\d+(?:\.\d+)?)|-(?=-)|"
                       + "|".join(re.escape(k) for k in _LATEX if k != "-"))
_MATH_OPS = {">=": r"\geq", "<=": r"\leq", "≥": r"\geq", "≤": r"\leq", ">": ">", "<": "<"}


def _latex_sub(m: re.Match) -> str:
    if m.group("cmp"):
        op, number = re.match(r"(>=|<=|[<>≥≤])\s*(.*)", m.group("cmp")).groups()
        return f"${_MATH_OPS[op]} {number}$"
    return _LATEX[m.group(0)]


def _latex_escape(s: str) -> str:
    """Escape LaTeX's special characters in one pass (so replacements are not escaped again);
    text between backticks becomes ``\\texttt``.

    >>> print(_latex_escape("failure = error > 0.08; `faceeval run dan --subset full`"))
    failure = error $> 0.08$; \\texttt{faceeval run dan -{}-subset full}
    """
    parts = s.split("`")
    if len(parts) % 2 == 0:              # an unpaired backtick: no code spans
        parts = ["".join(parts)]
    return "".join(_LATEX_RE.sub(_latex_sub, part) if i % 2 == 0 else
                   "\\texttt{" + _LATEX_RE.sub(_latex_sub, part) + "}" for i, part in enumerate(parts))


# ---------------------------------------------------------------------------------------------
# Runs grouped into models


@dataclass
class Model:
    """All stored runs of one model: a method, its version, weights and prediction options
    (the method part of :class:`~faceeval.runs.RunKey`)."""

    method: str
    weights_hash: str
    #: (dataset, subset, init tag) -> run; the init tag holds the init options (``two-step,fraction=0.46``).
    runs: dict[tuple[str, str, str], Run] = field(default_factory=dict)
    version: str = ""
    option_items: tuple = ()
    #: Put the version in the label (set when models differ only by version).
    show_version: bool = False

    @property
    def key(self) -> tuple:
        return self.method, self.version, self.weights_hash, self.option_items

    @property
    def meta(self) -> dict:
        return next(iter(self.runs.values())).meta if self.runs else {}

    @property
    def options(self) -> dict:
        """The method's load options that changed its predictions (``-O KEY=VALUE``)."""
        return dict(self.meta.get("options") or {})

    @property
    def caveat(self) -> str:
        """What a reader must know about this model's numbers (stored by the method with its runs)."""
        return str(self.meta.get("caveat") or "")

    @property
    def label(self) -> str:
        stages = model_stages(self.meta)
        extra = f", {stages} stage{'s' if stages != 1 else ''}" if stages else ""
        others = ", ".join(f"{k}={v}" for k, v in sorted(self.options.items()) if k != "stages")
        extra += f", {others}" if others else ""
        version = f" v{self.version}" if self.show_version else ""
        return f"{self.method}{version}{extra} [{self.weights_hash[:8]}]"

    def run(self, dataset: str, subset: str, init: str = "boxes") -> Run | None:
        return self.runs.get((dataset, subset, init))


def group_models(runs: Iterable[Run]) -> list[Model]:
    """Group runs by model (the method part of their :class:`~faceeval.runs.RunKey`); of several
    runs with one key, the newest wins (``runs`` in the order of :func:`~faceeval.runs.find_runs`)."""
    models: dict[tuple, Model] = {}
    for run in runs:   # find_runs gives oldest first
        key = RunKey.from_meta(run.meta)
        model = models.setdefault(key.model, Model(key.method, key.weights_hash, version=key.version,
                                                   option_items=key.options))
        model.runs[(key.dataset, key.subset, key.init_tag)] = run
    ordered = [models[k] for k in sorted(models, key=lambda k: (k[0], k[2], k[1], repr(k[3])))]
    by_label: dict[str, list[Model]] = {}
    for model in ordered:
        by_label.setdefault(model.label, []).append(model)
    for same in by_label.values():
        if len(same) > 1:
            for model in same:
                model.show_version = True
    return ordered


def model_stages(meta: dict) -> int | None:
    """The number of DAN stages a run's model had, from its meta, if it says so.

    Looks for ``stages`` / ``n_stages`` / ``num_stages`` at the top level or in a ``config``,
    ``weights_config`` or ``options`` dict, then for "N stage(s)" in the description.
    """
    places = [meta] + [meta[k] for k in ("config", "weights_config", "options", "model") if isinstance(meta.get(k), dict)]
    for place in places:
        for key in ("stages", "n_stages", "num_stages"):
            value = place.get(key)
            if isinstance(value, (int, np.integer)) or (isinstance(value, str) and value.isdigit()):
                return int(value)
    m = re.search(r"(\d+)[- ]stages?\b", str(meta.get("description", "")))
    return int(m.group(1)) if m else None


@dataclass
class Measured:
    """Per-image errors of a model on one subset, and how they were obtained.

    ``expected`` is the subset's official face count (None where none is defined): with
    fewer errors than that, every number built from them is labelled partial.
    """

    errors: np.ndarray
    ids: list[str]
    note: str = ""
    expected: int | None = None
    #: Set by the :class:`Evaluator` when the tables give confidence intervals.
    bootstrap: Bootstrap | None = None
    _intervals: dict = field(default_factory=dict, repr=False)

    def intervals(self, alpha: float) -> SummaryIntervals | None:
        """Bootstrap intervals of the summary at ``alpha`` (computed once), or None."""
        if self.bootstrap is None:
            return None
        if alpha not in self._intervals:
            self._intervals[alpha] = summary_intervals(self.errors, alpha, bootstrap=self.bootstrap)
        return self._intervals[alpha]

    @property
    def partial_label(self) -> str:
        from ..datasets import partial_label

        return partial_label(len(self.errors), self.expected)

    @property
    def n_text(self) -> str:
        """``"135"``, or ``"1 of 135 (partial)"`` for an incomplete subset."""
        n = len(self.errors)
        return f"{n} of {self.expected} (partial)" if self.partial_label else str(n)


class Evaluator:
    """Evaluates runs with the metrics core, combining common + challenging into full if needed.

    ``bootstrap``: measured cells also get confidence intervals.
    """

    def __init__(self, bootstrap: Bootstrap | None = None):
        self._cache: dict = {}
        self.bootstrap = bootstrap

    def errors(self, model: Model, dataset: str, subset: str, norm: str, init: str = "boxes") -> Measured | str:
        """Per-image errors, or a reason string when the run exists but cannot be scored."""
        key = (model.key, dataset, subset, norm, init)
        if key not in self._cache:
            self._cache[key] = self._errors(model, dataset, subset, norm, init)
            if isinstance(self._cache[key], Measured):
                self._cache[key].bootstrap = self.bootstrap
        return self._cache[key]

    def _errors(self, model, dataset, subset, norm, init):
        run = model.run(dataset, subset, init)
        note = ""
        if run is None and dataset == "300w" and subset == "full":
            parts = [model.run(dataset, s, init) for s in ("common", "challenging")]
            if all(p is not None for p in parts):
                if any(p.ground_truth is None for p in parts):
                    return "no ground truth stored in the run"
                # "full" is scored over the concatenated per-image errors (protocol), never as the
                # mean of the two subsets' means.
                ids = parts[0].ids + parts[1].ids
                pred = np.concatenate([p.predictions for p in parts])
                gt = np.concatenate([p.ground_truth for p in parts])
                _, errors = evaluate(pred, gt, norm, ids=ids)
                expected = (None if any(p.expected is None for p in parts)
                            else sum(p.expected for p in parts))
                return Measured(errors, ids, "full = common + challenging runs combined", expected)
        if run is None:
            return None
        if run.ground_truth is None:
            return "no ground truth stored in the run"
        _, errors = evaluate(run.predictions, run.ground_truth, norm, ids=run.ids)
        return Measured(errors, run.ids, note, run.expected)


def summary_cells(measured: Measured, alpha: float, norm: str) -> dict[str, Cell]:
    """mean / AUC_alpha / failure cells (percent) of per-image errors, via the metrics core."""
    from ..metrics import summarize

    s = summarize(measured.errors, alpha=alpha, norm=norm)
    ci = measured.intervals(alpha)
    pct = (lambda stat: tuple(v * 100 for v in ci[stat].as_list())) if ci is not None else (lambda stat: None)  # noqa: E731
    flag = measured.partial_label
    return {"mean": Cell(s.mean_error * 100, ci=pct("mean_error"), flag=flag),
            "auc": Cell(s.auc * 100, ci=pct("auc"), flag=flag),
            "failure": Cell(s.failure_rate * 100, ci=pct("failure_rate"), flag=flag)}


# ---------------------------------------------------------------------------------------------
# Why a cell is empty


@dataclass
class Context:
    """What the tables need besides runs: where the data is and which methods are registered."""

    data_root: Path | None = None
    menpo_root: Path | None = None
    methods: Sequence[str] = ()
    #: name -> None if the method loads, else the "why" text (e.g. "no weights: ...").
    method_status: Callable[[str], str | None] | None = None
    _w300: dict | None = None
    _status: dict = field(default_factory=dict)

    def w300_missing(self, subset: str) -> str | None:
        """Why a 300W subset cannot be run at the data root, or None if its images are there."""
        if self.data_root is None:
            return None
        if self._w300 is None:
            from ..datasets import check_300w

            self._w300 = {r["name"]: r for r in check_300w(self.data_root) if r["kind"] == "subset"}
        row = self._w300.get(subset)
        if row is None or row["with_image"] == 0:
            return f"no data: 300W {subset} not under {self.data_root} (`faceeval data check {self.data_root}`)"
        return None

    def status(self, method: str) -> str | None:
        """Why ``method`` cannot run (asked once per method), or None; a hint's ``--data-root DIR``
        names the data root when there is one."""
        if self.method_status is None:
            return None
        if method not in self._status:
            why = self.method_status(method)
            if why and self.data_root is not None:
                why = why.replace("--data-root DIR", f"--data-root {self.data_root}")
            self._status[method] = why
        return self._status[method]


def default_method_status(name: str) -> str | None:
    """Try to load a registered method without weights: None if it loads, else why not."""
    from ..methods import MissingWeightsError, method_class

    try:
        cls = method_class(name)
    except Exception as exc:  # noqa: BLE001 - a broken plugin is reported, not fatal
        return f"unavailable: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    try:
        cls.load()
    except MissingWeightsError:
        trainable = cls.train_command() is not None
        return (f"no weights: `faceeval train {name} --data-root DIR`" if trainable
                else f"no weights for {name}")
    except Exception as exc:  # noqa: BLE001
        return f"unavailable: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    return None


def _root_text(root: Path | None) -> str:
    return str(root) if root is not None else "DIR"


def _rerun_flags(model: Model | None) -> str:
    """``--weights W -O k=v`` that make ``faceeval run`` reproduce this model's runs."""
    if model is None:
        return ""
    stored = model.meta.get("weights") or model.meta.get("weights_path")
    flags = f" --weights {stored}" if stored else ""
    return flags + "".join(f" -O {k}={v}" for k, v in sorted(model.options.items()))


def why_300w(ctx: Context, method: str, subset: str, model: Model | None = None) -> str:
    """The "why" text of a missing 300W cell, with the command that fills it."""
    if model is None:
        status = ctx.status(method)
        if status is not None:
            return status
    missing = ctx.w300_missing(subset)
    if missing:
        return missing
    return f"no run: `faceeval run {method}{_rerun_flags(model)} --subset {subset} --data-root {_root_text(ctx.data_root)}`"


def why_menpo(ctx: Context, method: str, model: Model | None = None) -> str:
    if model is None:
        status = ctx.status(method)
        if status is not None:
            return status
    if ctx.menpo_root is not None and not Path(ctx.menpo_root).is_dir():
        return f"no data: {ctx.menpo_root} does not exist"
    return (f"no run: `faceeval run {method}{_rerun_flags(model)} --dataset menpo --subset test --init two-step "
            f"--data-root {_root_text(ctx.menpo_root)}`")


# ---------------------------------------------------------------------------------------------
# The tables


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
            f"no weights: `faceeval train {method} --stages {k} --data-root {_root_text(ctx.data_root)}`, then "
            f"`faceeval run {method} --weights W --subset private --data-root {_root_text(ctx.data_root)}`")
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


def write_tables(tables: Sequence[Table], out: str | os.PathLike) -> list[Path]:
    """Write each table as Markdown, LaTeX and CSV into ``out``, plus ``tables.md`` with all of them."""
    from ..io import atomic_write

    out = Path(out)
    written = []
    for t in tables:
        for suffix, text in ((".md", t.to_markdown()), (".tex", t.to_latex()), (".csv", t.to_csv())):
            path = out / f"{t.key}{suffix}"
            with atomic_write(path) as fh:
                fh.write(text)
            written.append(path)
    path = out / "tables.md"
    with atomic_write(path) as fh:
        fh.write("\n".join(t.to_markdown() for t in tables))
    written.append(path)
    return written
