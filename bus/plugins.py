"""Plugins found through entry points, each name registered once.

Both plugin kinds of netfeed use this: protocol drivers
(``netfeed.collectors``) and applications (``netfeed.applications``).  A name
may be registered once: a second plugin with the same name is an error
naming both, never a silent override (the plugin that happens to load last
must not decide what runs).  An entry point's name must equal the plugin's
own ``name``.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, ClassVar, Generic, Self, TypeVar

T = TypeVar("T")


class RegistryError(ValueError):
    pass


class PluginRegistry(Generic[T]):
    """Subclasses set ``group`` (the entry point group), ``kind`` (how errors
    name a plugin) and ``base`` (the class every plugin must subclass)."""

    group: ClassVar[str]
    kind: ClassVar[str]
    base: ClassVar[type[Any]]

    def __init__(self) -> None:
        self._plugins: dict[str, type[T]] = {}
        self._origin: dict[str, str] = {}

    def register(self, cls: type[T], origin: str = "") -> None:
        where = origin or f"{getattr(cls, '__module__', '?')}:{getattr(cls, '__qualname__', cls)}"
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise RegistryError(
                f"{where}: not a subclass of {self.base.__module__}.{self.base.__qualname__}"
            )
        name = getattr(cls, "name", "")
        if not name:
            raise RegistryError(f"{where}: {self.kind} has no name")
        if name in self._plugins and self._plugins[name] is not cls:
            raise RegistryError(
                f"{self.kind} {name!r} registered twice: {self._origin[name]} and {where}"
            )
        self._plugins[name] = cls
        self._origin[name] = where

    def names(self) -> list[str]:
        return sorted(self._plugins)

    def __contains__(self, name: object) -> bool:
        return name in self._plugins

    def get(self, name: str) -> type[T]:
        try:
            return self._plugins[name]
        except KeyError:
            raise RegistryError(
                f"no {self.kind} {name!r}; installed: {', '.join(self.names()) or 'none'}"
            ) from None

    @classmethod
    def from_entry_points(cls) -> Self:
        """Every plugin installed under ``group``."""
        reg = cls()
        for ep in entry_points(group=cls.group):
            try:
                plugin = ep.load()
            except Exception as exc:
                raise RegistryError(
                    f"entry point {ep.name} = {ep.value}: cannot load: {exc}"
                ) from exc
            if getattr(plugin, "name", None) != ep.name:
                raise RegistryError(
                    f"entry point {ep.name} = {ep.value}: {cls.kind} says name "
                    f"{getattr(plugin, 'name', None)!r}"
                )
            reg.register(plugin, origin=f"{ep.value} (entry point)")
        return reg
