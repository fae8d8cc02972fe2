"""Device shards held through a Kafka consumer group (see :mod:`bus.shards`).

The instances of one network join the group :func:`bus.topics.collectors_group`
on the control topic :func:`bus.topics.control_topic`, whose partitions are
the network's shards.  Nothing needs to be written to that topic: Kafka's
group protocol alone decides who holds which partition, with the sticky
assignor so that a rebalance moves only the shards it must (a dead
instance's; a share for a newcomer).

Guarantees:

- :meth:`KafkaShardGroup.shards_for_tick` follows the rule of
  :mod:`bus.shards`: no shard is returned to two instances for one tick;
- the member keeps polling the (empty) topic in the background so Kafka
  never takes it for stuck (``max.poll.interval.ms``); heartbeats are
  aiokafka's;
- while the broker is away the instance keeps the shards it held (nobody
  can be assigned them meanwhile: assignments come from the broker), so
  collection goes on through an outage (the spool holds the output);
- an instance that starts while the broker cannot be reached (or refuses
  its login: the spool reports why, keeps the data, and retries) polls every
  shard until it has joined (logged): it may poll devices another running
  instance polls too, whose rows then carry the same record ids (consumers
  drop the duplicates), but it loses nothing; it keeps trying to join in the
  background and follows the group's assignment from its first one;
- :meth:`stop` leaves the group (bounded), so the others take its shards at
  the next rebalance, not after ``session_timeout_ms``;
- a control topic whose partition count differs from ``shards`` is refused
  with an error naming both: every instance must split devices the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor
from aiokafka.errors import KafkaError

from bus.api import BusError, BusRefused, BusUnreachable
from bus.kafka import KafkaProducer
from bus.kafka_connect import _client_kwargs, _start_bounded
from bus.retry import QuietKafkaLogs
from bus.settings import BusSettings
from bus.topics import collectors_group, control_topic

log = logging.getLogger(__name__)

_POLL_MS = 500
_REJOIN_S = 5.0  # how often an instance that could not reach the broker tries again
_JOIN_AT_START_S = 5.0  # a start never waits longer than this for an absent broker
_CLOSE_S = 5.0


async def _cancel(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` (if any) and wait for it to end, whatever it ends with."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


class _QuietConsumerLogs(QuietKafkaLogs):
    """A broker away makes a member's consumer log an error every 100 ms: one a minute."""

    LOGGERS = (
        "aiokafka.consumer.group_coordinator",
        "aiokafka.consumer.fetcher",
        "aiokafka.consumer.consumer",
        "aiokafka.conn",
        "aiokafka.cluster",
        "aiokafka",
    )


class _Listener(ConsumerRebalanceListener):
    def __init__(self, group: KafkaShardGroup) -> None:
        self._g = group

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self._g._revoked()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self._g._assigned(frozenset(tp.partition for tp in assigned))


