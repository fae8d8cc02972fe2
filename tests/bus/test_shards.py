"""Device shards (bus/shards.py) and the tick rule of the Kafka shard group
(bus/shards_kafka.py), driven through its rebalance callbacks without a broker.
The real group on a real broker: tests/e2e/test_shared_network.py."""

from __future__ import annotations

import asyncio
import time

from bus.partitioner import partition_for
from bus.settings import BusSettings
from bus.shards import shard_of
from bus.shards_kafka import KafkaShardGroup


def group() -> KafkaShardGroup:
    settings = BusSettings.model_validate({"backend": "kafka"})
    return KafkaShardGroup(settings, "n", 8, instance_id="a")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def test_a_device_shard_is_kafkas_key_partition_of_its_id() -> None:
    ids = [f"dev-{i}" for i in range(500)]
    assert [shard_of(d, 16) for d in ids] == [partition_for(d.encode(), 16) for d in ids]
    counts = [sum(shard_of(d, 16) == s for d in ids) for s in range(16)]
    assert min(counts) > 10  # spread over every shard, not a few


async def test_held_shards_are_polled_when_no_rebalance_runs() -> None:
    g = group()
    g._assigned(frozenset({1, 2}))
    assert await g.shards_for_tick(0) == {1, 2}
    assert g.owned() == {1, 2}


async def test_a_tick_during_a_rebalance_polls_only_shards_held_before_and_after() -> None:
    g = group()
    g._assigned(frozenset({1, 2, 3}))
    g._revoked()
    assert g.owned() == frozenset()
    asked = asyncio.create_task(g.shards_for_tick(0, now_ms() + 5_000))
    await asyncio.sleep(0.05)
    assert not asked.done()  # waits for the rebalance to end
    g._assigned(frozenset({2, 3, 4, 5}))  # 1 went to another instance, 4 and 5 came
    assert await asked == {2, 3}
    assert await g.shards_for_tick(1) == {2, 3, 4, 5}  # the next tick: all held


async def test_a_rebalance_that_does_not_end_in_time_polls_nothing() -> None:
    g = group()
    g._assigned(frozenset({1, 2}))
    g._revoked()
    t0 = time.monotonic()
    assert await g.shards_for_tick(0, now_ms() + 200) == frozenset()
    assert time.monotonic() - t0 < 2


async def test_a_fresh_instance_polls_nothing_in_a_tick_its_first_shards_came_during() -> None:
    g = group()  # never assigned: in its first rebalance
    asked = asyncio.create_task(g.shards_for_tick(0, now_ms() + 5_000))
    await asyncio.sleep(0.05)
    g._assigned(frozenset({0, 1}))
    assert await asked == frozenset()
    assert await g.shards_for_tick(1) == {0, 1}


async def test_two_revocations_in_one_rebalance_keep_the_shards_held_before_the_first() -> None:
    g = group()
    g._assigned(frozenset({1, 2}))
    g._revoked()
    g._revoked()  # aiokafka may call it again when a join is retried
    asked = asyncio.create_task(g.shards_for_tick(0, now_ms() + 5_000))
    await asyncio.sleep(0.01)
    g._assigned(frozenset({1, 2}))
    assert await asked == {1, 2}


async def test_an_instance_that_cannot_reach_the_broker_polls_every_shard() -> None:
    import socket

    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = BusSettings.model_validate(
        {
            "backend": "kafka",
            "kafka": {"bootstrap_servers": f"127.0.0.1:{port}", "request_timeout_ms": 2000},
        }
    )
    g = KafkaShardGroup(settings, "n", 8, instance_id="a")
    t0 = time.monotonic()
    await g.start()
    try:
        assert time.monotonic() - t0 < 10  # the collector's schedule is not held up
        assert g.unjoined
        assert await g.shards_for_tick(0, now_ms() + 1000) == frozenset(range(8))
    finally:
        await g.stop()
