"""``faceeval tables``, ``faceeval figures`` and ``faceeval report``: the paper's tables and
figures, and one HTML page, regenerated from stored runs (no prediction is recomputed)."""
from __future__ import annotations

from pathlib import Path

import click

from ..metrics import NORMALISATIONS
from ..protocol import normaliser_names
from .common import DATA_ROOT, RESULTS, RegisteredChoice
from .uncertainty import bootstrap_from, ci_options

MENPO_ROOT = click.option("--menpo-root", type=click.Path(file_okay=False), envvar="FACEEVAL_MENPO_ROOT",
                          help="Menpo 2D root (env FACEEVAL_MENPO_ROOT), for Table 5 hints and Fig. 5 images.")
MEASURED_ONLY = click.option("--measured-only", is_flag=True,
                             help="Only rows of methods with runs (skip registered methods that have none).")
K = click.option("-k", "--worst", "k", type=int, default=9, show_default=True,
                 help="Faces per worst-case / example grid.")
DAN_WEIGHTS = click.option("--dan-weights", type=click.Path(exists=True), default=None,
                           help="Trained DAN weights: draws Fig. 3 (DAN internals) through DAN's internals() hook.")


def _tables(results, data_root, menpo_root, measured_only, bootstrap=None):
    from ..report.tables import build_tables
    from ..runs import find_runs

    runs = find_runs(results)
    return runs, build_tables(runs, data_root, menpo_root, methods=[] if measured_only else None, bootstrap=bootstrap)


@click.command("tables")
@RESULTS
@DATA_ROOT
@MENPO_ROOT
@click.option("-o", "--output", "--out", "out", type=click.Path(file_okay=False), default="reports", show_default=True,
              help="Folder for table2..table6 as .md, .tex and .csv, and tables.md.")
@MEASURED_ONLY
@click.option("--quiet", is_flag=True, help="Do not print the Markdown tables.")
@click.option("--benchmark", type=click.Choice(["wflw", "cofw", "aflw", "300w"]), default=None,
              help="Instead of the DAN paper's tables: the benchmark's standard layout (WFLW: full and six subsets "
                   "x NME, FR@0.10, AUC@0.10), published rows beside ours, each with its normalisation and marked "
                   "where not comparable; and a CED figure per subset.")
@click.option("--norm", type=RegisteredChoice(normaliser_names, "normaliser"), default=None,
              help="With --benchmark: score by this normaliser instead of the benchmark's (e.g. cofw with "
                   "inter-ocular, HRNet's convention); published rows are then compared against it.")
@ci_options
def tables_command(results, data_root, menpo_root, out, measured_only, quiet, benchmark, norm, ci, ci_resamples,
                   ci_seed, ci_level):
    """Write the paper's Tables 2-6 with our measured rows beside the published ones,
    or (--benchmark) a benchmark's standard table.

    Rows marked "measured" come from cached predictions (`faceeval run`); a cell that
    could not be measured says why and gives the command that fills it. Nothing is
    recomputed: from cache this takes seconds.

    \b
    Examples:
      faceeval tables
      faceeval tables --data-root ~/data/300w --out reports/
      faceeval tables --benchmark wflw --data-root ~/data/wflw
      faceeval tables --benchmark cofw --norm inter-ocular
    """
    from ..report.tables import write_tables

    if benchmark is not None:
        _benchmark_tables(results, data_root, out, benchmark, norm, quiet)
        return
    if norm is not None:
        raise click.UsageError("--norm applies to --benchmark tables only")

    runs, tables = _tables(results, data_root, menpo_root, measured_only,
                           bootstrap_from(ci, ci_resamples, ci_seed, ci_level))
    paths = write_tables(tables, out)
    if not quiet:
        for t in tables:
            click.echo(t.to_markdown())
    click.echo(f"{len(runs)} stored runs; wrote {len(paths)} files to {out}/ (table2..table6 and cofw68 where it has runs, as .md/.tex/.csv, and tables.md)")


