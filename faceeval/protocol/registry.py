"""Registries of named values (schemes, normalisers, datasets), open to third parties through entry points.

A :class:`Registry` holds values registered in code (``register``), built-in values named by
``"module:attribute"`` and imported on first use (``register_lazy``, so ``faceeval --help`` does
not import every loader), and the values installed packages declare in an entry-point group::

    [project.entry-points."faceeval.datasets"]
    mydata = "my_package.mydata:SPEC"

Entry points are looked up when a name is not known yet, so a package installed (or put on
``sys.path``) while the program runs is found.
"""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Callable, Generic, Iterator, TypeVar

from ..errors import OptionError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named values of one kind (``kind`` names them in messages), checked by ``check`` on entry."""

    def __init__(self, kind: str, group: str, value_type: type, option: str = ""):
        self.kind, self.group, self.value_type, self.option = kind, group, value_type, option
        self._values: dict[str, T] = {}
        self._lazy: dict[str, str] = {}
        self._order: list[str] = []          # registration order of the names above

    def register(self, value: T, replace: bool = False) -> T:
        """Add ``value`` under its ``name``; a second value of the same name is refused unless ``replace``."""
        if not isinstance(value, self.value_type):
            raise TypeError(f"a {self.kind} must be a {self.value_type.__name__}, got {type(value).__name__}")
        name = value.name
        if not replace and (name in self._values or name in self._lazy) and self._values.get(name) is not value:
            raise OptionError(f"a {self.kind} named {name!r} is already registered")
        self._lazy.pop(name, None)
        self._values[name] = value
        if name not in self._order:
            self._order.append(name)
        return value

    def register_lazy(self, name: str, target: str) -> None:
        """Register the value at ``"module:attribute"``, imported when first asked for."""
        self._lazy[name] = target
        if name not in self._order:
            self._order.append(name)

    def _load(self, name: str, target: str, where: str) -> T:
        module, _, attr = target.partition(":")
        value = getattr(importlib.import_module(module), attr)
        if callable(value) and not isinstance(value, self.value_type):
            value = value()
        if not isinstance(value, self.value_type):
            raise TypeError(f"{where} {name!r} ({target}) is not a {self.value_type.__name__}")
        if value.name != name:
            raise TypeError(f"{where} {name!r} ({target}) holds a {self.kind} named {value.name!r}")
        self._values[name] = value
        return value

    def _entry_points(self) -> dict:
        return {ep.name: ep for ep in entry_points(group=self.group)}

    def get(self, name: str) -> T:
        """The value registered as ``name``, or an :class:`~faceeval.errors.OptionError` listing the known ones."""
        if isinstance(name, self.value_type):
            return name
        if name in self._values:
            return self._values[name]
        if name in self._lazy:
            return self._load(name, self._lazy.pop(name), f"built-in {self.kind}")
        eps = self._entry_points()
        if name in eps:
            return self._load(name, eps[name].value, f"entry point {self.group}")
        known = ", ".join(self.names()) or "none"
        where = f"{self.option} " if self.option else ""
        raise OptionError(f"unknown {where}{self.kind} {name!r}; choose one of {known}")

    def names(self) -> list[str]:
        """Every registered name: built-in first (in registration order), then installed ones, sorted."""
        own = list(self._order)
        return own + sorted(set(self._entry_points()) - set(own))

    def values(self) -> Iterator[T]:
        for name in self.names():
            yield self.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self._values or name in self._lazy or name in self._entry_points()

    def find(self, predicate: Callable[[T], bool]) -> list[T]:
        """The values (built-in ones first) for which ``predicate`` holds; broken entry points are skipped."""
        out = []
        for name in self.names():
            try:
                value = self.get(name)
            except (ImportError, TypeError, AttributeError):   # a broken third-party package
                continue
            if predicate(value):
                out.append(value)
        return out


__all__ = ["Registry"]
