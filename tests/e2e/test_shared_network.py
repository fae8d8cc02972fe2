"""Three ``netfeed collect`` instances share one network through Kafka itself.

24 simulated SNMP devices, polled every 2 s by three real collector processes
(Kafka + spool) that join the network's shard group (bus/shards_kafka.py) on
the shared test broker.  One is SIGKILLed mid-run.  Read back from the bus:

- in every cycle, the instances' markers name disjoint shards and no row of
  any device comes twice: no device is polled twice in one cycle, before,
  during or after the rebalance;
- before the kill, cycles are covered by all three instances together;
- in every cycle after the rebalance completed (the survivors' session
  timeout plus two intervals after the kill), every device is polled, by the
  two survivors only, and its rows are all there.

One ``SHARED-FIGURES`` line is printed.  Skipped without NETFEED_KAFKA_BOOTSTRAP.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml

from bus.factory import make_consumer
from bus.records import RECORD_ID_HEADER, CycleComplete, Record, decode
from bus.settings import BusSettings, KafkaSettings
from bus.shards import shard_of
from bus.topics import topic_name
from tests.netfeed.test_cli import anetfeed
from tests.support.collect_proc import (
    CollectProcess,
    now_ms,
    simulated,
    write_config,
    write_networks,
)
from tests.support.delivery import show

BOOTSTRAP = os.environ.get("NETFEED_KAFKA_BOOTSTRAP")
pytestmark = [
    pytest.mark.skipif(not BOOTSTRAP, reason="NETFEED_KAFKA_BOOTSTRAP not set"),
    pytest.mark.timeout(240),
]

NETWORK = "shared"
DEVICES = 24
INTERFACES = 2
SHARDS = 12
INTERVAL_MS = 2000
SESSION_MS = 6000
INSTANCES = ("a", "b", "c")


def instance_config(tmp: Path, sims: list, name: str, prefix: str) -> Path:  # type: ignore[type-arg]
    folder = tmp / name
    folder.mkdir()
    assert BOOTSTRAP is not None
    write_config(folder, bootstrap=BOOTSTRAP, prefix=prefix, stop_grace_s=3)
    cfg = yaml.safe_load((folder / "netfeed.yaml").read_text())
    cfg["collector"]["instance_id"] = name
    cfg["collector"]["sharing"] = {"shards": SHARDS, "first_assignment_s": 20}
    cfg["bus"]["kafka"].update(session_timeout_ms=SESSION_MS, heartbeat_interval_ms=1000)
    (folder / "netfeed.yaml").write_text(yaml.safe_dump(cfg))
    write_networks(folder, sims, interval_s=INTERVAL_MS / 1000, spread=0.2)
    return folder


async def read_all(prefix: str, until_tick: int) -> tuple[list[Record], list[CycleComplete]]:
    """Every record and marker of the network's topic, until markers of
    ``until_tick`` came and nothing new for 3 s (at most 60 s)."""
    assert BOOTSTRAP is not None
    bus = BusSettings(
        backend="kafka", topic_prefix=prefix, kafka=KafkaSettings(bootstrap_servers=BOOTSTRAP)
    )
    records: list[Record] = []
    markers: list[CycleComplete] = []
    topic = topic_name(prefix, NETWORK, "interfaces")
    async with make_consumer(bus, group=None, topics=[topic], client_id="shared-reader") as c:
        end = time.monotonic() + 60
        idle = time.monotonic()
        while time.monotonic() < end:
            got = await c.getmany(timeout_ms=500)
            if got:
                idle = time.monotonic()
            for m in got:
                x = decode(m.value)
                assert dict(m.headers)[RECORD_ID_HEADER]
                if isinstance(x, Record):
                    records.append(x)
                elif isinstance(x, CycleComplete) and x.partition == 0:
                    markers.append(x)
            last = max((m.scheduled_unix_ms for m in markers), default=0)
            if last >= until_tick and time.monotonic() - idle > 3:
                break
    return records, markers


async def test_three_instances_share_a_network_and_survive_one_killed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = f"share{uuid.uuid4().hex[:8]}"
    async with simulated([NETWORK], DEVICES, INTERFACES) as sims:
        ids = [d.device_id for d in sims[0].devices]
        procs = {n: CollectProcess(instance_config(tmp_path, sims, n, prefix)) for n in INSTANCES}
        try:
            for p in procs.values():
                await p.start()
            # all three polling: each has logged cycles after the group settled
            for p in procs.values():
                await p.wait_for("a first cycle", lambda p=p: p.ticks_done(NETWORK) >= 3, 60)
            await asyncio.sleep(3 * INTERVAL_MS / 1000)
            # `netfeed status` sees the three instances and the shards each holds
            code, out, err = await anetfeed("status", "--config", str(tmp_path / "a"), "--json")
            assert code == 0, err
            (group,) = [c for c in json.loads(out)["collectors"] if c["network"] == NETWORK]
            held = [s for i in group["instances"] for s in i["shards"]]
            assert len(group["instances"]) == 3 and sorted(held) == list(range(SHARDS)), group
            killed_at = now_ms()
            await procs["c"].kill()
            settled = killed_at + SESSION_MS + 2 * INTERVAL_MS
            end_tick = settled + 4 * INTERVAL_MS
            for name in ("a", "b"):
                p = procs[name]
                await p.wait_for(
                    "cycles after the rebalance",
                    lambda p=p: max((t for _n, t in p.cycles), default=0) >= end_tick,
                    60,
                )
            for name in ("a", "b"):
                rc, _took = await procs[name].terminate()
                assert rc == 0, procs[name].log()
        finally:
            for p in procs.values():
                await p.kill()
    records, markers = await read_all(prefix, end_tick)

    by_tick: dict[int, list[CycleComplete]] = defaultdict(list)
    for m in markers:
        assert m.shards_total == SHARDS and m.shards, m
        by_tick[m.scheduled_unix_ms].append(m)
    rows: dict[int, Counter[str]] = defaultdict(Counter)
    row_ids: Counter[tuple[int, str, str]] = Counter()
    for r in records:
        rows[r.scheduled_unix_ms][r.device] += 1
        row_ids[(r.scheduled_unix_ms, r.device, r.tags.get("if_index", ""))] += 1

    # no device polled twice in one cycle: disjoint shards, no row twice
    for tick, ms in by_tick.items():
        seen: set[int] = set()
        for m in ms:
            assert not (seen & set(m.shards)), f"tick {tick}: shards polled twice: {ms}"
            seen |= set(m.shards)
    doubled = [k for k, n in row_ids.items() if n > 1]
    assert not doubled, f"rows published twice in a cycle: {doubled[:5]}"

    # before the kill the three shared the cycles
    before = [t for t in by_tick if t < killed_at - INTERVAL_MS]
    shared_by_three = [t for t in before if {m.collector for m in by_tick[t]} == set(INSTANCES)]
    assert shared_by_three, {t: [m.collector for m in by_tick[t]] for t in before}

    # after the rebalance: every device polled in every cycle, by the survivors
    after = sorted(t for t in by_tick if settled <= t <= end_tick)
    assert len(after) >= 3, sorted(by_tick)
    for tick in after:
        ms = by_tick[tick]
        assert {m.collector for m in ms} <= {"a", "b"}, ms
        covered = {s for m in ms for s in m.shards}
        assert covered == set(range(SHARDS)), f"tick {tick}: shards {sorted(covered)}"
        assert set(rows[tick]) == set(ids), f"tick {tick}: missing {set(ids) - set(rows[tick])}"
        assert all(n == INTERFACES for n in rows[tick].values()), rows[tick]
        assert sum(m.devices_ok for m in ms) == DEVICES
        for m in ms:  # each instance polled exactly its shards' devices
            mine = {d for d in ids if shard_of(d, SHARDS) in m.shards}
            assert m.devices_planned == len(mine)

    show(
        capsys,
        f"SHARED-FIGURES instances=3 killed=1 devices={DEVICES} shards={SHARDS} "
        f"cycles={len(by_tick)} shared_by_three={len(shared_by_three)} "
        f"whole_after_rebalance={len(after)} "
        f"rebalance_ms={min(after) - killed_at}",
    )
