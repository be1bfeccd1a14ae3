"""Explicit, lazily imported registries of named things.

Every registry (architectures, backends, subcommands, bundled models) is one hand-written table
of ``name -> "package.module:attribute"``. Nothing is imported until a name is resolved, so a
registry costs nothing to build and a broken optional dependency only affects its own entry.
Duplicate names raise; an unknown name raises listing the known ones.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from srstream.errors import DependencyError, RegistryError

__all__ = ["Entry", "Registry"]

T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    """One registry row.

    Attributes:
        name: the public name users type (lower-case, no spaces).
        target: ``"package.module:attribute"``; imported only by :meth:`Registry.load`.
        summary: one line for help texts and listings.
        install_hint: the ``pip install`` line that provides the module's dependencies, used in
            the error raised when importing ``target`` fails on a missing module.
    """

    name: str
    target: str
    summary: str = ""
    install_hint: str = ""

    def __post_init__(self) -> None:
        module, sep, attr = self.target.partition(":")
        if not (module and sep and attr):
            raise RegistryError(
                f"registry entry {self.name!r}: target {self.target!r} must look like "
                "'package.module:attribute'"
            )


class Registry(Generic[T]):
    """A named table of lazily imported objects of one kind.

    Args:
        kind: what the entries are ("architecture", "backend", ...), used in messages.
        entries: the rows; names must be unique.

    Raises:
        RegistryError: on a duplicate name.
    """

    def __init__(self, kind: str, entries: Iterable[Entry]) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        for entry in entries:
            if entry.name in self._entries:
                raise RegistryError(f"duplicate {kind} name {entry.name!r} in the registry")
            self._entries[entry.name] = entry

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> tuple[str, ...]:
        """The registered names, in table order."""
        return tuple(self._entries)

    def entries(self) -> Mapping[str, Entry]:
        """A read-only view of the rows."""
        return dict(self._entries)

    def entry(self, name: str) -> Entry:
        """The row for ``name``.

        Raises:
            RegistryError: unknown name; the message lists the known ones.
        """
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(self._entries) or "(none)"
            raise RegistryError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def load(self, name: str) -> T:
        """Import and return the object registered as ``name``.

        Raises:
            RegistryError: unknown name, or the target attribute does not exist.
            DependencyError: importing the target failed on a missing module; the message
                carries the entry's install hint.
        """
        entry = self.entry(name)
        module_name, _, attr = entry.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] == module_name.split(".")[0]:
                raise RegistryError(
                    f"{self.kind} {name!r}: module {exc.name!r} does not exist "
                    "(the registry table is out of date)"
                ) from exc
            hint = f"; install it with: {entry.install_hint}" if entry.install_hint else ""
            raise DependencyError(
                f"{self.kind} {name!r} needs the module {exc.name!r}, which is not installed{hint}"
            ) from exc
        try:
            return getattr(module, attr)  # type: ignore[no-any-return]
        except AttributeError:
            raise RegistryError(
                f"{self.kind} {name!r}: {module_name} has no attribute {attr!r} "
                "(the registry table is out of date)"
            ) from None
