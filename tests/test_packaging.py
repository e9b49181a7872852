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


def _project():
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["project"]


def test_the_extras_are_the_ones_the_error_messages_name_and_all_holds_them():
    from faceeval.errors import EXTRAS

    extras = _project()["optional-dependencies"]
    assert set(extras) == set(EXTRAS) | {"test", "all"}
    assert set(EXTRAS) | {"test"} == set(extras["all"][0].split("[")[1].rstrip("]").split(","))


def test_only_the_sdm_extra_pins_numpy_below_2_and_the_core_has_no_upper_pins():
    project = _project()
    core = project["dependencies"]
    assert not any("<" in dep or "==" in dep for dep in core), core
    assert not any(dep.split(">")[0].split("<")[0].split("=")[0] in ("torch", "menpo", "menpofit", "dlib-bin",
                                                                         "scikit-image", "scikit-learn")
                   for dep in core)
    pinned = {name for name, deps in project["optional-dependencies"].items() if any("numpy<2" in d for d in deps)}
    assert pinned == {"sdm"}
    assert not any("==" in dep for deps in project["optional-dependencies"].values() for dep in deps)
