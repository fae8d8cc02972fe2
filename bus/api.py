"""The bus interface both backends implement, with the semantics applications see.

Guarantees (both backends):

- **Ordering**: messages with the same key go to the same partition
  (murmur2 of the key, as Kafka's default partitioner) and are read in the
  order they were sent.
- **Durability**: when :meth:`Producer.flush` returns, every message sent
  before it is durable (Kafka: acked by all in-sync replicas; embedded:
  committed to the SQLite WAL).
- **Delivery**: at least once.  A consumer's position is committed only by
  :meth:`Consumer.commit`; a consumer that dies before committing has its
  uncommitted messages re-delivered to the group's next owner of the
  partition.
- **Groups**: consumers with the same ``group`` share the partitions of the
  topics they subscribe to; each partition has one owner at a time (during a
  rebalance a partition may briefly be read twice: at least once, not exactly
  once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol, Self


@dataclass(slots=True)
class BusMessage:
    """One message as a consumer sees it (treat as read-only: not frozen
    because a frozen dataclass's ``__init__`` costs three times as much, and
    consumers build one per message on the hot path)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int
    headers: tuple[tuple[str, bytes], ...] = field(default=())


class AsyncService:
    """``async with`` for a component with ``start``/``stop``: enters by starting,
    leaves by stopping, whether or not the body raised."""

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


class BusError(RuntimeError):
    """The bus could not do what was asked (broker down, topic missing, ...)."""


class BusUnreachable(BusError):
    """No broker answered within the request timeout: down, starting, or a
    wrong address.  Worth retrying as it is."""


class BusRefused(BusError):
    """A broker answered and refused us: the login (SASL credentials or
    mechanism) or TLS (a certificate not trusted).  Retrying changes nothing
    until the configuration, a secret or the broker changes; the message names
    the listener, mechanism and user, never the password."""


class Producer(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Flush, then release resources."""

    async def ensure_topic(
        self, topic: str, *, compact: bool = False, partitions: int | None = None
    ) -> int:
        """Create ``topic`` if missing (configured partitions, or ``partitions``);
        return its partition count (an existing topic keeps its own).
        ``compact``: a state topic, where the bus may drop all but the latest
        message of each key (Kafka ``cleanup.policy=compact``; the
        embedded bus keeps every message, so readers take the latest per key)."""

    async def send(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        partition: int | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        """Queue one message; may wait for buffer space. ``partition`` overrides the key's."""

    async def flush(self) -> None:
        """Return when every message sent so far is durable; raise :class:`BusError` if not."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class Consumer(Protocol):
    async def start(self) -> None:
        """Join the group and begin tracking subscribed topics."""

    async def stop(self) -> None:
        """Leave the group (without committing)."""

    async def getmany(self, timeout_ms: int = 1000, max_records: int = 10_000) -> list[BusMessage]:
        """Up to ``max_records`` messages from owned partitions; waits up to ``timeout_ms``."""

    async def commit(self, offsets: dict[tuple[str, int], int] | None = None) -> None:
        """Commit the position after the last message returned by :meth:`getmany`
        (or ``offsets``: (topic, partition) -> next offset to read), for the
        partitions this member still owns."""

    def assignment(self) -> set[tuple[str, int]]:
        """Partitions this member owns now."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None: ...
