"""The Kafka backend: :class:`bus.api.Producer` and :class:`bus.api.Consumer` on aiokafka.

Guarantees, on top of those in :mod:`bus.api`:

- **Partitioning**: aiokafka's default partitioner (murmur2 of the key, as
  Kafka's Java client); it agrees with :func:`bus.partitioner.partition_for`,
  so a key lands on the same partition number on either backend.
- **Producer durability**: ``acks="all"`` with idempotence, so aiokafka's own
  retries neither lose nor duplicate nor reorder a partition's messages.
  :meth:`KafkaProducer.send` only queues; :meth:`KafkaProducer.flush` waits for
  every acknowledgement and raises :class:`BusError` naming the topics of the
  messages that failed.
- **Consumer commits**: never automatic.  :meth:`KafkaConsumer.commit` commits,
  for each partition the member still owns, the offset after the last message
  :meth:`KafkaConsumer.getmany` returned.  Partitions lost in a rebalance are
  not committed (a warning is logged); their messages are re-delivered to
  the new owner: at least once.  (The consumer lives in
  :mod:`bus.kafka_consumer`, connecting in :mod:`bus.kafka_connect`.)
- **Consumer stop**: leaves the group (the others take its partitions over at
  once) within a deadline, also with the broker away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from bus.api import AsyncService, BusError
from bus.kafka_connect import _client_kwargs, _security_failure, _start_bounded
from bus.kafka_consumer import KafkaConsumer
from bus.settings import BusSettings

__all__ = ["KafkaConsumer", "KafkaProducer", "_client_kwargs", "_security_failure"]

log = logging.getLogger(__name__)

# Pending delivery futures above this are awaited oldest-first in send(), so a
# producer that never flushes cannot hold unbounded memory.
MAX_PENDING = 100_000
_TOPIC_EXISTS = 36  # Kafka error code TOPIC_ALREADY_EXISTS
_NOT_READY = (3, 5)  # UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE (just created)
_CLOSE_S = 5.0  # longest wait to close an aiokafka producer that cannot flush


async def _close_producer(producer: AIOKafkaProducer, graceful_s: float, timeout_s: float) -> None:
    """Stop ``producer``; past ``graceful_s`` (its flush waits on a dead broker
    with no deadline) abandon what it still holds and tear it down, each step
    within ``timeout_s``."""
    try:
        async with asyncio.timeout(graceful_s):
            await producer.stop()
        return
    except TimeoutError:
        pass
    except Exception as exc:
        log.debug("kafka: producer stop failed: %s", exc)
    # aiokafka's stop() was cancelled after marking itself closed: finish the job.
    # Batches it still held are abandoned (their futures never complete; our
    # callers stopped waiting for them already).
    with contextlib.suppress(Exception):
        async with asyncio.timeout(timeout_s):
            if producer._sender is not None:
                await producer._sender.close()
    with contextlib.suppress(Exception):
        async with asyncio.timeout(timeout_s):
            await producer.client.close()


# (topic, partition, [(key, value, headers, timestamp_ms)])
Batch = tuple[
    str, int, Sequence[tuple[bytes | None, bytes, Sequence[tuple[str, bytes]], int | None]]
]


async def _acked(futs: list[asyncio.Future[Any]]) -> None:
    """Wait for every delivery future; the first failure as :class:`BusError`
    (every outcome retrieved, so asyncio logs none as never retrieved)."""
    try:
        await asyncio.gather(*futs)
    except KafkaError as exc:
        raise BusError(f"kafka: batch not delivered: {type(exc).__name__}: {exc}") from exc
    finally:
        for f in futs:
            if f.done() and not f.cancelled():
                f.exception()
            elif not f.done():
                f.cancel()


class KafkaProducer(AsyncService):
    """Publishes to Kafka; see the module docstring for its guarantees.

    ``send`` returns once the message is in aiokafka's batch buffer (it waits
    only when the buffer is full); delivery is confirmed by ``flush``.
    """

    def __init__(self, settings: BusSettings, *, client_id: str = "netfeed") -> None:
        self._k = settings.kafka
        self._client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._pending: deque[tuple[str, asyncio.Future[Any]]] = deque()
        self._failed: dict[str, BaseException] = {}  # topic -> first error since last flush
        self._partitions: dict[str, int] = {}

    async def start(self) -> None:
        if self._producer is not None:
            return
        k = self._k

        def make() -> AIOKafkaProducer:
            return AIOKafkaProducer(
                **_client_kwargs(k, self._client_id),
                acks="all",
                enable_idempotence=True,
                compression_type=None if k.compression == "none" else k.compression,
                linger_ms=k.linger_ms,
                max_batch_size=k.max_batch_bytes,
                # A batch must fit in a request.
                max_request_size=max(k.max_batch_bytes, 1_048_576),
                metadata_max_age_ms=k.metadata_max_age_ms,
            )

        try:
            self._producer = await _start_bounded(make, k, "producer")
        except (ValueError, RuntimeError) as exc:  # e.g. missing compression library
            if isinstance(exc, BusError):
                raise
            raise BusError(f"kafka producer for {k.bootstrap_servers}: {exc}") from exc

    async def stop(self, timeout_s: float | None = None) -> None:
        """Flush, then close, within ``timeout_s`` (default ``request_timeout_ms``).

        Closes even if the flush fails (and then re-raises).  A flush still
        waiting at the deadline (broker down or frozen: aiokafka retries
        without end) is abandoned: the producer is closed without delivering
        the rest and :class:`BusError` says so.  Never waits longer."""
        if timeout_s is None:
            timeout_s = self._k.request_timeout_ms / 1000
        try:
            if self._producer is not None:
                try:
                    async with asyncio.timeout(timeout_s):
                        await self.flush()
                except TimeoutError:
                    raise BusError(
                        f"kafka {self._k.bootstrap_servers}: not every message was "
                        f"acknowledged within {timeout_s:.1f} s; closed without them"
                    ) from None
        finally:
            await self.abort()

    async def abort(self) -> None:
        """Close now, without waiting for unacknowledged messages (bounded).

        Pending deliveries fail; a later :meth:`start` begins afresh (new
        connections, new idempotent producer id)."""
        producer, admin = self._producer, self._admin
        self._producer = self._admin = None
        self._pending.clear()
        self._failed.clear()
        if producer is not None:
            # Nothing left worth waiting for: a short graceful attempt, then teardown.
            await _close_producer(producer, 0.5, _CLOSE_S)
        if admin is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(_CLOSE_S):
                    await admin.close()

    async def send_batches(self, batches: Sequence[Batch]) -> None:
        """:meth:`submit_batches`, then wait for every acknowledgement; raise
        :class:`BusError` if any batch was not delivered."""
        await (await self.submit_batches(batches))

    async def submit_batches(self, batches: Sequence[Batch]) -> asyncio.Future[None]:
        """Queue ``(topic, partition, messages)`` groups as Kafka record batches;
        return a future that completes when all are acknowledged (or fails with
        :class:`BusError`).

        A message is ``(key, value, headers, timestamp_ms)``; ``headers`` any
        sequence of ``(name, value)`` (tuples are best: nothing for the garbage
        collector to keep tracking).  Within a
        partition the order of submission is kept (aiokafka queues one batch
        per partition and sends them one at a time), also across calls; groups
        for different partitions go out concurrently.  This is the fast path:
        one ``create_batch``/``send_batch`` per ~``max_batch_bytes`` instead of
        one ``send`` per message; the caller picks partitions
        (:func:`bus.partitioner.partition_for`, as the default partitioner).
        Callers bound the wait (a broker that is down is retried by aiokafka
        without end)."""
        producer = self._producer
        if producer is None:
            raise BusError("kafka producer is not started")
        futs: list[asyncio.Future[Any]] = []
        try:
            for topic, partition, messages in batches:
                batch = producer.create_batch()
                n = 0
                for key, value, headers, ts in messages:
                    if type(headers) is not list:  # aiokafka's builder takes lists only
                        headers = list(headers)
                    while batch.append(key=key, value=value, timestamp=ts, headers=headers) is None:
                        if n == 0:
                            raise BusError(
                                f"kafka: a message of {len(value)} bytes does not fit in a "
                                f"batch (kafka.max_batch_bytes {self._k.max_batch_bytes})"
                            )
                        futs.append(await producer.send_batch(batch, topic, partition=partition))
                        batch, n = producer.create_batch(), 0
                    n += 1
                if n:
                    futs.append(await producer.send_batch(batch, topic, partition=partition))
        except KafkaError as exc:
            for f in futs:
                f.cancel()
            raise BusError(f"kafka: batch not queued: {type(exc).__name__}: {exc}") from exc
        return asyncio.ensure_future(_acked(futs))

    async def ensure_topic(
        self, topic: str, *, compact: bool = False, partitions: int | None = None
    ) -> int:
        """Create ``topic`` (configured partitions, or ``partitions``, and
        replication) unless it exists; return its partition count.  Safe against
        concurrent creators: "already exists" counts as success.  Counts are
        cached per producer.  ``compact`` creates it with
        ``cleanup.policy=compact`` (a state topic: the latest message per key is
        kept); an existing topic is left as it is."""
        if (n := self._partitions.get(topic)) is not None:
            return n
        admin = await self._admin_client()
        k = self._k
        n = await self._describe(admin, topic)
        if n is None:
            try:
                resp = await admin.create_topics(
                    [
                        NewTopic(
                            topic,
                            partitions or k.partitions,
                            k.replication_factor,
                            topic_configs={"cleanup.policy": "compact"}
                            if compact
                            else {"retention.ms": str(int(k.retention_hours * 3_600_000))},
                        )
                    ]
                )
            except KafkaError as exc:
                raise BusError(f"kafka: cannot create topic {topic}: {exc}") from exc
            for _name, code, *rest in resp.topic_errors:
                if code not in (0, _TOPIC_EXISTS):
                    msg = rest[0] if rest else ""
                    raise BusError(f"kafka: cannot create topic {topic}: error {code} {msg}")
            # A new topic's partitions get leaders a moment after the create
            # returns; wait (bounded) so the first send does not stall on it.
            deadline = time.monotonic() + k.request_timeout_ms / 1000
            while (n := await self._describe(admin, topic)) is None:
                if time.monotonic() > deadline:
                    raise BusError(f"kafka: topic {topic} created but has no leaders yet")
                await asyncio.sleep(0.1)
        self._partitions[topic] = n
        return n

    async def _describe(self, admin: AIOKafkaAdminClient, topic: str) -> int | None:
        """Partition count of ``topic`` if it exists with every leader elected, else None."""
        try:
            (meta,) = await admin.describe_topics([topic])
        except KafkaError as exc:
            raise BusError(f"kafka: cannot describe topic {topic}: {exc}") from exc
        if meta["error_code"] in _NOT_READY:
            return None
        if meta["error_code"]:
            raise BusError(f"kafka: topic {topic}: error {meta['error_code']}")
        parts = meta["partitions"]
        if not parts or any(p["error_code"] or p["leader"] < 0 for p in parts):
            return None
        return len(parts)

    async def _admin_client(self) -> AIOKafkaAdminClient:
        if self._admin is None:
            kw = _client_kwargs(self._k, self._client_id + "-admin")
            self._admin = await _start_bounded(lambda: AIOKafkaAdminClient(**kw), self._k, "admin")
        return self._admin

    async def send(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        partition: int | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        """Queue one message (``partition`` overrides the key's); do not wait for delivery."""
        producer = self._producer
        if producer is None:
            raise BusError("kafka producer is not started")
        try:
            fut = await producer.send(
                topic, value, key=key, partition=partition, headers=list(headers) or None
            )
        except KafkaError as exc:
            raise BusError(f"kafka: cannot send to {topic}: {exc}") from exc
        pending = self._pending
        pending.append((topic, fut))
        # Reap finished deliveries from the front without awaiting (cheap, keeps
        # the deque short); past the bound, wait for the oldest.
        while pending and pending[0][1].done():
            self._settle(*pending.popleft())
        if len(pending) > MAX_PENDING:
            t, f = pending.popleft()
            await asyncio.wait([f])
            self._settle(t, f)

    def _settle(self, topic: str, fut: asyncio.Future[Any]) -> None:
        """Record the outcome of a finished delivery (retrieving its exception,
        so asyncio does not log it as never retrieved)."""
        exc = asyncio.CancelledError() if fut.cancelled() else fut.exception()
        if exc is not None:
            self._failed.setdefault(topic, exc)

    async def flush(self) -> None:
        """Wait until every message sent so far is acknowledged by all in-sync
        replicas; raise :class:`BusError` naming each topic that lost messages.
        Failures are reported once: a later flush starts clean."""
        if self._producer is None:
            return
        await self._producer.flush()
        pending, self._pending = self._pending, deque()
        if pending:
            await asyncio.wait([f for _, f in pending])
        for t, f in pending:
            self._settle(t, f)
        if self._failed:
            failed, self._failed = self._failed, {}
            detail = "; ".join(f"{t}: {type(e).__name__}: {e}" for t, e in failed.items())
            raise BusError(f"kafka: messages not delivered to {detail}")
