"""The method plugin protocol and registry.

A method turns images and initial face boxes into shapes of its landmark scheme
(:attr:`LandmarkMethod.scheme`, 68 points unless it says otherwise). Methods live in
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
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ClassVar, Mapping, Sequence

import numpy as np

from .errors import MissingDependencyError, MissingExtraError, MissingWeightsError, OptionError, require_extra

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
            from .protocol import scheme

            return np.zeros((0, scheme(self.scheme).n_points, 2))
        return predict(self, images, boxes)

    checked.__wrapped_checks__ = True
    return checked


class MethodWarning(UserWarning):
    """A method runs other than asked, e.g. an option that falls back on this machine; the CLI prints
    it as one ``warning: ...`` line."""


@dataclass(frozen=True)
class MethodOption:
    """One load option of a method (``faceeval run METHOD -O KEY=VALUE``): its type and allowed values.

    ``kind`` is ``bool``, ``int``, ``float`` or ``str``; ``choices`` (if any) are the only values
    accepted; ``check(value)`` may return a problem text for values ``choices`` cannot list (a
    device name). :func:`check_method_options` converts and checks every given option up front,
    so a typo fails before any data or weights are read, with the allowed values in the message.

    >>> spec = MethodOption(str, ("tight", "dlib"))
    >>> spec.describe(), spec.allowed(), spec.convert("dlib")
    ('tight|dlib', 'one of tight, dlib', 'dlib')
    """

    kind: type = str
    choices: tuple = ()
    help: str = ""
    check: Callable[[object], str | None] | None = None

    def describe(self) -> str:
        """The values in a line of ``faceeval methods``: ``auto|fp32|bf16``, ``true|false``, ``INT``."""
        if self.choices:
            return "|".join(_value_text(c) for c in self.choices)
        return {bool: "true|false", int: "INT", float: "NUMBER"}.get(self.kind, "TEXT")

    def allowed(self) -> str:
        """The values in an error message: ``one of auto, fp32, bf16``, ``true or false``, ``an integer``."""
        if self.choices:
            return "one of " + ", ".join(_value_text(c) for c in self.choices)
        return {bool: "true or false", int: "an integer", float: "a number"}.get(self.kind, self.help or "text")

    def convert(self, value):
        """``value`` as ``faceeval.cli.common.parse_options`` gave it, in this option's type;
        ``ValueError`` (with the problem when it is more than a wrong type or choice) when it is not one."""
        kind = self.kind
        if kind is bool:
            if not isinstance(value, bool) and not (isinstance(value, int) and value in (0, 1)):
                raise ValueError("")
            out = bool(value)
        elif kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError("")
            out = value
        elif kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError("")
            out = float(value)
        else:
            out = value if isinstance(value, str) else _value_text(value)
        if self.choices and out not in self.choices:
            raise ValueError("")
        problem = self.check(out) if self.check is not None else None
        if problem:
            raise ValueError(problem)
        return out


def _value_text(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def check_method_options(cls: type["LandmarkMethod"], options: Mapping) -> dict:
    """``options`` converted to the types ``cls.cli_options`` declares, or an
    :class:`~faceeval.errors.OptionError` naming the option and listing the allowed values.

    A method that declares no ``cli_options`` (``None``, e.g. a third-party plugin) gets its
    options as given; one that declares ``{}`` takes none.
    """
    specs = cls.cli_options
    if specs is None:
        return dict(options)
    out = {}
    for key, value in options.items():
        spec = specs.get(key)
        if spec is None:
            known = ", ".join(f"{k}={s.describe()}" for k, s in sorted(specs.items()))
            raise OptionError(f"-O {key}={_value_text(value)}: method {cls.name!r} has no option {key!r}; "
                              + (f"its options: {known}" if known else "it takes no -O options"))
        try:
            out[key] = spec.convert(value)
        except ValueError as exc:
            raise OptionError(f"-O {key}={_value_text(value)}: "
                              + (str(exc) or f"{cls.name}'s {key} must be {spec.allowed()}")) from None
    return out


class LandmarkMethod(abc.ABC):
    """Base class of every method plugin.

    Subclasses set ``name``, ``version`` and ``description`` and implement :meth:`predict`.
    ``weights_hash`` identifies the trained parameters and :meth:`options` the load options
    that change predictions: both are part of a run's key, so a retrained or differently
    configured model never reuses stale predictions.

    Every subclass's ``predict`` gets its arguments checked here, once: ``images`` arrive as a
    list, ``boxes`` as float64 ``(N, 4)`` with as many rows as images (else ``ValueError``), and
    no images give ``(0, P, 2)`` without calling the method.
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
    #: The landmark scheme it predicts (a registered :class:`~faceeval.protocol.Scheme`'s name); it
    #: runs only on datasets of that scheme and is part of every run's key.
    scheme: ClassVar[str] = "ibug68"
    #: The optional extra of ``pip install "faceeval[EXTRA]"`` the method needs (``faceeval.errors.EXTRAS``),
    #: checked by :func:`method_class` before any work, so a missing one is one line naming it.
    extra: ClassVar[str | None] = None
    #: The box styles (:data:`faceeval.detect.BOX_STYLES`) :meth:`predict` takes, each with the load
    #: options that select it; the style the method was trained with first. ``faceeval predict`` maps a
    #: detector's boxes to the first of them it can reach (``300w``: the protocol's boxes).
    box_styles: ClassVar[dict[str, dict]] = {"300w": {}}
    #: Preferred number of images per :meth:`predict` call.
    batch_size: ClassVar[int] = 32
    #: The load options ``faceeval run -O KEY=VALUE`` accepts, with their types and allowed values
    #: (:class:`MethodOption`); ``None`` leaves options unchecked (then a wrong name fails on load).
    cli_options: ClassVar[dict[str, MethodOption] | None] = None
    #: A one-line caveat stored with every run (``meta["caveat"]``), printed by ``run`` and
    #: ``faceeval methods`` and beside its table rows ("" when there is none).
    caveat: ClassVar[str] = ""

    @classmethod
    def default_caveat(cls) -> str:
        """The caveat of the method as ``faceeval run`` loads it by default (its weights may decide)."""
        return cls.caveat if isinstance(cls.caveat, str) else ""

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
        """Predict shapes ``(N, P, 2)`` of :attr:`scheme` (x, y, 0-based pixels) for ``images`` (uint8, grey
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
        out = {"method": self.name, "version": self.version, "weights_hash": self.weights_hash,
               "options": self.options(), "scheme": self.scheme}
        return out | ({"caveat": self.caveat} if getattr(self, "caveat", "") else {})

    @classmethod
    def published_names(cls, options: dict) -> tuple[str, ...]:
        """The method's names in the published results (``faceeval/data/published_results.csv``,
        compared case-insensitively) whose numbers ``faceeval run`` prints beside a run with these
        :meth:`options`. By default its own name, so a method named ``sdm`` or ``mdm`` is shown
        beside the paper's SDM or MDM; a method whose options pick the row overrides it (DAN's stages)."""
        return (cls.name,)

    def predict_timings(self) -> dict[str, float]:
        """Seconds spent so far in named parts of :meth:`predict` (e.g. DAN's ``crop`` and ``model``);
        ``run`` stores what a run adds to each as ``<part>_seconds`` beside its timings. None by default."""
        return {}


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
    """The registered class of method ``name``; an :class:`~faceeval.errors.OptionError` for an unknown
    name, a :class:`~faceeval.errors.MissingExtraError` naming the extra when its dependencies are missing."""
    eps = available_methods()
    if name not in eps:
        known = ", ".join(sorted(eps)) or "none (is faceeval installed with `pip install -e .`?)"
        raise OptionError(f"unknown method {name!r}; registered methods: {known}")
    try:
        cls = eps[name].load()
    except ImportError as exc:         # e.g. torch for dan: say which extra brings it
        missing = MissingExtraError.from_import(name, exc)
        if missing is None:
            raise
        raise missing from exc
    if not (isinstance(cls, type) and issubclass(cls, LandmarkMethod)):
        raise TypeError(f"entry point {name!r} ({eps[name].value}) is not a LandmarkMethod subclass")
    if cls.extra is not None:
        require_extra(cls.extra, name)
    return cls


def load_method(name: str, weights: str | Path | None = None, **options) -> LandmarkMethod:
    """Instantiate a registered method by name; weights or options it does not take are an
    :class:`~faceeval.errors.OptionError` naming them."""
    cls = method_class(name)
    options = check_method_options(cls, options)
    try:
        return cls.load(weights=weights, **options)
    except TypeError as exc:
        if not options and weights is None:
            raise
        given = (["weights"] if weights is not None else []) + sorted(options)
        raise OptionError(f"method {name!r} does not accept the options {given}: {exc}") from exc


__all__ = ["LandmarkMethod", "MethodOption", "check_method_options", "MissingDependencyError", "MissingWeightsError", "ENTRY_POINT_GROUP", "faceeval_home",
           "default_weights_dir", "file_hash", "available_methods", "method_class", "load_method"]
