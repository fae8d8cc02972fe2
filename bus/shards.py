"""Device shards: how collector instances of one network share its devices.

A network's devices are split into ``shards`` shards by a stable hash of the
device id (:func:`shard_of`: Kafka's key partitioner, so any process, any
language, any restart puts a device in the same shard).  On Kafka the
shards are the partitions of a small control topic
(:func:`bus.topics.control_topic`) and the instances of one network join one
consumer group on it (:class:`bus.shards_kafka.KafkaShardGroup`): Kafka's
group membership, not a separate coordinator, decides which instance polls
which shard, and hands a dead instance's shards to the others once its
session expires.  On the embedded bus (or with sharing turned off) the
collector has no shard group and polls every device.

The rule that keeps a device from being polled twice in one cycle, whatever
the timing of a rebalance (see :meth:`ShardGroup.shards_for_tick`): an
instance polls, in the cycle of a tick, only shards it held at that tick;
an instance in the middle of a rebalance at the tick waits for it to end
(bounded) and polls the shards it held both before and after.  Kafka's
(eager) rebalance revokes every member's partitions before it assigns any,
so no two instances can both hold a shard at one tick.  A shard gained in a
rebalance is polled from the next tick on; a dead instance's shards miss at
most the cycle in which the group noticed.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from bus.partitioner import partition_for


def shard_of(device_id: str, shards: int) -> int:
    """The shard of ``device_id`` among ``shards`` (Kafka's key partitioner on
    the UTF-8 id: stable across processes, hosts and versions)."""
    return partition_for(device_id.encode(), shards)


@runtime_checkable
class ShardGroup(Protocol):
    """Which of a network's shards this instance polls.  ``start`` joins (and
    waits, bounded, for a first assignment), ``stop`` leaves so the others
    take the shards at once."""

    network: str
    shards: int

    async def start(self) -> None: ...
    async def stop(self) -> None: ...

    async def shards_for_tick(
        self, tick_unix_ms: int, wait_until_unix_ms: int | None = None
    ) -> frozenset[int]:
        """The shards to poll in the cycle of ``tick_unix_ms`` (see the module's
        rule); a rebalance is waited for until ``wait_until_unix_ms`` at most."""
        ...

    def owned(self) -> frozenset[int]:
        """The shards held now (empty during a rebalance)."""
        ...
