"""Put records and cycle markers on the bus (or on stdout for ``--dry-run``).

Records are keyed by device id, so one device's records keep their order.
:meth:`Publisher.complete_cycle` first waits until every record sent so far
is durable, then sends the marker to every partition of the dataset topic
and waits again: a consumer that sees the marker on a partition has already
seen that cycle's records on it.
"""

from __future__ import annotations

import sys
from typing import TextIO

import msgspec

from bus.api import Producer
from bus.records import CycleComplete, Record, encode
from bus.topics import topic_name


class Publisher:
    def __init__(self, producer: Producer, prefix: str) -> None:
        self.producer = producer
        self.prefix = prefix
        self._known: dict[str, int] = {}

    async def _topic(self, network: str, dataset: str) -> tuple[str, int]:
        topic = topic_name(self.prefix, network, dataset)
        parts = self._known.get(topic)
        if parts is None:
            parts = self._known[topic] = await self.producer.ensure_topic(topic)
        return topic, parts

    async def publish(self, records: list[Record]) -> None:
        for rec in records:
            topic, _ = await self._topic(rec.network, rec.dataset)
            await self.producer.send(topic, encode(rec), key=rec.device.encode())

    async def complete_cycle(self, marker: CycleComplete) -> CycleComplete:
        """Publish ``marker`` to every partition; return it with ``partitions`` set."""
        topic, parts = await self._topic(marker.network, marker.dataset)
        await self.producer.flush()
        for p in range(parts):
            copy = msgspec.structs.replace(marker, partition=p, partitions=parts)
            await self.producer.send(topic, encode(copy), partition=p)
        await self.producer.flush()
        return msgspec.structs.replace(marker, partitions=parts)


class DryRunPublisher:
    """Writes each record and marker as one JSON line; publishes nothing."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout

    async def publish(self, records: list[Record]) -> None:
        self.out.write("".join(encode(r).decode() + "\n" for r in records))
        self.out.flush()

    async def complete_cycle(self, marker: CycleComplete) -> CycleComplete:
        self.out.write(encode(marker).decode() + "\n")
        self.out.flush()
        return marker
