"""Runs the doctests of the method plugins, imported under their installed name ``faceeval_methods``.

The plugins' folder is ``methods/`` in the repository; pytest's own doctest collection would import
it a second time as ``methods``, so the plugins' doctests run here instead.
"""
import doctest
import importlib
import pkgutil

import pytest

import faceeval_methods


def _modules_with_doctests():
    names = []
    for info in pkgutil.walk_packages(faceeval_methods.__path__, "faceeval_methods."):
        spec = importlib.util.find_spec(info.name)
        if spec is not None and spec.origin and spec.origin.endswith(".py"):
            with open(spec.origin, encoding="utf-8") as fh:
                if ">>> " in fh.read():
                    names.append(info.name)
    return names


MODULES = _modules_with_doctests()


def test_the_plugins_have_doctests_to_run():
    assert "faceeval_methods.sdm.features" in MODULES and len(MODULES) >= 5


@pytest.mark.parametrize("name", MODULES)
def test_plugin_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} doctest examples failed"
