"""Find protocol drivers through the ``netfeed.collectors`` entry points.

A protocol name may be registered once: a second driver with the same name
is an error naming both, never a silent override (the plugin that happens to
load last must not decide how devices are read).
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import entry_points

from collectors.driver import Driver

GROUP = "netfeed.collectors"
# The protocol of a dataset whose network file names none.  A name, not an import:
# the core still loads the driver only through the registry.
DEFAULT_PROTOCOL = "snmp"


class RegistryError(ValueError):
    pass


class DriverRegistry:
    def __init__(self) -> None:
        self._drivers: dict[str, type[Driver]] = {}
        self._origin: dict[str, str] = {}

    def register(self, cls: type[Driver], origin: str = "") -> None:
        where = origin or f"{getattr(cls, '__module__', '?')}:{getattr(cls, '__qualname__', cls)}"
        if not (isinstance(cls, type) and issubclass(cls, Driver)):
            raise RegistryError(f"{where}: not a collectors.driver.Driver subclass")
        if not cls.name:
            raise RegistryError(f"{where}: driver has no name")
        if cls.name in self._drivers and self._drivers[cls.name] is not cls:
            raise RegistryError(
                f"protocol {cls.name!r} registered twice: {self._origin[cls.name]} and {where}"
            )
        self._drivers[cls.name] = cls
        self._origin[cls.name] = where

    def names(self) -> list[str]:
        return sorted(self._drivers)

    def __contains__(self, name: object) -> bool:
        return name in self._drivers

    def get(self, name: str) -> type[Driver]:
        try:
            return self._drivers[name]
        except KeyError:
            raise RegistryError(
                f"no collector driver for protocol {name!r}; installed: "
                f"{', '.join(self.names()) or 'none'}"
            ) from None


def registry_from_entry_points() -> DriverRegistry:
    reg = DriverRegistry()
    for ep in entry_points(group=GROUP):
        try:
            cls = ep.load()
        except Exception as exc:
            raise RegistryError(f"entry point {ep.name} = {ep.value}: cannot load: {exc}") from exc
        if getattr(cls, "name", None) != ep.name:
            raise RegistryError(
                f"entry point {ep.name} = {ep.value}: driver says name "
                f"{getattr(cls, 'name', None)!r}"
            )
        reg.register(cls, origin=f"{ep.value} (entry point)")
    return reg


@lru_cache(maxsize=1)
def load_drivers() -> DriverRegistry:
    """The installed drivers (read once per process)."""
    return registry_from_entry_points()
