"""Method plugins shipped with faceeval; each sub-package registers itself in pyproject.toml."""
