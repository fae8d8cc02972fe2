"""The ``threshold-alerts`` application (being built)."""

from typing import ClassVar

from applications.api import Application


class ThresholdAlerts(Application):
    name: ClassVar[str] = "threshold-alerts"
