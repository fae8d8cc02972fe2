"""The Kafka backend against a real broker.

Start one with ``scripts/kafka.sh start`` and export the line it prints
(``NETFEED_KAFKA_BOOTSTRAP=127.0.0.1:19092``).  Without it the broker tests
skip; the partitioner and unreachable-broker tests run anyway.
Every wait is bounded; every test uses its own topics and groups.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections import defaultdict

import aiokafka.partitioner
import pytest
from aiokafka.partitioner import DefaultPartitioner

import bus.partitioner
from bus.api import BusError, BusMessage
from bus.kafka import KafkaConsumer, KafkaProducer
from bus.partitioner import partition_for
from bus.settings import BusSettings, KafkaSettings

WAIT_S = 30.0


@pytest.fixture
def bootstrap() -> str:
    value = os.environ.get("NETFEED_KAFKA_BOOTSTRAP")
    if not value:
        pytest.skip(
            "NETFEED_KAFKA_BOOTSTRAP is unset: run scripts/kafka.sh start and export "
            "the NETFEED_KAFKA_BOOTSTRAP=... line it prints"
        )
    return value


def settings(bootstrap: str, **kafka: object) -> BusSettings:
    base: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "partitions": 3,
        "compression": "none",
        "linger_ms": 5,
        "metadata_max_age_ms": 500,  # pattern subscriptions see new topics quickly
        "session_timeout_ms": 6_000,
        "heartbeat_interval_ms": 500,
        "request_timeout_ms": 15_000,
    }
    base.update(kafka)
    return BusSettings(backend="kafka", kafka=KafkaSettings.model_validate(base))


def unique(what: str) -> str:
    return f"test-{what}-{uuid.uuid4().hex[:10]}"


async def drain(consumer: KafkaConsumer, n: int, timeout_s: float = WAIT_S) -> list[BusMessage]:
    """Read until ``n`` messages arrived (exactly: never asks for more) or time is up."""
    got: list[BusMessage] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < n and time.monotonic() < deadline:
        got += await consumer.getmany(timeout_ms=200, max_records=n - len(got))
    return got


async def produce(s: BusSettings, topic: str, n: int, *, key: bytes | None = None) -> None:
    async with KafkaProducer(s) as p:
        await p.ensure_topic(topic)
        for i in range(n):
            await p.send(topic, b"%d" % i, key=key)
        await p.flush()


def test_murmur2_agrees_with_aiokafka_partitioner() -> None:
    # Vectors from Kafka's own UtilsTest (Java), then random keys.
    java = {
        b"21": -973932308,
        b"foobar": -790332482,
        b"a-little-bit-long-string": -985981536,
        b"a-little-bit-longer-string": -1486304829,
        b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
        b"abc": 479470107,
    }
    for key, expected in java.items():  # Java's toPositive(murmur2(key)) % n
        for n in (1, 3, 7, 64, 1000):
            assert partition_for(key, n) == (expected & 0x7FFFFFFF) % n, (key, n)
    rng = random.Random(7)
    keys = [b"", b"core-1", *(f"dev-{i}".encode() for i in range(200))]
    keys += [rng.randbytes(rng.randrange(1, 40)) for _ in range(500)]
    aiokafka_partition = DefaultPartitioner()
    assert bus.partitioner.murmur2 is aiokafka.partitioner.murmur2  # no murmur2 of our own
    for n in (1, 2, 3, 6, 7, 12, 64):
        parts = list(range(n))
        for key in keys:
            assert aiokafka_partition(key, parts, parts) == partition_for(key, n), (key, n)


async def test_unreachable_broker_is_a_bus_error() -> None:
    s = settings("127.0.0.1:1", request_timeout_ms=1_000)
    started = time.monotonic()
    with pytest.raises(BusError, match=r"127\.0\.0\.1:1"):
        await KafkaProducer(s).start()
    with pytest.raises(BusError, match=r"127\.0\.0\.1:1"):
        await KafkaConsumer(s, group="g", topics=["t"]).start()
    assert time.monotonic() - started < 10


@pytest.mark.kafka
async def test_keyed_messages_arrive_in_order_per_key(bootstrap: str) -> None:
    s = settings(bootstrap)
    topic, keys, per_key = unique("order"), [f"dev-{i}".encode() for i in range(20)], 150
    async with KafkaProducer(s) as p:
        assert await p.ensure_topic(topic) == 3
        for seq in range(per_key):
            for key in keys:
                await p.send(topic, b"%d" % seq, key=key, headers=[("seq", b"%d" % seq)])
        await p.flush()
    async with KafkaConsumer(s, group=unique("g"), topics=[topic]) as c:
        got = await drain(c, per_key * len(keys))
    assert len(got) == per_key * len(keys)
    seen: dict[bytes, list[int]] = defaultdict(list)
    for m in got:
        assert m.key is not None
        assert m.partition == partition_for(m.key, 3)  # same placement as the embedded bus
        assert m.headers == (("seq", m.value),)
        seen[m.key].append(int(m.value))
    assert all(seen[k] == list(range(per_key)) for k in keys)


@pytest.mark.kafka
async def test_commit_then_same_group_resumes_after_it(bootstrap: str) -> None:
    s = settings(bootstrap, partitions=1)
    topic, group = unique("resume"), unique("g")
    await produce(s, topic, 10)
    async with KafkaConsumer(s, group=group, topics=[topic]) as c:
        first = await drain(c, 6)
        await c.commit()
    assert [m.offset for m in first] == list(range(6))
    async with KafkaConsumer(s, group=group, topics=[topic]) as c:
        rest = await drain(c, 4)
        assert await c.getmany(timeout_ms=500) == []
    assert [m.offset for m in rest] == [6, 7, 8, 9]
    assert [m.value for m in rest] == [b"6", b"7", b"8", b"9"]


@pytest.mark.kafka
async def test_uncommitted_messages_are_redelivered(bootstrap: str) -> None:
    s = settings(bootstrap, partitions=1)
    topic, group = unique("redeliver"), unique("g")
    await produce(s, topic, 10)
    async with KafkaConsumer(s, group=group, topics=[topic]) as c:
        assert len(await drain(c, 4)) == 4
        await c.commit()
        assert len(await drain(c, 6)) == 6  # read, never committed: the consumer "dies"
    async with KafkaConsumer(s, group=group, topics=[topic]) as c:
        again = await drain(c, 6)
    assert [m.offset for m in again] == [4, 5, 6, 7, 8, 9]


@pytest.mark.kafka
async def test_group_none_reads_everything_and_commit_is_a_noop(bootstrap: str) -> None:
    s = settings(bootstrap)
    topic = unique("nogroup")
    await produce(s, topic, 30, key=b"k")
    async with KafkaConsumer(s, group=None, topics=[topic]) as c:
        got = await drain(c, 30)
        await c.commit()
    assert [int(m.value) for m in got] == list(range(30))


@pytest.mark.kafka
async def test_ensure_topic_is_idempotent_and_returns_partition_count(bootstrap: str) -> None:
    topic = unique("ensure")
    async with KafkaProducer(settings(bootstrap, partitions=5)) as a:
        async with KafkaProducer(settings(bootstrap, partitions=5)) as b:
            # Two creators racing: both succeed, one of them by "already exists".
            assert await asyncio.gather(a.ensure_topic(topic), b.ensure_topic(topic)) == [5, 5]
            assert await a.ensure_topic(topic) == 5
    # An existing topic keeps its partitions, whatever this producer's settings say.
    async with KafkaProducer(settings(bootstrap, partitions=2)) as c:
        assert await c.ensure_topic(topic) == 5


@pytest.mark.kafka
async def test_send_to_missing_topic_fails_naming_it(bootstrap: str) -> None:
    # auto.create.topics.enable=false on the test broker, as in production.
    topic = unique("missing")
    with pytest.raises(BusError, match=topic):
        async with KafkaProducer(settings(bootstrap, request_timeout_ms=1_000)) as p:
            await p.send(topic, b"x")
            await p.flush()


@pytest.mark.kafka
async def test_pattern_subscription_picks_up_a_topic_created_later(bootstrap: str) -> None:
    s = settings(bootstrap)
    prefix = unique("pattern")
    async with KafkaConsumer(s, group=unique("g"), pattern=rf"{prefix}\..*") as c:
        assert await c.getmany(timeout_ms=500) == []
        await produce(s, f"{prefix}.late", 3, key=b"k")
        got = await drain(c, 3)
    assert [(m.topic, m.value) for m in got] == [(f"{prefix}.late", b"%d" % i) for i in range(3)]


@pytest.mark.kafka
async def test_two_consumers_in_one_group_split_the_partitions(bootstrap: str) -> None:
    s = settings(bootstrap, partitions=4)
    topic, group = unique("split"), unique("g")
    async with KafkaProducer(s) as p:
        await p.ensure_topic(topic)
    every = {(topic, i) for i in range(4)}
    async with (
        KafkaConsumer(s, group=group, topics=[topic]) as a,
        KafkaConsumer(s, group=group, topics=[topic]) as b,
    ):
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            await asyncio.gather(a.getmany(timeout_ms=200), b.getmany(timeout_ms=200))
            ours, theirs = a.assignment(), b.assignment()
            if ours and theirs and not ours & theirs and ours | theirs == every:
                break
        assert ours and theirs and not ours & theirs and ours | theirs == every

        async with KafkaProducer(s) as p:
            for i in range(40):
                await p.send(topic, b"%d" % i, key=b"k%d" % i)
            await p.flush()
        got: dict[str, list[BusMessage]] = {"a": [], "b": []}
        deadline = time.monotonic() + WAIT_S
        while len(got["a"]) + len(got["b"]) < 40 and time.monotonic() < deadline:
            ma, mb = await asyncio.gather(a.getmany(timeout_ms=200), b.getmany(timeout_ms=200))
            got["a"] += ma
            got["b"] += mb
    assert all((m.topic, m.partition) in ours for m in got["a"])
    assert all((m.topic, m.partition) in theirs for m in got["b"])
    assert sorted(int(m.value) for m in got["a"] + got["b"]) == list(range(40))


async def test_commit_lost_to_a_rebalance_warns_instead_of_raising(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from aiokafka import TopicPartition
    from aiokafka.errors import CommitFailedError

    tp = TopicPartition("t", 0)

    class Racing:  # an aiokafka consumer whose group rebalanced under the commit
        def assignment(self) -> set[TopicPartition]:
            return {tp}

        async def commit(self, offsets: object) -> None:
            raise CommitFailedError("group rebalanced")

    c = KafkaConsumer(settings("127.0.0.1:1"), group="g", topics=["t"])
    c._consumer = Racing()  # type: ignore[assignment]
    c._uncommitted[tp] = 5
    await c.commit()
    assert "re-delivered" in caplog.text


@pytest.mark.kafka
async def test_rebalance_between_getmany_and_commit_loses_nothing(bootstrap: str) -> None:
    s = settings(bootstrap, partitions=2)
    topic, group = unique("rebalance"), unique("g")
    async with KafkaProducer(s) as p:
        await p.ensure_topic(topic)
        for i in range(20):
            await p.send(topic, b"%d" % i, partition=i % 2)
        await p.flush()
    async with KafkaConsumer(s, group=group, topics=[topic]) as a:
        assert len(await drain(a, 20)) == 20  # read everything, commit nothing yet
        async with KafkaConsumer(s, group=group, topics=[topic]) as b:
            # b joining revokes a's partitions before a gets to commit.
            deadline = time.monotonic() + WAIT_S
            got: list[BusMessage] = []
            while time.monotonic() < deadline:
                ma, mb = await asyncio.gather(a.getmany(timeout_ms=200), b.getmany(timeout_ms=200))
                got += ma + mb
                if len(a.assignment()) == len(b.assignment()) == 1:
                    break
            await a.commit()  # must not raise; commits only what a still owns
            got += await drain(a, 10, timeout_s=2) + await drain(b, 10, timeout_s=2)
            await a.commit()
            await b.commit()
    # At least once: every message was re-read after the rebalance by its new owner.
    assert sorted({int(m.value) for m in got}) == list(range(20))
    # ... and the commits after the rebalance covered everything.
    async with KafkaConsumer(s, group=group, topics=[topic]) as c:
        assert await drain(c, 1, timeout_s=2) == []


async def test_session_timeout_refused_by_the_broker_names_the_setting() -> None:
    from aiokafka.errors import InvalidSessionTimeoutError

    class Refused:  # an aiokafka consumer whose group join the broker refused
        def assignment(self) -> set[object]:
            return set()

        async def getmany(self, *a: object, **kw: object) -> dict[object, list[object]]:
            raise InvalidSessionTimeoutError()

    c = KafkaConsumer(settings("127.0.0.1:1"), group="g", topics=["t"])
    c._consumer = Refused()  # type: ignore[assignment]
    with pytest.raises(BusError) as err:
        await c.getmany(timeout_ms=100)
    msg = str(err.value)
    assert "kafka.session_timeout_ms" in msg and "6000" in msg
    assert "group.min.session.timeout.ms" in msg and "group.max.session.timeout.ms" in msg


@pytest.mark.kafka
async def test_real_broker_refusing_the_session_timeout_is_a_bus_error_naming_it(
    bootstrap: str,
) -> None:
    # Valid for netfeed (at least 6000), but above the broker's default
    # group.max.session.timeout.ms (30 min): the broker refuses the join.
    s = settings(bootstrap, session_timeout_ms=1_900_000)
    topic = unique("session")
    started = time.monotonic()
    async with KafkaConsumer(s, group=unique("g"), topics=[topic]) as c:
        with pytest.raises(BusError) as err:
            while time.monotonic() - started < WAIT_S:
                await c.getmany(timeout_ms=200)
    msg = str(err.value)
    assert "kafka.session_timeout_ms" in msg and "1900000" in msg
    assert "group.min.session.timeout.ms" in msg and "group.max.session.timeout.ms" in msg


@pytest.mark.kafka
async def test_groupless_pattern_matching_nothing_returns_within_timeout(bootstrap: str) -> None:
    # Without a group, aiokafka's getmany waits for an assignment, with no time
    # limit, until the pattern matches a topic (netfeed tail on a glob matching nothing).
    s = settings(bootstrap)
    prefix = unique("nothing")
    async with KafkaConsumer(s, group=None, pattern=rf"{prefix}\..*") as c:
        started = time.monotonic()
        try:
            got = await asyncio.wait_for(c.getmany(timeout_ms=300), 10)
        except TimeoutError:
            pytest.fail("getmany(timeout_ms=300) was still waiting after 10 s")
        assert got == []
        assert time.monotonic() - started < 3
        await produce(s, f"{prefix}.late", 3, key=b"k")
        got = await drain(c, 3)
    assert [(m.topic, m.value) for m in got] == [(f"{prefix}.late", b"%d" % i) for i in range(3)]
