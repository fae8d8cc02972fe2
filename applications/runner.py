"""Run one application instance against the bus.

Guarantees:

- the consumer group is the application's settings' ``group``, by default
  its name: every instance of one application shares the partitions of its
  topics, and a new instance or a dead one triggers a rebalance;
- a group with no committed position on a partition starts where the
  settings' ``start_from`` says: the earliest message kept, only new ones,
  or the first message at or after a time (replay);
- offsets are committed only once what they cover was handled: after
  ``handle`` returned for the batch, and, for an application with
  ``on_cycle``, never past the first message of a cycle still being
  assembled (:mod:`applications.cycles`); what the application published
  (:class:`~applications.publisher.BusPublisher`) is flushed before the
  commit.  A crash before that re-delivers it (at least once);
- on a rebalance, what was held of partitions this instance lost is dropped
  (their new owner reads it again from the committed position); cycles still
  whole for the partitions it keeps are handed over;
- with ``dedupe``, messages whose record id was already seen in the window
  are dropped before ``handle`` and cycle assembly (counted in
  :attr:`AppRunner.duplicates`);
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
  the broker away).  Cycles still open at a stop are not handed over: their
  messages are uncommitted and read again by the next owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime

from applications.api import AppContext, Application, Batch, Item
from applications.cycles import CycleAssembler, ReadyCycle
from applications.dedupe import SeenIds, header_id
from applications.frames import cycle_frame
from applications.publisher import BusPublisher
from bus.api import AsyncService
from bus.factory import make_consumer
from bus.records import CycleComplete, Record, RecordError, decode, record_id
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
        self.cycles = 0  # cycles handed to on_cycle
        sub = app.subscription
        if not sub.datasets:
            raise ValueError(f"application {app.name}: subscribes to no dataset")
        s = app.settings
        self.group = s.group or app.name
        self.pattern = subscription_pattern(bus.topic_prefix, sub.networks, sub.datasets)
        self.consumer = make_consumer(
            bus,
            group=self.group,
            pattern=self.pattern,
            client_id=self.instance_id,
            from_beginning=s.start_from != "latest",
            start_at_ms=_ms(s.start_from) if isinstance(s.start_from, datetime) else None,
        )
        self.publisher = BusPublisher(bus, f"{self.instance_id}-pub")
        self._seen = SeenIds(s.dedupe_window) if s.dedupe else None
        self._assembler = (
            CycleAssembler(self._owned, s.max_open_cycles) if type(app).wants_cycles() else None
        )
        self._assigned: set[tuple[str, int]] = set()
        self._positions: dict[tuple[str, int], int] = {}  # next offset after what was read
        self._committed: dict[tuple[str, int], int] = {}

    @property
    def duplicates(self) -> int:
        return self._seen.duplicates if self._seen is not None else 0

    def _owned(self, topic: str) -> set[int]:
        return {p for t, p in self.consumer.assignment() if t == topic}

    def _context(self) -> AppContext:
        return AppContext(
            self.instance_id, self.bus.topic_prefix, self._owned, self.publisher, self.bus
        )

    async def start(self) -> None:
        await self.consumer.start()
        await self.app.start(self._context())

    async def start_patiently(self, stop: asyncio.Event) -> bool:
        """:meth:`start`, waiting for a broker that is away or refuses the login
        (retried and reported by :func:`bus.retry.start_patiently`) until
        ``stop`` is set.  True once started; False if stopped first."""
        if not await start_patiently(self.consumer.start, stop, f"{self.app.name}: bus"):
            return False
        try:
            await self.app.start(self._context())
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
            try:
                async with asyncio.timeout(self.stop_timeout_s):
                    await self.publisher.stop()
            except Exception as exc:  # the consumer still closes: the group must move on
                log.error("%s: publisher stop failed: %s", self.app.name, exc)
            await self.consumer.stop()

    async def step(self, timeout_ms: int = 500) -> int:
        """Fetch, handle and commit one batch; returns the number of messages."""
        msgs = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=self.max_records)
        self._rebalanced()
        if not msgs:
            if self._assembler is not None and self._assembler.open_count():
                await self._hand_over()  # a rebalance may have made held cycles whole
                await self._commit()
            return 0
        batch = Batch()
        items = batch.items
        seen = self._seen
        if self._assembler is not None:  # (only cycle assembly commits explicit offsets)
            positions = self._positions
            for m in msgs:
                positions[(m.topic, m.partition)] = m.offset + 1
        for m in msgs:
            try:
                msg = decode(m.value)  # (where it came from is formatted only on error)
            except RecordError as exc:
                self.bad_messages += 1
                where = f"{m.topic}[{m.partition}]@{m.offset}"
                log.error("%s: skipped: %s", self.app.name, str(exc).replace("payload", where, 1))
                continue
            if seen is not None and not seen.first_time(header_id(m) or record_id(msg)):
                continue
            items.append(Item(msg, m.topic, m.partition, m.offset))
        await self.app.handle(batch)
        if self._assembler is not None:
            add_record, add_marker = self._assembler.add_record, self._assembler.add_marker
            for it in items:
                msg = it.message
                if isinstance(msg, Record):
                    add_record(it.topic, it.partition, it.offset, msg)
                elif isinstance(msg, CycleComplete):
                    add_marker(it.topic, it.partition, it.offset, msg)
            await self._hand_over()
        await self._commit()
        self.handled += len(items)
        self.batches += 1
        return len(msgs)

    def _rebalanced(self) -> None:
        now = self.consumer.assignment()
        lost = self._assigned - now
        self._assigned = now
        if not lost:
            return
        for tp in lost:
            self._positions.pop(tp, None)
            self._committed.pop(tp, None)
        if self._assembler is not None:
            dropped = self._assembler.drop_partitions(lost)
            if self._seen is not None:  # read again by whoever owns them next: maybe us
                for msg in dropped:
                    self._seen.forget(record_id(msg))

    async def _hand_over(self) -> None:
        """Every ready cycle to ``on_cycle``, oldest first.  If one raises, what
        was handed over before it is committed (nothing from the failing cycle
        on), then the error ends the run."""
        assert self._assembler is not None
        ready = self._assembler.ready()
        for i, c in enumerate(ready):
            try:
                await self._on_cycle(c)
            except BaseException:
                held: dict[tuple[str, int], int] = {}
                for r in ready[i:]:
                    for p, off in r.first_offset.items():
                        tp = (r.topic, p)
                        held[tp] = min(off, held.get(tp, off))
                with contextlib.suppress(Exception):
                    await self._commit(held)
                raise

    async def _on_cycle(self, c: ReadyCycle) -> None:
        network, dataset = _network_dataset(c, self.bus.topic_prefix)
        frame = cycle_frame(c.records, dataset)
        frame.attrs.update(
            marker=c.marker,
            cycle_id=c.cycle_id,
            topic=c.topic,
            partitions=c.partitions,
            complete=c.complete,
        )
        await self.app.on_cycle(network, dataset, frame)
        self.cycles += 1

    async def _commit(self, also_held: dict[tuple[str, int], int] | None = None) -> None:
        await self.publisher.flush()
        if self._assembler is None:
            await self.consumer.commit()
            return
        hold = self._assembler.hold()
        for tp, off in (also_held or {}).items():
            hold[tp] = min(off, hold.get(tp, off))
        offsets = {}
        for tp, pos in self._positions.items():
            off = min(pos, hold.get(tp, pos))
            if self._committed.get(tp) != off:
                offsets[tp] = off
        if offsets:
            await self.consumer.commit(offsets)
            self._committed.update(offsets)

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


def _ms(t: datetime) -> int:
    """Unix ms of ``t``; a time without a zone is taken as UTC."""
    return int((t if t.tzinfo is not None else t.replace(tzinfo=UTC)).timestamp() * 1000)


def _network_dataset(c: ReadyCycle, prefix: str) -> tuple[str, str]:
    if c.marker is not None:
        return c.marker.network, c.marker.dataset
    if c.records:
        return c.records[0].network, c.records[0].dataset
    network, _, dataset = c.topic.removeprefix(prefix + ".").rpartition(".")
    return network, dataset
