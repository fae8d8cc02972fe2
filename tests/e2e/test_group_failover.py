"""Two application instances in one consumer group split the partitions; one is
killed (SIGKILL) mid-stream and the other takes its partitions over; every
record published is handled by at least one of them."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from bus.factory import make_consumer
from bus.records import Record, decode
from bus.settings import BusSettings
from bus.topics import topic_name
from netfeed.simulator.network import SimulatedNetwork
from tests.support.apps import start_instance, wait_for, write_config
from tests.support.pipeline import collect_once, write_sim_network


def seen(log_dir: Path) -> dict[str, set[tuple[str, int, int]]]:
    out: dict[str, set[tuple[str, int, int]]] = {}
    for f in log_dir.glob("*.log"):
        rows = set()
        for line in f.read_text().splitlines():
            topic, part, off, kind, *_ = line.split()
            if kind == "record":
                rows.add((topic, int(part), int(off)))
        out[f.stem] = rows
    return out


async def published(bus: BusSettings) -> set[tuple[str, int, int]]:
    topic = topic_name(bus.topic_prefix, "grp", "interfaces")
    out = set()
    async with make_consumer(bus, group=None, topics=[topic]) as c:
        idle = 0
        while idle < 4:
            msgs = await c.getmany(timeout_ms=500)
            idle = 0 if msgs else idle + 1
            out |= {
                (m.topic, m.partition, m.offset)
                for m in msgs
                if isinstance(decode(m.value), Record)
            }
    return out


async def test_two_instances_split_then_survivor_takes_over(
    any_bus: BusSettings, tmp_path: Path
) -> None:
    log_dir = tmp_path / "seen"
    cfg = write_config(tmp_path, any_bus, log_dir)
    async with SimulatedNetwork("grp", 12, seed=3, base_port=0, n_interfaces=10) as sim:
        net_yaml = write_sim_network(
            tmp_path,
            "grp",
            sim,
        )
        await collect_once(any_bus, net_yaml, ["interfaces"])  # topic exists before the apps join
        procs = [start_instance(cfg, "a"), start_instance(cfg, "b")]
        try:
            # keep publishing until both instances have partitions and handled records
            cycles = 1
            end = time.monotonic() + 90
            while len([s for s in seen(log_dir).values() if s]) < 2:
                for name in ("a", "b"):
                    proc = procs[0 if name == "a" else 1]
                    assert proc.poll() is None, (cfg / f"{name}.stderr").read_text()[-3000:]
                assert time.monotonic() < end, "both instances never handled records"
                await collect_once(any_bus, net_yaml, ["interfaces"])
                cycles += 1
                await asyncio.sleep(0.5)
            victim = procs[0]
            victim_pid = str(victim.pid)
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(10)
            for _ in range(3):  # more cycles while only the survivor lives
                await collect_once(any_bus, net_yaml, ["interfaces"])
                cycles += 1
            everything = await published(any_bus)
            assert len(everything) == cycles * 12 * 10

            def covered() -> bool:
                return everything <= set().union(*seen(log_dir).values())

            await wait_for(covered, 60, "the survivor to take over the dead instance's partitions")
            survivor = {k: v for k, v in seen(log_dir).items() if k != victim_pid}
            assert len(survivor) == 1
            before_kill_parts = {p for (_t, p, _o) in seen(log_dir)[victim_pid]}
            after = {(t, p, o) for (t, p, o) in next(iter(survivor.values()))}
            assert before_kill_parts & {p for (_t, p, _o) in after}, "no partition changed owner"
        finally:
            for p in procs:
                if p.poll() is None:
                    p.terminate()
                    p.wait(20)
