"""``netfeed topics plan|apply``: the topics a configuration needs, against
what the bus has.

Wanted, per network: one topic per scheduled dataset and the quarantine
topic (``bus.<backend>.partitions``; on Kafka ``retention.ms`` from
``bus.kafka.retention_hours``, ``cleanup.policy=delete``); on Kafka with
``collector.sharing.enabled`` the network's control topic
(``collector.sharing.shards`` partitions); and, for the configured
applications that publish, ``<prefix>.alerts`` and the compacted
``<prefix>.state``.

Each topic gets one action: ``ok``; ``create`` (missing); ``alter`` (Kafka:
retention or compaction differs: ``apply`` sets them); ``drift`` (partition
count or replication differs: reported, never changed by ``apply``, because
adding partitions moves keys to other partitions, which breaks a device's
order and the shard of every device, and replication needs a reassignment
plan).  ``plan`` exits 0 when everything is ``ok``, 1 otherwise; ``apply``
exits 0 once everything but ``drift`` is done, 1 if drift remains.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from bus.topics import alerts_topic, control_topic, quarantine_topic, state_topic, topic_name
from bus.topics_admin import TopicSpec, alter, create, describe


@dataclass(frozen=True)
class Action:
    topic: str
    action: str  # ok | create | alter | drift
    detail: str
    wanted: TopicSpec


def wanted_topics(system: Any, apps: list[str]) -> list[TopicSpec]:
    bus = system.bus
    prefix = bus.topic_prefix
    kafka = bus.backend == "kafka"
    parts = bus.kafka.partitions if kafka else bus.embedded.partitions
    retention = int(bus.kafka.retention_hours * 3_600_000) if kafka else None
    rf = bus.kafka.replication_factor if kafka else None
    out: dict[str, TopicSpec] = {}

    def want(name: str, n: int = parts, compact: bool = False) -> None:
        out[name] = TopicSpec(name, n, compact, None if compact else retention, rf)

    for net in system.networks:
        for ds in net.datasets:
            want(topic_name(prefix, net.network, ds))
        want(quarantine_topic(prefix, net.network))
        if kafka and system.collector.sharing.enabled:
            want(control_topic(prefix, net.network), system.collector.sharing.shards)
    if "threshold-alerts" in apps:
        want(alerts_topic(prefix))
    if "reachability" in apps:
        want(state_topic(prefix), compact=True)
    return [out[k] for k in sorted(out)]


def compare(wanted: list[TopicSpec], found: dict[str, TopicSpec], kafka: bool) -> list[Action]:
    actions = []
    for w in wanted:
        f = found.get(w.name)
        if f is None:
            actions.append(Action(w.name, "create", f"{w.partitions} partitions", w))
            continue
        drift = []
        if f.partitions != w.partitions:
            drift.append(f"{f.partitions} partitions, the configuration says {w.partitions}")
        if kafka and f.replication is not None and w.replication and f.replication != w.replication:
            drift.append(f"replication {f.replication}, the configuration says {w.replication}")
        if drift:
            actions.append(Action(w.name, "drift", "; ".join(drift), w))
            continue
        alter_why = []
        if kafka and f.compact != w.compact:
            alter_why.append(f"cleanup.policy {'compact' if w.compact else 'delete'}")
        if kafka and w.retention_ms is not None and f.retention_ms != w.retention_ms:
            alter_why.append(f"retention.ms {f.retention_ms} -> {w.retention_ms}")
        if alter_why:
            actions.append(Action(w.name, "alter", ", ".join(alter_why), w))
        else:
            actions.append(Action(w.name, "ok", "", w))
    return actions


async def plan(system: Any, apps: list[str]) -> list[Action]:
    wanted = wanted_topics(system, apps)
    found = await describe(system.bus, [w.name for w in wanted])
    return compare(wanted, found, system.bus.backend == "kafka")


async def plan_settled(
    system: Any, apps: list[str], timeout_s: float = 15.0, every_s: float = 0.5
) -> list[Action]:
    """The plan after an apply.  Kafka acknowledges a topic's creation (or a
    config change) once its controller has it; the brokers' metadata, which
    :func:`plan` reads, catches up a moment later, so a topic just created may
    still read as missing.  Plan again until nothing is left to create or
    alter, for at most ``timeout_s``; then what is left is real."""
    deadline = time.monotonic() + timeout_s
    while True:
        actions = await plan(system, apps)
        pending = any(a.action in ("create", "alter") for a in actions)
        if not pending or time.monotonic() >= deadline:
            return actions
        await asyncio.sleep(every_s)


async def apply(system: Any, actions: list[Action], progress: Any = None) -> None:
    """Create and alter what ``actions`` say (``progress(action)`` after each)."""
    step = progress or (lambda _a: None)
    creates = [a for a in actions if a.action == "create"]
    if creates:
        await create(system.bus, [a.wanted for a in creates], lambda _s: step(None))
    for a in actions:
        if a.action == "alter":
            await alter(system.bus, a.wanted)
            step(a)
