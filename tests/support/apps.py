"""Running application instances as real processes (``netfeed app run``) and
reading what :class:`tests.support.countapp.CountApp` logged, for the
end-to-end application tests."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from bus.factory import make_producer
from bus.records import record_id
from bus.settings import BusSettings
from collectors.publish import Publisher
from tests.support import messages

APP = "tests.support.countapp:CountApp"
ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp: Path, bus: BusSettings, log_dir: Path, **app: Any) -> Path:
    """A config folder running CountApp on network ``grp``, dataset ``interfaces``."""
    cfg = tmp / "cfg"
    cfg.mkdir(exist_ok=True)
    settings = {"networks": ["grp"], "datasets": ["interfaces"], "log_dir": str(log_dir), **app}
    (cfg / "netfeed.yaml").write_text(
        yaml.safe_dump(
            {"bus": bus.model_dump(mode="json"), "applications": {"test-count": settings}}
        )
    )
    return cfg


def start_instance(
    cfg: Path, name: str, duration_s: float = 300, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``netfeed app run`` CountApp as instance ``name``; stderr to ``<cfg>/<name>.stderr``."""
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
            str(duration_s),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=(cfg / f"{name}.stderr").open("ab"),
        env=env,
    )


def log_lines(log_dir: Path) -> dict[str, list[list[str]]]:
    """pid -> its log lines, split: topic partition offset kind device id."""
    return {
        f.stem: [line.split() for line in f.read_text().splitlines()]
        for f in sorted(log_dir.glob("*.log"))
    }


def handled_ids(log_dir: Path, pid: int | str | None = None) -> Counter[str]:
    """How often each record id was handled (by one process, or by all)."""
    out: Counter[str] = Counter()
    for who, lines in log_lines(log_dir).items():
        if pid is None or who == str(pid):
            out.update(row[5] for row in lines if row[3] == "record")
    return out


def partitions_of(log_dir: Path, pid: int | str) -> set[int]:
    return {int(row[1]) for row in log_lines(log_dir).get(str(pid), [])}


class Burst:
    """Publishes records of network ``grp`` (``devices`` x ``interfaces`` per
    cycle, then the cycle's marker) and keeps their ids."""

    def __init__(self, bus: BusSettings, devices: int = 12, interfaces: int = 4) -> None:
        self.bus = bus
        self.devices = devices
        self.interfaces = interfaces
        self.ids: list[str] = []
        self.cycle = 0

    async def __call__(self, cycles: int = 1) -> set[str]:
        """Publish ``cycles`` cycles; the ids of their records."""
        new: set[str] = set()
        async with make_producer(self.bus, client_id="test-burst") as producer:
            pub = Publisher(producer, self.bus.topic_prefix)
            for _ in range(cycles):
                self.cycle += 1
                recs = [
                    messages.rec(f"d{d:02d}", i, self.cycle, network="grp")
                    for d in range(self.devices)
                    for i in range(self.interfaces)
                ]
                await pub.publish(recs)
                await pub.complete_cycle(messages.marker(self.cycle, len(recs), network="grp"))
                new |= {record_id(r) for r in recs}
        self.ids += sorted(new)
        return new


async def wait_for(cond: Callable[[], bool], timeout_s: float, what: str) -> None:
    end = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        await asyncio.sleep(0.2)


async def wait_exit(proc: subprocess.Popen[bytes], timeout_s: float) -> int:
    """The exit code, waiting at most ``timeout_s`` (killed and failed past it)."""
    end = time.monotonic() + timeout_s
    while proc.poll() is None:
        if time.monotonic() > end:
            proc.kill()
            proc.wait(10)
            raise AssertionError(f"process {proc.pid} did not exit within {timeout_s:g} s")
        await asyncio.sleep(0.1)
    return proc.returncode


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)
