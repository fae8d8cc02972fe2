"""Run one application instance against the bus.

Guarantees:

- the consumer group is the application's name: every instance of one
  application shares the partitions of its topics, and a new instance or a
  dead one triggers a rebalance;
- a batch is committed only after ``Application.handle`` returned; a crash
  before that re-delivers it (at least once);
- a message that does not decode is logged with ``topic[partition]@offset``,
  counted in :attr:`AppRunner.bad_messages` and skipped, so one bad payload
  cannot stall a partition.
"""

from __future__ import annotations

import asyncio
import logging
import time

from applications.api import AppContext, Application, Batch, Item
from bus.api import AsyncService
from bus.factory import make_consumer
from bus.records import RecordError, decode
from bus.settings import BusSettings
from bus.topics import subscription_pattern

log = logging.getLogger(__name__)


class AppRunner(AsyncService):
    def __init__(
        self, app: Application, bus: BusSettings, *, instance_id: str = "", max_records: int = 5000
    ) -> None:
        self.app = app
        self.bus = bus
        self.instance_id = instance_id or f"{app.name}-{id(self):x}"
        self.max_records = max_records
        self.handled = 0
        self.bad_messages = 0
        self.batches = 0
        sub = app.subscription
        if not sub.datasets:
            raise ValueError(f"application {app.name}: subscribes to no dataset")
        self.pattern = subscription_pattern(bus.topic_prefix, sub.networks, sub.datasets)
        self.consumer = make_consumer(
            bus, group=app.name, pattern=self.pattern, client_id=self.instance_id
        )

    def _owned(self, topic: str) -> set[int]:
        return {p for t, p in self.consumer.assignment() if t == topic}

    async def start(self) -> None:
        await self.consumer.start()
        await self.app.start(AppContext(self.instance_id, self.bus.topic_prefix, self._owned))

    async def stop(self) -> None:
        try:
            await self.app.stop()
        finally:
            await self.consumer.stop()

    async def step(self, timeout_ms: int = 500) -> int:
        """Fetch, handle and commit one batch; returns the number of messages."""
        msgs = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=self.max_records)
        if not msgs:
            return 0
        batch = Batch()
        for m in msgs:
            try:
                batch.items.append(
                    Item(
                        decode(m.value, where=f"{m.topic}[{m.partition}]@{m.offset}"),
                        m.topic,
                        m.partition,
                        m.offset,
                    )
                )
            except RecordError as exc:
                self.bad_messages += 1
                log.error("%s: skipped: %s", self.app.name, exc)
        await self.app.handle(batch)
        await self.consumer.commit()
        self.handled += len(batch.items)
        self.batches += 1
        return len(msgs)

    async def run(
        self, *, duration_s: float | None = None, stop: asyncio.Event | None = None
    ) -> None:
        """Loop until ``stop`` is set or ``duration_s`` has passed."""
        end = None if duration_s is None else time.monotonic() + duration_s
        while not (stop is not None and stop.is_set()) and (end is None or time.monotonic() < end):
            await self.step()
