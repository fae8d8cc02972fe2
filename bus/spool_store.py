"""The spool's SQLite file and the thread that owns it (see :mod:`bus.spool`).

:class:`SpoolStore` holds chunks (one per append: a device's records, or a
cycle marker) as zstd-compressed msgpack rows, plus an in-memory cache of the
newest ones; :class:`SpoolWorker` is the one thread that runs its calls, the
collection's appends before the drainer's reads and deletes.

Guarantees: an append is one committed transaction (WAL, ``synchronous=NORMAL``:
it survives the process being killed); chunks are read back in append order;
past ``max_octets`` the oldest chunks are deleted and counted, never silently.
An append may carry writes of the collector's journal of open cycles
(:data:`Journal`, :mod:`collectors.journal`), committed in the same
transaction as its chunk.
"""

from __future__ import annotations

import concurrent.futures
import sqlite3
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cramjam
import msgspec

from bus.api import BusError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    marker INTEGER NOT NULL,  -- 1: a cycle marker, to be sent to every partition
    n INTEGER NOT NULL,       -- messages in body
    size INTEGER NOT NULL,    -- their key + value bytes
    ts_ms INTEGER NOT NULL,   -- when appended (the messages' Kafka timestamp)
    body BLOB NOT NULL        -- zstd(msgpack [[topic, key, value, headers], ...])
)
"""
# Bodies are zstd-compressed (level 1, ~0.5 us a message; telemetry JSON shrinks
# ~20x): SQLite then writes (WAL and checkpoint), reads back and deletes a
# twentieth of the bytes.  Files written before that hold plain msgpack bodies,
# told apart by zstd's frame magic (a msgpack array never starts with 0x28).
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_ZSTD_LEVEL = 1
# One row per append (a device's records, a marker): SQLite's per-row cost
# (~20 us to insert, read and delete) is paid once per chunk, not per message.

# topic, key, value, headers
Message = tuple[str, bytes | None, bytes, Sequence[tuple[str, bytes]]]
# writes made in the same transaction as an append (the collector's cycle journal)
Journal = Callable[[sqlite3.Connection], None]
# one append: messages, is it a marker, when (ms), journal writes
Append = tuple[Sequence[Message], bool, int, Journal | None]
_body_encoder = msgspec.msgpack.Encoder()
# Headers come back as tuples: a message read back is then made of tuples of
# str/bytes only, which the garbage collector stops tracking after one pass
# (a list would keep every message of a backlog in each full collection).
_body_decoder = msgspec.msgpack.Decoder(
    list[tuple[str, bytes | None, bytes, tuple[tuple[str, bytes], ...]]]
)


def unpack_body(
    body: bytes,
) -> list[tuple[str, bytes | None, bytes, tuple[tuple[str, bytes], ...]]]:
    """The messages of a stored body (compressed, or plain from an older file)."""
    if body[:4] == _ZSTD_MAGIC:
        return _body_decoder.decode(cramjam.zstd.decompress(body))
    return _body_decoder.decode(body)


@dataclass(frozen=True, slots=True)
class Chunk:
    """What one :meth:`Spool.append` (or :meth:`Spool.append_marker`) wrote."""

    seq: int
    marker: bool
    ts_ms: int
    messages: Sequence[Message]


class SpoolStore:
    """The SQLite file; blocking calls, used from one thread at a time.

    The newest chunks appended by this process are also kept in memory (up to
    ``cache_octets``): a drainer that keeps up reads them from there, not back
    from the file.  Every chunk after ``_floor - 1`` that is in the file is in
    the cache (older ones, and ones evicted, are read from the file)."""

    def __init__(self, path: Path, max_octets: int, cache_octets: int = 64 << 20) -> None:
        self.path = path
        self.max_octets = max_octets
        self.depth = 0
        self.octets = 0
        self._db: sqlite3.Connection | None = None
        self._cache: OrderedDict[int, tuple[Chunk, int]] = OrderedDict()  # seq -> chunk, size
        self._cache_octets = 0
        self._cache_max = cache_octets
        self._floor: int | None = None  # cache complete for seq >= floor

    def _uncache_through(self, seq: int) -> None:
        cache = self._cache
        while cache:
            first = next(iter(cache))
            if first > seq:
                break
            _, size = cache.pop(first)
            self._cache_octets -= size

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        # Chunks are tens of KB: big pages keep their overflow chains short
        # (reads and deletes ~2x cheaper).  Takes effect when the file is created.
        db.execute("PRAGMA page_size=65536")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(_SCHEMA)
        self.depth, self.octets = db.execute(
            "SELECT COALESCE(SUM(n), 0), COALESCE(SUM(size), 0) FROM spool"
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

    def run(self, op: Journal) -> None:
        """Run ``op`` (the collector's journal) in one transaction of this file."""
        db = self._conn()
        with db:
            db.execute("BEGIN IMMEDIATE")
            op(db)

    def append(
        self, messages: Sequence[Message], marker: bool, ts_ms: int, journal: Journal | None = None
    ) -> tuple[int, int]:
        """Commit ``messages`` as one chunk (and ``journal``'s writes in the same
        transaction); drop the oldest chunks past the bound.  Returns (dropped
        messages, dropped bytes)."""
        return self.append_many([(messages, marker, ts_ms, journal)])

    def append_many(self, chunks: Sequence[Append]) -> tuple[int, int]:
        """Commit ``(messages, marker, ts_ms, journal)`` chunks, in order, in one
        transaction (one commit for many appends; each ``journal``'s writes right
        after its chunk); then drop the oldest chunks past the bound.  Returns
        (dropped messages, dropped bytes)."""
        db = self._conn()
        rows = []
        for messages, marker, ts_ms, journal in chunks:
            size = sum(len(v) + (len(k) if k else 0) for _, k, v, _ in messages)
            body = bytes(cramjam.zstd.compress(_body_encoder.encode(messages), level=_ZSTD_LEVEL))
            rows.append((messages, marker, ts_ms, size, body, journal))
        dropped = dropped_octets = last_cut = 0
        seqs: list[int] = []
        with db:
            db.execute("BEGIN IMMEDIATE")
            for messages, marker, ts_ms, size, body, journal in rows:
                cur = db.execute(
                    "INSERT INTO spool (marker, n, size, ts_ms, body) VALUES (?, ?, ?, ?, ?)",
                    (int(marker), len(messages), size, ts_ms, body),
                )
                assert cur.lastrowid is not None
                seqs.append(cur.lastrowid)
                if journal is not None:
                    journal(db)
                self.depth += len(messages)
                self.octets += size
            while self.octets > self.max_octets:
                excess = self.octets - self.max_octets
                cut = n = got = 0
                for oldest, cn, csize in db.execute(
                    "SELECT seq, n, size FROM spool ORDER BY seq LIMIT 10000"
                ):
                    cut, n, got = oldest, n + cn, got + csize
                    if got >= excess:
                        break
                if not cut:
                    break
                db.execute("DELETE FROM spool WHERE seq <= ?", (cut,))
                self._uncache_through(cut)
                last_cut = cut
                self.depth -= n
                self.octets -= got
                dropped += n
                dropped_octets += got
        if self._floor is None and seqs:
            self._floor = seqs[0]  # every chunk from here on passes through the cache
        for seq, (messages, marker, ts_ms, size, _, _) in zip(seqs, rows, strict=True):
            if seq > last_cut:  # (not dropped at once by its own append)
                self._cache[seq] = (Chunk(seq, marker, ts_ms, list(messages)), size)
                self._cache_octets += size
        while self._cache_octets > self._cache_max and self._cache:
            first, (_, csize) = self._cache.popitem(last=False)
            self._cache_octets -= csize
            self._floor = first + 1  # chunks up to it are read from the file again
        return dropped, dropped_octets

    def read_after(self, after: int, limit: int) -> list[Chunk]:
        """Chunks after sequence number ``after``, oldest first, until they hold
        ``limit`` messages (at least one chunk)."""
        out: list[Chunk] = []
        n = 0
        if self._floor is not None and after >= self._floor - 1:
            for seq, (chunk, _) in self._cache.items():
                if seq <= after:
                    continue
                out.append(chunk)
                n += len(chunk.messages)
                if n >= limit:
                    break
            return out
        for seq, marker, cn, ts, body in self._conn().execute(
            "SELECT seq, marker, n, ts_ms, body FROM spool WHERE seq > ? ORDER BY seq", (after,)
        ):
            out.append(Chunk(seq, bool(marker), ts, unpack_body(body)))
            n += cn
            if n >= limit:
                break
        return out

    def read(self, limit: int) -> list[Chunk]:
        return self.read_after(0, limit)

    def delete_through(self, seq: int) -> None:
        """Delete every chunk up to ``seq`` (those the drop may already have taken
        are simply gone)."""
        db = self._conn()
        with db:
            db.execute("BEGIN IMMEDIATE")
            n, size = db.execute(
                "SELECT COALESCE(SUM(n), 0), COALESCE(SUM(size), 0) FROM spool WHERE seq <= ?",
                (seq,),
            ).fetchone()
            db.execute("DELETE FROM spool WHERE seq <= ?", (seq,))
        self._uncache_through(seq)
        self.depth -= n
        self.octets -= size


class SpoolWorker:
    """The one thread that owns a :class:`SpoolStore` (SQLite connections
    belong to a thread; calls are serialised).

    Calls run one at a time, in submission order within each of two queues;
    an ``urgent`` call (an append: the collection waits on it) runs before
    any queued normal one (drain reads and deletes), so a drainer working
    through a backlog delays an append by at most the one call already
    running.  Appends reordered before reads and deletes are safe: a read
    returns chunks after a sequence number and a delete removes those up to
    one, and an append only adds a higher sequence number."""

    def __init__(self, name: str = "spool") -> None:
        self._urgent: deque[tuple[concurrent.futures.Future[Any], Callable[..., Any], tuple]] = (
            deque()
        )
        self._normal: deque[tuple[concurrent.futures.Future[Any], Callable[..., Any], tuple]] = (
            deque()
        )
        self._cv = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(
        self, fn: Callable[..., Any], *args: Any, urgent: bool = False
    ) -> concurrent.futures.Future[Any]:
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._cv:
            if self._closed:
                raise BusError("spool worker is shut down")
            (self._urgent if urgent else self._normal).append((fut, fn, args))
            self._cv.notify()
        return fut

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not (self._urgent or self._normal or self._closed):
                    self._cv.wait()
                if self._urgent:
                    fut, fn, args = self._urgent.popleft()
                elif self._normal:
                    fut, fn, args = self._normal.popleft()
                else:
                    return  # closed and nothing left
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn(*args))
            except BaseException as exc:  # handed to the caller
                fut.set_exception(exc)

    def shutdown(self) -> None:
        """Run what is queued, then end the thread (waits for it)."""
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._thread.join()
