"""``faceeval import-run``: a method's released predictions stored as a run, with their provenance."""
from __future__ import annotations

import click

from ..datasets import DATASETS
from .common import DATA_ROOT, RESULTS, echo_reading_notes, reporting_data_warnings
from .evaluate import FRAME, ONE_BASED, SOURCE, YX


@click.command("import-run", short_help="Store an author's released predictions as a run.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--method", default=None, help="The method's name in tables and `compare` (default: the source "
                                             "description's, e.g. spiga).")
@click.option("--dataset", type=click.Choice(DATASETS), default=None,
              help="The dataset the predictions are on (default: the source description's entry for FILE).")
@click.option("--subset", default=None, help="Its subset (default: the description's entry, e.g. full, private, test).")
@DATA_ROOT
@SOURCE
@FRAME
@ONE_BASED
@YX
@RESULTS
@click.option("--force", is_flag=True, help="Store again even if this file is already stored.")
def import_run_command(file, method, dataset, subset, data_root, source, frame, one_based, yx, results, force):
    """Store released predictions (FILE) as a run, labelled "released predictions".

    FILE is read as `faceeval eval` reads it: SPIGA's results format, the COFW-68 benchmark's
    .txt, CSV, JSON or .pts, with the conventions of its source description (--source; a file a
    shipped description lists is recognised by its checksum and needs no other option) or given
    as options. It is paired with the dataset's ground truth (images are not needed), mapped into
    the dataset's frame, and stored under RESULTS/METHOD/COMMIT@vreleased/DATASET/SUBSET@released/
    with its provenance (repository, commit, file, sha256, conventions) in meta.json. `compare`,
    `analyse`, `ced`, `tables` and `report` then treat it as the method's run.

    \b
    Examples:
      faceeval import-run 300w_public_test.json --data-root DATA/300w
      faceeval import-run 300w_private_test.json --data-root DATA/300w-private-gt
      faceeval import-run cofw68_test.json --data-root DATA/cofw68
      faceeval import-run theirs.json --method mine --dataset 300w --subset full --zero-based \\
          --frame original --data-root DATA/300w
    """
    from ..conventions import check_conventions
    from ..released import import_released

    with reporting_data_warnings():
        run, scored = import_released(file, data_root, dataset, subset, method, source, frame, one_based, yx, results,
                                      force)
    echo_reading_notes(scored)
    for w in check_conventions(scored.predictions, scored.ground_truth, scored.ids, "inter-ocular",
                               scored.source.one_based, scored.source.yx, scored.as_original):
        click.echo(f"warning: {w.message}", err=True)
    meta = run.meta
    partial = f", PARTIAL: {meta['expected']} expected" if meta.get("partial") else ""
    click.echo(f"{meta['method']} (released predictions) on {meta['dataset']}/{meta['subset']} ({meta['n']} faces"
               f"{partial}) {'already stored in' if run.reused else 'stored in'} {run.path}")
