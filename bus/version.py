"""netfeed's version: written only in ``pyproject.toml``, read here from the
installed package's metadata, once.  ``collectors`` and ``netfeed`` (and
``applications``, through ``bus``) take it from here."""

from __future__ import annotations

import importlib.metadata

UNKNOWN = "0+unknown"  # a source tree run without being installed (pip install -e .)


def _installed_version() -> str:
    try:
        return importlib.metadata.version("netfeed")
    except importlib.metadata.PackageNotFoundError:
        return UNKNOWN


__version__ = _installed_version()
