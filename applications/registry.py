"""Find applications through the ``netfeed.applications`` entry points.

A name may be registered once: a second plugin with the same name is an
error naming both, never a silent override.  ``module:Class`` also works as
a name, for plugins under development that are not installed yet.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from applications.api import Application

GROUP = "netfeed.applications"


class RegistryError(ValueError):
    pass


class ApplicationRegistry:
    def __init__(self) -> None:
        self._apps: dict[str, type[Application]] = {}
        self._origin: dict[str, str] = {}

    def register(self, cls: type[Application], origin: str = "") -> None:
        if not (isinstance(cls, type) and issubclass(cls, Application)):
            raise RegistryError(f"{origin or cls!r}: not an Application subclass")
        if not cls.name:
            raise RegistryError(f"{origin or cls.__qualname__}: application has no name")
        if cls.name in self._apps and self._apps[cls.name] is not cls:
            raise RegistryError(
                f"application name {cls.name!r} registered twice: {self._origin[cls.name]} and "
                f"{origin or cls.__module__ + ':' + cls.__qualname__}"
            )
        self._apps[cls.name] = cls
        self._origin[cls.name] = origin or f"{cls.__module__}:{cls.__qualname__}"

    def names(self) -> list[str]:
        return sorted(self._apps)

    def get(self, name: str) -> type[Application]:
        if name in self._apps:
            return self._apps[name]
        if ":" in name:
            module, _, attr = name.partition(":")
            try:
                cls = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError) as exc:
                raise RegistryError(f"{name}: cannot load: {exc}") from None
            self.register(cls, origin=name)
            return cls  # type: ignore[no-any-return]
        raise RegistryError(
            f"no application {name!r}; installed: {', '.join(self.names()) or 'none'}"
        )


def load_registry() -> ApplicationRegistry:
    reg = ApplicationRegistry()
    for ep in entry_points(group=GROUP):
        try:
            cls = ep.load()
        except Exception as exc:
            raise RegistryError(f"entry point {ep.name} = {ep.value}: cannot load: {exc}") from exc
        if getattr(cls, "name", None) != ep.name:
            raise RegistryError(f"entry point {ep.name} = {ep.value}: class says name {cls.name!r}")
        reg.register(cls, origin=f"{ep.value} (entry point)")
    return reg
