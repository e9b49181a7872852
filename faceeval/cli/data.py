"""``faceeval data check`` and ``faceeval data download``."""
from __future__ import annotations

from pathlib import Path

import click

from ..datasets import W300_SUBSETS, check_300w


@click.group("data", short_help="Check and fetch datasets (300W in the ibug layout).")
def data():
    """Check and fetch datasets (300W in the ibug layout).

    \b
    Examples:
      faceeval data download 300w --to DATA/300w
      faceeval data check DATA/300w
    """


def print_check_report(root) -> list[dict]:
    """Print what is present and missing per 300W folder and subset (and a pack's files);
    returns :func:`~faceeval.datasets.check_300w`'s rows."""
    rows = check_300w(root)
    pack = [f"{r['name']} ({r['entries']} entries)" for r in rows if r["kind"] == "pack"]
    click.echo(f"300W under {root}" + (f": a re-cut pack with {' and '.join(pack)}" if pack else ""))
    click.echo(f"{'folder':18s} {'expected':>8s} {'found':>6s}  status")
    for r in rows:
        if r["kind"] != "folder":
            continue
        if not r["present"]:
            status = "missing folder"
        elif r["with_image"] == r["expected"]:
            status = "ok"
        elif r["with_image"] < r["expected"]:
            status = f"{r['expected'] - r['with_image']} short"
        else:
            status = "more than expected"
        if r["present"] and r["annotations"] != r["with_image"]:
            status += f" ({r['annotations'] - r['with_image']} .pts without image)"
        if r.get("without_box"):
            status += f" ({r['without_box']} without a box in boxes.json)"
        click.echo(f"{r['name']:18s} {r['expected']:8d} {r['with_image']:6d}  {status}")
    click.echo(f"\n{'subset':18s} {'expected':>8s} {'found':>6s}  status")
    for r in rows:
        if r["kind"] == "subset":
            status = "complete" if r["complete"] else ("missing" if r["with_image"] == 0 else "incomplete (partial)")
            click.echo(f"{r['name']:18s} {r['expected']:8d} {r['with_image']:6d}  {status}")
    return rows


@data.command("check")
@click.argument("root", required=False, envvar="FACEEVAL_DATA_ROOT", type=click.Path(file_okay=False))
@click.option("--subset", type=click.Choice(W300_SUBSETS), default=None,
              help="Exit with status 1 unless this subset is complete (for scripts and CI).")
def check_command(root, subset):
    """Report which 300W folders and subsets are present and complete under ROOT
    (default: $FACEEVAL_DATA_ROOT).

    Exits with status 1 when no 300W face is there at all, or, with --subset, when that
    subset is incomplete (its scores would be partial).

    \b
    Examples:
      faceeval data check DATA/300w
      faceeval data check DATA/300w --subset challenging
    """
    if root is None:
        raise click.UsageError("give ROOT (the 300W folder) or set FACEEVAL_DATA_ROOT")
    if not Path(root).expanduser().is_dir():
        raise click.ClickException(f"{root}: folder does not exist")
    rows = print_check_report(root)
    subsets = {r["name"]: r for r in rows if r["kind"] == "subset"}
    if not any(r["with_image"] for r in rows if r["kind"] == "folder"):
        raise click.ClickException(f"no 300W faces under {root} (expected the ibug layout: afw/, lfpw/, helen/, "
                                   f"ibug/, 300W/); `faceeval data download 300w --to {root}` fetches them")
    if not all(r["complete"] for name, r in subsets.items() if not name.startswith("private_")):
        click.echo("\nsome subsets are incomplete: results on them are marked partial; "
                   "`faceeval data download 300w --to ROOT` fetches the archives")
    if subset is not None and not subsets[subset]["complete"]:
        r = subsets[subset]
        raise click.ClickException(f"300W {subset} under {root} is incomplete: {r['with_image']} of {r['expected']} faces")


@data.command("download")
@click.argument("dataset", type=click.Choice(["300w"]))
@click.option("-o", "--output", "--to", "to", required=True, type=click.Path(file_okay=False),
              help="Dataset root to fill (the archives are kept in its archives/ folder).")
@click.option("--base-url", default=None, envvar="FACEEVAL_300W_URL", show_envvar=True,
              help="Where the archives are served (default: the ibug download page).")
@click.option("--only", multiple=True, metavar="ARCHIVE",
              help="Fetch only these archives (afw, helen, ibug, lfpw, 300w); repeatable.")
@click.option("--remove-archives", is_flag=True, help="Delete the archives once unpacked.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bars.")
def download_command(dataset, to, base_url, only, remove_archives, no_progress):
    """Fetch the 300-W archives from ibug, check and unpack them into --to, then check the result.

    Downloads resume where they stopped (run the command again after an interruption);
    sizes and zip integrity are checked before unpacking. The archives are research-only:
    read the licence on https://ibug.doc.ic.ac.uk/resources/300-W/. If the site asks for a
    form, put the files fetched by hand in DIR/archives/ and run the command again.

    \b
    Examples:
      faceeval data download 300w --to DATA/300w
      faceeval data download 300w --to DATA/300w --only ibug --base-url https://mirror.example/300w
    """
    from ..download import download_300w

    for folder in download_300w(to, base_url=base_url, only=only or None, progress=not no_progress,
                                remove_archives=remove_archives):
        click.echo(f"unpacked {folder}")
    click.echo("")
    print_check_report(to)
