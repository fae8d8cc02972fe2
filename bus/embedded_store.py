"""The SQLite layer of the embedded bus: the schema and every statement it runs.

A :class:`Store` owns one ``sqlite3`` connection and must be used from one
thread only; :class:`Worker` gives it that thread and lets the event loop await
its calls, so blocking SQLite work (fsync, lock waits) never runs on the loop.

Layout of the one database file (WAL mode, ``synchronous=FULL``):

- ``topics``: name -> integer id and partition count (fixed at creation).
- ``partitions``: per (topic, partition) the next offset to assign.  Offsets
  are dense and increasing per partition; this high-water mark survives
  retention emptying a partition, so offsets are never reused.
- ``messages``: the log, keyed (topic_id, part, off).
- ``group_members``: one row per live consumer-group member, with its
  subscription and when its session expires.
- ``group_offsets``: committed positions per (group, topic, partition).

Every write runs in ``BEGIN IMMEDIATE``: the write lock is taken before
anything is read, so a writer reading ``next_offset`` and inserting cannot
race a writer in another process, and no transaction ever has to upgrade a
read snapshot to a write (which SQLite refuses with SQLITE_BUSY, not waits).
"""

from __future__ import annotations

import asyncio
import functools
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from bus.api import BusError

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 30_000
# FULL: every commit fsyncs the WAL, so a flushed batch or a committed offset
# survives power loss, not only a process crash.  Batching makes that one fsync
# per few thousand messages, which measured cheap (see bus/embedded.py).
SYNCHRONOUS = "FULL"

# (topic_id, part, key, value, headers, timestamp_ms): a message before its offset.
Row = tuple[int, int, bytes | None, bytes, bytes | None, int]
# (off, key, value, headers, timestamp_ms): a message as read back.
ReadRow = tuple[int, bytes | None, bytes, bytes | None, int]
T = TypeVar("T")

_SCHEMA = (
    """CREATE TABLE topics (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        partitions INTEGER NOT NULL,
        created_ms INTEGER NOT NULL)""",
    """CREATE TABLE partitions (
        topic_id INTEGER NOT NULL,
        part INTEGER NOT NULL,
        next_offset INTEGER NOT NULL,
        PRIMARY KEY (topic_id, part)) WITHOUT ROWID""",
    # WITHOUT ROWID: one b-tree keyed by position, so appends and range reads
    # touch one index, not a rowid table plus a unique index (measured ~20% faster).
    """CREATE TABLE messages (
        topic_id INTEGER NOT NULL,
        part INTEGER NOT NULL,
        off INTEGER NOT NULL,
        key BLOB,
        value BLOB NOT NULL,
        headers BLOB,
        timestamp_ms INTEGER NOT NULL,
        PRIMARY KEY (topic_id, part, off)) WITHOUT ROWID""",
    """CREATE TABLE group_members (
        grp TEXT NOT NULL,
        member_id TEXT NOT NULL,
        subscription TEXT NOT NULL,
        heartbeat_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL,
        PRIMARY KEY (grp, member_id)) WITHOUT ROWID""",
    """CREATE TABLE group_offsets (
        grp TEXT NOT NULL,
        topic_id INTEGER NOT NULL,
        part INTEGER NOT NULL,
        off INTEGER NOT NULL,
        committed_ms INTEGER NOT NULL,
        member_id TEXT NOT NULL,
        PRIMARY KEY (grp, topic_id, part)) WITHOUT ROWID""",
)


