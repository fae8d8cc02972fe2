"""Fault test (issue 8): one of two application instances of one group is
killed (SIGKILL) every 20 s and restarted, while a producer publishes cycles
(records + markers) without pause for ~84 s.  At the end, the union of what
the instances handled covers every published record: at least once, with
duplicates allowed, counted and printed (published / handled / duplicates /
missed).  Kafka only: the shared broker, a topic prefix of its own."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from pathlib import Path

from bus.factory import make_producer
from bus.records import record_id
from bus.settings import BusSettings
from collectors.publish import Publisher
from tests.conftest import bus_for
from tests.support import messages
from tests.support.apps import handled_ids, log_lines, start_instance, stop_all, wait_for
from tests.support.apps import write_config as app_config

PUBLISH_S = 84.0  # kills at 20, 40, 60, 80 s
KILL_EVERY_S = 20.0
CYCLE_EVERY_S = 0.5
DEVICES, INTERFACES = 12, 4


async def publish_cycles(bus: BusSettings, until: float, ids: set[str], first: int = 1) -> int:
    """Publish one cycle every CYCLE_EVERY_S until ``until`` (monotonic), at
    least one, numbered from ``first``; the ids of every record published go
    to ``ids``.  Returns the cycles."""
    cycle = first - 1
    async with make_producer(bus, client_id="fault-producer") as producer:
        pub = Publisher(producer, bus.topic_prefix)
        while cycle < first or time.monotonic() < until:
            cycle += 1
            recs = [
                messages.rec(f"d{d:02d}", i, cycle, network="grp")
                for d in range(DEVICES)
                for i in range(INTERFACES)
            ]
            await pub.publish(recs)
            await pub.complete_cycle(messages.marker(cycle, len(recs), network="grp"))
            ids.update(record_id(r) for r in recs)  # flushed: complete_cycle flushes
            await asyncio.sleep(CYCLE_EVERY_S)
    return cycle - first + 1


async def test_one_of_two_instances_killed_every_20s_none_missed(tmp_path: Path) -> None:
    bus = bus_for("kafka", tmp_path)  # session timeout 6 s: a dead member is noticed fast
    log_dir = tmp_path / "seen"
    cfg = app_config(tmp_path, bus, log_dir)
    published: set[str] = set()
    await publish_cycles(bus, 0, published)  # one cycle: the topic exists
    procs = {"a": start_instance(cfg, "a"), "b": start_instance(cfg, "b")}
    everyone: list[subprocess.Popen[bytes]] = list(procs.values())
    began = time.monotonic()
    producer = asyncio.create_task(publish_cycles(bus, began + PUBLISH_S, published, 1000))
    kills = 0
    try:
        victim = "a"
        while not producer.done():
            await asyncio.wait(
                {producer}, timeout=began + KILL_EVERY_S * (kills + 1) - time.monotonic()
            )
            if producer.done():
                break
            for name, p in procs.items():
                assert p.poll() is None, (
                    f"{name} died: " + (cfg / f"{name}.stderr").read_text()[-2000:]
                )
            procs[victim].send_signal(signal.SIGKILL)
            procs[victim].wait(10)
            kills += 1
            procs[victim] = start_instance(cfg, victim)
            everyone.append(procs[victim])
            victim = "b" if victim == "a" else "a"
        cycles = await producer
        with contextlib.suppress(AssertionError):  # what is missing is counted below
            await wait_for(
                lambda: set(handled_ids(log_dir)) >= published,
                45,
                "the instances to cover every published record",
            )
    finally:
        if not producer.done():
            producer.cancel()
        stop_all(everyone)
    handled = handled_ids(log_dir)
    lines = sum(handled.values())
    duplicates = lines - len(handled)
    missed = published - set(handled)
    per_process = {
        pid: sum(r[3] == "record" for r in rows) for pid, rows in log_lines(log_dir).items()
    }
    print(
        f"\nkill test: {kills} SIGKILLs in {PUBLISH_S:.0f} s, {cycles} cycles; "
        f"published {len(published)} records, handled {lines} ({len(handled)} distinct), "
        f"duplicates {duplicates}, missed {len(missed)}; per process: {per_process}",
        file=sys.stderr,
    )
    assert kills >= 4
    assert not missed, f"{len(missed)} records never handled"
    assert len(published) == (cycles + 1) * DEVICES * INTERFACES
