from typing import ClassVar

import pytest

from applications.api import Application
from applications.registry import ApplicationRegistry, RegistryError, load_registry
from applications.utilisation import InterfaceUtilisation


class Dup(Application):
    name: ClassVar[str] = "interface-utilisation"


class Nameless(Application):
    pass


def test_entry_point_finds_builtin_app() -> None:
    reg = load_registry()
    assert reg.get("interface-utilisation") is InterfaceUtilisation


def test_duplicate_names_are_refused_naming_both() -> None:
    reg = ApplicationRegistry()
    reg.register(InterfaceUtilisation, origin="builtin")
    with pytest.raises(RegistryError, match="registered twice: builtin and"):
        reg.register(Dup)


def test_nameless_and_non_apps_are_refused() -> None:
    reg = ApplicationRegistry()
    with pytest.raises(RegistryError, match="no name"):
        reg.register(Nameless)
    with pytest.raises(RegistryError, match=r"not a subclass of applications\.api\.Application"):
        reg.register(dict)  # type: ignore[arg-type]


def test_unknown_name_lists_installed() -> None:
    with pytest.raises(RegistryError, match="interface-utilisation"):
        load_registry().get("nope")


def test_module_colon_class_loads_development_plugins() -> None:
    reg = ApplicationRegistry()
    cls = reg.get("tests.support.countapp:CountApp")
    assert cls.name == "test-count" and "test-count" in reg.names()
    with pytest.raises(RegistryError, match="cannot load"):
        reg.get("tests.support.countapp:Nope")
