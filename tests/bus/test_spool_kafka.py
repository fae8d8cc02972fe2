"""The spool against a real Kafka broker that goes away (stopped, frozen) and
comes back, and a collector process told to stop while the broker is down.

These tests stop and freeze a broker, so they never use the shared one: they
need a broker of their own (tests/support/outage_broker.py says how to start
one); without it they are skipped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from bus.api import BusMessage
from bus.factory import make_consumer
from bus.kafka import KafkaProducer
from bus.records import RECORD_ID_HEADER, CycleComplete, Record, decode, record_id
from bus.settings import BusSettings, KafkaSettings, SpoolSettings
from bus.spool import Spool
from bus.topics import topic_name
from collectors.publish import Publisher
from tests.support import messages
from tests.support.outage_broker import PORT, broker_pid, kafka_sh, needs_outage_broker

REPO = Path(__file__).resolve().parents[2]
pytestmark = needs_outage_broker


def bus(prefix: str) -> BusSettings:
    return BusSettings(
        backend="kafka",
        topic_prefix=prefix,
        kafka=KafkaSettings(
            bootstrap_servers=f"127.0.0.1:{PORT}",
            partitions=3,
            request_timeout_ms=5000,
            compression="none",
        ),
    )


def rec(device: str, i: int, cycle: int) -> Record:
    return messages.rec(device, i, cycle, network="out")


def marker(cycle: int, records: int) -> CycleComplete:
    return messages.marker(cycle, records, network="out", devices=20)


async def read_all(b: BusSettings, ids: set[str], timeout_s: float = 120) -> list[BusMessage]:
    """Everything on the topic, until every id in ``ids`` was seen and nothing
    new came for 2 s (retries may have sent some messages twice)."""
    topic = topic_name(b.topic_prefix, "out", "interfaces")
    out: list[BusMessage] = []
    seen: set[str] = set()
    async with make_consumer(b, group=None, topics=[topic]) as consumer:
        end = time.monotonic() + timeout_s
        idle_since = time.monotonic()
        while time.monotonic() < end:
            got = await consumer.getmany(timeout_ms=500)
            if got:
                idle_since = time.monotonic()
                out += got
                seen.update(dict(m.headers)[RECORD_ID_HEADER].decode() for m in got)
            elif ids <= seen and time.monotonic() - idle_since > 2:
                break
    return out


def check_delivery(msgs: list[BusMessage], ids: set[str], cycles: int) -> None:
    """Every record id arrived (duplicates allowed), and on every partition each
    cycle's marker comes after that cycle's records."""
    got = {dict(m.headers)[RECORD_ID_HEADER].decode() for m in msgs}
    assert ids <= got, f"{len(ids - got)} of {len(ids)} records never arrived"
    for m in msgs:  # the header is the id of the payload
        assert dict(m.headers)[RECORD_ID_HEADER].decode() == record_id(decode(m.value))
    parts: dict[int, list[Any]] = {}
    for m in msgs:
        parts.setdefault(m.partition, []).append(decode(m.value))
    for p, seq in parts.items():
        # Retries may repeat messages; what matters is that no record *first*
        # arrives after its cycle's marker, and every cycle's marker arrives.
        done: set[int] = set()
        first: set[str] = set()
        for x in seq:
            if isinstance(x, CycleComplete):
                assert x.partition == p
                done.add(x.scheduled_unix_ms)
            elif (rid := record_id(x)) not in first:
                first.add(rid)
                assert x.scheduled_unix_ms not in done, "a record first arrived after its marker"
        assert len(done) == cycles, (p, len(done))


async def collection_loop(pub: Publisher, cycles: range, ids: set[str]) -> float:
    """20 devices x 10 interfaces every 0.25 s, then the marker; returns the
    slowest publish/complete_cycle call."""
    worst = 0.0
    for c in cycles:
        for d in range(20):
            batch = [rec(f"ne-{d}", i, c) for i in range(10)]
            t0 = time.perf_counter()
            await pub.publish(batch)
            worst = max(worst, time.perf_counter() - t0)
            ids.update(record_id(r) for r in batch)
        t0 = time.perf_counter()
        await pub.complete_cycle(marker(c, 200))
        worst = max(worst, time.perf_counter() - t0)
        await asyncio.sleep(0.25)
    return worst


async def outage(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, down: Any, up: Any, down_s: float
) -> None:
    caplog.set_level(logging.INFO, logger="bus.spool")
    b = bus(f"out{uuid.uuid4().hex[:8]}")
    producer = KafkaProducer(b, client_id="outage")
    ids: set[str] = set()
    sset = SpoolSettings(path=tmp_path, send_timeout_ms=3000, stop_timeout_ms=5000)
    async with Spool(sset, tmp_path / "c.sqlite3", producer) as spool:
        pub = Publisher(producer, b.topic_prefix, spool=spool)
        worst = await collection_loop(pub, range(0, 8), ids)  # ~2 s up
        await asyncio.to_thread(down)
        t_down = time.monotonic()
        n = 8
        while time.monotonic() - t_down < down_s:
            worst = max(worst, await collection_loop(pub, range(n, n + 4), ids))
            n += 4
        assert spool.stats.depth > 0
        revive = asyncio.create_task(asyncio.to_thread(up))
        while not revive.done():  # collection goes on while the broker comes back
            worst = max(worst, await collection_loop(pub, range(n, n + 4), ids))
            n += 4
        await revive
        end = time.monotonic() + 120
        while spool.stats.depth and time.monotonic() < end:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        assert spool.stats.depth == 0, spool.stats
        assert spool.stats.dropped == 0
    # Blocked on the broker would mean waiting out the outage (10-15 s here, a
    # request timeout at least).  The bound leaves room for a machine so loaded
    # that the event loop itself is descheduled for a while (seen: 2.8 s at a
    # load average of ~450 on 2 cores); on a quiet machine it is milliseconds.
    assert worst < 5, f"a publish waited {worst:.2f} s"
    msgs = await read_all(b, ids)
    check_delivery(msgs, ids, n)
    lines = [r.getMessage() for r in caplog.records if r.name == "bus.spool"]
    assert sum("broker unreachable" in m for m in lines) == 1, lines
    assert sum("broker reachable again" in m for m in lines) == 1, lines


async def test_stopped_broker_collection_goes_on_nothing_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await outage(tmp_path, caplog, lambda: kafka_sh("stop"), lambda: kafka_sh("start"), 15)


async def test_frozen_broker_collection_goes_on_nothing_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pid = broker_pid()
    try:
        await outage(
            tmp_path,
            caplog,
            lambda: os.kill(pid, signal.SIGSTOP),
            lambda: os.kill(pid, signal.SIGCONT),
            10,
        )
    finally:
        os.kill(pid, signal.SIGCONT)


CHILD = """
import asyncio, signal, sys, time
sys.path.insert(0, {repo!r})
from pathlib import Path
from bus.kafka import KafkaProducer
from bus.settings import BusSettings, KafkaSettings, SpoolSettings
from bus.spool import Spool
from collectors.publish import Publisher
sys.path.insert(0, {tests!r})
from test_spool_kafka import marker, rec

