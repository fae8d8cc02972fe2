"""The marker follows its records on the bus, on both backends: every record of the
cycle is sent and flushed (durable) before the first copy of the marker is sent."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from bus.factory import make_consumer, make_producer
from bus.records import CycleComplete, Record, decode
from bus.settings import BusSettings
from collectors.cycle import run_cycle
from collectors.publish import Publisher
from tests.collectors.test_cycle import devices
from tests.support.fake_snmp import FakeClient, device_data, snmp_driver


class Recording:
    """The real producer, logging each send (record or marker) and each finished flush."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.log: list[str] = []

    async def ensure_topic(self, topic: str) -> int:
        return int(await self.inner.ensure_topic(topic))

    async def send(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        partition: int | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        kind = "marker" if b'"kind":"cycle_complete"' in value else "record"
        await self.inner.send(topic, value, key=key, partition=partition, headers=headers)
        self.log.append(kind)

    async def flush(self) -> None:
        await self.inner.flush()
        self.log.append("flushed")


async def test_records_are_durable_before_the_marker(any_bus: BusSettings) -> None:
    devs = devices(4)
    async with make_producer(any_bus, client_id="order") as producer:
        rec = Recording(producer)
        publisher = Publisher(rec, any_bus.topic_prefix)  # type: ignore[arg-type]
        m = await run_cycle(
            network="n",
            dataset="interfaces",
            devices=devs,
            driver=snmp_driver(FakeClient({d.id: device_data(3) for d in devs})),
            sink=publisher,
            limits=[asyncio.Semaphore(10)],
            scheduled_unix_ms=60_000,
        )
    log = rec.log
    assert log.count("record") == 12 and log.count("marker") == m.partitions == 3
    last_record, first_marker = (
        max(i for i, e in enumerate(log) if e == "record"),
        log.index("marker"),
    )
    assert "flushed" in log[last_record:first_marker]  # records durable before any marker
    assert log[-1] == "flushed"  # and the markers before complete_cycle returns
    # what the bus holds: every record, then on each partition the marker last
    consumer = make_consumer(
        any_bus, group=None, pattern=rf"^{any_bus.topic_prefix}\.n\.interfaces$",
        client_id="order-check", from_beginning=True,
    )  # fmt: skip
    seen: dict[int, list[str]] = {}
    async with consumer, asyncio.timeout(30):
        while sum(len(v) for v in seen.values()) < 15:
            for msg in await consumer.getmany(timeout_ms=300):
                kind = decode(msg.value)
                seen.setdefault(msg.partition, []).append(
                    "marker" if isinstance(kind, CycleComplete) else "record"
                )
                assert isinstance(kind, CycleComplete | Record)
    assert all(v[-1] == "marker" and v.count("marker") == 1 for v in seen.values())