class KafkaShardGroup:
    """One collector instance's membership in its network's shard group.

    ``first_assignment_s``: how long :meth:`start` waits for the first
    assignment before going on (the first cycles then poll nothing until it
    comes, see :meth:`shards_for_tick`)."""

    def __init__(
        self,
        settings: BusSettings,
        network: str,
        shards: int,
        *,
        instance_id: str,
        first_assignment_s: float = 30.0,
    ) -> None:
        self.network = network
        self.shards = shards
        self.topic = control_topic(settings.topic_prefix, network)
        self.group = collectors_group(settings.topic_prefix, network)
        self._settings = settings
        self._instance = instance_id
        self._first_s = first_assignment_s
        self._consumer: AIOKafkaConsumer | None = None
        self._poller: asyncio.Task[None] | None = None
        self._held: frozenset[int] = frozenset()  # the latest assignment
        self._before: frozenset[int] | None = None  # held when the running rebalance began
        self._rebalancing = True  # until the first assignment
        self._settled = asyncio.Event()
        self._joiner: asyncio.Task[None] | None = None
        self._quiet = _QuietConsumerLogs()
        self.unjoined = False  # the broker could not be reached at start: polls all
        self.rebalances = 0

    def _revoked(self) -> None:
        if not self._rebalancing:
            self._before = self._held
        self._rebalancing = True
        self._settled.clear()
        log.info("%s: shard rebalance started (held %s)", self.network, sorted(self._held))

    def _assigned(self, shards: frozenset[int]) -> None:
        if self.unjoined:
            log.warning(
                "%s: joined the shard group: polling the assigned shards only", self.network
            )
        self.unjoined = False
        self._held = shards
        self._rebalancing = False
        self.rebalances += 1
        self._settled.set()
        log.info(
            "%s: instance %s holds shards %s of %d",
            self.network,
            self._instance,
            sorted(shards),
            self.shards,
        )

    def owned(self) -> frozenset[int]:
        return frozenset() if self._rebalancing else self._held

    async def shards_for_tick(
        self, tick_unix_ms: int, wait_until_unix_ms: int | None = None
    ) -> frozenset[int]:
        """The shards to poll in the cycle of ``tick_unix_ms``: those held now;
        in a rebalance, wait (until ``wait_until_unix_ms``, at most the
        session timeout) and take those held both before and after it; none
        if it has not ended by then."""
        if self.unjoined and not self.rebalances:
            return frozenset(range(self.shards))
        if not self._rebalancing:
            return self._held
        before = self._before or frozenset()
        now_ms = time.time_ns() // 1_000_000
        wait_ms = self._settings.kafka.session_timeout_ms
        if wait_until_unix_ms is not None:
            wait_ms = min(wait_ms, max(0, wait_until_unix_ms - now_ms))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._settled.wait(), wait_ms / 1000)
        if self._rebalancing:
            log.warning(
                "%s: tick %d: shard rebalance still running after %d ms: this instance "
                "polls no shard in this cycle",
                self.network,
                tick_unix_ms,
                wait_ms,
            )
            return frozenset()
        kept = before & self._held
        if kept != self._held:
            log.info(
                "%s: tick %d came during a rebalance: shards %s are polled from the next tick",
                self.network,
                tick_unix_ms,
                sorted(self._held - kept),
            )
        return kept

    async def _ensure_topic(self) -> None:
        producer = KafkaProducer(self._settings, client_id=f"collector-{self._instance}-shards")
        try:
            n = await producer.ensure_topic(self.topic, partitions=self.shards)
        finally:
            await producer.abort()
        if n != self.shards:
            raise BusError(
                f"kafka: control topic {self.topic} has {n} partitions but "
                f"collector.sharing.shards is {self.shards}: every instance of network "
                f"{self.network} must use the same count (set it to {n}, or delete the topic)"
            )

    async def start(self) -> None:
        """Join (waiting, bounded, for the first assignment).  A broker that
        cannot be reached does not stop the collector: this instance polls
        every shard and joins in the background (see the module docstring);
        a control topic with the wrong partition count is an error."""
        if self._consumer is not None or self._joiner is not None:
            return
        try:
            async with asyncio.timeout(_JOIN_AT_START_S):
                await self._join()
        except (BusUnreachable, BusRefused, TimeoutError) as exc:
            # (the reason itself is the spool's to report, once, with the listener
            # and user: said here too it would be said twice)
            await self._close_consumer()
            log.warning(
                "%s: shard group not joined (%s): polling every device until the broker "
                "lets this instance join",
                self.network,
                "login refused" if isinstance(exc, BusRefused) else "broker unreachable",
            )
            self.unjoined = True
            self._joiner = asyncio.create_task(self._join_later(), name=f"join-{self.network}")
            return
        await self._first_assignment()

    async def _join_later(self) -> None:
        while self._consumer is None:
            await asyncio.sleep(_REJOIN_S)
            try:
                await self._join()
            except (BusUnreachable, BusRefused) as exc:
                log.debug("%s: shard group still not joined: %s", self.network, exc)
            except BusError as exc:  # e.g. the control topic's partitions differ
                log.error("%s: shard group: %s", self.network, exc)
                return

    async def _join(self) -> None:
        await self._ensure_topic()
        k = self._settings.kafka

        def make() -> AIOKafkaConsumer:
            return AIOKafkaConsumer(
                **_client_kwargs(k, f"collector-{self._instance}"),
                group_id=self.group,
                enable_auto_commit=False,
                partition_assignment_strategy=(StickyPartitionAssignor,),
                session_timeout_ms=k.session_timeout_ms,
                heartbeat_interval_ms=k.heartbeat_interval_ms,
            )

        self._quiet.install()
        consumer: AIOKafkaConsumer = await _start_bounded(make, k, "shard group")
        consumer.subscribe(topics=[self.topic], listener=_Listener(self))
        self._consumer = consumer
        self._poller = asyncio.create_task(self._poll(), name=f"shards-{self.network}")

    async def _first_assignment(self) -> None:
        try:
            await asyncio.wait_for(self._settled.wait(), self._first_s)
        except TimeoutError:
            log.warning(
                "%s: no shard assignment within %.0f s; cycles poll nothing until one comes",
                self.network,
                self._first_s,
            )

    async def _poll(self) -> None:
        """Keep the membership alive: an idle member is taken for stuck."""
        consumer = self._consumer
        assert consumer is not None
        while True:
            try:
                await consumer.getmany(timeout_ms=_POLL_MS)
            except asyncio.CancelledError:
                raise
            except KafkaError as exc:  # the broker away: aiokafka reconnects by itself
                log.debug("%s: shard group poll: %s", self.network, exc)
                await asyncio.sleep(_POLL_MS / 1000)

    async def stop(self) -> None:
        joiner, self._joiner = self._joiner, None
        await _cancel(joiner)
        await self._close_consumer()
        self._quiet.remove()

    async def _close_consumer(self) -> None:
        poller, self._poller = self._poller, None
        await _cancel(poller)
        consumer, self._consumer = self._consumer, None
        if consumer is None:
            return
        try:
            async with asyncio.timeout(_CLOSE_S):
                await consumer.stop()  # LeaveGroup: the others rebalance at once
        except (Exception, asyncio.CancelledError) as exc:
            # aiokafka's fetcher can end in CancelledError when the broker is away
            # at close; only a cancellation of this task itself goes on up
            task = asyncio.current_task()
            if isinstance(exc, asyncio.CancelledError) and task and task.cancelling():
                raise
            log.warning(
                "%s: could not leave the shard group cleanly (%s); its shards move when "
                "the session expires",
                self.network,
                type(exc).__name__,
            )
            with contextlib.suppress(Exception):
                async with asyncio.timeout(_CLOSE_S):
                    await consumer._client.close()

    async def __aenter__(self) -> KafkaShardGroup:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
