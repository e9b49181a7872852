"""The installed package layout: every package folder is listed in pyproject.toml, the plugins
install as ``faceeval_methods`` and nothing installs under the generic name ``methods``."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")


def _config():
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["tool"]["setuptools"]


def _folders(top: str, name: str) -> set[str]:
    base = ROOT / top
    return {".".join([name, *p.parent.relative_to(base).parts]) for p in base.rglob("__init__.py")
            if "__pycache__" not in p.parts}


def test_every_package_folder_is_listed_under_its_installed_name():
    cfg = _config()
    assert cfg["package-dir"] == {"faceeval_methods": "methods"}
    listed = set(cfg["packages"])
    assert _folders("faceeval", "faceeval") | _folders("methods", "faceeval_methods") == listed
    assert not any(p == "methods" or p.startswith("methods.") for p in listed)


def test_entry_points_name_the_installed_plugins():
    with open(ROOT / "pyproject.toml", "rb") as fh:
        eps = tomllib.load(fh)["project"]["entry-points"]
    targets = [t for group in eps.values() for t in group.values()]
    assert targets and all(t.startswith("faceeval_methods.") for t in targets)
