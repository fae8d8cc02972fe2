"""The ``store`` application (being built)."""

from typing import ClassVar

from applications.api import Application


class Store(Application):
    name: ClassVar[str] = "store"
