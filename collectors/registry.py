"""Find protocol drivers through the ``netfeed.collectors`` entry points.

A protocol name may be registered once (see :mod:`bus.plugins`): two
drivers claiming ``snmp`` are an error naming both.
"""

from __future__ import annotations

from functools import lru_cache

from bus.plugins import PluginRegistry, RegistryError
from collectors.driver import Driver

GROUP = "netfeed.collectors"
# The protocol of a dataset whose network file names none.  A name, not an import:
# the core still loads the driver only through the registry.
DEFAULT_PROTOCOL = "snmp"


class DriverRegistry(PluginRegistry[Driver]):
    group = GROUP
    kind = "protocol"
    base = Driver


def registry_from_entry_points() -> DriverRegistry:
    return DriverRegistry.from_entry_points()


@lru_cache(maxsize=1)
def load_drivers() -> DriverRegistry:
    """The installed drivers (read once per process)."""
    return registry_from_entry_points()


__all__ = ["DEFAULT_PROTOCOL", "GROUP", "DriverRegistry", "RegistryError", "load_drivers"]
