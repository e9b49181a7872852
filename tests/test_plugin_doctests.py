"""Runs the doctests of the method plugins, imported under their installed name ``faceeval_methods``.

The plugins' folder is ``methods/`` in the repository; pytest's own doctest collection would import
it a second time as ``methods``, so the plugins' doctests run here instead. The modules are found by
their files (nothing imported), so a module whose optional extra is missing is listed and skipped,
with the extra named.
"""
import doctest
import importlib
from pathlib import Path

import pytest

import faceeval_methods
from conftest import extra_installed
from faceeval.errors import MissingExtraError

#: Plugin packages whose doctests call into their extra although the modules import without it.
LAZY_EXTRAS = {"faceeval_methods.error_estimator": "estimator"}


def _modules_with_doctests():
    names = []
    for folder in map(Path, faceeval_methods.__path__):
        for path in sorted(folder.rglob("*.py")):
            if "__pycache__" not in path.parts and ">>> " in path.read_text(encoding="utf-8"):
                parts = path.relative_to(folder).with_suffix("").parts
                names.append(".".join(["faceeval_methods", *(parts[:-1] if parts[-1] == "__init__" else parts)]))
    return names


MODULES = _modules_with_doctests()


def test_the_plugins_have_doctests_to_run():
    assert "faceeval_methods.sdm.features" in MODULES and len(MODULES) >= 5


@pytest.mark.parametrize("name", MODULES)
def test_plugin_doctests(name):
    package = ".".join(name.split(".")[:2])
    if package in LAZY_EXTRAS and not extra_installed(LAZY_EXTRAS[package]):
        pytest.skip(str(MissingExtraError(package, LAZY_EXTRAS[package])))
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        missing = MissingExtraError.from_import(name, exc)
        if missing is None:
            raise
        pytest.skip(str(missing))
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} doctest examples failed"
