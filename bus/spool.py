"""A bounded, durable, ordered spool between a collector's publisher and Kafka.

The collector appends each device's records (and each cycle's marker) to the
spool and goes on polling: it never waits on the broker.  A background
drainer reads the spool oldest-first, sends what it read as batched produce
requests (:meth:`bus.kafka.KafkaProducer.send_batches`, one record batch per
partition at a time) and deletes it once the broker acknowledged all of it.

Guarantees:

- **Durability**: :meth:`Spool.append` returns once its messages are
  committed to a SQLite file in WAL mode (``<path>/<instance>.sqlite3``,
  ``synchronous=NORMAL``): they survive the process being killed (SIGKILL)
  at any moment and are sent after the next start.  (Not an OS crash or power
  loss of the last second or so: that needs ``synchronous=FULL``'s fsync per
  append.)
- **Ordering**: messages are sent in the order they were appended, per
  partition (the key's partition by :func:`bus.partitioner.partition_for`,
  Kafka's default murmur2 partitioner, so keyed order is the same as with
  per-message sends).  A cycle marker appended with :meth:`Spool.append_marker`
  after its records is sent to *every* partition after them, and only once
  everything before it was acknowledged: the marker still follows its
  records, also when a round before it had to be retried.
- **Delivery**: at least once.  Messages are deleted only after the broker
  acknowledged every message of the round that carried them; a round that
  failed (or was interrupted by a stop or a kill) is sent again, whole, so a
  consumer may see a message twice: it drops duplicates by the record id
  header (:data:`bus.records.RECORD_ID_HEADER`).  The Kafka producer stays
  idempotent within one connection's life.
- **Bound and drops**: the spool holds at most ``max_octets`` of payload.
  Past it the *oldest* messages are deleted, counted (:attr:`SpoolStats`)
  and logged (one warning when dropping starts, the totals when the broker is
  back): never silently.
- **Broker state**: a round not acknowledged within ``send_timeout_ms`` (a
  stopped, unreachable or frozen broker) logs one warning with the spool's
  depth (and a status line every five minutes while it lasts); the first
  acknowledged round after it logs one line with the outage's length,
  retries, messages spooled meanwhile and drops.  aiokafka's own per-attempt warnings are
  rate-limited (:class:`QuietKafkaLogs`).
- **Refused login**: a broker that refuses the producer's login (wrong SASL
  password, user or mechanism; a TLS certificate not trusted) is said plainly,
  as an ERROR naming the listener, mechanism and user (never the password):
  the first at once (the drainer connects as it starts, before anything is
  spooled), then at most one a minute while it lasts.  The data stays in the
  spool and collection goes on; the login is retried at a slow bounded backoff
  (:data:`bus.retry.REFUSED_BACKOFF_S`, at most a minute apart), reading the
  password afresh each time, so a secret fixed in its file is used by the next
  attempt or the next start and the spool is sent.
- **Stop**: :meth:`Spool.stop` drains for at most ``stop_timeout_ms`` (less
  when the broker is known down), then stops the drainer and the producer
  (bounded too); what was not acknowledged stays in the file for the next
  start.

The file also holds the collector's journal of open cycles
(:mod:`collectors.journal`): :meth:`Spool.append` and
:meth:`Spool.append_marker` take its writes and commit them in the same
transaction as the chunk, so the journal never disagrees with the spool.

The embedded bus does not use a spool: it is itself a local SQLite file, so
"the broker" cannot be away; its producer is written to directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from bus.api import AsyncService, BusError, BusRefused
from bus.partitioner import KeyPartitioner
from bus.records import RECORD_ID_HEADER, CycleComplete, decode, encode, record_id
from bus.retry import REFUSED_BACKOFF_S, QuietKafkaLogs
from bus.settings import SpoolSettings
from bus.spool_status import BrokerStatus, SpoolStats
from bus.spool_store import Append, Chunk, Journal, Message, SpoolStore, SpoolWorker

__all__ = ["Chunk", "Message", "QuietKafkaLogs", "Spool", "SpoolStats", "SpoolStore", "spool_path"]

log = logging.getLogger(__name__)

_IN_FLIGHT = 3  # drain rounds submitted ahead of the oldest unacknowledged one
_BACKOFF_S = (0.5, 1.0, 2.0, 5.0)  # between failed rounds
_READ_PIECE = 2_000  # messages per read call: an append waits for at most one


@dataclass(slots=True)
class _AppendGroup:
    items: list[Append] = field(default_factory=list)
    done: asyncio.Future[tuple[int, int]] | None = None


def spool_path(settings: SpoolSettings, instance: str) -> Path:
    """``<settings.path>/<instance>.sqlite3`` (``instance`` made file-name safe)."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in instance) or "collector"
    return settings.path / f"{safe}.sqlite3"


