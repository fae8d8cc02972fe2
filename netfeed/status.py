"""``netfeed status``: one screen on the pipeline, from the bus alone.

Per network and dataset: the latest cycles as their markers tell them
(:mod:`bus.markers`: ok / planned, failed, timed out, skipped, records,
duration, which collector instances, whether every shard reported), the
devices failing in the latest cycle with their error; per application group:
state, members and lag per network and dataset; per network shared by
several collectors: the instances and the shards each holds
(:func:`bus.topics.collectors_group`).  Nothing is joined or committed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, TextIO

from bus.groups import GroupStatus, describe_groups
from bus.markers import Cycle, latest_cycles
from bus.settings import BusSettings


def _at(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _cycle_text(c: Cycle) -> str:
    m = c.marker
    if m.tick_skipped:
        return f"{_at(m.scheduled_unix_ms)}  skipped: {m.tick_skipped}"
    parts = [
        f"{_at(m.scheduled_unix_ms)}  {m.devices_ok}/{m.devices_planned} ok",
        f"{m.devices_failed} failed",
        f"{m.devices_timed_out} timed out",
        f"{m.devices_skipped} skipped",
        f"{m.records} records",
        f"{m.duration_ms} ms",
    ]
    if m.interrupted:
        parts.append("cut short")
    if m.shards_total:
        parts.append(f"{c.instances} instance(s)" + ("" if c.complete else ", shards missing"))
    return ", ".join(parts)


async def gather(bus: BusSettings, cycles: int) -> dict[str, Any]:
    """Everything the screen shows, as data (also ``--json``)."""
    latest = await latest_cycles(bus, per_dataset=cycles)
    groups = await describe_groups(bus, None)
    collectors_prefix = f"{bus.topic_prefix}.collectors."
    apps = [g for g in groups if not g.group.startswith(collectors_prefix)]
    shard_groups = [g for g in groups if g.group.startswith(collectors_prefix)]
    networks: dict[str, Any] = {}
    for (network, dataset), cs in sorted(latest.items()):
        newest = cs[0].marker
        networks.setdefault(network, {})[dataset] = {
            "cycles": [
                {
                    "cycle_id": c.marker.cycle_id,
                    "scheduled_unix_ms": c.marker.scheduled_unix_ms,
                    "devices_planned": c.marker.devices_planned,
                    "devices_ok": c.marker.devices_ok,
                    "devices_failed": c.marker.devices_failed,
                    "devices_timed_out": c.marker.devices_timed_out,
                    "devices_skipped": c.marker.devices_skipped,
                    "records": c.marker.records,
                    "duration_ms": c.marker.duration_ms,
                    "tick_skipped": c.marker.tick_skipped,
                    "interrupted": c.marker.interrupted,
                    "collectors": c.marker.collector.split(",") if c.marker.collector else [],
                    "complete": c.complete,
                    "text": _cycle_text(c),
                }
                for c in cs
            ],
            "failing": dict(sorted(newest.failures.items())),
        }
    return {
        "backend": bus.backend,
        "networks": networks,
        "applications": [g.to_json(bus.topic_prefix) for g in apps],
        "collectors": [_shards_json(g, collectors_prefix) for g in shard_groups],
    }


def _shards_json(g: GroupStatus, prefix: str) -> dict[str, Any]:
    return {
        "network": g.group[len(prefix) :],
        "state": g.state,
        "instances": [
            {
                "client_id": m.client_id,
                "host": m.host,
                "shards": sorted(p for _t, p in m.partitions),
            }
            for m in g.members
        ],
    }


def render(data: dict[str, Any], out: TextIO) -> None:
    w = out.write
    if not data["networks"]:
        w("networks: no cycle markers on the bus yet (is a collector running?)\n")
    for network, datasets in data["networks"].items():
        w(f"network {network}\n")
        for dataset, d in datasets.items():
            first, *rest = d["cycles"]
            w(f"  {dataset:<12} latest  {first['text']}\n")
            for c in rest:
                w(f"  {'':<12} earlier {c['text']}\n")
            for device, why in d["failing"].items():
                w(f"  {'':<12} failing {device}: {why}\n")
    for c in data["collectors"]:
        inst = "; ".join(
            f"{i['client_id']} ({i['host']}) shards {i['shards']}" for i in c["instances"]
        )
        n = len(c["instances"])
        w(f"collectors of {c['network']}: {c['state']}, {n} instance(s): {inst}\n")
    if not data["applications"]:
        w("applications: no consumer groups on the bus\n")
    for g in data["applications"]:
        n = len(g["members"])
        w(f"application {g['group']}: {g['state']}, {n} member(s), lag {g['lag']}\n")
        for m in g["members"]:
            w(f"  member {m['client_id']} {m['host']}\n")
        for row in g["lag_by_network"]:
            w(f"  {row['network'] or '-':<20} {row['dataset']:<14} lag {row['lag']}\n")


async def run(bus: BusSettings, *, cycles: int, as_json: bool, out: TextIO) -> int:
    data = await gather(bus, cycles)
    if as_json:
        out.write(json.dumps(data, indent=2) + "\n")
    else:
        render(data, out)
    return 0
