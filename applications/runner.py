"""Run one application instance against the bus.

Guarantees:

- the consumer group is the application's name: every instance of one
  application shares the partitions of its topics, and a new instance or a
  dead one triggers a rebalance;
- a batch is committed only after ``Application.handle`` returned; a crash
  before that re-delivers it (at least once);
- a message that does not decode is logged with ``topic[partition]@offset``,
  counted in :attr:`AppRunner.bad_messages` and skipped, so one bad payload
  cannot stall a partition;
- **graceful stop** (:meth:`AppRunner.run` told to stop, ``netfeed app run``
  on SIGTERM/SIGINT): the batch in hand is handled and committed first, within
  ``stop_timeout_s`` of the stop (past it, it is abandoned uncommitted and
  re-delivered to the group's next owner: at least once); then
  :meth:`AppRunner.stop` runs the application's ``stop`` (also within
  ``stop_timeout_s``) and closes the consumer, which leaves the group so the
  other instances take its partitions over at once (bounded too, even with
  the broker away).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from applications.api import AppContext, Application, Batch, Item
from bus.api import AsyncService
from bus.factory import make_consumer
from bus.records import RecordError, decode
from bus.retry import start_patiently
from bus.settings import BusSettings
from bus.topics import subscription_pattern

log = logging.getLogger(__name__)


class AppRunner(AsyncService):
    def __init__(
        self,
        app: Application,
        bus: BusSettings,
        *,
        instance_id: str = "",
        max_records: int = 5000,
        stop_timeout_s: float = 10.0,
    ) -> None:
        self.app = app
        self.bus = bus
        self.instance_id = instance_id or f"{app.name}-{id(self):x}"
        self.max_records = max_records
        self.stop_timeout_s = stop_timeout_s
        self.abandoned = 0  # batches cut by the stop deadline (re-delivered)
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

    async def start_patiently(self, stop: asyncio.Event) -> bool:
        """:meth:`start`, waiting for a broker that is away or refuses the login
        (retried and reported by :func:`bus.retry.start_patiently`) until
        ``stop`` is set.  True once started; False if stopped first."""
        if not await start_patiently(self.consumer.start, stop, f"{self.app.name}: bus"):
            return False
        try:
            await self.app.start(AppContext(self.instance_id, self.bus.topic_prefix, self._owned))
        except BaseException:
            await self.consumer.stop()
            raise
        return True

    async def stop(self) -> None:
        """The application's ``stop`` (cut after ``stop_timeout_s``), then close
        the consumer, leaving the group (bounded by the backend)."""
        try:
            async with asyncio.timeout(self.stop_timeout_s):
                await self.app.stop()
        except TimeoutError:
            log.error(
                "%s: stop did not finish within %.1f s; abandoned",
                self.app.name,
                self.stop_timeout_s,
            )
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
        """Loop until ``stop`` is set or ``duration_s`` has passed.

        A stop is seen between batches, and while a step is in hand: the step
        (fetch, ``handle``, commit) gets ``stop_timeout_s`` from the stop to
        finish; past that it is cancelled, its batch left uncommitted (counted
        in :attr:`abandoned`, logged) for the group to deliver again."""
        end = None if duration_s is None else time.monotonic() + duration_s
        stop = stop if stop is not None else asyncio.Event()
        while not stop.is_set() and (end is None or time.monotonic() < end):
            step = asyncio.ensure_future(self.step())
            halt = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({step, halt}, return_when=asyncio.FIRST_COMPLETED)
            except BaseException:  # the run itself cancelled: no step left behind
                step.cancel()
                raise
            finally:
                halt.cancel()
            if not step.done():  # stopped while a step is in hand: let it finish, bounded
                await asyncio.wait({step}, timeout=self.stop_timeout_s)
            if not step.done():
                step.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await step
                self.abandoned += 1
                log.warning(
                    "%s: the batch in hand was not handled and committed within %.1f s "
                    "of the stop; it will be delivered again",
                    self.app.name,
                    self.stop_timeout_s,
                )
                return
            step.result()  # an error in handle or the bus ends the run
