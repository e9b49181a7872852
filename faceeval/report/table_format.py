"""Table cells, rows and tables, and their Markdown, LaTeX and CSV renderings.

A :class:`Table` is plain data (columns, rows of :class:`Cell`, caption, notes); the
builders of :mod:`faceeval.report.tables` fill it, and it renders itself. Nothing here
evaluates anything.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

#: What a row's ``source`` says: measured here, printed in the paper, or read off a published curve.
MEASURED = "measured"
PUBLISHED = "published (paper)"
FROM_CED = "from published CED"
#: Measured here from the predictions a method's authors released (``faceeval import-run``) ...
RELEASED = "measured (released predictions)"
#: ... beside the figures the authors' own code printed for them.
PUBLISHED_OWN = "published (authors' metrics)"
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
