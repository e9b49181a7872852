"""A dataset as a value: its subsets, landmark scheme, loader, and the normaliser and alpha of its protocol.

Each loader module in :mod:`faceeval.datasets` defines one :class:`DatasetSpec` named ``SPEC``; the
built-in ones are registered by name in :data:`faceeval.datasets.BUILTIN_DATASETS` and third
parties register theirs in the entry-point group ``faceeval.datasets``. ``load`` reads a subset
as distributed and returns a :class:`faceeval.datasets.Dataset`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping

from ..errors import DataError

if TYPE_CHECKING:
    from ..datasets.base import Dataset


@dataclass(frozen=True, eq=False)
class DatasetSpec:
    """What faceeval knows about a dataset before reading it.

    ``loader(root, subset, **options)`` returns the subset as a ``Dataset`` (``root`` is None
    for datasets that need none); ``subsets`` are the names it accepts (the first ones the
    standard table's columns, see ``table_subsets``); ``norm`` and ``alpha`` are the protocol's
    defaults (``alpha`` None: the normaliser's own); ``expected`` the official face counts;
    ``benchmark`` the name of its rows in the published numbers (``published_benchmarks.csv``);
    ``layout`` how it is distributed (said when the root does not hold it).
    """

    name: str
    scheme: str
    loader: Callable[..., "Dataset"]
    subsets: tuple[str, ...]
    default_subset: str
    norm: str = "inter-ocular"
    alpha: float | None = None
    description: str = ""
    layout: str = ""
    needs_root: bool = True
    expected: Mapping[str, int] = field(default_factory=dict)
    benchmark: str | None = None
    table_subsets: tuple[str, ...] = ()
    #: The loader's keyword options (e.g. ``boxes_json`` of ``folder``; ``images=False``: ground truth alone,
    #: which every loader accepts and those that read no images on loading ignore).
    options: tuple[str, ...] = ()
    #: Published normalisation conventions other than the default worth scoring beside it (``--explain``).
    other_norms: tuple[str, ...] = ()
    #: ``line_order(root, subset)``: the ids a prediction file with one line per face lists, in order
    #: (WFLW's official list); None where the dataset defines no such order.
    line_order: Callable[[Path, str], list[str]] | None = None
    #: subset -> the larger subset that holds all its faces (WFLW's ``largepose`` -> ``test``): predictions
    #: for the larger one are scored on the smaller one without an id-mismatch error.
    parents: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"DatasetSpec({self.name!r}, scheme {self.scheme})"

    @property
    def default_alpha(self) -> float:
        from . import normaliser

        return self.alpha if self.alpha is not None else normaliser(self.norm).alpha

    def load(self, root: str | Path | None = None, subset: str | None = None, **options) -> "Dataset":
        """Read ``subset`` (default :attr:`default_subset`) from ``root`` as distributed."""
        subset = subset or self.default_subset
        if self.needs_root and root is None:
            raise DataError(f"dataset {self.name!r} needs --data-root (the folder that holds it as distributed"
                            + (f": {self.layout}" if self.layout else "") + ")")
        if "images" not in self.options:
            options.pop("images", None)       # ground truth only: loaders that read no pixels ignore it
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise DataError(f"dataset {self.name!r} takes no option {', '.join(unknown)}")
        return self.loader(Path(root).expanduser() if root is not None else None, subset, **options)


__all__ = ["DatasetSpec"]
