"""``faceeval data check`` and ``faceeval data download``."""
from __future__ import annotations

import click

from ..datasets import check_300w
from .common import fail_cleanly


@click.group("data")
def data():
    """Check and fetch datasets (300W in the ibug layout)."""


@data.command("check")
@click.argument("root", type=click.Path(file_okay=False))
@fail_cleanly
def check_command(root):
    """Report which 300W folders and subsets are present and complete under ROOT.

    \b
    Example:
      faceeval data check ~/data/300w
    """
    rows = check_300w(root)
    click.echo(f"300W under {root}")
    click.echo(f"{'folder':18s} {'expected':>8s} {'found':>6s}  status")
    for r in rows:
        if r["kind"] != "folder":
            continue
        status = "missing folder" if not r["present"] else (
            "ok" if r["with_image"] == r["expected"] else f"{r['expected'] - r['with_image']:+d} short"
            if r["with_image"] < r["expected"] else "more than expected")
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
    if not complete:
        click.echo("\nsome subsets are incomplete: `faceeval data download 300w --to ROOT` fetches the archives")
