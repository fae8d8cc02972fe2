"""The embedded bus: a server-less log in one SQLite file, shared by the
processes of one host, with the semantics of :mod:`bus.api`.

Guarantees (beyond those in :mod:`bus.api`):

- **Durability**: :meth:`EmbeddedProducer.flush` returns once every message
  sent before it is committed with ``synchronous=FULL`` in WAL mode: it
  survives a crash of the process (``kill -9``) *and* of the OS or power,
  as do committed consumer offsets.  Batching keeps that at one fsync per
  few thousand messages.  Unflushed messages die with their process.
- **Offsets** are dense and increasing per partition, also with several
  producer processes writing one topic: each batch takes SQLite's write lock
  (``BEGIN IMMEDIATE``) before reading the partition's next offset.
- **Partitioning**: by key with :func:`bus.partitioner.partition_for`, as
  Kafka does, so a key lands on the same partition number on either bus;
  keyless messages go round-robin.  As on Kafka without topic
  auto-creation, sending to a topic nobody created with
  :meth:`EmbeddedProducer.ensure_topic` raises :class:`BusError`.
- **Groups**: members heartbeat into the file; a member whose session expired
  (``session_timeout_ms`` without a heartbeat) is ignored, and its partitions
  are taken over by the survivors on their next poll.  Assignment is
  round-robin over the sorted (topic, partition) list and the sorted live
  member ids, as Kafka's RoundRobinAssignor, so every member computes the same
  answer.  A partition newly acquired starts at the group's committed offset
  (else the beginning or the end, per ``from_beginning``).  A member that
  heartbeats but stops polling keeps its partitions: there is no equivalent of
  Kafka's ``max.poll.interval.ms``.
- **Retention**: producers delete, every few minutes, the start of each
  partition's log older than ``retention_hours``; a consumer whose position was
  deleted continues at the oldest kept message.

Where it stops serving:

- **One host only.**  WAL mode needs shared memory between the processes;
  SQLite over a network filesystem (NFS, SMB) is not safe and may corrupt the
  file.  Processes on several hosts need Kafka.
- **One writer at a time.**  All producers, commits and heartbeats share
  SQLite's single write lock, so write throughput does not grow with more
  producers (measured on a 2-core VM, 300-byte messages: ~130-150k/s
  send+flush from one process, ~130k/s total from two; ~340k/s
  getmany+commit).  Waiting writers poll for the lock (SQLite's busy
  handler), so under saturation a writer may wait long; past
  ``BUSY_TIMEOUT_MS`` it gets :class:`BusError`.  Beyond that, or when you
  need replication or more than one host: Kafka.
- The file grows to hold ``retention_hours`` of traffic; deleted pages are
  reused, not returned to the filesystem.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence

import msgspec

from bus.api import AsyncService, BusError, BusMessage
from bus.embedded_groups import TP, Subscription, assign, fair_quotas, regex
from bus.embedded_store import ReadRow, Row, Store, Worker
from bus.partitioner import KeyPartitioner
from bus.settings import BusSettings

log = logging.getLogger(__name__)

_BATCH_ROWS = 5_000  # one transaction per batch: amortises the fsync and the lock
_BATCH_BYTES = 4 << 20
_MAX_PENDING = 4  # batches queued on the writer thread before send() waits
_LINGER_S = 0.01  # a lone message is written this long after send(), as Kafka's linger
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")  # Kafka's legal topic names

_headers_decoder = msgspec.msgpack.Decoder(list[tuple[str, bytes]])


def _now_ms() -> int:
    # Wall clock, not monotonic: heartbeats and timestamps are compared across processes.
    return time.time_ns() // 1_000_000


def _check_topic(topic: str) -> None:
    if not _TOPIC.match(topic) or topic in (".", ".."):
        raise BusError(f"illegal topic name {topic!r}: letters, digits, '.', '_', '-' only")


class EmbeddedProducer(AsyncService):
    """Producer on the embedded bus; see the module docstring for its guarantees.

    ``send`` buffers; batches are written by a dedicated thread, one transaction
    each, when a batch fills, ``_LINGER_S`` after the first buffered message,
    or on ``flush``.  ``send`` waits when ``_MAX_PENDING`` batches are queued.
    """

    def __init__(self, settings: BusSettings, *, client_id: str = "netfeed") -> None:
        self._cfg = settings.embedded
        self._client_id = client_id
        self._worker: Worker | None = None
        self._topics: dict[str, tuple[int, int]] = {}  # name -> (topic_id, partitions)
        self._rr: dict[str, int] = {}
        self._keys = KeyPartitioner(100_000)
        self._buf: list[Row] = []
        self._buf_bytes = 0
        self._pending: deque[asyncio.Future[None]] = deque()
        self._failed: list[Row] = []  # owned by the writer thread: retried first, in order
        self._linger: asyncio.TimerHandle | None = None
        self._retention: asyncio.Task[int] | None = None
        self._retention_stop = threading.Event()
        self._next_retention = 0.0
        # Often enough that a file holds little more than retention_hours.
        self._retention_every = min(300.0, max(1.0, self._cfg.retention_hours * 360.0))

    async def start(self) -> None:
        if self._worker is None:
            self._retention_stop.clear()
            worker = Worker(self._cfg.path, f"bus-producer-{self._client_id}")
            await worker.open()
            self._worker = worker
            self._next_retention = time.monotonic() + min(10.0, self._retention_every)

    async def stop(self) -> None:
        """Flush, then close; raises :class:`BusError` if the flush failed."""
        if self._worker is None:
            return
        try:
            await self.flush()
        finally:
            self._retention_stop.set()
            if self._retention is not None:
                await asyncio.wait({self._retention})
            await self._worker.close()
            self._worker = None

    def _live(self) -> Worker:
        if self._worker is None:
            raise BusError("embedded producer is not started")
        return self._worker

    async def ensure_topic(
        self, topic: str, *, compact: bool = False, partitions: int | None = None
    ) -> int:
        # ``compact`` is accepted for the interface's sake: the embedded bus
        # keeps every message until retention, and readers of a state topic
        # take the latest message per key (bus.api.Producer.ensure_topic).
        known = self._topics.get(topic)
        if known is None:
            _check_topic(topic)
            known = await self._live().run(
                self._store().ensure_topic, topic, partitions or self._cfg.partitions, _now_ms()
            )
            self._topics[topic] = known
        return known[1]

    async def _existing(self, topic: str) -> tuple[int, int]:
        # Like Kafka with auto.create.topics.enable=false (production): sending
        # to a topic nobody created is an error, not a silent creation.
        known = await self._live().run(self._store().topic, topic)
        if known is None:
            raise BusError(
                f"embedded bus {self._cfg.path}: topic {topic!r} does not exist"
                " (create it with ensure_topic)"
            )
        self._topics[topic] = known
        return known

    def _store(self) -> Store:
        store = self._live().store
        assert store is not None
        return store

    async def send(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        partition: int | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        tid, n = self._topics.get(topic) or await self._existing(topic)
        if not isinstance(value, bytes):
            raise TypeError(f"value must be bytes, not {type(value).__name__}")
        if partition is not None:
            if not 0 <= partition < n:
                raise BusError(f"topic {topic!r} has {n} partitions, not partition {partition}")
        elif key is not None:
            partition = self._keys.partition(key, n)
        else:
            partition = self._rr.get(topic, 0) % n
            self._rr[topic] = partition + 1
        hdr = msgspec.msgpack.encode([(k, bytes(v)) for k, v in headers]) if headers else None
        # Wait for room before queueing, so a send that raises has queued nothing.
        while len(self._pending) >= _MAX_PENDING:
            oldest = self._pending[0]
            await asyncio.wait({oldest})
            if self._pending and self._pending[0] is oldest:
                self._pending.popleft()
            if exc := oldest.exception():
                raise BusError(f"embedded bus {self._cfg.path}: write failed: {exc}") from exc
        self._buf.append((tid, partition, key, value, hdr, _now_ms()))
        self._buf_bytes += len(value) + 64
        if len(self._buf) >= _BATCH_ROWS or self._buf_bytes >= _BATCH_BYTES:
            self._submit()
        elif self._linger is None:
            self._linger = asyncio.get_running_loop().call_later(_LINGER_S, self._submit)

    def _submit(self) -> asyncio.Future[None]:
        """Hand the buffer to the writer thread (also when empty: retries failures)."""
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        batch, self._buf, self._buf_bytes = self._buf, [], 0
        fut = self._live().submit(self._write, batch)
        fut.add_done_callback(_retrieve)
        while self._pending and self._pending[0].done():
            self._pending.popleft()
        self._pending.append(fut)
        if time.monotonic() >= self._next_retention and self._retention is None:
            self._next_retention = time.monotonic() + self._retention_every
            self._retention = asyncio.get_running_loop().create_task(self._retain())
        return fut

    def _write(self, batch: list[Row]) -> None:
        # Runs on the writer thread.  A failed batch is kept and written ahead of
        # the next one, so order holds and nothing is dropped silently.
        rows = self._failed + batch if self._failed else batch
        self._failed = []
        if not rows:
            return
        try:
            self._store().append(rows)
        except BaseException:
            self._failed = rows
            raise

    async def flush(self) -> None:
        worker = self._live()
        if not self._buf and not self._pending and not self._failed:
            return
        last = self._submit()
        # The writer thread runs batches in order: the last one done means all are.
        await asyncio.wait({last})
        while self._pending and self._pending[0].done():
            self._pending.popleft()
        if exc := last.exception():
            raise BusError(f"embedded bus {worker.path}: flush failed: {exc}") from exc

    async def run_retention(self) -> int:
        """Delete messages older than ``retention_hours`` now; return how many.

        Runs on its own connection and thread so sends go on meanwhile.
        """
        self._live()
        worker = Worker(self._cfg.path, f"bus-retention-{self._client_id}")
        store = await worker.open()
        try:
            cutoff = _now_ms() - int(self._cfg.retention_hours * 3_600_000)
            return await worker.run(store.expire, cutoff, self._retention_stop)
        finally:
            await worker.close()

    async def _retain(self) -> int:
        try:
            deleted = await self.run_retention()
            log.debug("embedded bus %s: retention deleted %d messages", self._cfg.path, deleted)
            return deleted
        except BusError as exc:
            log.warning("%s (retention will be retried)", exc)
            return 0
        finally:
            self._retention = None


def _retrieve(fut: asyncio.Future[None]) -> None:
    # Errors are reported by flush()/send(); mark them seen so asyncio does not log them.
    if not fut.cancelled():
        fut.exception()


class EmbeddedConsumer(AsyncService):
    """Consumer on the embedded bus; see the module docstring for its guarantees.

    Every :meth:`getmany` re-reads the topic list and the group's live members
    and recomputes the assignment (a few small queries), so new topics and
    members' arrivals, departures and deaths take effect on the next poll.
    """

    def __init__(
        self,
        settings: BusSettings,
        *,
        group: str | None,
        topics: list[str] | None = None,
        pattern: str | None = None,
        client_id: str = "netfeed",
        from_beginning: bool = True,
        start_at_ms: int | None = None,
    ) -> None:
        if (topics is None) == (pattern is None):
            raise ValueError("give exactly one of topics or pattern")
        self._start_at_ms = start_at_ms
        self._cfg = settings.embedded
        self._group = group
        self._sub = (
            Subscription(topics=frozenset(topics))
            if topics is not None
            else Subscription(None, pattern)
        )
        if pattern is not None:
            regex(pattern)  # a bad regex fails here, not in the first poll
        self._client_id = client_id
        self._from_beginning = from_beginning
        self.member_id = f"{client_id}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._worker: Worker | None = None
        self._assignment: frozenset[TP] = frozenset()
        self._positions: dict[TP, int] = {}  # next offset to read, per owned partition
        self._uncommitted: dict[TP, int] = {}
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._turn = 0

    async def start(self) -> None:
        if self._worker is not None:
            return
        worker = Worker(self._cfg.path, f"bus-consumer-{self._client_id}")
        store = await worker.open()
        self._worker = worker
        if self._group is not None:
            await worker.run(self._heartbeat_once, store)
            self._heartbeat_task = asyncio.get_running_loop().create_task(self._heartbeat())
        await self._poll(0)  # take the initial assignment and positions

    async def stop(self) -> None:
        if self._worker is None:
            return
        worker, self._worker = self._worker, None
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            await asyncio.wait({self._heartbeat_task})
            self._heartbeat_task = None
        try:
            if self._group is not None and worker.store is not None:
                # Leaving deletes our row, so the others take over on their next poll.
                await worker.run(worker.store.leave, self._group, self.member_id)
        finally:
            await worker.close()
            self._assignment = frozenset()
            self._positions.clear()
            self._uncommitted.clear()

    def assignment(self) -> set[tuple[str, int]]:
        return set(self._assignment)

    def _live(self) -> tuple[Worker, Store]:
        if self._worker is None or self._worker.store is None:
            raise BusError("embedded consumer is not started")
        return self._worker, self._worker.store

    def _heartbeat_once(self, store: Store) -> None:
        assert self._group is not None
        store.heartbeat(
            self._group,
            self.member_id,
            self._sub.to_json(),
            _now_ms(),
            self._cfg.session_timeout_ms,
        )

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self._cfg.heartbeat_interval_ms / 1000)
            try:
                worker, store = self._live()
                await worker.run(self._heartbeat_once, store)
            except BusError as exc:
                # Missing a beat is survivable: the session outlasts several.
                log.warning("%s (heartbeat of %s)", exc, self.member_id)

    def _owned(self, store: Store, topics: dict[str, tuple[int, int]], now_ms: int) -> set[TP]:
        sizes = {name: n for name, (_, n) in topics.items()}
        if self._group is None:
            return {(t, p) for t, n in sizes.items() if self._sub.matches(t) for p in range(n)}
        members = store.live_members(self._group, now_ms)
        subs = {m: Subscription.from_json(s) for m, s in members.items()}
        # A member whose own session expired owns nothing, exactly as the others see it.
        return assign(subs, sizes).get(self.member_id, set())

    def _poll_sync(
        self, positions: dict[TP, int], limit: int, turn: int
    ) -> tuple[frozenset[TP], dict[TP, int], list[BusMessage]]:
        # Runs on the worker thread and only returns results: the loop applies
        # them, so a getmany cancelled mid-poll moves no position.
        _, store = self._live()
        with store.read_txn():
            topics = store.topics()
            owned = self._owned(store, topics, _now_ms())
            hw = store.high_water()
            pos: dict[TP, int] = {}
            for tp in owned:
                if tp in positions:
                    pos[tp] = positions[tp]
                    continue
                tid = topics[tp[0]][0]
                got = None if self._group is None else store.committed(self._group, tid, tp[1])
                if got is None and self._start_at_ms is not None:
                    got = store.offset_for_time(tid, tp[1], self._start_at_ms)
                    if got is None:  # nothing at or after the time yet: from the end
                        got = hw.get((tid, tp[1]), 0)
                if got is None:
                    got = 0 if self._from_beginning else hw.get((tid, tp[1]), 0)
                pos[tp] = got
            avail = {
                tp: n for tp in owned if (n := hw.get((topics[tp[0]][0], tp[1]), 0) - pos[tp]) > 0
            }
            out: list[BusMessage] = []
            for tp, quota in fair_quotas(avail, limit, turn).items():
                if quota <= 0:
                    continue
                rows = store.read(topics[tp[0]][0], tp[1], pos[tp], quota)
                if rows:
                    out.extend(_messages(tp, rows))
                    pos[tp] = rows[-1][0] + 1
                else:  # [pos, high water) was deleted by retention: skip the gap
                    pos[tp] = hw[(topics[tp[0]][0], tp[1])]
        return frozenset(owned), pos, out

    async def _poll(self, limit: int) -> list[BusMessage]:
        worker, _ = self._live()
        self._turn += 1
        owned, pos, msgs = await worker.run(
            self._poll_sync, dict(self._positions), limit, self._turn
        )
        self._assignment, self._positions = owned, pos
        for tp in [tp for tp in self._uncommitted if tp not in owned]:
            del self._uncommitted[tp]  # lost it: the new owner re-reads from the commit
        for m in msgs:
            self._uncommitted[(m.topic, m.partition)] = m.offset + 1
        return msgs

    async def getmany(self, timeout_ms: int = 1000, max_records: int = 10_000) -> list[BusMessage]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0, timeout_ms) / 1000
        while True:
            msgs = await self._poll(max_records)
            left = deadline - loop.time()
            if msgs or left <= 0:
                return msgs
            await asyncio.sleep(min(left, self._cfg.poll_interval_ms / 1000))

    async def commit(self, offsets: dict[TP, int] | None = None) -> None:
        """Commit positions after the last messages returned (or ``offsets``:
        partition -> next offset to read), for partitions this member still
        owns when the commit runs (checked in the same transaction)."""
        if self._group is None:
            return
        if offsets is None:
            offsets = dict(self._uncommitted)
        if not offsets:
            return
        worker, _ = self._live()
        done = await worker.run(self._commit_sync, offsets)
        for tp in done:
            if self._uncommitted.get(tp) == offsets[tp]:
                del self._uncommitted[tp]

    def _commit_sync(self, offsets: dict[TP, int]) -> list[TP]:
        assert self._group is not None
        _, store = self._live()
        now = _now_ms()
        with store.write_txn():
            topics = store.topics()
            owned = self._owned(store, topics, now)
            done = [tp for tp in offsets if tp in owned]
            rows = [(topics[t][0], p, offsets[(t, p)]) for t, p in done]
            store.commit_offsets(self._group, self.member_id, rows, now)
        return done


def _messages(tp: TP, rows: list[ReadRow]) -> list[BusMessage]:
    topic, part = tp
    return [
        BusMessage(
            topic,
            part,
            off,
            key,
            value,
            ts,
            tuple(_headers_decoder.decode(hdr)) if hdr is not None else (),
        )
        for off, key, value, hdr, ts in rows
    ]
