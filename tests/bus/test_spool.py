"""The spool: ordered, bounded, durable, never blocking the publisher."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from bus.api import BusError
from bus.partitioner import partition_for
from bus.records import RECORD_ID_HEADER, Record, decode, record_id
from bus.settings import SpoolSettings
from bus.spool import Spool, SpoolStore
from collectors.publish import Publisher
from tests.support.messages import marker, rec

PARTS = 3
REPO = Path(__file__).resolve().parents[2]


class FakeProducer:
    """submit_batches that records what it got; ``down`` makes rounds fail,
    ``frozen`` makes them hang (a SIGSTOPped broker)."""

    def __init__(self) -> None:
        self.down = False
        self.frozen = False
        self.got: dict[tuple[str, int], list[bytes]] = {}
        self.starts = self.aborts = 0

    async def start(self) -> None:
        if self.down:
            raise BusError("cannot reach bootstrap servers")
        self.starts += 1

    async def stop(self) -> None:
        pass

    async def abort(self) -> None:
        self.aborts += 1

    async def ensure_topic(self, topic: str) -> int:
        return PARTS

    async def submit_batches(
        self, batches: Sequence[tuple[str, int, Sequence[tuple[Any, bytes, Any, Any]]]]
    ) -> asyncio.Future[None]:
        acks: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.frozen:
            return acks  # never acknowledged
        if self.down:
            raise BusError("NodeNotReady")
        for topic, p, msgs in batches:
            self.got.setdefault((topic, p), []).extend(m[1] for m in msgs)
        acks.set_result(None)
        return acks

    def all(self) -> list[bytes]:
        return [v for vs in self.got.values() for v in vs]


def settings(tmp_path: Path, **kw: Any) -> SpoolSettings:
    kw.setdefault("send_timeout_ms", 300)
    kw.setdefault("stop_timeout_ms", 1000)
    return SpoolSettings(path=tmp_path, **kw)


async def wait_for(cond: Any, timeout_s: float = 10.0) -> None:
    end = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < end, "condition not met"
        await asyncio.sleep(0.02)


def test_record_id_is_stable_and_distinct() -> None:
    a, b = rec("d1", 1), rec("d1", 1)
    assert record_id(a) == record_id(b)
    b.fields["in_octets"] = 99  # values are not identity
    assert record_id(a) == record_id(b)
    ids = {record_id(rec(d, i, c)) for d in ("d1", "d2") for i in range(5) for c in (0, 1)}
    assert len(ids) == 20
    m0, m1 = marker(0, 1), marker(0, 1)
    assert record_id(m0) == record_id(m1) != record_id(rec("d1", 1))


async def test_order_per_partition_and_markers_after_their_records(tmp_path: Path) -> None:
    prod = FakeProducer()
    async with Spool(settings(tmp_path, drain_batch=7), tmp_path / "s.sqlite3", prod) as spool:
        pub = Publisher(prod, "nf", spool=spool)  # type: ignore[arg-type]
        for cycle in range(3):
            for d in ("d1", "d2", "d3", "d4"):
                await pub.publish([rec(d, i, cycle) for i in range(5)])
            await pub.complete_cycle(marker(cycle, 20))
        await wait_for(lambda: spool.stats.depth == 0)
        assert spool.stats.sent == 3 * (20 + PARTS)
    for (_topic, p), values in prod.got.items():
        seen: dict[int, int] = {}
        msgs = [decode(v) for v in values]
        for m in msgs:
            if isinstance(m, Record):
                assert partition_for(m.device.encode(), PARTS) == p
                assert m.scheduled_unix_ms not in seen, "record after its cycle's marker"
            else:
                assert m.partition == p and m.partitions == PARTS
                seen[m.scheduled_unix_ms] = 1
        devices = {m.device for m in msgs if isinstance(m, Record)}
        for d in devices:  # a device's records keep their order
            mine = [
                (m.scheduled_unix_ms, m.tags["if_index"])
                for m in msgs
                if isinstance(m, Record) and m.device == d
            ]
            assert mine == sorted(mine)
        assert sorted(seen) == [0, 1, 2]


async def test_outage_spools_then_drains_with_one_line_each_way(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bus.spool")
    prod = FakeProducer()
    async with Spool(settings(tmp_path), tmp_path / "s.sqlite3", prod) as spool:
        pub = Publisher(prod, "nf", spool=spool)  # type: ignore[arg-type]
        await pub.publish([rec("d1", 0)])
        await wait_for(lambda: spool.stats.sent == 1)
        prod.down = True
        worst = 0.0
        for i in range(1, 200):
            t0 = time.perf_counter()
            await pub.publish([rec("d1", i)])
            worst = max(worst, time.perf_counter() - t0)
            await asyncio.sleep(0.01)
        assert spool.stats.broker_up is False and spool.stats.depth > 0
        assert worst < 0.5, worst  # the publisher never waits on the broker
        prod.down = False
        await wait_for(lambda: spool.stats.depth == 0)
        assert spool.stats.retries >= 1
    got = [decode(v) for v in prod.all()]
    assert sorted({record_id(m) for m in got}) == sorted(
        {record_id(rec("d1", i)) for i in range(200)}
    )
    lines = [r.getMessage() for r in caplog.records]
    assert sum("broker unreachable" in m for m in lines) == 1, lines
    assert sum("broker reachable again" in m for m in lines) == 1, lines


async def test_frozen_broker_is_detected_by_the_send_timeout(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    prod = FakeProducer()
    prod.frozen = True
    async with Spool(
        settings(tmp_path, stop_timeout_ms=200), tmp_path / "s.sqlite3", prod
    ) as spool:
        await spool.append([("t", b"k", b"v", [])])
        await wait_for(lambda: spool.stats.broker_up is False)
    assert "no acknowledgement within the send timeout" in caplog.text
    assert prod.aborts >= 1


async def test_full_spool_drops_oldest_and_counts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    prod = FakeProducer()
    prod.down = True
    path = tmp_path / "s.sqlite3"
    async with Spool(settings(tmp_path, max_octets=10_010, stop_timeout_ms=0), path, prod) as spool:
        for i in range(100):
            await spool.append([("t", b"k", b"%04d" % i + b"x" * 996, [])])
        assert spool.stats.dropped == 90
        assert spool.stats.depth == 10 and spool.stats.octets <= 10_010
    assert sum("dropping the oldest" in r.getMessage() for r in caplog.records) == 1
    store = SpoolStore(path, 10_010)
    store.open()
    assert [c.messages[0][2][:4] for c in store.read(100)] == [b"%04d" % i for i in range(90, 100)]
    store.close()


async def test_stop_with_broker_down_is_bounded_and_keeps_data(tmp_path: Path) -> None:
    prod = FakeProducer()
    prod.down = True
    path = tmp_path / "s.sqlite3"
    spool = Spool(settings(tmp_path, stop_timeout_ms=5000), path, prod)
    await spool.start()
    await spool.append([("t", b"k", b"v%d" % i, [(RECORD_ID_HEADER, b"x")]) for i in range(50)])
    await wait_for(lambda: spool.stats.broker_up is False)
    t0 = time.monotonic()
    await spool.stop()
    assert time.monotonic() - t0 < 2.0  # broker known down: no need to wait it out
    prod2 = FakeProducer()
    async with Spool(settings(tmp_path), path, prod2) as again:
        assert again.stats.depth == 50
        await wait_for(lambda: again.stats.depth == 0)
    assert prod2.all() == [b"v%d" % i for i in range(50)]


CHILD = """
import asyncio, sys
sys.path.insert(0, {repo!r})
from pathlib import Path
from bus.settings import SpoolSettings
from bus.spool import Spool