class Spool(AsyncService):
    """The spool file plus its drainer; see the module docstring for the guarantees.

    ``producer`` is not started by the caller: the drainer starts it (and
    restarts it after a failed round), so collection starts while the broker
    is down.  :meth:`stop` stops the producer too.
    """

    def __init__(self, settings: SpoolSettings, path: Path, producer: Any) -> None:
        self.settings = settings
        self.path = path
        self.producer = producer
        self.stats = SpoolStats()
        self._store = SpoolStore(path, settings.max_octets)
        # One thread owns the SQLite connection: appends and drain rounds are
        # serialised and the event loop never blocks on the file.
        self._pool: SpoolWorker | None = None
        self._group: _AppendGroup | None = None  # appends waiting for the worker
        self._group_lock = threading.Lock()
        self._wake = asyncio.Event()  # something was appended (or stop)
        self._progress = asyncio.Event()  # a drain round ended
        self._task: asyncio.Task[None] | None = None
        self._started = False
        self._partitions: dict[str, int] = {}
        self._keys = KeyPartitioner()
        self._quiet = QuietKafkaLogs()
        self._status = BrokerStatus(self.stats, self._quiet)
        self._dropping = False
        self._stopping = False

    # --- life cycle -----------------------------------------------------------

    async def _run(self, fn: Any, *args: Any, urgent: bool = False) -> Any:
        if self._pool is None:
            raise BusError(f"spool {self.path} is not started")
        return await asyncio.wrap_future(self._pool.submit(fn, *args, urgent=urgent))

    async def start(self) -> None:
        if self._pool is not None:
            return
        self._pool = SpoolWorker()
        try:
            await self._run(self._store.open)
        except sqlite3.Error as exc:
            self._pool.shutdown()
            self._pool = None
            raise BusError(f"spool {self.path}: cannot open: {exc}") from exc
        self._sync_depth()
        if self.stats.depth:
            log.info(
                "spool %s: %d messages (%.1f MiB) left by an earlier run; sending them first",
                self.path,
                self.stats.depth,
                self.stats.octets / 2**20,
            )
        self._quiet.install()
        self._stopping = False
        self._task = asyncio.create_task(self._drain(), name="spool-drainer")

    async def stop(self, timeout_s: float | None = None) -> None:
        """Drain for at most ``timeout_s`` (default ``stop_timeout_ms``), then stop
        the drainer and the producer; what is left stays in the file."""
        if self._pool is None:
            return
        if timeout_s is None:
            timeout_s = self.settings.stop_timeout_ms / 1000
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        self._stopping = True
        self._wake.set()
        while (
            self.stats.depth > 0
            and self.stats.broker_up is not False
            and self._task is not None
            and not self._task.done()
            and loop.time() < deadline
        ):
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(deadline - loop.time(), 0)):
                    await self._progress.wait()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        stop = getattr(self.producer, "abort", None) or self.producer.stop
        with contextlib.suppress(Exception):
            async with asyncio.timeout(max(deadline - loop.time(), 0) + 6):
                await stop()
        await self._run(self._store.close)
        self._pool.shutdown()
        self._pool = None
        self._quiet.remove()
        if self.stats.depth:
            log.warning(
                "spool %s: stopped with %d messages (%.1f MiB) not yet acknowledged; "
                "they are sent after the next start",
                self.path,
                self.stats.depth,
                self.stats.octets / 2**20,
            )

    # --- appending ------------------------------------------------------------

    async def append(self, messages: Sequence[Message], journal: Journal | None = None) -> None:
        """Spool ``(topic, key, value, headers)`` messages, in order; returns once
        they are in the file (with ``journal``'s writes, same transaction).
        Never waits for the broker."""
        if messages:
            await self._append(messages, False, journal)
        elif journal is not None:
            await self.run_in_db(journal)

    async def append_marker(
        self, topic: str, marker: CycleComplete, journal: Journal | None = None
    ) -> None:
        """Spool ``marker``, to be sent to every partition of ``topic`` after
        everything appended before it (``partition``/``partitions`` filled in
        when it is sent); ``journal``'s writes in the same transaction."""
        await self._append([(topic, None, encode(marker), [])], True, journal)

    async def run_in_db(self, op: Journal) -> None:
        """Run ``op`` in one transaction of the spool's file (the collector's
        journal of open cycles lives there: :mod:`collectors.journal`)."""
        try:
            await self._run(self._store.run, op, urgent=True)
        except sqlite3.Error as exc:
            raise BusError(f"spool {self.path}: cannot write the cycle journal: {exc}") from exc

    async def _append(
        self, messages: Sequence[Message], marker: bool, journal: Journal | None = None
    ) -> None:
        """Group commit: appends made while the worker is busy join one group,
        committed in one transaction when the worker gets to it (in append
        order; a group is closed once the worker has taken it)."""
        if self._pool is None:
            raise BusError(f"spool {self.path} is not started")
        now = int(time.time() * 1000)
        with self._group_lock:
            group, first = self._group, False
            if group is None:
                group = self._group = _AppendGroup()
                first = True
            group.items.append((messages, marker, now, journal))
        if first:
            group.done = asyncio.wrap_future(self._pool.submit(self._commit, group, urgent=True))
        assert group.done is not None
        try:
            dropped, dropped_octets = await asyncio.shield(group.done)
        except sqlite3.Error as exc:
            raise BusError(f"spool {self.path}: cannot append: {exc}") from exc
        self.stats.appended += len(messages)
        self._sync_depth()
        if not first:
            dropped = 0  # the group's drops are counted once, by its first append
        if dropped:
            self.stats.dropped += dropped
            self.stats.dropped_octets += dropped_octets
            self._status.down_dropped += dropped
            if not self._dropping:
                self._dropping = True
                log.warning(
                    "spool %s: full (%d bytes): dropping the oldest messages (%d so far); "
                    "the total is logged when the broker is back",
                    self.path,
                    self.settings.max_octets,
                    self.stats.dropped,
                )
        self._wake.set()

    def _commit(self, group: _AppendGroup) -> tuple[int, int]:
        """(Worker thread.)  Close ``group`` to newcomers and commit it."""
        with self._group_lock:
            if self._group is group:
                self._group = None
        return self._store.append_many(group.items)

    def partitions(self, topic: str) -> int | None:
        """Partition count of ``topic`` once the drainer has learnt it."""
        return self._partitions.get(topic)

    def _sync_depth(self) -> None:
        self.stats.depth = self._store.depth
        self.stats.octets = self._store.octets

    # --- draining -------------------------------------------------------------

    async def _drain(self) -> None:
        """Read, submit, await acks, delete: up to :data:`_IN_FLIGHT` rounds are
        submitted ahead of the oldest unacknowledged one (the producer keeps
        them in order per partition), except that a round holding a marker
        waits until every earlier round is acknowledged; a failure anywhere
        restarts from the oldest unacknowledged message."""
        failures = 0
        timeout_s = self.settings.send_timeout_ms / 1000
        inflight: deque[tuple[int, int, asyncio.Future[Any]]] = deque()  # last seq, n, acks
        cursor = 0  # last seq submitted
        held: list[Chunk] = []  # read, waiting for the rounds before it (a marker)
        while True:
            self._wake.clear()
            t0 = time.monotonic()
            try:
                if not self._started and not self._stopping:
                    # Connect before anything needs sending: a refused login
                    # or an unreachable broker is reported at start.
                    await self.producer.start()
                    self._started = True
                while len(inflight) < _IN_FLIGHT:
                    rows: list[Chunk] = held or await self._read_round(cursor)
                    held = []
                    if not rows:
                        break
                    if inflight and any(c.marker for c in rows):
                        # A marker goes out only once everything before it was
                        # acknowledged: were an earlier round to fail after the
                        # marker's round got through, a consumer would see the
                        # marker before (the retry of) its records.
                        held = rows
                        break
                    async with asyncio.timeout(timeout_s):
                        n, acks = await self._submit_round(rows)
                    inflight.append((rows[-1].seq, n, acks))
                    cursor = rows[-1].seq
                if not inflight:
                    self._dropping = False
                    if self._stopping:
                        self._progress.set()
                        return
                    await self._wake.wait()
                    continue
                seq, n, acks = inflight[0]
                async with asyncio.timeout(timeout_s):
                    await acks
            except Exception as exc:
                if not isinstance(exc, (BusError, TimeoutError, OSError)):
                    log.exception("spool %s: drain round failed", self.path)
                failures += 1
                for _, _, f in inflight:
                    f.cancel()
                    with contextlib.suppress(BaseException):
                        await f
                inflight.clear()
                held = []
                cursor = 0
                self._status.failed(exc, time.monotonic() - t0)
                with contextlib.suppress(Exception):
                    await (getattr(self.producer, "abort", None) or self.producer.stop)()
                self._started = False
                self._progress.set()
                steps = REFUSED_BACKOFF_S if isinstance(exc, BusRefused) else _BACKOFF_S
                await asyncio.sleep(steps[min(failures - 1, len(steps) - 1)])
                continue
            failures = 0
            inflight.popleft()
            await self._run(self._store.delete_through, seq)
            self.stats.sent += n
            self.stats.rounds += 1
            self.stats.round_s += time.monotonic() - t0
            self._sync_depth()
            self._status.up()
            self._progress.set()

    async def _read_round(self, after: int) -> list[Chunk]:
        """Chunks after ``after`` holding up to ``drain_batch`` messages (at least
        one chunk if any), read in pieces of :data:`_READ_PIECE` messages so an
        append never waits long behind a read of the backlog."""
        rows: list[Chunk] = []
        n, limit = 0, self.settings.drain_batch
        while n < limit:
            piece = await self._run(self._store.read_after, after, min(_READ_PIECE, limit - n))
            if not piece:
                break
            rows.extend(piece)
            n += sum(len(c.messages) for c in piece)
            after = piece[-1].seq
        return rows

    async def _submit_round(self, rows: list[Chunk]) -> tuple[int, asyncio.Future[Any]]:
        """Queue ``rows`` (keyed by partition, markers to every partition) on the
        producer, in order; returns how many messages and a future of their acks."""
        if not self._started:
            await self.producer.start()
            self._started = True
        groups: dict[
            tuple[str, int],
            list[tuple[bytes | None, bytes, Sequence[tuple[str, bytes]], int | None]],
        ] = {}
        n = 0
        keys = self._keys
        for c in rows:
            ts = c.ts_ms
            for topic, key, value, headers in c.messages:
                parts = self._partitions.get(topic)
                if parts is None:
                    parts = self._partitions[topic] = await self.producer.ensure_topic(topic)
                if c.marker:
                    m = decode(value)
                    assert isinstance(m, CycleComplete)
                    for p in range(parts):
                        copy = msgspec.structs.replace(m, partition=p, partitions=parts)
                        hdr = ((RECORD_ID_HEADER, record_id(copy).encode()),)
                        groups.setdefault((topic, p), []).append((None, encode(copy), hdr, ts))
                        n += 1
                    continue
                if key is None:
                    p = (c.seq + n) % parts
                else:
                    p = keys.partition(key, parts)
                g = groups.get((topic, p))
                if g is None:
                    g = groups[(topic, p)] = []
                g.append((key, value, headers, ts))
                n += 1
        batches = [(t, p, msgs) for (t, p), msgs in groups.items()]
        submit = getattr(self.producer, "submit_batches", None)
        if submit is not None:
            return n, await submit(batches)
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await _send_generic(self.producer, batches)
        done.set_result(None)
        return n, done


async def _send_generic(
    producer: Any,
    batches: Sequence[
        tuple[
            str, int, Sequence[tuple[bytes | None, bytes, Sequence[tuple[str, bytes]], int | None]]
        ]
    ],
) -> None:
    """Per-message send + flush, for producers without ``send_batches``."""
    for topic, partition, messages in batches:
        for key, value, headers, _ts in messages:
            await producer.send(topic, value, key=key, partition=partition, headers=headers)
    await producer.flush()
