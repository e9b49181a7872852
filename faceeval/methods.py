"""The method plugin protocol and registry.

A method turns images and initial face boxes into 68-point shapes. Methods live in
their own packages (``methods/<name>/`` here, or any third-party distribution) and
are found through the entry-point group ``faceeval.methods``::

    [project.entry-points."faceeval.methods"]
    mymethod = "my_package.module:MyMethod"

``faceeval`` itself never imports a method package directly.
"""
from __future__ import annotations

import abc
import functools
import hashlib
import os
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Sequence

import numpy as np

from .errors import MissingDependencyError, MissingWeightsError, OptionError

if TYPE_CHECKING:
    import click

ENTRY_POINT_GROUP = "faceeval.methods"


def _checked_predict(predict):
    """``predict`` behind the argument checks every method needs (see :meth:`LandmarkMethod.predict`)."""

    @functools.wraps(predict)
    def checked(self, images: Sequence[np.ndarray], boxes: np.ndarray | None) -> np.ndarray:
        images = images if isinstance(images, list) else list(images)
        if boxes is not None:
            boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
            if len(images) != len(boxes):
                raise ValueError(f"{self.name}: predict got {len(images)} images but {len(boxes)} boxes")
        if not images:
            return np.zeros((0, 68, 2))
        return predict(self, images, boxes)

    checked.__wrapped_checks__ = True
    return checked


class LandmarkMethod(abc.ABC):
    """Base class of every method plugin.

    Subclasses set ``name``, ``version`` and ``description`` and implement :meth:`predict`.
    ``weights_hash`` identifies the trained parameters and :meth:`options` the load options
    that change predictions: both are part of a run's key, so a retrained or differently
    configured model never reuses stale predictions.

    Every subclass's ``predict`` gets its arguments checked here, once: ``images`` arrive as a
    list, ``boxes`` as float64 ``(N, 4)`` with as many rows as images (else ``ValueError``), and
    no images give ``(0, 68, 2)`` without calling the method.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("predict")
        if own is not None and not getattr(own, "__isabstractmethod__", False) \
                and not getattr(own, "__wrapped_checks__", False):
            cls.predict = _checked_predict(own)

    name: ClassVar[str]
    version: ClassVar[str] = "0"
    description: ClassVar[str] = ""
    #: Preferred number of images per :meth:`predict` call.
    batch_size: ClassVar[int] = 32

    @classmethod
    def load(cls, weights: str | Path | None = None, **options) -> "LandmarkMethod":
        """Build a ready-to-predict instance (load weights); raise a clear error if impossible."""
        return cls(**options) if weights is None else cls(weights=weights, **options)

    @property
    def weights_hash(self) -> str:
        """A short hex digest of the parameters (``"none"`` for parameter-free methods)."""
        return "none"

    @abc.abstractmethod
    def predict(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> np.ndarray:
        """Predict shapes ``(N, 68, 2)`` (x, y, 0-based pixels) for ``images`` (uint8, grey
        ``(H, W)`` or RGB ``(H, W, 3)``) initialised from ``boxes`` ``(N, 4)`` = x0, y0, x1, y1."""

    @classmethod
    def train_command(cls) -> click.Command | None:
        """The click command behind ``faceeval train <name>``, for trainable methods."""
        return None

    def options(self) -> dict:
        """Load options of this instance that change its predictions, as ``faceeval run -O KEY=VALUE``
        would give them (e.g. DAN's ``stages``); stored with every run so tables can say how to rerun it."""
        return {}

    def provenance(self) -> dict:
        return {"method": self.name, "version": self.version, "weights_hash": self.weights_hash,
                "options": self.options()}


def faceeval_home() -> Path:
    """``$FACEEVAL_HOME``, else ``~/.cache/faceeval``: where trained weights are kept."""
    return Path(os.environ.get("FACEEVAL_HOME") or Path.home() / ".cache" / "faceeval").expanduser()


def default_weights_dir(method_name: str) -> Path:
    """``$FACEEVAL_HOME/weights/<method>``: where ``faceeval train`` saves and ``run`` looks."""
    return faceeval_home() / "weights" / method_name


def file_hash(path: str | Path, length: int = 12) -> str:
    """SHA-256 of a file, truncated: the weights hash of file-based methods."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:length]


def available_methods() -> dict[str, object]:
    """Registered methods by name (entry points, not yet imported)."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def method_class(name: str) -> type[LandmarkMethod]:
    eps = available_methods()
    if name not in eps:
        known = ", ".join(sorted(eps)) or "none (is faceeval installed with `pip install -e .`?)"
        raise OptionError(f"unknown method {name!r}; registered methods: {known}")
    cls = eps[name].load()
    if not (isinstance(cls, type) and issubclass(cls, LandmarkMethod)):
        raise TypeError(f"entry point {name!r} ({eps[name].value}) is not a LandmarkMethod subclass")
    return cls


def load_method(name: str, weights: str | Path | None = None, **options) -> LandmarkMethod:
    """Instantiate a registered method by name; weights or options it does not take are an
    :class:`~faceeval.errors.OptionError` naming them."""
    cls = method_class(name)
    try:
        return cls.load(weights=weights, **options)
    except TypeError as exc:
        if not options and weights is None:
            raise
        given = (["weights"] if weights is not None else []) + sorted(options)
        raise OptionError(f"method {name!r} does not accept the options {given}: {exc}") from exc


__all__ = ["LandmarkMethod", "MissingDependencyError", "MissingWeightsError", "ENTRY_POINT_GROUP", "faceeval_home",
           "default_weights_dir", "file_hash", "available_methods", "method_class", "load_method"]
