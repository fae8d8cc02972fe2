"""Build a producer or consumer for the configured backend."""

from __future__ import annotations

from bus.api import Consumer, Producer
from bus.settings import BusSettings


def make_producer(settings: BusSettings, *, client_id: str = "netfeed") -> Producer:
    """A producer for ``settings.backend``; call ``start()`` or use ``async with``."""
    if settings.backend == "kafka":
        from bus.kafka import KafkaProducer

        return KafkaProducer(settings, client_id=client_id)
    from bus.embedded import EmbeddedProducer

    return EmbeddedProducer(settings, client_id=client_id)


def make_consumer(
    settings: BusSettings,
    *,
    group: str | None,
    topics: list[str] | None = None,
    pattern: str | None = None,
    client_id: str = "netfeed",
    from_beginning: bool = True,
    start_at_ms: int | None = None,
) -> Consumer:
    """A consumer of ``topics`` (exact names) or ``pattern`` (regex, topics created
    later are picked up).  ``group=None`` reads without a group and never
    commits (``netfeed tail``).  ``from_beginning`` applies where the group has
    no committed position yet (Kafka's ``auto_offset_reset``); ``start_at_ms``
    instead starts such partitions at the first message at or after that time
    (Kafka's offsets-for-times; the end where every message is older)."""
    if (topics is None) == (pattern is None):
        raise ValueError("give exactly one of topics or pattern")
    if settings.backend == "kafka":
        from bus.kafka import KafkaConsumer

        return KafkaConsumer(
            settings,
            group=group,
            topics=topics,
            pattern=pattern,
            client_id=client_id,
            from_beginning=from_beginning,
            start_at_ms=start_at_ms,
        )
    from bus.embedded import EmbeddedConsumer

    return EmbeddedConsumer(
        settings,
        group=group,
        topics=topics,
        pattern=pattern,
        client_id=client_id,
        from_beginning=from_beginning,
        start_at_ms=start_at_ms,
    )
