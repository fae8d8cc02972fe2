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
  after its records is sent to *every* partition after them: the marker
  still follows its records.
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
  depth; the first acknowledged round after it logs one line with the outage's
  length, retries and drops.  aiokafka's own per-attempt warnings are
  rate-limited (:class:`QuietKafkaLogs`).
- **Stop**: :meth:`Spool.stop` drains for at most ``stop_timeout_ms`` (less
  when the broker is known down), then stops the drainer and the producer
  (bounded too); what was not acknowledged stays in the file for the next
  start.

The embedded bus does not use a spool: it is itself a local SQLite file, so
"the broker" cannot be away; its producer is written to directly.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from bus.api import AsyncService, BusError
from bus.partitioner import partition_for
from bus.records import RECORD_ID_HEADER, CycleComplete, decode, encode, record_id
from bus.settings import SpoolSettings

log = logging.getLogger(__name__)

_headers_codec = msgspec.msgpack.Encoder()
_headers_decoder = msgspec.msgpack.Decoder(list[tuple[str, bytes]])
_BACKOFF_S = (0.5, 1.0, 2.0, 5.0)  # between failed rounds
_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    marker INTEGER NOT NULL,  -- 1: a cycle marker, to be sent to every partition
    key BLOB,
    value BLOB NOT NULL,
    headers BLOB,
    ts_ms INTEGER NOT NULL,
    size INTEGER NOT NULL
)
"""

# topic, key, value, headers
Message = tuple[str, bytes | None, bytes, Sequence[tuple[str, bytes]]]


@dataclass(frozen=True, slots=True)
class Row:
    seq: int
    topic: str
    marker: bool
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    ts_ms: int


@dataclass(slots=True)
class SpoolStats:
    """Counters since the spool opened (depth: now, including what an earlier
    process left)."""

    depth: int = 0  # messages waiting
    octets: int = 0  # their payload bytes
    appended: int = 0
    sent: int = 0  # messages acknowledged (markers count once per partition)
    dropped: int = 0  # oldest messages deleted because the spool was full
    dropped_octets: int = 0
    retries: int = 0  # failed drain rounds
    broker_up: bool | None = None  # None until the first round


class SpoolStore:
    """The SQLite file; blocking calls, used from one thread at a time."""

    def __init__(self, path: Path, max_octets: int) -> None:
        self.path = path
        self.max_octets = max_octets
        self.depth = 0
        self.octets = 0
        self._db: sqlite3.Connection | None = None

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(_SCHEMA)
        self.depth, self.octets = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM spool"
        ).fetchone()
        self._db = db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise BusError(f"spool {self.path} is not open")
        return self._db

    def append(
        self, rows: Sequence[tuple[str, int, bytes | None, bytes, bytes | None, int, int]]
    ) -> tuple[int, int]:
        """Insert ``(topic, marker, key, value, headers, ts_ms, size)`` rows in
        one transaction; drop the oldest past the bound.  Returns (dropped
        messages, dropped bytes)."""
        db = self._conn()
        added = sum(r[6] for r in rows)
        with db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT INTO spool (topic, marker, key, value, headers, ts_ms, size) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self.depth += len(rows)
            self.octets += added
            dropped = dropped_octets = 0
            while self.octets > self.max_octets:
                excess = self.octets - self.max_octets
                cut, n, got = 0, 0, 0
                for seq, size in db.execute("SELECT seq, size FROM spool ORDER BY seq LIMIT 10000"):
                    cut, n, got = seq, n + 1, got + size
                    if got >= excess:
                        break
                if not n:
                    break
                db.execute("DELETE FROM spool WHERE seq <= ?", (cut,))
                self.depth -= n
                self.octets -= got
                dropped += n
                dropped_octets += got
        return dropped, dropped_octets

    def read(self, limit: int) -> list[Row]:
        return [
            Row(seq, topic, bool(marker), key, value, _headers_decoder.decode(h) if h else [], ts)
            for seq, topic, marker, key, value, h, ts in self._conn().execute(
                "SELECT seq, topic, marker, key, value, headers, ts_ms FROM spool "
                "ORDER BY seq LIMIT ?",
                (limit,),
            )
        ]

    def delete_through(self, seq: int) -> None:
        """Delete every message up to ``seq`` (those the drop may already have taken
        are simply gone)."""
        db = self._conn()
        with db:
            db.execute("BEGIN IMMEDIATE")
            n, size = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM spool WHERE seq <= ?", (seq,)
            ).fetchone()
            db.execute("DELETE FROM spool WHERE seq <= ?", (seq,))
        self.depth -= n
        self.octets -= size


class QuietKafkaLogs(logging.Filter):
    """Rate-limits aiokafka's warnings and errors: the first of each kind
    passes, repeats within ``every_s`` are counted instead of logged (a
    stopped broker otherwise gives ~30 lines a second)."""

    LOGGERS = (
        "aiokafka",
        "aiokafka.conn",
        "aiokafka.cluster",
        "aiokafka.producer.sender",
        "aiokafka.producer.producer",
        "aiokafka.admin.client",
    )

    def __init__(self, every_s: float = 60.0) -> None:
        super().__init__()
        self.every_s = every_s
        self.suppressed = 0
        self._last: dict[tuple[str, str], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        k = (record.name, str(record.msg))
        now = time.monotonic()
        last = self._last.get(k)
        if last is not None and now - last < self.every_s:
            self.suppressed += 1
            return False
        self._last[k] = now
        return True

    def install(self) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).addFilter(self)

    def remove(self) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).removeFilter(self)


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
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._wake = asyncio.Event()  # something was appended (or stop)
        self._progress = asyncio.Event()  # a drain round ended
        self._task: asyncio.Task[None] | None = None
        self._started = False
        self._partitions: dict[str, int] = {}
        self._quiet = QuietKafkaLogs()
        self._down_since: float | None = None
        self._down_retries = 0
        self._down_dropped = 0
        self._dropping = False
        self._stopping = False

    # --- life cycle -----------------------------------------------------------

    async def _run(self, fn: Any, *args: Any) -> Any:
        if self._pool is None:
            raise BusError(f"spool {self.path} is not started")
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def start(self) -> None:
        if self._pool is not None:
            return
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="spool")
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

    async def append(self, messages: Sequence[Message]) -> None:
        """Spool ``(topic, key, value, headers)`` messages, in order; returns once
        they are in the file.  Never waits for the broker."""
        now = int(time.time() * 1000)
        rows = [
            (
                topic,
                0,
                key,
                value,
                _headers_codec.encode(list(headers)) if headers else None,
                now,
                len(value) + (len(key) if key else 0),
            )
            for topic, key, value, headers in messages
        ]
        await self._append(rows)

    async def append_marker(self, topic: str, marker: CycleComplete) -> None:
        """Spool ``marker``, to be sent to every partition of ``topic`` after
        everything appended before it (``partition``/``partitions`` filled in
        when it is sent)."""
        value = encode(marker)
        now = int(time.time() * 1000)
        await self._append([(topic, 1, None, value, None, now, len(value))])

    async def _append(
        self, rows: list[tuple[str, int, bytes | None, bytes, bytes | None, int, int]]
    ) -> None:
        try:
            dropped, dropped_octets = await self._run(self._store.append, rows)
        except sqlite3.Error as exc:
            raise BusError(f"spool {self.path}: cannot append: {exc}") from exc
        self.stats.appended += len(rows)
        self._sync_depth()
        if dropped:
            self.stats.dropped += dropped
            self.stats.dropped_octets += dropped_octets
            self._down_dropped += dropped
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

    def partitions(self, topic: str) -> int | None:
        """Partition count of ``topic`` once the drainer has learnt it."""
        return self._partitions.get(topic)

    def _sync_depth(self) -> None:
        self.stats.depth = self._store.depth
        self.stats.octets = self._store.octets

    # --- draining -------------------------------------------------------------

    async def _drain(self) -> None:
        failures = 0
        while True:
            rows: list[Row] = await self._run(self._store.read, self.settings.drain_batch)
            if not rows:
                self._dropping = False
                if self._stopping:
                    self._progress.set()
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            t0 = time.monotonic()
            try:
                async with asyncio.timeout(self.settings.send_timeout_ms / 1000):
                    sent = await self._send_round(rows)
            except (BusError, TimeoutError, OSError) as exc:
                failures += 1
                self._failed(exc, time.monotonic() - t0)
                with contextlib.suppress(Exception):
                    await (getattr(self.producer, "abort", None) or self.producer.stop)()
                self._started = False
                self._progress.set()
                await asyncio.sleep(_BACKOFF_S[min(failures - 1, len(_BACKOFF_S) - 1)])
                continue
            failures = 0
            await self._run(self._store.delete_through, rows[-1].seq)
            self.stats.sent += sent
            self._sync_depth()
            self._up()
            self._progress.set()

    async def _send_round(self, rows: list[Row]) -> int:
        """Send ``rows`` (keyed by partition, markers to every partition) and
        wait for every acknowledgement; returns messages sent."""
        if not self._started:
            await self.producer.start()
            self._started = True
        groups: dict[
            tuple[str, int], list[tuple[bytes | None, bytes, list[tuple[str, bytes]], int | None]]
        ] = {}
        n = 0
        for r in rows:
            parts = self._partitions.get(r.topic)
            if parts is None:
                parts = self._partitions[r.topic] = await self.producer.ensure_topic(r.topic)
            if r.marker:
                m = decode(r.value)
                assert isinstance(m, CycleComplete)
                for p in range(parts):
                    copy = msgspec.structs.replace(m, partition=p, partitions=parts)
                    hdr = [(RECORD_ID_HEADER, record_id(copy).encode())]
                    groups.setdefault((r.topic, p), []).append((None, encode(copy), hdr, r.ts_ms))
                    n += 1
            else:
                p = partition_for(r.key, parts) if r.key is not None else r.seq % parts
                groups.setdefault((r.topic, p), []).append((r.key, r.value, r.headers, r.ts_ms))
                n += 1
        batches = [(t, p, msgs) for (t, p), msgs in groups.items()]
        send_batches = getattr(self.producer, "send_batches", None)
        if send_batches is not None:
            await send_batches(batches)
        else:
            await _send_generic(self.producer, batches)
        return n

    def _failed(self, exc: BaseException, took_s: float) -> None:
        self.stats.retries += 1
        if self._down_since is None or self.stats.broker_up is not False:
            self._down_since = time.monotonic() - took_s
            self._down_retries = 0
            self._down_dropped = 0
            self._quiet_before = self._quiet.suppressed
            why = (
                "no acknowledgement within the send timeout"
                if isinstance(exc, TimeoutError)
                else str(exc)
            )
            log.warning(
                "bus: broker unreachable (%s); collection goes on into the spool "
                "(%d messages, %.1f MiB waiting); retrying",
                why,
                self.stats.depth,
                self.stats.octets / 2**20,
            )
        self._down_retries += 1
        self.stats.broker_up = False

    def _up(self) -> None:
        if self.stats.broker_up is False and self._down_since is not None:
            log.warning(
                "bus: broker reachable again after %.1f s (%d failed rounds, %d aiokafka "
                "log lines suppressed, %d messages dropped from the full spool); draining "
                "%d spooled messages",
                time.monotonic() - self._down_since,
                self._down_retries,
                self._quiet.suppressed - self._quiet_before,
                self._down_dropped,
                self.stats.depth,
            )
            self._down_since = None
        self.stats.broker_up = True

    _quiet_before = 0


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
