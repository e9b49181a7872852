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
from .figures import FigureResult
from .table_format import MEASURED, Table

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;
 padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:.85em}
th,td{border:1px solid #ccc;padding:.25em .5em;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.why{color:#8a5a00;font-size:.85em;max-width:18em}
.flag{color:#b00020;font-size:.8em}
tr.measured td:first-child{font-weight:600}
.caption{color:#555;font-size:.85em;max-width:60em}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.85em;color:#555}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th.asc::after{content:" \\25B2"}table.sortable th.desc::after{content:" \\25BC"}
.scroll{max-height:40em;overflow:auto;border:1px solid #ddd;display:inline-block}
span.ci{color:#666;font-size:.8em;white-space:nowrap}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.95em;background:#f6f6f6;padding:0 .2em}
.analysis{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}
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


def table_html(table: Table) -> str:
    """A results table with why-cells styled apart from numbers."""
    head = "".join(f"<th>{_e(c)}</th>" for c in ["method", "source", "n", *table.columns, "note"])
    body = []
    for r in table.rows:
        cells = [f"<td>{_e(r.method)}</td>", f"<td>{_e(r.source)}</td>", f"<td>{_e(r.n)}</td>"]
        whys = {r.cells[c].why if c in r.cells else None for c in table.columns}
        if len(table.columns) > 1 and len(whys) == 1 and None not in whys:   # one reason for the whole row
            cells.append(f'<td class="why" colspan="{len(table.columns)}">{_text(whys.pop())}</td>')
        for c in table.columns if len(cells) == 3 else ():
            cell = r.cells.get(c)
            if cell is not None and cell.value is not None:
                ci = (f'<br><span class="ci">[{cell.ci[0]:.2f}, {cell.ci[1]:.2f}]</span>'
                      if getattr(cell, "ci", None) is not None else "")
                flag = f' <span class="flag">({_e(cell.flag)})</span>' if cell.flag else ""
                cells.append(f'<td class="num">{cell.value:.2f}{flag}{ci}</td>')
            else:
                cells.append(f'<td class="why">{_text(cell.text() if cell else "–")}</td>')
        cells.append(f"<td>{_text(r.note)}</td>")
        cls = "measured" if r.source == MEASURED else "published"
        body.append(f'<tr class="{cls}">' + "".join(cells) + "</tr>")
    notes = "".join(f"<li>{_text(n)}</li>" for n in table.notes)
    return (f'<h3>{_e(table.title)}</h3><table class="results" id="{_e(table.key)}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table><p class="caption">{_text(table.caption)}</p>'
            + (f"<ul class=caption>{notes}</ul>" if notes else ""))


def figure_html(fig: FigureResult) -> str:
    data = base64.b64encode(Path(fig.png).read_bytes()).decode("ascii")
    notes = " ".join(fig.notes)
    return (f'<figure><img alt="{_e(fig.title)}" src="data:image/png;base64,{data}" width="{fig.size[0]}">'
            f"<figcaption>{_e(fig.title)}{(' — ' + _text(notes)) if notes else ''}</figcaption></figure>")


def per_image_html(records: Sequence[dict]) -> str:
    cols = ["method", "set", "id", *NORMALISATIONS]
    head = "".join(f"<th>{_e(c if c in ('method', 'set', 'id') else c + ' %')}</th>" for c in cols)
    rows = []
    for rec in records:
        cells = [f"<td>{_e(rec[c])}</td>" for c in ("method", "set", "id")]
        cells += [f'<td class="num" data-v="{rec[n]!r}">{rec[n]:.2f}</td>' for n in NORMALISATIONS]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="scroll"><table class="sortable" id="per-image"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def analysis_html(item) -> str:
    """One run's breakdown (a :class:`faceeval.report.breakdown.RunAnalysis`): percentiles, regions,
    source folders, and the per-landmark figure."""
    a = item.analysis
    s, ci = a.summary, a.intervals

    def pct(v, interval=None):
        extra = f' <span class="ci">{interval.text()}</span>' if interval is not None else ""
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
                  title: str = "faceeval report", notes: Sequence[str] = (), analyses: Sequence = ()) -> str:
    """The whole page as one string."""
    ced = [f for f in figures if f.kind == "ced"]
    worst = [f for f in figures if f.kind == "worst"]
    other = [f for f in figures if f.kind not in ("ced", "worst")]
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="caption">Generated {created} by faceeval from stored runs. "measured" rows are computed '
        "by faceeval's metrics from cached predictions; published rows are the paper's numbers. A cell "
        "without a number says why and how to fill it.</p>",
    ]
    parts += [f'<p class="caption">{_text(n)}</p>' for n in notes]
    parts.append('<h2 id="tables">Tables</h2>')
    parts += [table_html(t) for t in tables]
    parts.append('<h2 id="ced">CED curves</h2>')
    parts += [figure_html(f) for f in ced] or ["<p>No CED curves (no runs).</p>"]
    parts.append('<h2 id="worst">Worst cases</h2>')
    parts += [figure_html(f) for f in worst] or ["<p>No worst-case figures (no images at the data root).</p>"]
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
