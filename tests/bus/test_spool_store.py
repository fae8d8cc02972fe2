"""The spool's file and thread: compressed bodies (and older plain ones),
appends before drain reads, group commit of concurrent appends."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import msgspec

from bus.records import RECORD_ID_HEADER, encode, record_id
from bus.settings import SpoolSettings
from bus.spool import Spool, SpoolStore
from bus.spool_store import SpoolWorker
from tests.support.messages import rec


def _msgs(device: str, n: int) -> list[Any]:
    return [
        ("t", device.encode(), encode(r), ((RECORD_ID_HEADER, record_id(r).encode()),))
        for r in (rec(device, i) for i in range(n))
    ]


def test_worker_runs_appends_before_queued_drain_calls() -> None:
    worker = SpoolWorker()
    order: list[str] = []
    gate, running = threading.Event(), threading.Event()

    def busy() -> None:  # a drain read in progress
        running.set()
        assert gate.wait(10), "never released"
        order.append("busy")

    try:
        futs = [worker.submit(busy)]
        assert running.wait(10)
        futs += [worker.submit(order.append, name) for name in ("read1", "delete1")]
        futs += [worker.submit(order.append, name, urgent=True) for name in ("app1", "app2")]
        gate.set()
        for f in futs:
            f.result(timeout=10)
    finally:
        worker.shutdown()
    # the call already running finishes; then the appends, in their order; then the rest
    assert order == ["busy", "app1", "app2", "read1", "delete1"]


def test_bodies_are_compressed_and_plain_bodies_of_older_files_still_read(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.sqlite3"
    store = SpoolStore(path, 1 << 30)
    store.open()
    msgs = _msgs("d1", 50)
    store.append(msgs, False, 7)
    store.close()
    db = sqlite3.connect(path)
    (body,) = db.execute("SELECT body FROM spool").fetchone()
    assert body[:4] == b"\x28\xb5\x2f\xfd"  # a zstd frame
    assert len(body) < sum(len(v) for _, _, v, _ in msgs) / 4
    # a row as the spool wrote it before bodies were compressed
    old = _msgs("d0", 3)
    db.execute(
        "INSERT INTO spool (marker, n, size, ts_ms, body) VALUES (0, 3, 1, 5, ?)",
        (msgspec.msgpack.encode(old),),
    )
    db.commit()
    db.close()
    store = SpoolStore(path, 1 << 30)  # a new process: nothing cached, all from the file
    store.open()
    try:
        chunks = store.read(1000)
    finally:
        store.close()
    assert [c.ts_ms for c in chunks] == [7, 5]
    assert [tuple(m) for m in chunks[0].messages] == [tuple(m) for m in msgs]
    assert [m[2] for m in chunks[1].messages] == [v for _, _, v, _ in old]
    assert [tuple(m[3]) for m in chunks[1].messages] == [tuple(h) for _, _, _, h in old]


class _Away:
    async def start(self) -> None:
        await asyncio.Event().wait()

    async def abort(self) -> None:
        pass


async def test_concurrent_appends_share_commits_keep_order_and_are_durable(
    tmp_path: Path,
) -> None:
    settings = SpoolSettings(path=tmp_path, stop_timeout_ms=0)
    spool = Spool(settings, tmp_path / "s.sqlite3", _Away())
    commits: list[int] = []
    real = spool._store.append_many

    def counting(chunks: Any) -> tuple[int, int]:
        commits.append(len(chunks))
        return real(chunks)

    spool._store.append_many = counting  # type: ignore[method-assign]
    devices = [f"d{i:03d}" for i in range(200)]
    async with spool:
        async with asyncio.timeout(60):
            await asyncio.gather(*(spool.append(_msgs(d, 5)) for d in devices))
        # every append returned after its commit: all are counted in the file
        assert spool.stats.depth == spool.stats.appended == 5 * len(devices)
    assert sum(commits) == len(devices)
    assert len(commits) < len(devices) / 4, commits  # many appends per transaction
    store = SpoolStore(tmp_path / "s.sqlite3", 1 << 30)
    store.open()
    try:
        chunks = store.read(10_000)
    finally:
        store.close()
    assert [c.messages[0][1] for c in chunks] == [d.encode() for d in devices]
