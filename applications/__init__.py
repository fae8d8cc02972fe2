"""netfeed applications: plugins that consume records from the bus.

Imports ``bus``; never ``collectors``.  A plugin never imports aiokafka: it
sees :class:`~applications.api.Batch` objects of decoded records.
"""

from applications.api import AppContext, Application, AppSettings, Batch, Publisher, Subscription
from applications.registry import ApplicationRegistry, load_registry

__all__ = [
    "AppContext",
    "AppSettings",
    "Application",
    "ApplicationRegistry",
    "Batch",
    "Publisher",
    "Subscription",
    "load_registry",
]
