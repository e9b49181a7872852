"""One self-contained HTML report: tables, CED plots, worst cases and a sortable per-image table.

Everything is inline (CSS, a few lines of JavaScript, figures as base64 PNG), so the file
opens offline and can be mailed around.
"""
from __future__ import annotations

import base64
import datetime as _dt
import html
import re
from pathlib import Path
from typing import Sequence

from ..metrics import NORMALISATIONS
from ..protocol import normaliser
from .figures import FigureResult
from .table_format import FROM_CED, MEASURED, NOT_PRINTED, PUBLISHED, PUBLISHED_OWN, RELEASED, Table

CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:1.5em auto;max-width:1240px;
 padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}h3{margin-bottom:.3em}
nav{font-size:.9em}nav a{margin-right:.8em}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:.85em;line-height:1.3}
th,td{border:1px solid #ccc;padding:.2em .45em;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.why{color:#8a5a00;font-size:.9em;text-align:center}
td.method{min-width:6em;max-width:16em}.tgroup td.method{max-width:13em}
tr.measured td.method{border-left:3px solid #0072B2}td.method small{color:#555;font-size:.85em}
tr.group th{background:#fafafa;font-weight:normal;font-style:italic;text-align:left;color:#555}
sup{font-size:.72em;line-height:0;vertical-align:baseline;position:relative;top:-.45em}
sup a,td.why a{text-decoration:none}
sup.flag a{color:#b00020}
.tgroup{display:flex;flex-wrap:wrap;column-gap:.8em;align-items:flex-start}
.tgroup table{margin-bottom:.3em;font-size:.8em}
.caption{color:#555;font-size:.85em;max-width:60em}
ol.notes{color:#555;font-size:.8em;margin:.2em 0 1em;padding-left:1.8em;max-width:60em;overflow-wrap:anywhere}
ol.missing{font-size:.9em}ol.missing li{margin:.3em 0}
figure{margin:1em 0;max-width:100%}figure img{max-width:100%;height:auto;border:1px solid #ddd}
figcaption{font-size:.85em;color:#555}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th.asc::after{content:" \\25B2"}table.sortable th.desc::after{content:" \\25BC"}
table.sortable td{overflow-wrap:anywhere}
.scroll{max-height:40em;overflow-y:auto;border:1px solid #ddd;display:inline-block;max-width:100%}
span.ci{display:block;color:#666;font-size:.8em;white-space:nowrap}
span.ci.inline{display:inline}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.95em;background:#f6f6f6;padding:0 .2em;
 overflow-wrap:anywhere}
.analysis{display:flex;flex-wrap:wrap;column-gap:1.5em;align-items:flex-start}
.analysis>div{max-width:100%}
@media (max-width:600px){body{padding:0 .5em}table{font-size:.75em}th,td{padding:.15em .3em}
 td.method{min-width:9em}.tgroup{display:block}.tgroup table{font-size:.72em}span.ci{white-space:normal}}
"""

SORT_JS = """
(function(){
  function key(td){var t=td.getAttribute('data-v');if(t===null)t=td.textContent;var f=parseFloat(t);
    return isNaN(f)?t.toLowerCase():f;}
  document.querySelectorAll('table.sortable').forEach(function(table){
    var heads=table.querySelectorAll('thead th');
    heads.forEach(function(th,col){
      th.addEventListener('click',function(){
        var asc=!th.classList.contains('asc');
        heads.forEach(function(h){h.classList.remove('asc','desc');});
        th.classList.add(asc?'asc':'desc');
        var body=table.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
        rows.sort(function(a,b){var x=key(a.cells[col]),y=key(b.cells[col]);
          if(typeof x!==typeof y){x=String(x);y=String(y);}
          return (x<y?-1:x>y?1:0)*(asc?1:-1);});
        rows.forEach(function(r){body.appendChild(r);});
      });
    });
  });
  document.body.setAttribute('data-ready', '1');
})();
"""


def _e(s) -> str:
    return html.escape(str(s))


_CODE = re.compile(r"`([^`]+)`")


def _text(s) -> str:
    """Escaped prose whose `backticked` parts (commands, paths) become ``<code>``.

    >>> _text("no run: `faceeval run dan --subset full` & <more>")
    'no run: <code>faceeval run dan --subset full</code> &amp; &lt;more&gt;'
    """
    return _CODE.sub(r"<code>\1</code>", _e(s))


class Numbered:
    """Texts given numbers in the order first seen (the same text keeps its number): footnotes, and
    the page's list of what is missing."""

    def __init__(self, prefix: str):
        self.prefix, self.items = prefix, {}

    def add(self, text: str) -> int:
        return self.items.setdefault(text, len(self.items) + 1)

    def link(self, *texts: str, css: str = "") -> str:
        """Superscript links to the footnotes of ``texts`` (``1,4``); empty without texts."""
        links = ",".join(f'<a href="#{self.prefix}-{self.add(t)}">{self.add(t)}</a>' for t in texts)
        return f'<sup{f" class={css}" if css else ""}>{links}</sup>' if links else ""

    def html(self, css: str) -> str:
        return "".join([f'<ol class="{css}">'] + [f'<li id="{self.prefix}-{n}">{_text(t)}</li>'
                                                   for t, n in self.items.items()] + ["</ol>"]) if self.items else ""


#: Bracketed parts of a row's label (weights hash, [300W full]), set smaller than the method's name.
_TAG = re.compile(r"(\[[^\]]*\])")
#: What a missing cell shows before its link into the list of what is missing (the reason's head).
_MISSING_HEAD = re.compile(r"^(no run|no data|no weights(?: with \d+ stages)?|unavailable)\b")


def _column_groups(columns: Sequence[str]) -> list[tuple[str, list[str]]]:
    """Columns named ``<group> <column>`` in runs of two or more (Table 2: IP, IO, BD by subset) as
    groups, each drawn as a table of its own so the page never needs a horizontal scroll; else one group.

    >>> _column_groups(["IP common", "IP full", "IO common", "IO full"])
    [('IP', ['common', 'full']), ('IO', ['common', 'full'])]
    >>> _column_groups(["mean error", "AUC_0.08"])
    [('', ['mean error', 'AUC_0.08'])]
    """
    heads = [c.split(" ", 1) for c in columns]
    groups: dict[str, list[str]] = {}
    for parts in heads:
        if len(parts) == 2:
            groups.setdefault(parts[0], []).append(parts[1])
    if len(groups) > 1 and all(len(g) > 1 for g in groups.values()) and sum(map(len, groups.values())) == len(columns):
        return list(groups.items())
    return [("", list(columns))]


#: The row groups of every table, in order, and the line that introduces each after the first.
_SOURCES = ((MEASURED, ""), (RELEASED, "measured here from the predictions the authors released"),
            (PUBLISHED, "in the paper (as printed)"), (PUBLISHED_OWN, "printed by the authors' own code"),
            (FROM_CED, "read off the challenge entries' published CED curves"))


def _cell_html(cell, notes: Numbered, missing: Numbered, span: int = 1, explained: dict | None = None) -> str:
    span_attr = f' colspan="{span}"' if span > 1 else ""
    if cell is not None and cell.value is not None:
        ci = (f'<span class="ci">[{cell.ci[0]:.2f}, {cell.ci[1]:.2f}]</span>'
              if getattr(cell, "ci", None) is not None else "")
        flag = notes.link(cell.flag, css="flag") if cell.flag else ""
        return f'<td class="num"{span_attr}>{cell.value:.2f}{flag}{ci}</td>'
    why = cell.text() if cell is not None else NOT_PRINTED
    if why in (NOT_PRINTED, "-", ""):
        return f'<td class="why"{span_attr}>{NOT_PRINTED}</td>'
    head = _MISSING_HEAD.match(why)
    if head is not None or "`" in why:          # something the user can fill: into the page's list
        item = (explained or {}).get(why, why)
        return f'<td class="why"{span_attr}>{_e(head.group(1) if head else "missing")} {_missing_link(item, missing)}</td>'
    return f'<td class="why"{span_attr}>{NOT_PRINTED}{notes.link(why)}</td>'


def _missing_link(text: str, missing: Numbered) -> str:
    n = missing.add(text)
    return f'<a href="#{missing.prefix}-{n}">[{n}]</a>'


def _group_table(table: Table, group: str, columns: Sequence[str], notes: Numbered, missing: Numbered) -> str:
    full = [f"{group} {c}".strip() for c in columns]
    width = len(columns) + 1
    head = f"<th>{_e(group or 'method')}</th>" + "".join(f"<th>{_e(c)}</th>" for c in columns)
    body, last = [], None
    for r in table.rows:
        source = r.source if r.source in dict(_SOURCES) else PUBLISHED
        if source != last and dict(_SOURCES)[source] and (last is not None or source != MEASURED):
            body.append(f'<tr class="group"><th colspan="{width}">{_e(dict(_SOURCES)[source])}</th></tr>')
        last = source
        marks = notes.link(*(part for part in (p.strip() for p in r.note.split("; ")) if part))
        label = _TAG.sub(r"<small>\1</small>", _e(r.method))
        cells = [f'<td class="method">{label}{marks}</td>']
        whys = {r.cells[c].why if c in r.cells else None for c in full}
        if len(full) > 1 and len(whys) == 1 and None not in whys:     # one reason for the whole row
            cells.append(_cell_html(r.cells[full[0]], notes, missing, len(full), table.explained))
        else:
            cells += [_cell_html(r.cells.get(c), notes, missing, 1, table.explained) for c in full]
        cls = "measured" if r.source in (MEASURED, RELEASED) else "published"
        body.append(f'<tr class="{cls}">' + "".join(cells) + "</tr>")
    key = f"{table.key}-{group}" if group else table.key
    return (f'<table class="results" id="{_e(key)}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def table_html(table: Table, missing: Numbered | None = None) -> str:
    """A results table as it reads at a glance: measured rows first, the paper's below; references,
    caveats and notes as numbered footnotes under it; an empty cell says why in a word and links
    into ``missing``, the page's one list of what is missing and the command that fills it.
    Tables whose columns come in groups (Table 2) are drawn as one narrow table per group."""
    missing = missing if missing is not None else Numbered("missing")
    notes = Numbered(f"{table.key}-note")
    parts = [_group_table(table, group, cols, notes, missing) for group, cols in _column_groups(table.columns)]
    inner = parts[0] if len(parts) == 1 else f'<div class="tgroup" id="{_e(table.key)}">{"".join(parts)}</div>'
    extra = "".join(f"<br>{_text(n)}" for n in table.notes)
    return (f"<h3>{_e(table.title)}</h3>{inner}{notes.html('notes')}"
            f'<p class="caption">{_text(table.caption)}{extra}</p>')


def figure_html(fig: FigureResult) -> str:
    data = base64.b64encode(Path(fig.png).read_bytes()).decode("ascii")
    notes = " ".join(fig.notes)
    return (f'<figure><img alt="{_e(fig.title)}" src="data:image/png;base64,{data}" width="{fig.size[0]}" '
            f'height="{fig.size[1]}">'
            f"<figcaption>{_e(fig.title)}{(' — ' + _text(notes)) if notes else ''}</figcaption></figure>")


def per_image_html(records: Sequence[dict]) -> str:
    """Every face of every run, sortable; runs are keyed R1, R2, ... with a legend above the table,
    so that its columns stay narrow."""
    runs = {}
    for rec in records:
        runs.setdefault((rec["method"], rec["set"]), f"R{len(runs) + 1}")
    legend = "".join(f"<li><b>{key}</b>: {_e(method)} on {_e(set_name)}</li>" for (method, set_name), key in runs.items())
    head = "".join(f"<th>{_e(c)}</th>" for c in ["run", "face", *(f"{normaliser(n).short} %" for n in NORMALISATIONS)])
    rows = []
    for rec in records:
        key = runs[(rec["method"], rec["set"])]
        cells = [f'<td data-v="{int(key[1:]):05d}">{key}</td>', f"<td>{_e(rec['id'])}</td>"]
        cells += [f'<td class="num" data-v="{rec[n]!r}">{rec[n]:.2f}</td>' for n in NORMALISATIONS]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<ul class="caption">{legend}</ul><p class="caption">IO = inter-ocular, IP = inter-pupil, BD = box '
            f'diagonal, BS = box size; errors in % of the normalising distance.</p><div class="scroll"><table class="sortable" '
            f'id="per-image"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')


def analysis_html(item) -> str:
    """One run's breakdown (a :class:`faceeval.report.breakdown.RunAnalysis`): percentiles, regions,
    source folders, and the per-landmark figure."""
    a = item.analysis
    s, ci = a.summary, a.intervals

    def pct(v, interval=None):
        extra = f'<span class="ci">{interval.text()}</span>' if interval is not None else ""
        return f'<td class="num">{v * 100:.2f}{extra}</td>'

    perc = "".join(f"<th>{_e(k.upper())}</th>" for k in a.percentiles)
    perc_row = "".join(pct(v) for v in a.percentiles.values())
    regions = "".join(f"<tr><td>{_e(k)}</td>{pct(v)}</tr>" for k, v in a.regions.items())
    sources = "".join(
        f"<tr><td>{_e(k)}</td><td class=num>{r.summary.n}</td>{pct(r.summary.mean_error, r.intervals and r.intervals.mean_error)}"
        f"{pct(r.summary.median_error)}{pct(r.summary.auc)}{pct(r.summary.failure_rate, r.intervals and r.intervals.failure_rate)}</tr>"
        for k, r in a.per_source.items())
    head = (f"<h3>{_e(item.label)} on {_e(item.set_name)}</h3><p class=caption>{s.n} faces, {_e(s.norm)} normalisation, "
            f"mean error {s.mean_error * 100:.2f}%" + (f" {ci.mean_error.text()}" if ci else "") + "</p>")
    tables = (f"<div><table><thead><tr>{perc}</tr></thead><tbody><tr>{perc_row}</tr></tbody></table>"
              f"<table><thead><tr><th>region</th><th>mean %</th></tr></thead><tbody>{regions}</tbody></table></div>"
              f"<div><table><thead><tr><th>source</th><th>n</th><th>mean %</th><th>median %</th><th>AUC</th>"
              f"<th>failure %</th></tr></thead><tbody>{sources}</tbody></table></div>")
    return head + f'<div class="analysis">{tables}{figure_html(item.figure)}</div>'


def render_report(tables: Sequence[Table], figures: Sequence[FigureResult], per_image: Sequence[dict],
                  title: str = "faceeval report", notes: Sequence[str] = (), analyses: Sequence = (),
                  figure_notes: Sequence[str] = ()) -> str:
    """The whole page as one string. ``notes`` (figures that could not be drawn, and why) join the
    table cells' hints in one list: what is missing, and the command that fills it;
    ``figure_notes`` (figures left out because they would show nothing) are said under the CED curves."""
    ced = [f for f in figures if f.kind == "ced"]
    worst = [f for f in figures if f.kind == "worst"]
    other = [f for f in figures if f.kind not in ("ced", "worst")]
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    missing = Numbered("missing")
    table_parts = [table_html(t, missing) for t in tables]
    for n in notes:
        missing.add(n)
    sections = [("tables", "Tables"), ("missing", f"What is missing ({len(missing.items)})"), ("ced", "CED curves"),
                ("worst", "Worst faces")] + ([("more", "More figures")] if other else []) + \
        ([("where", "Where methods fail")] if analyses else []) + [("images", "Per-image errors")]
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="caption">Generated {created} by faceeval from stored runs. In each table our measured rows '
        "(faceeval's metrics on cached predictions, marked blue on the left) come first, the paper's printed "
        "numbers below them; small numbers are footnotes. A cell without a number links to the list of what is missing and the command "
        "that fills it.</p>",
        "<nav>" + "".join(f'<a href="#{k}">{_e(v)}</a>' for k, v in sections) + "</nav>",
        '<h2 id="tables">Tables</h2>', *table_parts,
        '<h2 id="missing">What is missing, and the command to fill it</h2>',
        missing.html("missing") or "<p>Nothing: every cell that can be measured here is.</p>",
        '<h2 id="ced">CED curves</h2>',
    ]
    parts += [figure_html(f) for f in ced] or ["<p>No CED curves (no runs).</p>"]
    parts += [f'<p class="caption">{_text(n)}</p>' for n in figure_notes]
    parts.append('<h2 id="worst">Worst faces</h2>')
    parts += [figure_html(f) for f in worst] or ["<p>No worst-face figures (no images at the data root).</p>"]
    if other:
        parts.append('<h2 id="more">More figures</h2>')
        parts += [figure_html(f) for f in other]
    if analyses:
        parts.append('<h2 id="where">Where methods fail</h2><p class="caption">Per run: error percentiles, mean '
                     "error per face region and per source folder, and the mean error of each landmark drawn on "
                     "the mean face (colour and size).</p>")
        parts += [analysis_html(a) for a in analyses]
    parts.append('<h2 id="images">Per-image errors</h2><p class="caption">Click a column header to sort.</p>')
    parts.append(per_image_html(per_image) if per_image else "<p>No runs with ground truth.</p>")
    parts.append(f"<script>{SORT_JS}</script></body></html>")
    return "\n".join(parts)


def write_report(path: str | Path, text: str) -> Path:
    from ..io import atomic_write

    path = Path(path)
    with atomic_write(path) as fh:
        fh.write(text)
    return path