class Store:
    """One connection to the bus file; not thread-safe (use through :class:`Worker`).

    Raises :class:`BusError` naming the file if it cannot be created or opened,
    is not a SQLite database, or has a newer schema than this code.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BusError(f"embedded bus {path}: cannot create {path.parent}: {exc}") from exc
        try:
            self._conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except sqlite3.Error as exc:
            raise BusError(f"embedded bus {path}: cannot open: {exc}") from exc
        try:
            self._setup()
        except sqlite3.Error as exc:
            self._conn.close()
            raise BusError(f"embedded bus {path}: {exc}") from exc
        except BaseException:
            self._conn.close()
            raise

    def _setup(self) -> None:
        c = self._conn
        # The busy timeout is in force from connect(timeout=...) on; set it again
        # explicitly, before anything else, so no statement below runs without it.
        c.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        mode = _retry_locked(lambda: c.execute("PRAGMA journal_mode=WAL").fetchone()[0], deadline)
        if str(mode).lower() != "wal":
            raise BusError(f"embedded bus {self.path}: cannot use WAL mode (got {mode!r})")
        c.execute(f"PRAGMA synchronous={SYNCHRONOUS}")
        # Keep the WAL file from staying huge after a burst once it is checkpointed.
        c.execute("PRAGMA journal_size_limit=67108864")
        c.execute("PRAGMA cache_size=-16000")
        version = _retry_locked(lambda: c.execute("PRAGMA user_version").fetchone()[0], deadline)
        if version != SCHEMA_VERSION:
            _retry_locked(self._create_schema, deadline)

    def _create_schema(self) -> None:
        c = self._conn
        with self.write_txn():
            version = c.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                for stmt in _SCHEMA:
                    c.execute(stmt)
                c.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            elif version != SCHEMA_VERSION:
                raise BusError(
                    f"embedded bus {self.path}: schema version {version}, this netfeed "
                    f"knows {SCHEMA_VERSION}; use a matching netfeed or a new file"
                )

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def write_txn(self) -> Iterator[sqlite3.Connection]:
        """A transaction holding the write lock from its first statement."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            if self._conn.in_transaction:  # SQLite may already have rolled back (disk full)
                self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    @contextmanager
    def read_txn(self) -> Iterator[sqlite3.Connection]:
        """One consistent snapshot for several reads; never blocks writers (WAL)."""
        self._conn.execute("BEGIN")
        try:
            yield self._conn
        finally:
            self._conn.execute("COMMIT")

    # -- topics ---------------------------------------------------------------

    def ensure_topic(self, name: str, partitions: int, now_ms: int) -> tuple[int, int]:
        """``(topic_id, partitions)``, creating the topic if missing.  An existing
        topic keeps the partition count it was created with."""
        with self.write_txn() as c:
            row = c.execute("SELECT id, partitions FROM topics WHERE name=?", (name,)).fetchone()
            if row is not None:
                return int(row[0]), int(row[1])
            cur = c.execute(
                "INSERT INTO topics (name, partitions, created_ms) VALUES (?, ?, ?)",
                (name, partitions, now_ms),
            )
            tid = int(cur.lastrowid or 0)
            c.executemany(
                "INSERT INTO partitions (topic_id, part, next_offset) VALUES (?, ?, 0)",
                [(tid, p) for p in range(partitions)],
            )
            return tid, partitions

    def topic(self, name: str) -> tuple[int, int] | None:
        """``(topic_id, partitions)`` of an existing topic, else None."""
        row = self._conn.execute("SELECT id, partitions FROM topics WHERE name=?", (name,))
        got = row.fetchone()
        return None if got is None else (int(got[0]), int(got[1]))

    def topics(self) -> dict[str, tuple[int, int]]:
        """name -> ``(topic_id, partitions)``."""
        rows = self._conn.execute("SELECT name, id, partitions FROM topics").fetchall()
        return {name: (tid, n) for name, tid, n in rows}

    def high_water(self) -> dict[tuple[int, int], int]:
        """(topic_id, part) -> next offset to be assigned."""
        rows = self._conn.execute("SELECT topic_id, part, next_offset FROM partitions")
        return {(t, p): o for t, p, o in rows}

    # -- the log --------------------------------------------------------------

    def append(self, rows: Sequence[Row]) -> None:
        """Assign offsets and insert ``rows`` in one transaction, in order."""
        with self.write_txn() as c:
            nxt: dict[tuple[int, int], int] = {}
            out = []
            for tid, part, key, value, headers, ts in rows:
                off = nxt.get((tid, part))
                if off is None:
                    got = c.execute(
                        "SELECT next_offset FROM partitions WHERE topic_id=? AND part=?",
                        (tid, part),
                    ).fetchone()
                    if got is None:
                        raise BusError(f"embedded bus {self.path}: no partition {tid}/{part}")
                    off = int(got[0])
                out.append((tid, part, off, key, value, headers, ts))
                nxt[(tid, part)] = off + 1
            c.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)", out)
            c.executemany(
                "UPDATE partitions SET next_offset=? WHERE topic_id=? AND part=?",
                [(o, t, p) for (t, p), o in nxt.items()],
            )

    def read(self, tid: int, part: int, start: int, limit: int) -> list[ReadRow]:
        """Up to ``limit`` messages from offset ``start`` on (or the oldest kept)."""
        return self._conn.execute(
            "SELECT off, key, value, headers, timestamp_ms FROM messages"
            " WHERE topic_id=? AND part=? AND off>=? ORDER BY off LIMIT ?",
            (tid, part, start, limit),
        ).fetchall()

    def offset_for_time(self, tid: int, part: int, at_ms: int) -> int | None:
        """The first offset whose timestamp is at or after ``at_ms`` (Kafka's
        offsets-for-times); None when every kept message is older."""
        got = self._conn.execute(
            "SELECT MIN(off) FROM messages WHERE topic_id=? AND part=? AND timestamp_ms>=?",
            (tid, part, at_ms),
        ).fetchone()
        return None if got is None or got[0] is None else int(got[0])

    def expire(self, cutoff_ms: int, stop: threading.Event, chunk: int = 20_000) -> int:
        """Delete, per partition, the prefix of the log older than ``cutoff_ms``.

        Like Kafka's retention this truncates the start of the log (a message
        newer than the cutoff keeps everything after it), so offsets stay dense
        from the oldest kept message on.  Deletes in short transactions of
        ``chunk`` rows so producers are never locked out for long; returns rows
        deleted.
        """
        with self.read_txn() as c:
            spans = []
            for tid, part, end in c.execute("SELECT topic_id, part, next_offset FROM partitions"):
                lo = c.execute(
                    "SELECT MIN(off) FROM messages WHERE topic_id=? AND part=?", (tid, part)
                ).fetchone()[0]
                if lo is None:
                    continue
                # Scans only the expired prefix: the PK is in offset order.
                hi = c.execute(
                    "SELECT off FROM messages WHERE topic_id=? AND part=? AND timestamp_ms>=?"
                    " ORDER BY off LIMIT 1",
                    (tid, part, cutoff_ms),
                ).fetchone()
                spans.append((tid, part, lo, end if hi is None else hi[0]))
        deleted = 0
        for tid, part, lo, hi in spans:
            for start in range(lo, hi, chunk):
                if stop.is_set():
                    return deleted
                with self.write_txn() as c:
                    cur = c.execute(
                        "DELETE FROM messages WHERE topic_id=? AND part=? AND off>=? AND off<?",
                        (tid, part, start, min(hi, start + chunk)),
                    )
                    deleted += cur.rowcount
        return deleted

    # -- groups ---------------------------------------------------------------

    def live_members(self, grp: str, now_ms: int) -> dict[str, str]:
        """member_id -> subscription JSON, for members whose session has not expired."""
        rows = self._conn.execute(
            "SELECT member_id, subscription FROM group_members WHERE grp=? AND expires_ms>?",
            (grp, now_ms),
        )
        return dict(rows.fetchall())

    def heartbeat(
        self, grp: str, member_id: str, subscription: str, now_ms: int, session_ms: int
    ) -> None:
        """Join or renew membership; forget members whose session expired."""
        with self.write_txn() as c:
            c.execute(
                "INSERT INTO group_members VALUES (?, ?, ?, ?, ?) ON CONFLICT (grp, member_id)"
                " DO UPDATE SET heartbeat_ms=excluded.heartbeat_ms,"
                " expires_ms=excluded.expires_ms, subscription=excluded.subscription",
                (grp, member_id, subscription, now_ms, now_ms + session_ms),
            )
            c.execute("DELETE FROM group_members WHERE grp=? AND expires_ms<=?", (grp, now_ms))

    def leave(self, grp: str, member_id: str) -> None:
        with self.write_txn() as c:
            c.execute("DELETE FROM group_members WHERE grp=? AND member_id=?", (grp, member_id))

    def committed(self, grp: str, tid: int, part: int) -> int | None:
        row = self._conn.execute(
            "SELECT off FROM group_offsets WHERE grp=? AND topic_id=? AND part=?",
            (grp, tid, part),
        ).fetchone()
        return None if row is None else int(row[0])

    def commit_offsets(
        self, grp: str, member_id: str, offsets: Sequence[tuple[int, int, int]], now_ms: int
    ) -> None:
        """Store ``(topic_id, part, offset)`` positions; call inside :meth:`write_txn`."""
        self._conn.executemany(
            "INSERT OR REPLACE INTO group_offsets VALUES (?, ?, ?, ?, ?, ?)",
            [(grp, t, p, o, now_ms, member_id) for t, p, o in offsets],
        )


