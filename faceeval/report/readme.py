"""The README's "Results on real 300W" table, generated from stored runs (never typed by hand).

Every model (method + weights) with a run on a 300W test subset gets one row per subset
(common, challenging, full): n, the mean error under the three normalisations, AUC_0.08
and the failure rate (inter-ocular), the speed its run measured, the command that made
the run, and the model's caveat. A table built from a partial subset says so in every cell.
The block is written between two marker lines of the README, so rerunning replaces it::

    python -m faceeval.report.readme --results RESULTS --readme README.md   # or: make readme-results

>>> text = "intro\\n" + BEGIN + "\\nold\\n" + END + "\\nrest\\n"
>>> replace_block(text, "new table").splitlines()
['intro', '<!-- results-on-real-300w:begin -->', 'new table', '<!-- results-on-real-300w:end -->', 'rest']
"""
from __future__ import annotations

import argparse
import datetime as _dt
import subprocess
from pathlib import Path
from typing import Iterable, Sequence

from ..errors import DATA_ROOT_PLACEHOLDER
from ..io import atomic_write
from ..metrics import ALPHA
from ..runs import Run, find_runs, machine
from .evaluation import Evaluator, Measured, summary_cells
from .hints import rerun_flags
from .run_groups import group_models
from .tables import NORM_SHORT, TABLE2_NORMS, W300_TEST_SUBSETS

BEGIN = "<!-- results-on-real-300w:begin -->"
END = "<!-- results-on-real-300w:end -->"
#: Normalisations in the order the columns show them.
NORMS = ("inter-ocular", "inter-pupil", "bbox-diagonal")
assert set(NORMS) == set(TABLE2_NORMS)


def _superscript(n: int) -> str:
    """``n`` in superscript digits (footnote marks).

    >>> _superscript(1), _superscript(12)
    ('¹', '¹²')
    """
    return str(n).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


