"""Plugins use the small public API (faceeval.plugin) only; DAN's own modules hold what only DAN uses and
do not import each other in a cycle."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import faceeval.plugin as plugin
from conftest import needs_extra

METHODS = Path(__file__).resolve().parents[1] / "methods"


def _faceeval_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every ``faceeval...`` import in a file, at any depth (docstrings are not code)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        out += [(node.lineno, n) for n in names if n == "faceeval" or n.startswith("faceeval.")]
    return out


@pytest.mark.parametrize("path", sorted(METHODS.rglob("*.py")), ids=lambda p: str(p.relative_to(METHODS)))
def test_plugins_import_faceeval_plugin_only(path):
    bad = [f"{path.name}:{line} imports {module}" for line, module in _faceeval_imports(path)
           if module != "faceeval.plugin"]
    assert bad == []


def test_every_name_the_plugins_import_is_in_the_public_api():
    for path in METHODS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "faceeval.plugin":
                for alias in node.names:
                    assert alias.name in plugin.__all__, f"{path}: {alias.name} is not in faceeval.plugin.__all__"


@needs_extra("dan")
def test_the_public_api_never_imports_the_cli_or_the_report():
    code = ("import sys, faceeval.plugin, faceeval_methods.dan, faceeval_methods.sdm, faceeval_methods.ert, "
            "faceeval_methods.meanshape; bad = sorted(m for m in sys.modules if m.startswith(('faceeval.cli', "
            "'faceeval.report'))); print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


@needs_extra("dan")
def test_dan_weights_do_not_import_the_quantize_command():
    """weights -> int8 <- quantize -> weights: loading weights never imports the quantize command."""
    code = ("import sys, faceeval_methods.dan.weights as w; print('faceeval_methods.dan.quantize' in sys.modules, "
            "'faceeval_methods.dan.int8' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"]
    assert not (Path(plugin.__file__).parent / "geometry_torch.py").exists()      # DAN's own, in methods/dan
    assert (METHODS / "dan" / "geometry_torch.py").is_file()
