"""``on_cycle`` applications as real processes (``netfeed app run``) on both
backends: one dies inside ``on_cycle`` and the next instance still gets every
record; three instances share the partitions, one is SIGKILLed mid-run, and
every record published reaches an ``on_cycle`` (counted by record id)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import yaml

from bus.settings import BusSettings
from tests.support.apps import ROOT, Burst, stop_all, wait_exit, wait_for
from tests.support.cycleapp import cycle_lines

APP = "tests.support.cycleapp:CycleLogApp"


def config(tmp: Path, bus: BusSettings, **app: object) -> Path:
    cfg = tmp / "cfg"
    cfg.mkdir(exist_ok=True)
    settings = {"networks": ["grp"], "log_dir": str(tmp / "cycles"), **app}
    (cfg / "netfeed.yaml").write_text(
        yaml.safe_dump(
            {"bus": bus.model_dump(mode="json"), "applications": {"test-cycles": settings}}
        )
    )
    return cfg


def start(cfg: Path, name: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "netfeed.cli",
            "app",
            "run",
            APP,
            "--config",
            str(cfg),
            "--instance",
            name,
            "--duration",
            "240",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=(cfg / f"{name}.stderr").open("ab"),
    )


def logged(log_dir: Path) -> Counter[str]:
    return Counter(row[4] for row in cycle_lines(log_dir) if row[4] != "-")


async def test_an_instance_dying_inside_on_cycle_loses_nothing(
    any_bus: BusSettings, tmp_path: Path
) -> None:
    die = tmp_path / "die"
    die.write_text("now")
    cfg = config(tmp_path, any_bus, die_when=str(die))
    burst = Burst(any_bus, devices=8, interfaces=3)
    sent = await burst(cycles=3)
    victim = start(cfg, "victim")
    try:
        assert await wait_exit(victim, 60) == 9, (cfg / "victim.stderr").read_text()[-2000:]
        assert list((tmp_path / "cycles").glob("*.dying")), "it never reached on_cycle"
        assert logged(tmp_path / "cycles") == Counter()
        die.unlink()
        heir = start(cfg, "heir")
        await wait_for(lambda: set(logged(tmp_path / "cycles")) >= sent, 60, "every record")
        heir.terminate()
        assert await wait_exit(heir, 30) == 0
    finally:
        stop_all([victim])
    got = logged(tmp_path / "cycles")
    assert set(got) == sent and max(got.values()) == 1


async def test_three_instances_one_killed_every_record_reaches_on_cycle(
    any_bus: BusSettings, tmp_path: Path
) -> None:
    cfg = config(tmp_path, any_bus)
    log_dir = tmp_path / "cycles"
    burst = Burst(any_bus, devices=12, interfaces=4)
    sent = await burst(cycles=1)  # the topic exists before the instances join
    procs = {name: start(cfg, name) for name in ("a", "b", "c")}
    try:
        end = time.monotonic() + 120
        while len(list(log_dir.glob("*.log"))) < 3:  # every instance owns a partition
            assert time.monotonic() < end, "three instances never all handled a cycle"
            for name, p in procs.items():
                assert p.poll() is None, (cfg / f"{name}.stderr").read_text()[-2000:]
            sent |= await burst(cycles=1)
            await asyncio.sleep(0.5)
        os.kill(procs["a"].pid, signal.SIGKILL)
        procs["a"].wait(10)
        for _ in range(4):  # more cycles while two instances live
            sent |= await burst(cycles=1)
            await asyncio.sleep(0.3)
        # The collector goes on polling.  A cycle slice whose partition moved in
        # the rebalance is released by that partition's next marker (see
        # applications/cycles.py), so everything sent so far is in an on_cycle
        # within a few more cycles.
        end = time.monotonic() + 90
        while not set(logged(log_dir)) >= sent:
            assert time.monotonic() < end, f"{len(sent - set(logged(log_dir)))} records missed"
            await burst(cycles=1)
            await asyncio.sleep(1.0)
    finally:
        stop_all(list(procs.values()))
    got = logged(log_dir)
    assert set(got) >= sent
    # every cycle was handed over whole by the partitions' owners
    complete = {row[3] for row in cycle_lines(log_dir)}
    assert complete == {"1"}
    print(
        f"APP-KILL-FIGURES sent={len(sent)} handled={sum(got.values())} "
        f"duplicates={sum(got.values()) - len(got)} missed={len(sent - set(got))}"
    )
