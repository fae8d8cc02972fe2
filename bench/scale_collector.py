"""Child process of bench/snmp_scale.py: one full netfeed collector cycle, then a JSON line.

    python bench/scale_collector.py --config DIR [--client MODULE:CLASS]

Does what ``netfeed collect --config DIR --once`` does (the same Collector,
profiles, Publisher and bus producer, every dataset of every network at once,
no spreading), and also counts what went through: varbinds and requests from
the SNMP client, records (and partial ones) handed to the bus.  The parent
measures this process's CPU and peak RSS with wait4; the JSON adds the CPU
of the cycle alone (process_time around run_once + the final flush).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bus.factory import make_producer
from collectors.publish import Publisher
from collectors.snmp.driver import SnmpDriver
from netfeed.system import load_system


class CountingClient:
    """Wraps the collector's SNMP client; counts varbinds returned and requests sent."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.varbinds = 0
        self.gets = 0
        self.walk_requests = 0

    async def get(self, *args: Any, **kw: Any) -> Any:
        out = await self.inner.get(*args, **kw)
        self.gets += 1
        self.varbinds += len(out)
        return out

    async def walk(self, *args: Any, **kw: Any) -> Any:
        out = await self.inner.walk(*args, **kw)
        self.walk_requests += getattr(out, "requests", 0)
        self.varbinds += sum(len(c) for c in getattr(out, "columns", {}).values())
        return out

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class CountingSink:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.records = 0
        self.partial = 0

    async def publish(self, records: list[Any]) -> None:
        self.records += len(records)
        self.partial += sum(1 for r in records if getattr(r, "partial", False))
        await self.inner.publish(records)

    async def complete_cycle(self, marker: Any) -> Any:
        return await self.inner.complete_cycle(marker)


async def main(cfg: Path, client_class: str | None) -> dict[str, Any]:
    cpu0, t0 = time.process_time(), time.perf_counter()
    system = load_system(cfg)
    snmp_settings = system.driver_settings["snmp"]
    bus = system.bus
    producer = make_producer(bus, client_id="nfbench-collector")
    await producer.start()
    sink = CountingSink(Publisher(producer, bus.topic_prefix))
    if client_class:
        # an engine the settings cannot choose yet: constructed here, handed in
        mod, _, cls = client_class.partition(":")
        inner = getattr(importlib.import_module(mod), cls)(
            rcvbuf_bytes=snmp_settings.udp_rcvbuf_bytes  # type: ignore[attr-defined]
        )
        client = CountingClient(inner)
        driver = SnmpDriver(snmp_settings, system.profile_dirs, client=client)  # type: ignore[arg-type]
    else:
        driver = SnmpDriver(snmp_settings, system.profile_dirs)
        inner = driver.client  # whatever the settings choose
        client = CountingClient(inner)
        driver._client = client  # the bench's only reach inside: count what it returns
    collector = system.make_collector(sink, drivers={"snmp": driver})
    setup_cpu, setup_wall = time.process_time() - cpu0, time.perf_counter() - t0

    cpu1, t1 = time.process_time(), time.perf_counter()
    markers = await collector.run_once()
    await producer.flush()
    cycle_cpu, cycle_wall = time.process_time() - cpu1, time.perf_counter() - t1
    await collector.stop()
    if client_class:
        client.close()
    await producer.stop()

    by_ds = {}
    reasons: Counter[str] = Counter()
    for m in markers:
        by_ds[m.dataset] = {
            "planned": m.devices_planned,
            "ok": m.devices_ok,
            "failed": m.devices_failed,
            "timed_out": m.devices_timed_out,
            "records": m.records,
            "duration_ms": m.duration_ms,
        }
        for why in m.failures.values():
            reasons[why.split(":", 1)[0] + ": " + _shape(why)] += 1
    return {
        "engine": type(inner).__module__ + "." + type(inner).__name__,
        "engine_setting": getattr(snmp_settings, "engine", None),
        "bus": bus.backend,
        "setup_cpu_s": setup_cpu,
        "setup_wall_s": setup_wall,
        "cycle_cpu_s": cycle_cpu,
        "cycle_wall_s": cycle_wall,
        "varbinds": client.varbinds,
        "get_requests": client.gets,
        "walk_requests": client.walk_requests,
        "records": sink.records,
        "partial_records": sink.partial,
        "datasets": by_ds,
        "failure_kinds": reasons.most_common(5),
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def _shape(why: str) -> str:
    """A failure message with its device-specific parts blurred, for grouping."""
    words = why.split(":", 1)[-1].split()
    return " ".join("*" if any(ch.isdigit() for ch in w) else w for w in words)[:90]


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--client", help="MODULE:CLASS of an SNMP client to use instead")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)  # as the CLI
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    result = asyncio.run(main(args.config, args.client))
    print(json.dumps(result), flush=True)
