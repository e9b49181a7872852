"""What users read: a short README whose set-up is two commands, documentation without any machine's
paths, and a plugin example in the docs that runs as written. (The site itself is built in strict mode
by `.ci/run` and `make docs`: a broken link or an unknown API reference fails there.)"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from faceeval.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").rglob("*.md"))
#: Paths that exist on one machine only (the project's shared data, a home folder that may not exist).
MACHINE_PATHS = re.compile(r"/work/|~/data|\.\./shared|/home/|/root/|/tmp/pytest")


def _fenced(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def test_the_readme_is_short_with_two_set_up_commands_a_tour_and_the_results_block():
    text = README.read_text()
    assert len(text.splitlines()) <= 150
    set_up = text.split("## Set-up")[1].split("##")[0]
    (commands,) = _fenced(set_up, "bash")
    lines = [line for line in commands.splitlines() if line.strip()]
    assert len(lines) == 2 and "pip install" in lines[0] and "faceeval run" in lines[0]
    assert lines[1] == ".venv/bin/python -m pytest -q"
    tour = text.split("## A tour")[1].split("##")[0]
    (tour_commands,) = _fenced(tour, "bash")
    assert len([line for line in tour_commands.splitlines() if line.strip()]) == 10
    assert text.count("<!-- results-on-real-300w:begin -->") == 1 == text.count("<!-- results-on-real-300w:end -->")


def test_every_page_the_readme_links_exists_and_every_page_is_linked():
    text = README.read_text()
    linked = {ROOT / target for target in re.findall(r"\]\((docs/[^)#]+)", text)}
    assert all(path.is_file() for path in linked), sorted(str(p) for p in linked if not p.is_file())
    assert {p for p in PAGES if p.parent.name == "docs" and p.name != "index.md"} <= linked   # index: the site's home


@pytest.mark.parametrize("path", [README, *PAGES], ids=lambda p: str(p.relative_to(ROOT)))
def test_no_machine_specific_path_in_what_users_read(path):
    found = MACHINE_PATHS.findall(path.read_text())
    assert found == [], found


def test_no_machine_specific_path_in_any_help():
    import click

    from test_cli import _command_paths

    for cmd in [[], *_command_paths(main, click.Context(main))]:
        out = CliRunner().invoke(main, [*cmd, "--help"]).output
        assert MACHINE_PATHS.findall(out) == [], (cmd, out)


def test_the_plugin_example_in_the_docs_runs_as_written(tmp_path, builtin):
    """The class on the methods page, executed as printed: it predicts, takes its -O option and is
    stored under its own run key."""
    from faceeval.cli.common import parse_options
    from faceeval.methods import check_method_options
    from faceeval.runs import run_method

    (source,) = [block for block in _fenced((ROOT / "docs" / "methods.md").read_text(), "python")
                 if "class Centroid" in block]
    namespace: dict = {}
    exec(compile(source, "docs/methods.md", "exec"), namespace)
    centroid = namespace["Centroid"]
    assert check_method_options(centroid, parse_options(["factor=0.9"])) == {"factor": 0.9}     # as -O factor=0.9
    plain, shrunk = centroid(), centroid(0.9)
    a = run_method(plain, builtin, tmp_path, progress=False)
    b = run_method(shrunk, builtin, tmp_path, progress=False)
    assert a.path != b.path and b.path.parent.name == "builtin" and "factor=0.9" in b.path.parts[-3]
    centres = a.predictions.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(b.predictions, centres + 0.9 * (a.predictions - centres), atol=1e-9)