async def main():
    b = BusSettings(backend="kafka", topic_prefix={prefix!r},
                    kafka=KafkaSettings(bootstrap_servers={boot!r}, request_timeout_ms=5000))
    producer = KafkaProducer(b)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    spool = Spool(SpoolSettings(path=Path({d!r}), stop_timeout_ms=5000), Path({p!r}), producer)
    await spool.start()
    pub = Publisher(producer, {prefix!r}, spool=spool)
    for c in range(3):
        for d in range(20):
            await pub.publish([rec(f"ne-{{d}}", i, c) for i in range(10)])
        await pub.complete_cycle(marker(c, 200))
    print("ready", flush=True)
    await stop.wait()
    await spool.stop()

asyncio.run(main())
"""


def test_sigterm_with_broker_down_exits_in_time_and_spooled_data_is_sent_later(
    tmp_path: Path,
) -> None:
    b = bus(f"term{uuid.uuid4().hex[:8]}")
    path = tmp_path / "c.sqlite3"
    # The broker is "down": nothing listens on this port.
    code = CHILD.format(
        repo=str(REPO),
        tests=str(Path(__file__).parent),
        prefix=b.topic_prefix,
        boot="127.0.0.1:1",
        d=str(tmp_path),
        p=str(path),
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    t0 = time.monotonic()
    child.send_signal(signal.SIGTERM)
    rc = child.wait(timeout=30)
    took = time.monotonic() - t0
    assert rc == 0
    assert took < 15, took  # stop_timeout 5 s + producer close, whatever the broker

    async def restart() -> None:
        producer = KafkaProducer(b, client_id="restart")
        async with Spool(SpoolSettings(path=tmp_path), path, producer) as spool:
            assert spool.stats.depth == 3 * 201
            end = time.monotonic() + 60
            while spool.stats.depth and time.monotonic() < end:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            assert spool.stats.depth == 0
        ids = {
            record_id(rec(f"ne-{d}", i, c)) for c in range(3) for d in range(20) for i in range(10)
        }
        msgs = await read_all(b, ids)
        check_delivery(msgs, ids, 3)

    asyncio.run(restart())


async def test_producer_stop_has_a_deadline_when_the_broker_is_frozen() -> None:
    """KafkaProducer.stop() used to flush without a deadline (aiokafka retries a
    batch for a broker that does not answer without end)."""
    from bus.api import BusError

    b = bus(f"stop{uuid.uuid4().hex[:8]}")
    topic = topic_name(b.topic_prefix, "out", "interfaces")
    producer = KafkaProducer(b, client_id="stopper")
    await producer.start()
    await producer.ensure_topic(topic)
    await producer.send(topic, b"before", key=b"k")
    await producer.flush()
    pid = broker_pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        await producer.send(topic, b"during", key=b"k")
        t0 = time.monotonic()
        with pytest.raises(BusError, match="not every message was acknowledged"):
            await producer.stop(timeout_s=2)
        assert time.monotonic() - t0 < 10
    finally:
        os.kill(pid, signal.SIGCONT)
