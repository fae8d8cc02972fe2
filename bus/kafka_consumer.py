"""The Kafka consumer (:class:`KafkaConsumer`); see :mod:`bus.kafka` for the
guarantees (commits never automatic, lost partitions never committed)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    InvalidSessionTimeoutError,
    KafkaError,
    RebalanceInProgressError,
)

from bus.api import AsyncService, BusError, BusMessage
from bus.kafka_connect import _client_kwargs, _session_refused, _start_bounded
from bus.settings import BusSettings

log = logging.getLogger(__name__)

_NO_ASSIGNMENT_POLL_S = 0.1  # how often a group-less consumer looks for matching topics
_CLOSE_S = 5.0  # longest wait to leave the group and close


class _Revocations(ConsumerRebalanceListener):
    """Forgets uncommitted positions of partitions this member no longer owns,
    so :meth:`KafkaConsumer.commit` never commits a partition it lost."""

    def __init__(
        self,
        uncommitted: dict[TopicPartition, int],
        consumer: AIOKafkaConsumer | None = None,
        start_at_ms: int | None = None,
    ) -> None:
        self._uncommitted = uncommitted
        self._consumer = consumer
        self._start_at_ms = start_at_ms

    async def on_partitions_revoked(self, revoked: Any) -> None:
        lost = [tp for tp in revoked if tp in self._uncommitted]
        for tp in lost:
            del self._uncommitted[tp]
        if lost:
            log.warning(
                "kafka: %d partition(s) revoked before commit; their uncommitted "
                "messages will be re-delivered: %s",
                len(lost),
                ", ".join(f"{tp.topic}[{tp.partition}]" for tp in lost),
            )

    async def on_partitions_assigned(self, assigned: Any) -> None:
        """With a start time: partitions the group has no committed offset for
        start at the first message at or after it (offsets-for-times), or at
        the end where every message is older."""
        consumer, at = self._consumer, self._start_at_ms
        if consumer is None or at is None:
            return
        fresh = [tp for tp in assigned if await consumer.committed(tp) is None]
        if not fresh:
            return
        found = await consumer.offsets_for_times({tp: at for tp in fresh})
        for tp in fresh:
            hit = found.get(tp)
            if hit is not None:
                consumer.seek(tp, hit.offset)
        late = [tp for tp in fresh if found.get(tp) is None]
        if late:
            await consumer.seek_to_end(*late)


class KafkaConsumer(AsyncService):
    """Reads Kafka topics (exact names or a regex) in a consumer group.

    Within a partition messages come in offset order.  ``group=None`` reads
    every partition without a group and never commits.  ``from_beginning``
    picks the start where the group has no committed offset yet.
    """

    def __init__(
        self,
        settings: BusSettings,
        *,
        group: str | None,
        topics: list[str] | None = None,
        pattern: str | None = None,
        client_id: str = "netfeed",
        from_beginning: bool = True,
        start_at_ms: int | None = None,
    ) -> None:
        if (topics is None) == (pattern is None):
            raise ValueError("give exactly one of topics or pattern")
        self._start_at_ms = start_at_ms
        self._k = settings.kafka
        self._group = group
        self._topics = list(topics) if topics is not None else None
        self._pattern = pattern
        self._client_id = client_id
        self._from_beginning = from_beginning
        self._consumer: AIOKafkaConsumer | None = None
        self._uncommitted: dict[TopicPartition, int] = {}

    async def start(self) -> None:
        if self._consumer is not None:
            return
        k = self._k

        def make() -> AIOKafkaConsumer:
            return AIOKafkaConsumer(
                **_client_kwargs(k, self._client_id),
                group_id=self._group,
                enable_auto_commit=False,
                auto_offset_reset="earliest" if self._from_beginning else "latest",
                # Pattern subscriptions see new topics only on a metadata refresh.
                metadata_max_age_ms=k.metadata_max_age_ms,
                session_timeout_ms=k.session_timeout_ms,
                heartbeat_interval_ms=k.heartbeat_interval_ms,
            )

        consumer: AIOKafkaConsumer = await _start_bounded(make, k, "consumer")
        try:
            listener = _Revocations(self._uncommitted, consumer, self._start_at_ms)
            if self._pattern is not None:
                consumer.subscribe(pattern=self._pattern, listener=listener)
            else:
                consumer.subscribe(topics=self._topics or [], listener=listener)
        except (ValueError, TypeError) as exc:
            await consumer.stop()
            raise BusError(f"kafka consumer: bad subscription: {exc}") from exc
        self._consumer = consumer

    async def stop(self, timeout_s: float = _CLOSE_S) -> None:
        """Leave the group without committing, within ``timeout_s``.

        Leaving (a LeaveGroup request) lets the group hand this member's
        partitions to the others at once, not after ``session_timeout_ms``.
        A broker that is down or frozen cannot be told: past ``timeout_s`` the
        connections are closed regardless and the group notices the member
        gone when its session expires.  Never waits longer (plus the bounded
        teardown)."""
        consumer, self._consumer = self._consumer, None
        self._uncommitted.clear()
        if consumer is None:
            return
        try:
            async with asyncio.timeout(timeout_s):
                await consumer.stop()
            return
        except TimeoutError:
            log.warning(
                "kafka: consumer group %s: could not leave the group within %.1f s "
                "(broker away?); its partitions move when the session expires",
                self._group,
                timeout_s,
            )
        except Exception as exc:
            log.debug("kafka: consumer stop failed: %s", exc)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(_CLOSE_S):
                await consumer._client.close()

    async def getmany(self, timeout_ms: int = 1000, max_records: int = 10_000) -> list[BusMessage]:
        """Up to ``max_records`` messages, in offset order within each partition
        (partitions follow one another, not interleaved)."""
        consumer = self._consumer
        if consumer is None:
            raise BusError("kafka consumer is not started")
        if self._group is None and not consumer.assignment():
            # Without a group, aiokafka assigns partitions only once the subscription
            # matches a topic; until then its getmany waits for an assignment with no
            # time limit (a pattern matching nothing: forever).  Wait here instead,
            # within timeout_ms, and call it only once there is something to fetch.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + max(0, timeout_ms) / 1000
            while not consumer.assignment():
                left = deadline - loop.time()
                if left <= 0:
                    return []
                await asyncio.sleep(min(left, _NO_ASSIGNMENT_POLL_S))
            timeout_ms = max(0, int((deadline - loop.time()) * 1000))
        try:
            batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        except InvalidSessionTimeoutError as exc:
            raise _session_refused(self._k, self._group, exc) from exc
        except KafkaError as exc:
            raise BusError(f"kafka: fetch failed: {type(exc).__name__}: {exc}") from exc
        out: list[BusMessage] = []
        for tp, records in batches.items():
            if not records:
                continue
            out.extend(
                # positional: a third cheaper than keywords, once per message
                BusMessage(
                    r.topic,
                    r.partition,
                    r.offset,
                    r.key,
                    r.value if r.value is not None else b"",  # tombstones
                    r.timestamp,
                    tuple(r.headers),
                )
                for r in records
            )
            self._uncommitted[tp] = records[-1].offset + 1
        return out

    async def commit(self, offsets: dict[tuple[str, int], int] | None = None) -> None:
        """Commit the offset after the last returned message of each partition
        still owned (or ``offsets``: partition -> next offset to read, for
        those still owned).  A rebalance racing the commit is logged, not
        raised: the affected messages are re-delivered (at least once)."""
        consumer = self._consumer
        if consumer is None or self._group is None:
            return
        wanted = (
            self._uncommitted
            if offsets is None
            else {TopicPartition(t, p): off for (t, p), off in offsets.items()}
        )
        if not wanted:
            return
        owned = consumer.assignment()
        offsets_tp = {tp: off for tp, off in wanted.items() if tp in owned}
        if not offsets_tp:
            return
        try:
            await consumer.commit(offsets_tp)
        except (CommitFailedError, IllegalStateError, RebalanceInProgressError) as exc:
            log.warning(
                "kafka: commit for group %s lost to a rebalance (%s); uncommitted "
                "messages will be re-delivered",
                self._group,
                type(exc).__name__,
            )
            return
        except InvalidSessionTimeoutError as exc:
            raise _session_refused(self._k, self._group, exc) from exc
        except KafkaError as exc:
            raise BusError(f"kafka: commit for group {self._group} failed: {exc}") from exc
        for tp, off in offsets_tp.items():
            if self._uncommitted.get(tp) == off:
                del self._uncommitted[tp]

    def assignment(self) -> set[tuple[str, int]]:
        if self._consumer is None:
            return set()
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}
