"""The journal of open cycles: what a collector killed mid-cycle leaves behind.

A cycle is *opened* in the journal before its first poll (its tick, the ids
of the devices planned), each device's *outcome* is noted as it comes (the
records and quarantined records that got out, then its status), and the
cycle is *closed* when its marker is handed to the bus.  A cycle still open
when a collector starts was cut short (SIGKILL, a crash, a power cut):
:meth:`CycleJournal.cut_short` turns each into a :class:`~bus.records.CycleComplete`
with ``interrupted`` set and honest counts, which the collector publishes
before its first cycle; :meth:`collectors.service.Collector.stop` does the
same for cycles its stop grace had to cut.

Guarantees:

- **Durable**: every write is a committed SQLite transaction (WAL,
  ``synchronous=NORMAL``): a SIGKILL at any moment loses none of it.
- **Counts are what reached the bus**: with a spool (Kafka), the records and
  quarantined counts of a device are written in the *same transaction* as
  the spool append that carries them, and a cycle is closed in the same
  transaction as its marker's append: the journal can never say more or
  less than the spool holds.  Without a spool (embedded bus, Kafka without
  spool) a device's counts are written once its records are durable on the
  bus (after a flush shared by every device answering at that moment), so a
  kill between the two may leave a device's records on the bus counted as
  interrupted, never the reverse.
- **Order**: a cut-short marker is appended to the spool after everything
  the killed run spooled (the spool drains in order), or written to the
  embedded bus after that run's flushed records: it follows its records on
  every partition.
- **Instances**: rows carry the collector's ``instance_id``; a collector
  only ever reads and closes its own cycles, also in a shared file.
- Without a spool the journal is ``<collector.state_dir>/<instance>.journal.sqlite3``
  (``state_dir`` defaults to ``var/state`` relative to the configuration
  folder); with one it is two tables in the spool's own file.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bus.api import BusError
from bus.records import CycleComplete, decode, encode

if TYPE_CHECKING:
    from bus.spool import Spool

KILLED = "collector stopped before the cycle ended (killed or crashed)"
GRACE = "collector stopped before the cycle ended (its stop grace ran out)"

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS journal_cycle (
    collector TEXT NOT NULL,
    cycle_id TEXT NOT NULL,
    marker BLOB NOT NULL,    -- the CycleComplete as it was when the cycle opened
    devices TEXT NOT NULL,   -- JSON list of the device ids planned
    PRIMARY KEY (collector, cycle_id))""",
    """CREATE TABLE IF NOT EXISTS journal_device (
    collector TEXT NOT NULL,
    cycle_id TEXT NOT NULL,
    device TEXT NOT NULL,
    status TEXT NOT NULL,    -- 'out' (records got out, no final word yet), ok, failed, ...
    reason TEXT NOT NULL,
    records INTEGER NOT NULL,
    quarantined INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (collector, cycle_id, device))""",
)

Op = Callable[[sqlite3.Connection], None]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def create(db: sqlite3.Connection) -> None:
    for stmt in SCHEMA:
        db.execute(stmt)


def open_op(collector: str, marker: CycleComplete, devices: Sequence[str]) -> Op:
    body, ids = encode(marker), json.dumps(list(devices))

    def op(db: sqlite3.Connection) -> None:
        db.execute(
            "INSERT OR REPLACE INTO journal_cycle VALUES (?, ?, ?, ?)",
            (collector, marker.cycle_id, body, ids),
        )
        db.execute(
            "DELETE FROM journal_device WHERE collector = ? AND cycle_id = ?",
            (collector, marker.cycle_id),
        )

    return op


def sent_op(collector: str, cid: str, device: str, records: int, quarantined: int) -> Op:
    """Add ``records``/``quarantined`` to what got out for ``device`` in cycle ``cid``."""
    at = _now_ms()

    def op(db: sqlite3.Connection) -> None:
        db.execute(
            "INSERT INTO journal_device VALUES (?, ?, ?, 'out', '', ?, ?, ?) "
            "ON CONFLICT (collector, cycle_id, device) DO UPDATE SET "
            "records = records + excluded.records, "
            "quarantined = quarantined + excluded.quarantined, at_ms = excluded.at_ms",
            (collector, cid, device, records, quarantined, at),
        )

    return op


def status_op(collector: str, cid: str, device: str, status: str, reason: str) -> Op:
    """The device's final outcome in cycle ``cid`` (ok, failed, timed_out, skipped)."""
    at = _now_ms()

    def op(db: sqlite3.Connection) -> None:
        db.execute(
            "INSERT INTO journal_device VALUES (?, ?, ?, ?, ?, 0, 0, ?) "
            "ON CONFLICT (collector, cycle_id, device) DO UPDATE SET "
            "status = excluded.status, reason = excluded.reason, at_ms = excluded.at_ms",
            (collector, cid, device, status, reason, at),
        )

    return op


def close_op(collector: str, cid: str) -> Op:
    def op(db: sqlite3.Connection) -> None:
        db.execute(
            "DELETE FROM journal_cycle WHERE collector = ? AND cycle_id = ?", (collector, cid)
        )
        db.execute(
            "DELETE FROM journal_device WHERE collector = ? AND cycle_id = ?", (collector, cid)
        )

    return op


