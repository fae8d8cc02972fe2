"""Topic names: ``<prefix>.<network>.<dataset>``, one per network and dataset."""

from __future__ import annotations

import re

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def topic_name(prefix: str, network: str, dataset: str) -> str:
    for what, v in (("network", network), ("dataset", dataset)):
        if not _NAME.match(v):
            raise ValueError(f"{what} {v!r}: letters, digits, '_' and '-' only")
    return f"{prefix}.{network}.{dataset}"


def subscription_pattern(prefix: str, networks: list[str], datasets: list[str]) -> str:
    """A regex matching the topics of ``networks`` x ``datasets``.

    Network and dataset entries may be glob patterns (``lab-*``, ``*``), so a
    subscription picks up networks created after the application started.
    """

    def alt(items: list[str]) -> str:
        # '*' and '?' never cross a '.', so a pattern cannot reach into another level.
        return "|".join(re.escape(i).replace(r"\*", "[^.]*").replace(r"\?", "[^.]") for i in items)

    return rf"^{re.escape(prefix)}\.(?:{alt(networks)})\.(?:{alt(datasets)})$"
