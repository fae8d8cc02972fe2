"""The ``report`` application: an HTML report with plots from the store.

It is a one-shot command (``netfeed report``), not a consumer: it reads what
the ``store`` application wrote.  :class:`Report` is registered so
``netfeed app list`` shows it; running it as a consumer does nothing.
"""

from typing import ClassVar

from applications.api import Application


class Report(Application):
    name: ClassVar[str] = "report"
    default_datasets: ClassVar[list[str]] = ["system"]


__all__ = ["Report"]
