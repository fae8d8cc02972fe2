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
  the new owner: at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.conn import create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    CommitFailedError,
    IllegalStateError,
    InvalidSessionTimeoutError,
    KafkaError,
    RebalanceInProgressError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.helpers import create_ssl_context

from bus.api import AsyncService, BusError, BusMessage
from bus.secrets import SecretError
from bus.settings import BusSettings, KafkaSettings

log = logging.getLogger(__name__)

# Pending delivery futures above this are awaited oldest-first in send(), so a
# producer that never flushes cannot hold unbounded memory.
MAX_PENDING = 100_000
_TOPIC_EXISTS = 36  # Kafka error code TOPIC_ALREADY_EXISTS
_NOT_READY = (3, 5)  # UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE (just created)
_NO_ASSIGNMENT_POLL_S = 0.1  # how often a group-less consumer looks for matching topics
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


def _client_kwargs(k: KafkaSettings, client_id: str) -> dict[str, Any]:
    """Connection settings shared by producer, consumer and admin client.

    The SASL password is read here, at connect time, and handed only to
    aiokafka; it is never stored on our objects or logged.  TLS files that
    cannot be loaded raise :class:`BusError` naming the setting.
    """
    sec = k.security
    kw: dict[str, Any] = {
        "bootstrap_servers": k.bootstrap_servers,
        "client_id": client_id,
        "request_timeout_ms": k.request_timeout_ms,
        "security_protocol": sec.protocol,
    }
    if sec.uses_ssl:
        try:
            ctx: ssl.SSLContext = create_ssl_context(
                cafile=str(sec.ssl_cafile) if sec.ssl_cafile else None,
                certfile=str(sec.ssl_certfile) if sec.ssl_certfile else None,
                keyfile=str(sec.ssl_keyfile) if sec.ssl_keyfile else None,
            )
        except OSError as exc:  # ssl.SSLError too: a file that is no PEM, a key not matching
            files = ", ".join(
                f"kafka.security.{name}={path}"
                for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile")
                if (path := getattr(sec, name)) is not None
            )
            raise BusError(
                f"kafka {k.bootstrap_servers} ({sec.protocol}): cannot load TLS files "
                f"({files or 'system CAs'}): {exc.strerror or exc}"
            ) from exc
        if not sec.ssl_check_hostname:
            ctx.check_hostname = False
        kw["ssl_context"] = ctx
    if sec.uses_sasl:
        kw["sasl_mechanism"] = sec.sasl_mechanism
        kw["sasl_plain_username"] = sec.sasl_username
        try:
            kw["sasl_plain_password"] = sec.sasl_password.reveal() if sec.sasl_password else None
        except SecretError as exc:
            raise BusError(
                f"kafka {k.bootstrap_servers}: kafka.security.sasl_password: {exc}"
            ) from exc
    return kw


async def _security_failure(k: KafkaSettings) -> BusError | None:
    """Why a TLS or SASL client could not start, if the reason is one no retry cures.

    aiokafka logs the cause of a failed bootstrap (a certificate not trusted,
    credentials refused) and raises only "Unable to bootstrap".  One direct
    connection to the first bootstrap server, with the same settings, recovers
    the cause.  The message names the listener, protocol, mechanism and user,
    never the password.
    """
    sec = k.security
    if sec.protocol == "PLAINTEXT":
        return None
    server = k.bootstrap_servers.split(",")[0].strip()
    host, _, port = server.rpartition(":")
    kw = _client_kwargs(k, "netfeed-diagnosis")
    conn_kw = {name: v for name, v in kw.items() if name != "bootstrap_servers"}
    where = f"kafka {server} ({sec.protocol}"
    where += f", SASL {sec.sasl_mechanism} as user {sec.sasl_username!r})" if sec.uses_sasl else ")"
    try:
        async with asyncio.timeout(k.request_timeout_ms / 1000):
            conn = await create_conn(host.strip("[]"), int(port or 9092), **conn_kw)
        conn.close()
    except ssl.SSLCertVerificationError as exc:
        trust = f"kafka.security.ssl_cafile={sec.ssl_cafile}" if sec.ssl_cafile else "system CAs"
        return BusError(
            f"{where}: TLS: the broker's certificate is not accepted "
            f"({exc.verify_message}; trusted: {trust}"
            + ("" if sec.ssl_check_hostname else ", host name not checked")
            + ")"
        )
    except ssl.SSLError as exc:
        return BusError(f"{where}: TLS handshake failed: {exc.reason or exc}")
    except (UnsupportedSaslMechanismError, AuthenticationMethodNotSupported) as exc:
        return BusError(
            f"{where}: the listener does not offer SASL {sec.sasl_mechanism} "
            f"({type(exc).__name__}); check kafka.security.sasl_mechanism"
        )
    except (AuthenticationFailedError, SaslAuthenticationFailed) as exc:
        return BusError(
            f"{where}: login refused ({type(exc).__name__}: {exc}); check "
            "kafka.security.sasl_username, sasl_password and sasl_mechanism"
        )
    except (KafkaError, OSError, TimeoutError, ValueError):
        return None  # unreachable or starting: the caller's retries handle it
    return None


