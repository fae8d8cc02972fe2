"""Consumer groups on Kafka (:func:`bus.groups.describe_groups`): the group
coordinator's view of members and assignments, committed offsets, and the
partitions' start and end offsets."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import KafkaError

from bus.api import BusError
from bus.groups import GroupStatus, Member, PartitionLag
from bus.kafka_connect import _client_kwargs, _start_bounded
from bus.settings import BusSettings


async def describe_kafka(settings: BusSettings, groups: list[str] | None) -> list[GroupStatus]:
    k = settings.kafka
    kw = _client_kwargs(k, "netfeed-status")
    admin: AIOKafkaAdminClient = await _start_bounded(lambda: AIOKafkaAdminClient(**kw), k, "admin")
    offsets_reader: AIOKafkaConsumer | None = None
    try:
        rt = k.request_timeout_ms / 1000
        async with asyncio.timeout(rt * 3) as limit:
            known = {g for g, *_ in await admin.list_consumer_groups()}
            names = sorted(known if groups is None else [g for g in groups if g in known])
            if not names:
                return []
            # two requests per group follow: a broker with many groups needs longer
            limit.reschedule(asyncio.get_running_loop().time() + rt * (3 + len(names) / 20))
            # One group per request: aiokafka 0.14 fails to decode some responses
            # describing many groups at once ("Buffer underrun decoding string")
            # and drops the connection; one at a time decodes.
            described = [r for n in names for r in await admin.describe_consumer_groups([n])]
            out: list[GroupStatus] = []
            wanted: dict[str, set[TopicPartition]] = {}
            states: dict[str, tuple[str, list[Member]]] = {}
            for resp in described:
                for g in resp.to_object()["groups"]:
                    members = [_member(m) for m in g["members"]]
                    states[g["group"]] = (g["state"], members)
            # A broker shared by several deployments holds other prefixes' groups
            # and topics: when listing every group, only this prefix's topics
            # count, and a group with none of them is left out.
            ours = f"{settings.topic_prefix}."
            for name in names:
                committed = await admin.list_consumer_group_offsets(name)
                tps = {tp for tp, om in committed.items() if om is not None}
                for m in states.get(name, ("", []))[1]:
                    tps |= {TopicPartition(t, p) for t, p in m.partitions}
                if groups is None:
                    tps = {tp for tp in tps if tp.topic.startswith(ours)}
                    if not tps:
                        continue
                wanted[name] = tps
                states.setdefault(name, ("Unknown", []))
                out.append(
                    GroupStatus(
                        name,
                        states[name][0],
                        states[name][1],
                        [
                            PartitionLag(tp.topic, tp.partition, _offset(committed.get(tp)), 0, 0)
                            for tp in sorted(tps)
                        ],
                    )
                )
            every = set().union(*wanted.values())
            if every:
                offsets_reader = await _start_bounded(
                    lambda: AIOKafkaConsumer(**_client_kwargs(k, "netfeed-status"), group_id=None),
                    k,
                    "consumer",
                )
                ends = await offsets_reader.end_offsets(list(every))
                starts = await offsets_reader.beginning_offsets(list(every))
                for st in out:
                    owner = {tp: m.member_id for m in st.members for tp in m.partitions}
                    for p in st.partitions:
                        tp = TopicPartition(p.topic, p.partition)
                        p.end, p.start = ends.get(tp, 0), starts.get(tp, 0)
                        p.owner = owner.get((p.topic, p.partition))
            return out
    except TimeoutError:
        raise BusError(
            f"kafka {k.bootstrap_servers}: consumer groups not described in time"
        ) from None
    except KafkaError as exc:
        raise BusError(f"kafka {k.bootstrap_servers}: consumer groups: {exc}") from None
    finally:
        await admin.close()
        if offsets_reader is not None:
            await offsets_reader.stop()


def _offset(om: Any) -> int | None:
    if om is None or om.offset < 0:
        return None
    return int(om.offset)


def _member(m: dict[str, Any]) -> Member:
    parts: list[tuple[str, int]] = []
    raw = m.get("member_assignment") or b""
    if raw:
        assignment = ConsumerProtocolMemberAssignment.decode(raw)
        parts = [(a[0], p) for a in assignment.assignment for p in a[1]]
    return Member(m["member_id"], m["client_id"], str(m.get("client_host", "")).lstrip("/"), parts)
