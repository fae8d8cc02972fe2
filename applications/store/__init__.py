"""The ``store`` application: replicates records into the analyst's own store."""

from applications.store.app import Store, StoreSettings

__all__ = ["Store", "StoreSettings"]
