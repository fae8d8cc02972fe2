"""Topic names: ``<prefix>.<network>.<dataset>``, one per network and dataset, and
``<prefix>.<network>.quarantine`` for the records a network's quality gate refused
(:func:`quarantine_topic`; a dataset glob such as ``*`` never matches it)."""

from __future__ import annotations

import re

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def topic_name(prefix: str, network: str, dataset: str) -> str:
    for what, v in (("network", network), ("dataset", dataset)):
        if not _NAME.match(v):
            raise ValueError(f"{what} {v!r}: letters, digits, '_' and '-' only")
    return f"{prefix}.{network}.{dataset}"


QUARANTINE = "quarantine"


def quarantine_topic(prefix: str, network: str) -> str:
    """Where ``network``'s refused records go (see :class:`bus.records.Quarantined`)."""
    return topic_name(prefix, network, QUARANTINE)


def subscription_pattern(prefix: str, networks: list[str], datasets: list[str]) -> str:
    """A regex matching the topics of ``networks`` x ``datasets``.

    Network and dataset entries may be glob patterns (``lab-*``, ``*``), so a
    subscription picks up networks created after the application started.
    The quarantine topic matches only when ``quarantine`` is named as a dataset.
    """

    def alt(items: list[str]) -> str:
        # '*' and '?' never cross a '.', so a pattern cannot reach into another level.
        return "|".join(re.escape(i).replace(r"\*", "[^.]*").replace(r"\?", "[^.]") for i in items)

    guard = "" if QUARANTINE in datasets else rf"(?!{QUARANTINE}$)"
    return rf"^{re.escape(prefix)}\.(?:{alt(networks)})\.{guard}(?:{alt(datasets)})$"


def alerts_topic(prefix: str) -> str:
    """Where the ``threshold-alerts`` application publishes (:class:`bus.records.Alert`)."""
    return f"{prefix}.alerts"


def state_topic(prefix: str) -> str:
    """The compacted topic of device states (:class:`bus.records.DeviceState`)."""
    return f"{prefix}.state"


def control_topic(prefix: str, network: str) -> str:
    """The control topic of ``network``'s collectors: its partitions are the
    network's device shards (:mod:`bus.shards`).  Two dot-separated parts, so
    no ``<prefix>.<network>.<dataset>`` subscription ever matches it."""
    topic_name(prefix, network, "control")  # checks the network name
    return f"{prefix}.control-{network}"


def collectors_group(prefix: str, network: str) -> str:
    """The consumer group the collector instances of ``network`` share shards in."""
    return f"{prefix}.collectors.{network}"
