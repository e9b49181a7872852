"""The protocol layer: landmark schemes, normalisers, datasets and the scoring protocol, as registered values.

* :class:`Scheme` (:mod:`.scheme`; the shipped ones in :mod:`.schemes`): which point is which.
* :class:`Normaliser` (:mod:`.normalisers`): the distance errors are divided by, and its alpha.
* :class:`DatasetSpec` (:mod:`.dataset`): a dataset's subsets, scheme, loader and protocol defaults.
* :class:`Protocol` (:mod:`.protocol`): normaliser, alpha, failure and AUC rules, resolved once.

Each kind has a :class:`~.registry.Registry` open to installed packages through an entry-point
group (``faceeval.schemes``, ``faceeval.normalisers``, ``faceeval.datasets``), as methods are
(``faceeval.methods``). Look-ups by name: :func:`scheme`, :func:`normaliser`, :func:`dataset_spec`.

>>> scheme("wflw98").outer_eye_corners
(60, 72)
>>> scheme_for_points(29).name
'cofw29'
"""
from __future__ import annotations

from ..errors import MetricInputError
from .dataset import DatasetSpec
from .normalisers import BUILTIN_NORMALISERS, Normaliser
from .protocol import ALPHA, AUC_RULES, Protocol, resolve_protocol
from .registry import Registry
from .scheme import Scheme
from .schemes import BUILTIN_SCHEMES

SCHEMES: Registry[Scheme] = Registry("landmark scheme", "faceeval.schemes", Scheme, "--scheme")
NORMALISERS: Registry[Normaliser] = Registry("normaliser", "faceeval.normalisers", Normaliser, "--norm")
DATASETS: Registry[DatasetSpec] = Registry("dataset", "faceeval.datasets", DatasetSpec, "--dataset")

for _s in BUILTIN_SCHEMES:
    SCHEMES.register(_s)
for _n in BUILTIN_NORMALISERS:
    NORMALISERS.register(_n)
_builtin_datasets_added = False


def _datasets() -> Registry[DatasetSpec]:
    global _builtin_datasets_added
    if not _builtin_datasets_added:
        from ..datasets import BUILTIN_DATASETS

        for name, target in BUILTIN_DATASETS.items():
            if name not in DATASETS._values:
                DATASETS.register_lazy(name, target)
        _builtin_datasets_added = True
    return DATASETS


def scheme(name: str | Scheme) -> Scheme:
    """The registered scheme ``name`` (a :class:`Scheme` is returned as it is)."""
    return SCHEMES.get(name)


def normaliser(name: str | Normaliser) -> Normaliser:
    """The registered normaliser ``name``."""
    return NORMALISERS.get(name)


def dataset_spec(name: str | DatasetSpec) -> DatasetSpec:
    """The registered dataset ``name``."""
    return _datasets().get(name)


def scheme_names() -> list[str]:
    return SCHEMES.names()


def normaliser_names() -> list[str]:
    return NORMALISERS.names()


def dataset_names() -> list[str]:
    return _datasets().names()


def register_scheme(value: Scheme, replace: bool = False) -> Scheme:
    return SCHEMES.register(value, replace)


def register_normaliser(value: Normaliser, replace: bool = False) -> Normaliser:
    return NORMALISERS.register(value, replace)


def register_dataset(value: DatasetSpec, replace: bool = False) -> DatasetSpec:
    return _datasets().register(value, replace)


def scheme_for_points(n_points: int) -> Scheme:
    """The scheme of shapes with ``n_points`` points: the built-in one with that count, else the one
    installed scheme with it; a :class:`~faceeval.errors.MetricInputError` when there is none or
    several installed ones (then the caller must name it)."""
    for s in BUILTIN_SCHEMES:
        if s.n_points == n_points:
            return s
    found = SCHEMES.find(lambda s: s.n_points == n_points)
    if len(found) == 1:
        return found[0]
    known = ", ".join(f"{s.name} ({s.n_points})" for s in SCHEMES.find(lambda s: True))
    if not found:
        raise MetricInputError(f"no landmark scheme of {n_points} points is registered (known: {known})")
    raise MetricInputError(f"several landmark schemes have {n_points} points ({', '.join(s.name for s in found)}); "
                           f"name the one meant")


def default_dataset_for(scheme_or_name: str | Scheme) -> DatasetSpec | None:
    """The first registered dataset of a scheme (300W for ibug68, WFLW for wflw98, ...), whose protocol
    is the default for ground truth in that scheme that names no dataset (a folder of ``.pts``)."""
    name = scheme(scheme_or_name).name
    found = _datasets().find(lambda spec: spec.scheme == name)
    return found[0] if found else None


__all__ = ["Scheme", "Normaliser", "DatasetSpec", "Protocol", "Registry", "SCHEMES", "NORMALISERS", "DATASETS",
           "scheme", "normaliser", "dataset_spec", "scheme_names", "normaliser_names", "dataset_names",
           "register_scheme", "register_normaliser", "register_dataset", "scheme_for_points", "default_dataset_for",
           "resolve_protocol", "AUC_RULES", "ALPHA"]