def _locked(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _retry_locked(fn: Callable[[], T], deadline: float) -> T:
    """``fn()``, retried with a bounded, jittered backoff while SQLite says the
    database is busy or locked, until ``deadline`` (``time.monotonic()``).

    Needed at open time: switching a file to WAL takes the write lock from within
    a read, and SQLite does not call the busy handler for such an upgrade (it
    could deadlock), so several processes opening one fresh file at once get
    SQLITE_BUSY at once, whatever the busy timeout.
    """
    delay = 0.001
    while True:
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if not _locked(exc) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay * random.uniform(0.5, 1.5))  # jitter: the openers do not retry in step
        delay = min(delay * 2, 0.1)


class Worker:
    """A dedicated thread owning one :class:`Store`.

    One thread per connection, rather than ``asyncio.to_thread``, because a
    connection in the middle of a transaction must not be used by another call:
    the single thread runs calls one at a time, in submission order (which is
    also what keeps a producer's batches in send order).  ``sqlite3`` errors
    come back as :class:`BusError` naming the file.
    """

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self.store: Store | None = None

    async def open(self) -> Store:
        try:
            self.store = await self.run(Store, self.path)
        except BaseException:
            self._pool.shutdown(wait=False)
            raise
        return self.store

    def submit(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Queue ``fn(*args)`` on the thread; the returned future is not awaited yet."""
        return asyncio.get_running_loop().run_in_executor(
            self._pool, functools.partial(self._guard, fn, *args)
        )

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await self.submit(fn, *args)

    def _guard(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except sqlite3.Error as exc:
            raise BusError(f"embedded bus {self.path}: {exc}") from exc

    async def close(self) -> None:
        try:
            if self.store is not None:
                await self.run(self.store.close)
        finally:
            self.store = None
            self._pool.shutdown(wait=False)
