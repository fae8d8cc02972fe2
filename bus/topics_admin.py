"""What topics exist on the bus and how they are set up; creating and altering
them (``netfeed topics plan|apply``, :mod:`netfeed.topics_plan`).

Kafka: partitions and replication from the topic metadata, ``retention.ms``
and ``cleanup.policy`` from the topic's configuration.  The embedded bus has
partitions only (retention is the bus's own ``retention_hours``; it keeps
every message of a "compacted" topic and its readers take the latest per
key), so there only partitions are compared and created.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from typing import Any

from bus.api import BusError
from bus.settings import BusSettings


@dataclass(frozen=True)
class TopicSpec:
    """A topic as wanted or as found (``None``: not known on this backend)."""

    name: str
    partitions: int
    compact: bool = False
    retention_ms: int | None = None
    replication: int | None = None


async def describe(settings: BusSettings, names: list[str]) -> dict[str, TopicSpec]:
    """The topics of ``names`` that exist, as they are."""
    if settings.backend == "kafka":
        return await _describe_kafka(settings, names)
    return await asyncio.to_thread(_describe_embedded, settings, names)


def _describe_embedded(settings: BusSettings, names: list[str]) -> dict[str, TopicSpec]:
    path = settings.embedded.path
    if not path.exists():
        return {}
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            rows = conn.execute("SELECT name, partitions FROM topics").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise BusError(f"embedded bus {path}: {exc}") from None
    wanted = set(names)
    return {n: TopicSpec(n, p) for n, p in rows if n in wanted}


async def _admin(settings: BusSettings) -> Any:
    from aiokafka.admin import AIOKafkaAdminClient

    from bus.kafka_connect import _client_kwargs, _start_bounded

    kw = _client_kwargs(settings.kafka, "netfeed-topics")
    return await _start_bounded(lambda: AIOKafkaAdminClient(**kw), settings.kafka, "admin")


async def _describe_kafka(settings: BusSettings, names: list[str]) -> dict[str, TopicSpec]:
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
    from aiokafka.errors import KafkaError

    admin = await _admin(settings)
    try:
        existing = set(await admin.list_topics()) & set(names)
        if not existing:
            return {}
        meta = await admin.describe_topics(sorted(existing))
        parts = {
            t["topic"]: (len(t["partitions"]), len(t["partitions"][0]["replicas"]))
            for t in meta
            if not t["error_code"] and t["partitions"]
        }
        resources = [ConfigResource(ConfigResourceType.TOPIC, n) for n in sorted(parts)]
        configs: dict[str, dict[str, str]] = {}
        for resp in await admin.describe_configs(resources):
            for _err, _msg, _type, name, entries in resp.resources:
                configs[name] = {e[0]: e[1] for e in entries}
        out = {}
        for name, (n, rf) in parts.items():
            c = configs.get(name, {})
            retention = c.get("retention.ms")
            out[name] = TopicSpec(
                name,
                n,
                compact="compact" in (c.get("cleanup.policy") or ""),
                retention_ms=int(retention) if retention not in (None, "") else None,
                replication=rf,
            )
        return out
    except KafkaError as exc:
        raise BusError(f"kafka {settings.kafka.bootstrap_servers}: topics: {exc}") from None
    finally:
        await admin.close()


def _configs(spec: TopicSpec) -> dict[str, str]:
    out = {"cleanup.policy": "compact" if spec.compact else "delete"}
    if spec.retention_ms is not None:
        out["retention.ms"] = str(spec.retention_ms)
    return out


async def create(settings: BusSettings, specs: list[TopicSpec], done: Any = None) -> None:
    """Create ``specs`` through one producer's ``ensure_topic`` (already
    existing counts as done; on Kafka it waits for the new partitions'
    leaders); ``done(spec)`` after each.  Partitions, compaction, and on Kafka
    replication and retention, are the bus settings' and ``spec``'s alike
    (:func:`netfeed.topics_plan.wanted_topics` derives one from the other)."""
    from bus.factory import make_producer

    producer = make_producer(settings, client_id="netfeed-topics")
    await producer.start()
    try:
        for spec in specs:
            await producer.ensure_topic(spec.name, compact=spec.compact, partitions=spec.partitions)
            if done is not None:
                done(spec)
    finally:
        await producer.stop()


async def alter(settings: BusSettings, spec: TopicSpec) -> None:
    """Set ``spec``'s ``cleanup.policy`` and ``retention.ms`` on Kafka."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
    from aiokafka.errors import KafkaError

    admin = await _admin(settings)
    try:
        resp = await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, spec.name, configs=_configs(spec))]
        )
        for r in resp:
            for code, msg, *_rest in r.resources:
                if code:
                    raise BusError(f"kafka: cannot alter topic {spec.name}: error {code} {msg}")
    except KafkaError as exc:
        raise BusError(f"kafka: cannot alter topic {spec.name}: {exc}") from None
    finally:
        await admin.close()