def cut_short(db: sqlite3.Connection, collector: str, reason: str) -> list[CycleComplete]:
    """The marker of every cycle of ``collector`` still open, oldest tick first.

    ``devices_ok``: devices whose records got out (or that answered with none);
    failed / timed out / skipped: as noted before the cut; every other planned
    device is failed with ``reason``.  ``records``/``quarantined``: what got
    out.  ``finished_unix_ms``: the last outcome noted (the cycle was alive
    then), ``started_unix_ms`` if none."""
    out = []
    rows = db.execute(
        "SELECT cycle_id, marker, devices FROM journal_cycle WHERE collector = ?", (collector,)
    ).fetchall()
    for cid, body, ids in rows:
        m = decode(body)
        assert isinstance(m, CycleComplete)
        seen: dict[str, tuple[str, str, int, int, int]] = {
            d: (s, r, n, q, at)
            for d, s, r, n, q, at in db.execute(
                "SELECT device, status, reason, records, quarantined, at_ms FROM journal_device "
                "WHERE collector = ? AND cycle_id = ?",
                (collector, cid),
            )
        }
        planned: list[str] = json.loads(ids)
        counts = {"ok": 0, "failed": 0, "timed_out": 0, "skipped": 0}
        failures: dict[str, str] = {}
        for d in planned:
            status, why = seen[d][:2] if d in seen else ("", "")
            if status in ("out", "ok"):
                counts["ok"] += 1
            elif status in counts:
                counts[status] += 1
                failures[d] = why if status == "skipped" else f"{status}: {why}"
            else:
                counts["failed"] += 1
                failures[d] = f"interrupted: {reason}"
        finished = max([m.started_unix_ms, *(v[4] for v in seen.values())])
        out.append(
            CycleComplete(
                network=m.network,
                dataset=m.dataset,
                cycle_id=cid,
                scheduled_unix_ms=m.scheduled_unix_ms,
                started_unix_ms=m.started_unix_ms,
                finished_unix_ms=finished,
                duration_ms=finished - m.started_unix_ms,
                devices_planned=len(planned),
                devices_ok=counts["ok"],
                devices_failed=counts["failed"],
                devices_timed_out=counts["timed_out"],
                devices_skipped=counts["skipped"],
                records=sum(v[2] for d, v in seen.items()),
                failures=failures,
                collector=collector,
                quarantined=sum(v[3] for v in seen.values()),
                interrupted=reason,
            )
        )
    out.sort(key=lambda x: (x.scheduled_unix_ms, x.cycle_id))
    return out


class CycleJournal:
    """The journal of one collector instance; see the module docstring.

    ``CycleJournal(instance, spool=spool)`` keeps it in the spool's file (its
    writes run on the spool's thread, and :meth:`sent_op`/:meth:`close_op`
    ride along the spool's appends); ``CycleJournal(instance, path=...)``
    in a file of its own (writes are small commits made on the event loop:
    tens of microseconds, no fsync)."""

    def __init__(
        self, instance: str, *, spool: Spool | None = None, path: Path | None = None
    ) -> None:
        if (spool is None) == (path is None):
            raise ValueError("give exactly one of spool or path")
        self.instance = instance
        self.spool = spool
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._flushing: dict[int, asyncio.Future[None]] = {}

    async def start(self) -> None:
        if self.spool is not None:
            await self.spool.run_in_db(create)
            return
        if self._db is None:
            assert self.path is not None
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                with db:
                    create(db)
            except (OSError, sqlite3.Error) as exc:
                raise BusError(
                    f"cycle journal {self.path}: cannot open: {exc} (collector.state_dir)"
                ) from None
            self._db = db

    async def stop(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    async def run(self, op: Op) -> None:
        """Run ``op`` in one transaction."""
        if self.spool is not None:
            await self.spool.run_in_db(op)
            return
        if self._db is None:
            raise RuntimeError(f"journal {self.path} is not started")
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            op(self._db)

    async def open(self, marker: CycleComplete, devices: Sequence[str]) -> None:
        await self.run(open_op(self.instance, marker, devices))

    async def status(self, cid: str, device: str, status: str, reason: str = "") -> None:
        await self.run(status_op(self.instance, cid, device, status, reason))

    def sent_op(self, cid: str, device: str, records: int = 0, quarantined: int = 0) -> Op:
        return sent_op(self.instance, cid, device, records, quarantined)

    def close_op(self, cid: str) -> Op:
        return close_op(self.instance, cid)

    async def sent_after_flush(
        self, producer: Any, cid: str, device: str, records: int = 0, quarantined: int = 0
    ) -> None:
        """No spool: wait until what was sent so far is durable (one flush shared
        by every caller of this moment), then note it."""
        key = id(producer)
        fut = self._flushing.get(key)
        if fut is None:
            fut = self._flushing[key] = asyncio.ensure_future(self._flush(producer))
            # its error reaches every waiter; none left (all cancelled): not logged as lost
            fut.add_done_callback(lambda f: f.cancelled() or f.exception())
        await asyncio.shield(fut)
        await self.run(self.sent_op(cid, device, records, quarantined))

    async def _flush(self, producer: Any) -> None:
        await asyncio.sleep(0)  # devices answering at this moment share the flush
        self._flushing.pop(id(producer), None)  # sends from here on wait for the next one
        await producer.flush()

    async def cut_short(self, reason: str = KILLED) -> list[CycleComplete]:
        """Markers of this instance's open cycles (see :func:`cut_short`); they
        stay open until their marker's append or publication closes them."""
        got: list[list[CycleComplete]] = []

        def op(db: sqlite3.Connection) -> None:
            got.append(cut_short(db, self.instance, reason))

        await self.run(op)
        return got[0]
