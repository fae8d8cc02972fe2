"""The bus contract (bus/api.py), run against every backend.

Only :mod:`bus.factory` is used, and every topic and group name is fresh, so the
same tests run on the embedded bus and on a real Kafka broker (which keeps
state between runs).  Kafka runs when ``NETFEED_KAFKA_BOOTSTRAP`` is set
(``scripts/kafka.sh start``).  Every wait is bounded; the bounds are generous
because a Kafka group join takes seconds.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from bus.api import BusMessage, Consumer
from bus.factory import make_consumer, make_producer
from bus.partitioner import partition_for
from bus.settings import BusSettings, EmbeddedSettings, KafkaSettings

PARTITIONS = 3
WAIT_S = 60.0


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
def bus_settings(request: pytest.FixtureRequest, tmp_path: Path) -> BusSettings:
    if request.param == "kafka":
        bootstrap = os.environ.get("NETFEED_KAFKA_BOOTSTRAP")
        if not bootstrap:
            pytest.skip("NETFEED_KAFKA_BOOTSTRAP not set: Kafka tests need scripts/kafka.sh start")
        return BusSettings(
            backend="kafka",
            kafka=KafkaSettings(
                bootstrap_servers=bootstrap,
                partitions=PARTITIONS,
                metadata_max_age_ms=500,
                session_timeout_ms=6000,
                heartbeat_interval_ms=500,
            ),
        )
    return BusSettings(
        backend="embedded",
        embedded=EmbeddedSettings(
            path=tmp_path / "bus.sqlite3",
            partitions=PARTITIONS,
            session_timeout_ms=1000,
            heartbeat_interval_ms=100,
            poll_interval_ms=10,
        ),
    )


def fresh(kind: str) -> str:
    return f"netfeed.contract-{uuid.uuid4().hex[:12]}.{kind}"


async def drain(consumer: Consumer, want: int, *, timeout_s: float = WAIT_S) -> list[BusMessage]:
    """Read until ``want`` messages arrived or ``timeout_s`` passed."""
    got: list[BusMessage] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < want and time.monotonic() < deadline:
        got += await consumer.getmany(timeout_ms=200)
    return got


async def send_all(settings: BusSettings, topic: str, values: list[bytes]) -> None:
    async with make_producer(settings) as p:
        await p.ensure_topic(topic)
        for v in values:
            await p.send(topic, v)
        await p.flush()


def ints(msgs: list[BusMessage]) -> list[int]:
    return [int(m.value) for m in msgs]


async def test_ensure_topic_returns_partition_count(bus_settings: BusSettings) -> None:
    topic = fresh("t")
    async with make_producer(bus_settings) as p:
        assert await p.ensure_topic(topic) == PARTITIONS
        assert await p.ensure_topic(topic) == PARTITIONS  # idempotent


async def test_same_key_same_partition_in_order(bus_settings: BusSettings) -> None:
    topic = fresh("t")
    keys = [f"device-{i}".encode() for i in range(6)]
    async with make_producer(bus_settings) as p:
        await p.ensure_topic(topic)
        for i in range(300):
            await p.send(topic, b"%d" % i, key=keys[i % len(keys)])
        await p.flush()
    async with make_consumer(bus_settings, group=fresh("g"), topics=[topic]) as c:
        got = await drain(c, 300)
    assert sorted(ints(got)) == list(range(300))
    last: dict[bytes, int] = {}
    for m in got:
        assert m.key is not None and m.topic == topic
        assert m.partition == partition_for(m.key, PARTITIONS)
        assert int(m.value) > last.get(m.key, -1), "same key read out of order"
        last[m.key] = int(m.value)


async def test_flushed_messages_are_seen_by_a_new_consumer(bus_settings: BusSettings) -> None:
    topic = fresh("t")
    await send_all(bus_settings, topic, [b"%d" % i for i in range(500)])
    async with make_consumer(bus_settings, group=fresh("g"), topics=[topic]) as c:
        got = await drain(c, 500)
    assert sorted(ints(got)) == list(range(500))


async def test_commit_then_resume(bus_settings: BusSettings) -> None:
    topic, group = fresh("t"), fresh("g")
    await send_all(bus_settings, topic, [b"%d" % i for i in range(100)])
    async with make_consumer(bus_settings, group=group, topics=[topic]) as c:
        assert sorted(ints(await drain(c, 100))) == list(range(100))
        await c.commit()
    await send_all(bus_settings, topic, [b"%d" % i for i in range(100, 150)])
    async with make_consumer(bus_settings, group=group, topics=[topic]) as c:
        assert sorted(ints(await drain(c, 50))) == list(range(100, 150))
        assert await c.getmany(timeout_ms=500) == []


async def test_uncommitted_messages_are_redelivered(bus_settings: BusSettings) -> None:
    topic, group = fresh("t"), fresh("g")
    await send_all(bus_settings, topic, [b"%d" % i for i in range(100)])
    async with make_consumer(bus_settings, group=group, topics=[topic]) as c:
        first: list[BusMessage] = []
        deadline = time.monotonic() + WAIT_S
        while not first and time.monotonic() < deadline:
            first = await c.getmany(timeout_ms=200, max_records=30)
        assert 0 < len(first) <= 30
        await c.commit()
        rest = await drain(c, 100 - len(first))
        assert sorted(ints(first + rest)) == list(range(100))
        # stop() without commit: the rest must be delivered again
    async with make_consumer(bus_settings, group=group, topics=[topic]) as c:
        again = await drain(c, len(rest))
    assert sorted(ints(again)) == sorted(ints(rest))


async def test_group_members_split_partitions_exactly_once(bus_settings: BusSettings) -> None:
    topic, group = fresh("t"), fresh("g")
    async with make_producer(bus_settings) as p:
        await p.ensure_topic(topic)
    a = make_consumer(bus_settings, group=group, topics=[topic], client_id="a")
    b = make_consumer(bus_settings, group=group, topics=[topic], client_id="b")
    async with a, b:
        everything = {(topic, p) for p in range(PARTITIONS)}
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            await asyncio.gather(a.getmany(timeout_ms=200), b.getmany(timeout_ms=200))
            sa, sb = a.assignment(), b.assignment()
            if sa and sb and not sa & sb and sa | sb == everything:
                break
        assert a.assignment() and b.assignment()
        assert not a.assignment() & b.assignment()
        assert a.assignment() | b.assignment() == everything

        keys = [f"device-{i}".encode() for i in range(30)]  # lands on every partition
        assert {partition_for(k, PARTITIONS) for k in keys} == set(range(PARTITIONS))
        async with make_producer(bus_settings) as p:
            for i in range(600):
                await p.send(topic, b"%d" % i, key=keys[i % len(keys)])
            await p.flush()

        got: dict[str, list[BusMessage]] = {"a": [], "b": []}
        deadline = time.monotonic() + WAIT_S
        settle = None  # keep polling briefly after the last one, to catch duplicates
        while time.monotonic() < deadline and (settle is None or time.monotonic() < settle):
            ma, mb = await asyncio.gather(a.getmany(timeout_ms=200), b.getmany(timeout_ms=200))
            got["a"] += ma
            got["b"] += mb
            if settle is None and len(got["a"]) + len(got["b"]) >= 600:
                settle = time.monotonic() + 1.0
        await asyncio.gather(a.commit(), b.commit())

    counts = Counter(ints(got["a"] + got["b"]))
    assert sorted(counts) == list(range(600))
    assert set(counts.values()) == {1}, "a message was consumed twice"
    assert got["a"] and got["b"]
    assert {(m.topic, m.partition) for m in got["a"]}.isdisjoint(
        {(m.topic, m.partition) for m in got["b"]}
    )


async def test_getmany_waits_at_most_its_timeout(bus_settings: BusSettings) -> None:
    topic = fresh("t")
    async with make_producer(bus_settings) as p:
        await p.ensure_topic(topic)
    async with make_consumer(bus_settings, group=fresh("g"), topics=[topic]) as c:
        t0 = time.monotonic()
        assert await c.getmany(timeout_ms=300) == []
        assert time.monotonic() - t0 < 5.0
