"""The ``report`` application (being built)."""

from typing import ClassVar

from applications.api import Application


class Report(Application):
    name: ClassVar[str] = "report"
