"""Find applications through the ``netfeed.applications`` entry points.

A name may be registered once: a second plugin with the same name is an
error naming both, never a silent override.  ``module:Class`` also works as
a name, for plugins under development that are not installed yet.
"""

from __future__ import annotations

import importlib

from applications.api import Application
from bus.plugins import PluginRegistry, RegistryError

GROUP = "netfeed.applications"


class ApplicationRegistry(PluginRegistry[Application]):
    group = GROUP
    kind = "application"
    base = Application

    def get(self, name: str) -> type[Application]:
        if name not in self and ":" in name:
            module, _, attr = name.partition(":")
            try:
                cls = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError) as exc:
                raise RegistryError(f"{name}: cannot load: {exc}") from None
            self.register(cls, origin=name)
            return cls  # type: ignore[no-any-return]
        return super().get(name)


def load_registry() -> ApplicationRegistry:
    return ApplicationRegistry.from_entry_points()


__all__ = ["GROUP", "ApplicationRegistry", "RegistryError", "load_registry"]