class Never:
    async def start(self):
        await asyncio.Event().wait()
    async def abort(self):
        pass
    async def stop(self):
        pass

async def main():
    spool = Spool(SpoolSettings(path=Path({d!r})), Path({p!r}), Never())
    await spool.start()
    i = 0
    while True:
        await spool.append([("t", b"k", b"%08d" % (i + j) + b"y" * 500, []) for j in range(100)])
        i += 100
        print(i, flush=True)

asyncio.run(main())
"""


def test_sigkill_mid_write_loses_no_committed_row(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    code = CHILD.format(repo=str(REPO), d=str(tmp_path), p=str(path))
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    committed = 0
    for line in child.stdout:
        committed = int(line)
        if committed >= 3000:
            break
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    prod = FakeProducer()

    async def reopen() -> None:
        async with Spool(settings(tmp_path), path, prod) as spool:
            assert spool.stats.depth >= committed
            await wait_for(lambda: spool.stats.depth == 0)

    asyncio.run(reopen())
    values = prod.all()
    assert len(values) >= committed
    assert [int(v[:8]) for v in values] == list(range(len(values)))


def test_spool_settings_are_checked_and_the_path_is_relative_to_the_config(
    tmp_path: Path,
) -> None:
    import yaml

    from bus.configfile import SettingsError, load_bus_settings

    (tmp_path / "netfeed.yaml").write_text(
        yaml.safe_dump({"bus": {"backend": "kafka", "spool": {"path": "../var/spool"}}})
    )
    assert load_bus_settings(tmp_path).spool.path == tmp_path.parent / "var" / "spool"
    (tmp_path / "netfeed.yaml").write_text(
        yaml.safe_dump({"bus": {"spool": {"max_octets": 10, "drain_batch": 0}}})
    )
    with pytest.raises(SettingsError) as err:
        load_bus_settings(tmp_path)
    text = "\n".join(err.value.problems)
    assert "bus.spool.max_octets" in text and "bus.spool.drain_batch" in text


async def test_memory_cache_eviction_and_drops_keep_order_and_lose_nothing(
    tmp_path: Path,
) -> None:
    """The newest chunks are read from memory; evicted ones (a small cache here)
    and ones before a restart come from the file: the order is the same."""
    prod = FakeProducer()
    path = tmp_path / "s.sqlite3"
    spool = Spool(settings(tmp_path, drain_batch=5), path, prod)
    spool._store = SpoolStore(path, spool.settings.max_octets, cache_octets=3_000)
    async with spool:
        for i in range(40):  # drained as they come (cache)
            await spool.append([("t", b"k", b"%04d" % i + b"z" * 496, [])])
            if i % 7 == 0:
                await asyncio.sleep(0.01)
        await wait_for(lambda: spool.stats.depth == 0)
        prod.down = True
        for i in range(40, 100):  # a backlog bigger than the cache
            await spool.append([("t", b"k", b"%04d" % i + b"z" * 496, [])])
        await wait_for(lambda: spool.stats.broker_up is False)
        prod.down = False
        for i in range(100, 120):  # appended while the backlog drains
            await spool.append([("t", b"k", b"%04d" % i + b"z" * 496, [])])
        await wait_for(lambda: spool.stats.depth == 0)
    values = [int(v[:4]) for v in prod.all()]
    assert sorted(set(values)) == list(range(120))
    firsts: list[int] = []
    for v in values:
        if v not in firsts:
            firsts.append(v)
    assert firsts == list(range(120))