def _benchmark_tables(results, data_root, out, benchmark, norm, quiet):
    from ..protocol import resolve_protocol
    from ..report.benchmarks import LAYOUTS, benchmark_tables, write_benchmark
    from ..runs import find_runs

    runs = find_runs(results)
    protocol = resolve_protocol(LAYOUTS[benchmark].dataset, norm=norm)
    tables, measured = benchmark_tables(benchmark, runs, data_root, protocol)
    paths = write_benchmark(tables, measured, benchmark, out, protocol)
    if not quiet:
        for t in tables:
            click.echo(t.to_markdown())
    click.echo(f"{sum(len(v) for v in measured.values())} measured subset scores from {len(runs)} stored runs; "
               f"wrote {len(paths)} files to {out}/ ({benchmark}-*.md/.tex/.csv, {benchmark}.md, CED figures)")


@click.command("figures")
@RESULTS
@DATA_ROOT
@MENPO_ROOT
@click.option("-o", "--output", "--out", "out", type=click.Path(file_okay=False), default="reports", show_default=True,
              help="Folder for the figures (PNG and PDF).")
@K
@click.option("--norm", type=click.Choice(NORMALISATIONS), default=None,
              help="Normalisation of every figure (default: inter-ocular at alpha 0.08; bbox-diagonal at "
                   "alpha 0.03 for Menpo).")
@DAN_WEIGHTS
@click.option("--internals-from", default="builtin", show_default=True,
              help="Faces for Fig. 3: DATASET[/SUBSET] (first 3 faces), e.g. 300w/challenging.")
@click.option("--no-worst", is_flag=True, help="Skip the worst-case grids (they need the images).")
def figures_command(results, data_root, menpo_root, out, k, norm, dan_weights, internals_from, no_worst):
    """Draw the paper's figures from stored runs: CED curves (Fig. 6, with the 300W challenge
    winners' published curves on the private set), the k worst faces of each run (Fig. 4),
    Menpo results with their initial boxes (Fig. 5) and DAN's internals (Fig. 3).

    Figures that need images are skipped, with the reason, when --data-root is missing.

    \b
    Examples:
      faceeval figures
      faceeval figures --data-root ~/data/300w -k 12 --dan-weights dan.safetensors
    """
    from ..report.build import make_figures
    from ..runs import find_runs

    figs = make_figures(find_runs(results), out, data_root, menpo_root, k, norm, dan_weights, internals_from,
                        worst=not no_worst, log=click.echo)
    click.echo(f"wrote {len(figs)} figures to {out}/")


@click.command("report")
@RESULTS
@DATA_ROOT
@MENPO_ROOT
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="reports/report.html", show_default=True,
              help="The HTML file to write.")
@K
@DAN_WEIGHTS
@MEASURED_ONLY
@ci_options
def report_command(results, data_root, menpo_root, output, k, dan_weights, measured_only, ci, ci_resamples, ci_seed,
                   ci_level):
    """Write one self-contained HTML report (tables, CED plots, worst cases, a sortable
    per-image error table) that opens offline.

    \b
    Example:
      faceeval report --data-root ~/data/300w -o reports/report.html
    """
    import tempfile

    from ..report.build import make_figures, per_image_errors
    from ..report.html import render_report, write_report
    from ..report.breakdown import run_analyses

    bootstrap = bootstrap_from(ci, ci_resamples, ci_seed, ci_level)
    runs, tables = _tables(results, data_root, menpo_root, measured_only, bootstrap)
    skipped = []
    with tempfile.TemporaryDirectory(prefix="faceeval-report-") as tmp:
        figs = make_figures(runs, tmp, data_root, menpo_root, k, None, dan_weights, log=skipped.append)
        analyses = run_analyses(runs, tmp, bootstrap)
        text = render_report(tables, figs, per_image_errors(runs),
                             notes=[s for s in skipped if s.startswith("skipped")], analyses=analyses)
    path = write_report(output, text)
    click.echo(f"wrote {path} ({Path(path).stat().st_size / 1e6:.1f} MB; {len(runs)} runs, {len(figs)} figures)")
