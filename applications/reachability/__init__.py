"""The ``reachability`` application (being built)."""

from typing import ClassVar

from applications.api import Application


class Reachability(Application):
    name: ClassVar[str] = "reachability"