async def _start_bounded(make: Callable[[], Any], k: KafkaSettings, what: str) -> Any:
    """Start an aiokafka client, retrying until ``request_timeout_ms`` has passed.

    aiokafka tries each bootstrap server once and gives up; a broker that is
    still starting (or restarting) deserves a few more tries.  Each failed
    client is closed so no connections or warnings leak.
    """
    deadline = time.monotonic() + k.request_timeout_ms / 1000
    last: BaseException | None = None
    while True:
        client = make()
        try:
            async with asyncio.timeout(max(deadline - time.monotonic(), 0.1)):
                await client.start()
            return client
        except BaseException as exc:  # also when cancelled (a command stopping): close it
            with contextlib.suppress(Exception):
                await (client.close() if isinstance(client, AIOKafkaAdminClient) else client.stop())
            if not isinstance(exc, (KafkaError, OSError, TimeoutError)):
                raise
            if (refused := await _security_failure(k)) is not None:
                raise refused from None
            last = exc
        if time.monotonic() + 0.5 >= deadline:
            raise BusError(
                f"kafka {what}: cannot reach bootstrap servers {k.bootstrap_servers} "
                f"within {k.request_timeout_ms} ms: {type(last).__name__}: {last}"
            ) from last
        await asyncio.sleep(0.5)


def _session_refused(k: KafkaSettings, group: str | None, exc: BaseException) -> BusError:
    """The broker refused to let a consumer join ``group`` with our session timeout."""
    return BusError(
        f"kafka {k.bootstrap_servers}: consumer group {group}: the broker refused "
        f"kafka.session_timeout_ms={k.session_timeout_ms} ({type(exc).__name__}): it must lie "
        "between the broker's group.min.session.timeout.ms (Kafka's default 6000) and "
        "group.max.session.timeout.ms (default 1800000); change kafka.session_timeout_ms "
        "in netfeed.yaml or those broker settings"
    )


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

    async def ensure_topic(self, topic: str) -> int:
        """Create ``topic`` (configured partitions and replication) unless it
        exists; return its partition count.  Safe against concurrent creators:
        "already exists" counts as success.  Counts are cached per producer."""
        if (n := self._partitions.get(topic)) is not None:
            return n
        admin = await self._admin_client()
        k = self._k
        n = await self._describe(admin, topic)
        if n is None:
            try:
                resp = await admin.create_topics(
                    [NewTopic(topic, k.partitions, k.replication_factor)]
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


class _Revocations(ConsumerRebalanceListener):
    """Forgets uncommitted positions of partitions this member no longer owns,
    so :meth:`KafkaConsumer.commit` never commits a partition it lost."""

    def __init__(self, uncommitted: dict[TopicPartition, int]) -> None:
        self._uncommitted = uncommitted

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
        pass


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
    ) -> None:
        if (topics is None) == (pattern is None):
            raise ValueError("give exactly one of topics or pattern")
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
            listener = _Revocations(self._uncommitted)
            if self._pattern is not None:
                consumer.subscribe(pattern=self._pattern, listener=listener)
            else:
                consumer.subscribe(topics=self._topics or [], listener=listener)
        except (ValueError, TypeError) as exc:
            await consumer.stop()
            raise BusError(f"kafka consumer: bad subscription: {exc}") from exc
        self._consumer = consumer

    async def stop(self) -> None:
        """Leave the group without committing."""
        consumer, self._consumer = self._consumer, None
        self._uncommitted.clear()
        if consumer is not None:
            await consumer.stop()

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
                BusMessage(
                    topic=r.topic,
                    partition=r.partition,
                    offset=r.offset,
                    key=r.key,
                    value=r.value if r.value is not None else b"",  # tombstones
                    timestamp_ms=r.timestamp,
                    headers=tuple(r.headers),
                )
                for r in records
            )
            self._uncommitted[tp] = records[-1].offset + 1
        return out

    async def commit(self) -> None:
        """Commit the offset after the last returned message of each partition
        still owned.  A rebalance racing the commit is logged, not raised: the
        affected messages are re-delivered (at least once)."""
        consumer = self._consumer
        if consumer is None or self._group is None or not self._uncommitted:
            return
        owned = consumer.assignment()
        offsets = {tp: off for tp, off in self._uncommitted.items() if tp in owned}
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
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
        for tp, off in offsets.items():
            if self._uncommitted.get(tp) == off:
                del self._uncommitted[tp]

    def assignment(self) -> set[tuple[str, int]]:
        if self._consumer is None:
            return set()
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}
