"""pytest set-up for the whole checkout: core modules whose doctests need an optional extra.

``pytest`` collects the doctests of ``faceeval/`` (pyproject.toml); a module listed here is
left out where its extra is not installed (its own tests skip with the reason).
"""
import importlib.util

from faceeval.errors import EXTRAS

#: Core modules that import an extra at the top, and the extra.
NEEDS_EXTRA = {"faceeval/geometry_torch.py": "dan"}

collect_ignore = [path for path, extra in NEEDS_EXTRA.items()
                  if not all(importlib.util.find_spec(m) is not None for m in EXTRAS[extra])]
