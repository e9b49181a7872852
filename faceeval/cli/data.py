"""``faceeval data check`` and ``faceeval data download``."""
from __future__ import annotations

import click

from ..datasets import check_300w


@click.group("data")
def data():
    """Check and fetch datasets (300W in the ibug layout).

    \b
    Examples:
      faceeval data download 300w --to ~/data/300w
      faceeval data check ~/data/300w
    """


def print_check_report(root) -> bool:
    """Print what is present and missing per 300W folder and subset; True if the public
    subsets and the private set are complete."""
    rows = check_300w(root)
    click.echo(f"300W under {root}")
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
        click.echo(f"{r['name']:18s} {r['expected']:8d} {r['with_image']:6d}  {status}")
    click.echo(f"\n{'subset':18s} {'expected':>8s} {'found':>6s}  status")
    complete = True
    for r in rows:
        if r["kind"] == "subset":
            complete &= r["complete"] or r["name"].startswith("private_")
            click.echo(f"{r['name']:18s} {r['expected']:8d} {r['with_image']:6d}  "
                       f"{'complete' if r['complete'] else 'incomplete'}")
    return complete


@data.command("check")
@click.argument("root", type=click.Path(file_okay=False))
def check_command(root):
    """Report which 300W folders and subsets are present and complete under ROOT.

    \b
    Example:
      faceeval data check ~/data/300w
    """
    if not print_check_report(root):
        click.echo("\nsome subsets are incomplete: `faceeval data download 300w --to ROOT` fetches the archives")


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
      faceeval data download 300w --to ~/data/300w
      faceeval data download 300w --to ~/data/300w --only ibug --base-url https://mirror.example/300w
    """
    from ..download import download_300w

    for folder in download_300w(to, base_url=base_url, only=only or None, progress=not no_progress,
                                remove_archives=remove_archives):
        click.echo(f"unpacked {folder}")
    click.echo("")
    print_check_report(to)
