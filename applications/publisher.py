"""What an application publishes itself (alerts, device state), over the bus."""

from __future__ import annotations

from applications.api import Publisher
from bus.api import Producer
from bus.factory import make_producer
from bus.records import RECORD_ID_HEADER, Message, encode, record_id
from bus.settings import BusSettings


class BusPublisher(Publisher):
    """A :class:`~applications.api.Publisher` over a producer started on first
    use.  Every message carries the ``netfeed-id`` header (its record id), as
    collectors' messages do.  The runner flushes it before each commit, so
    what an application published for a batch or cycle is durable before the
    input is marked consumed (a crash publishes it again: at least once)."""

    def __init__(self, bus: BusSettings, client_id: str) -> None:
        self._bus = bus
        self._client_id = client_id
        self._producer: Producer | None = None
        self._partitions: dict[str, int] = {}
        self.sent = 0

    async def _live(self) -> Producer:
        if self._producer is None:
            producer = make_producer(self._bus, client_id=self._client_id)
            await producer.start()
            self._producer = producer
        return self._producer

    async def ensure_topic(self, topic: str, *, compact: bool = False) -> int:
        n = self._partitions.get(topic)
        if n is None:
            n = self._partitions[topic] = await (await self._live()).ensure_topic(
                topic, compact=compact
            )
        return n

    async def send(self, topic: str, message: Message, *, key: str) -> None:
        if topic not in self._partitions:
            await self.ensure_topic(topic)
        producer = await self._live()
        await producer.send(
            topic,
            encode(message),
            key=key.encode(),
            headers=[(RECORD_ID_HEADER, record_id(message).encode())],
        )
        self.sent += 1

    async def flush(self) -> None:
        if self._producer is not None and self.sent:
            await self._producer.flush()

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
