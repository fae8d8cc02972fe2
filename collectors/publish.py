"""Put records and cycle markers on the bus (or on stdout for ``--dry-run``).

Records are keyed by device id, so one device's records keep their order;
every message carries its stable id in the header
:data:`bus.records.RECORD_ID_HEADER` (:func:`bus.records.record_id`) so
consumers can drop the duplicates that retries make.

With a :class:`bus.spool.Spool` (the Kafka backend), :meth:`Publisher.publish`
and :meth:`Publisher.complete_cycle` append to the spool and return: the
collection never waits on the broker.  The marker goes through the same
ordered spool after its records and is sent to every partition after them,
so a consumer that sees the marker on a partition has already seen that
cycle's records on it.

Without a spool (the embedded bus, tests), :meth:`Publisher.complete_cycle`
first waits until every record sent so far is durable, then sends the marker
to every partition of the dataset topic and waits again: the same guarantee.

With a :class:`collectors.journal.CycleJournal`, what got out is noted for
the cycle journal: with a spool, each device's count in the same transaction
as the append that carries its records, and the cycle closed in the same
transaction as its marker's append; without, once the records are durable
(a flush shared by the devices of that moment) and once the marker is.  A
cycle ``publish`` is given records of one device and one cycle at a time
(as :func:`collectors.cycle.run_cycle` does).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

import msgspec

from bus.api import Producer
from bus.records import RECORD_ID_HEADER, CycleComplete, Record, encode, record_id
from bus.spool import Spool
from bus.topics import topic_name
from collectors.journal import CycleJournal


class Publisher:
    def __init__(
        self,
        producer: Producer,
        prefix: str,
        *,
        spool: Spool | None = None,
        journal: CycleJournal | None = None,
    ) -> None:
        self.producer = producer
        self.prefix = prefix
        self.spool = spool
        self.journal = journal
        self._known: dict[str, int] = {}
        self._names: dict[tuple[str, str], str] = {}

    def _name(self, network: str, dataset: str) -> str:
        name = self._names.get((network, dataset))
        if name is None:
            name = self._names[(network, dataset)] = topic_name(self.prefix, network, dataset)
        return name

    async def _topic(self, network: str, dataset: str) -> tuple[str, int]:
        topic = self._name(network, dataset)
        parts = self._known.get(topic)
        if parts is None:
            parts = self._known[topic] = await self.producer.ensure_topic(topic)
        return topic, parts

    async def publish(self, records: list[Record]) -> None:
        journal = self.journal if records else None
        if self.spool is not None:
            note = None
            if journal is not None:
                note = journal.sent_op(records[0].cycle_id, records[0].device, len(records))
            await self.spool.append(
                [
                    (
                        self._name(rec.network, rec.dataset),
                        rec.device.encode(),
                        encode(rec),
                        ((RECORD_ID_HEADER, record_id(rec).encode()),),
                    )
                    for rec in records
                ],
                note,
            )
            return
        for rec in records:
            topic, _ = await self._topic(rec.network, rec.dataset)
            await self.producer.send(
                topic,
                encode(rec),
                key=rec.device.encode(),
                headers=[(RECORD_ID_HEADER, record_id(rec).encode())],
            )
        if journal is not None:
            rec = records[0]
            await journal.sent_after_flush(self.producer, rec.cycle_id, rec.device, len(records))

    async def complete_cycle(self, marker: CycleComplete) -> CycleComplete:
        """Publish ``marker`` to every partition; return it with ``partitions`` set
        (with a spool: as far as known yet, the copies sent carry the real count)."""
        if self.spool is not None:
            topic = self._name(marker.network, marker.dataset)
            close = None if self.journal is None else self.journal.close_op(marker.cycle_id)
            await self.spool.append_marker(topic, marker, close)
            parts = self.spool.partitions(topic)
            return msgspec.structs.replace(marker, partitions=parts) if parts else marker
        topic, parts = await self._topic(marker.network, marker.dataset)
        await self.producer.flush()
        for p in range(parts):
            copy = msgspec.structs.replace(marker, partition=p, partitions=parts)
            await self.producer.send(
                topic,
                encode(copy),
                partition=p,
                headers=[(RECORD_ID_HEADER, record_id(copy).encode())],
            )
        await self.producer.flush()
        if self.journal is not None:
            await self.journal.run(self.journal.close_op(marker.cycle_id))
        return msgspec.structs.replace(marker, partitions=parts)


class DryRunPublisher:
    """Writes each record and marker as one JSON line; publishes nothing.
    ``on_records`` / ``on_marker``, when given, see each batch and marker too
    (``collect --dry-run``'s coverage summary)."""

    def __init__(
        self,
        out: TextIO | None = None,
        on_records: Callable[[list[Record]], None] | None = None,
        on_marker: Callable[[CycleComplete], None] | None = None,
    ) -> None:
        self.out = out or sys.stdout
        self.on_records = on_records
        self.on_marker = on_marker

    async def publish(self, records: list[Record]) -> None:
        self.out.write("".join(encode(r).decode() + "\n" for r in records))
        self.out.flush()
        if self.on_records is not None:
            self.on_records(records)

    async def complete_cycle(self, marker: CycleComplete) -> CycleComplete:
        self.out.write(encode(marker).decode() + "\n")
        self.out.flush()
        if self.on_marker is not None:
            self.on_marker(marker)
        return marker