def git_commit(cwd: str | Path = ".", ignore: Sequence[str | Path] = ()) -> str:
    """``abc1234`` (``abc1234-dirty`` with uncommitted changes other than to the files in ``ignore``,
    e.g. the README whose block is being regenerated), or ``unknown`` outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=cwd, capture_output=True, text=True,
                              check=True).stdout.strip()
        top = Path(subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=cwd, capture_output=True, text=True,
                                  check=True).stdout.strip())
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                 capture_output=True, text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    skip = {Path(p).resolve() for p in ignore}
    dirty = [line for line in changed if (top / line[3:].split(" -> ")[-1]).resolve() not in skip]
    return head + ("-dirty" if dirty else "")


def _run_command(model, subset: str, run: Run | None, note: str = "") -> str:
    """The command that made a row's run (the data root as the placeholder: the block is read on other
    machines), or how the row was put together from other runs."""
    if run is None:
        return note.removeprefix(f"{subset} = ").removeprefix(f"{subset}: ") or "common + challenging runs combined"
    if model.released:
        file = Path(str((model.meta.get("released") or {}).get("file") or "FILE")).name
        return f"`faceeval import-run {file} --data-root {DATA_ROOT_PLACEHOLDER}` (released predictions)"
    return f"`faceeval run {model.method}{rerun_flags(model)} --subset {subset} --data-root {DATA_ROOT_PLACEHOLDER}`"


def result_rows(runs: Iterable[Run], subsets: Sequence[str] = W300_TEST_SUBSETS) -> list[dict]:
    """One record per model and 300W test subset it has (or can combine) a run for."""
    rows = []
    ev = Evaluator()
    for model in group_models(runs):
        for subset in subsets:
            got = {norm: ev.errors(model, "300w", subset, norm, model.init) for norm in NORMS}
            if not all(isinstance(g, Measured) for g in got.values()):
                continue
            io = got["inter-ocular"]
            cells = {norm: summary_cells(got[norm], ALPHA, norm)["mean"] for norm in NORMS}
            io_cells = summary_cells(io, ALPHA, "inter-ocular")
            run = model.run("300w", subset, model.init)
            speed = (run.meta.get("images_per_second") if run is not None else None)
            rows.append({"model": model.label, "subset": subset, "n": io.n_text, **cells,
                         "auc": io_cells["auc"], "failure": io_cells["failure"],
                         "images_per_second": speed, "command": _run_command(model, subset, run, io.note),
                         "caveat": model.caveat, "machine": run.meta.get("machine") if run is not None else None,
                         "created": run.meta.get("created") if run is not None else None})
    return rows


def results_markdown(runs: Iterable[Run], regenerate: str, commit: str | None = None,
                     today: str | None = None) -> str:
    """The Markdown block: a provenance line, the table, and the caveats of its models."""
    runs = list(runs)
    rows = result_rows(runs)
    machines = sorted({r["machine"] for r in rows if r["machine"]})
    created = sorted(r["created"][:10] for r in rows if r["created"])
    today = today or _dt.date.today().isoformat()
    lines = [f"Generated {today} from the stored runs ({created[0]} to {created[-1]}) at commit "
             f"{commit or git_commit()}; runs made on: {'; '.join(machines) or 'machine not recorded'}. "
             f"Regenerate with `{regenerate}`." if created else
             f"Generated {today}: no stored run on a 300W test subset yet. Regenerate with `{regenerate}`.", ""]
    if rows:
        head = (["model", "subset", "n"] + [f"{NORM_SHORT[n]} mean %" for n in NORMS]
                + ["AUC_0.08 (IO) %", "failure (IO > 0.08) %", "images/s", "made by"])
        lines += ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        # one footnote per distinct caveat, numbered in order of first appearance
        marks = {c: _superscript(k + 1) for k, c in enumerate(dict.fromkeys(r["caveat"] for r in rows if r["caveat"]))}
        for r in rows:
            caveat = f" {marks[r['caveat']]}" if r["caveat"] else ""
            ips = r["images_per_second"]
            speed = "–" if not ips else f"{ips:.1f}" if ips < 100 else f"{ips:,.0f}"
            values = ([r["model"] + caveat, r["subset"], r["n"]] + [r[n].text() for n in NORMS]
                      + [r["auc"].text(), r["failure"].text(), speed, r["command"]])
            lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in values) + " |")
        if marks:
            lines.append("")
            for text, mark in marks.items():
                who = "; ".join(dict.fromkeys(r["model"] for r in rows if r["caveat"] == text))
                lines.append(f"{mark} {who}: {text}.")
        lines += ["", "IO = inter-ocular (outer eye corners), IP = inter-pupil, BD = ground-truth box diagonal; "
                  "full is scored over the concatenated per-image errors of common and challenging; images/s is "
                  "the method's predict time only, as stored with the run; protocol: docs/protocol.md."]
    return "\n".join(lines).rstrip()


def replace_block(text: str, block: str, begin: str = BEGIN, end: str = END) -> str:
    """``text`` with everything between the ``begin`` and ``end`` marker lines replaced by ``block``
    (:func:`faceeval.io.replace_marked_block` with this README's markers by default)."""
    from ..io import replace_marked_block

    return replace_marked_block(text, block, begin, end)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m faceeval.report.readme", description=__doc__.split("\n")[0])
    parser.add_argument("--results", default=None, help="results root (default ./results or $FACEEVAL_RESULTS)")
    parser.add_argument("--readme", default="README.md", help="file whose marked block is replaced")
    parser.add_argument("--command", default="make readme-results",
                        help="the command printed as the way to regenerate the block")
    args = parser.parse_args(argv)
    path = Path(args.readme)
    commit = git_commit(path.parent, ignore=[path])      # its own block is what changes
    block = results_markdown(find_runs(args.results), args.command, commit=commit)
    text = replace_block(path.read_text(), block)
    with atomic_write(path) as fh:
        fh.write(text)
    print(f"wrote the results block of {path} ({block.count(chr(10)) + 1} lines; commit {commit}; "
          f"this machine: {machine()})")


if __name__ == "__main__":
    main()
