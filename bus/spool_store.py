"""The spool's SQLite file (:class:`SpoolStore`), used by :class:`bus.spool.Spool`.

Guarantees: an :meth:`SpoolStore.append` is one committed transaction (WAL,
``synchronous=NORMAL``: it survives the process being killed); chunks are
read back in append order; past ``max_octets`` the oldest chunks are deleted
and counted, never silently.  An append may carry writes of the collector's
journal of open cycles (:data:`Journal`, :mod:`collectors.journal`), committed
in the same transaction as its chunk.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from bus.api import BusError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    marker INTEGER NOT NULL,  -- 1: a cycle marker, to be sent to every partition
    n INTEGER NOT NULL,       -- messages in body
    size INTEGER NOT NULL,    -- their key + value bytes
    ts_ms INTEGER NOT NULL,   -- when appended (the messages' Kafka timestamp)
    body BLOB NOT NULL        -- msgpack [[topic, key, value, headers], ...]
)
"""
# One row per append (a device's records, a marker): SQLite's per-row cost
# (~20 us to insert, read and delete) is paid once per chunk, not per message.

# writes made in the same transaction as an append (the collector's cycle journal)
Journal = Callable[[sqlite3.Connection], None]
# topic, key, value, headers
Message = tuple[str, bytes | None, bytes, Sequence[tuple[str, bytes]]]
_body_encoder = msgspec.msgpack.Encoder()
_body_decoder = msgspec.msgpack.Decoder(
    list[tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]]
)


@dataclass(frozen=True, slots=True)
class Chunk:
    """What one :meth:`Spool.append` (or :meth:`Spool.append_marker`) wrote."""

    seq: int
    marker: bool
    ts_ms: int
    messages: list[tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]]


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
        db = self._conn()
        size = sum(len(v) + (len(k) if k else 0) for _, k, v, _ in messages)
        body = _body_encoder.encode(messages)
        dropped = dropped_octets = last_cut = 0
        with db:
            db.execute("BEGIN IMMEDIATE")
            cur = db.execute(
                "INSERT INTO spool (marker, n, size, ts_ms, body) VALUES (?, ?, ?, ?, ?)",
                (int(marker), len(messages), size, ts_ms, body),
            )
            seq = cur.lastrowid
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
        assert seq is not None
        if self._floor is None:
            self._floor = seq  # every chunk from here on passes through the cache
        if seq > last_cut:  # (not dropped at once by its own append)
            self._cache[seq] = (Chunk(seq, marker, ts_ms, list(messages)), size)  # type: ignore[arg-type]
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
            out.append(Chunk(seq, bool(marker), ts, _body_decoder.decode(body)))
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
