"""A real ``netfeed collect`` process on Kafka + spool, polling simulated networks.

:func:`write_config` and :func:`write_networks` make a configuration folder;
:class:`CollectProcess` runs ``python -m netfeed.cli -v collect`` on it (the
collector's production path: quality gate, publisher, spool, drainer), reads
its stderr as it comes and parses the cycle summaries of
:mod:`collectors.cycle` into :class:`CycleLine` by ``(network, tick)``: what the
collector says it polled, independent of what reached the bus.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from bus.records import RECORD_ID_HEADER, Record, decode
from bus.spool import SpoolStore
from netfeed.simulator.network import SimulatedNetwork
from tests.support.pipeline import write_network

REPO = Path(__file__).resolve().parents[2]
INSTANCE = "faults"
# "<network>:interfaces:<tick>: 20/20 devices ok, 0 failed, 0 timed out, 0 skipped, 80 records in 12 ms"
_CYCLE = re.compile(
    r" collectors\.cycle: (?P<net>[\w-]+):interfaces:(?P<tick>\d+): (?P<ok>\d+)/(?P<planned>\d+) "
    r"devices ok, (?P<failed>\d+) failed, (?P<timed_out>\d+) timed out, (?P<skipped>\d+) "
    r"skipped, (?P<records>\d+) records in"
)
_FIRST = re.compile(
    r" collectors\.service: (?P<net>[\w-]+)\.interfaces: scheduled; first tick at (?P<tick>\d+)"
)


@dataclass(frozen=True)
class CycleLine:
    """One cycle as the collector logged it."""

    network: str
    tick: int
    ok: int
    planned: int
    failed: int
    timed_out: int
    skipped: int
    records: int


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def sleep_until_ms(at_ms: int) -> None:
    """Sleep until the wall clock reaches ``at_ms`` (the collector's ticks are wall-clock)."""
    await asyncio.sleep(max(0.0, (at_ms - now_ms()) / 1000))


@asynccontextmanager
async def simulated(
    names: list[str], devices: int, interfaces: int
) -> AsyncIterator[list[SimulatedNetwork]]:
    """Started simulated networks (free loopback ports), stopped on leaving."""
    sims = [
        SimulatedNetwork(n, devices, seed=k, base_port=0, n_interfaces=interfaces)
        for k, n in enumerate(names)
    ]
    try:
        for s in sims:
            await s.start()
        yield sims
    finally:
        for s in sims:
            await s.stop()


def write_config(
    tmp: Path,
    *,
    bootstrap: str,
    prefix: str,
    stop_grace_s: float = 10.0,
    stop_timeout_ms: int = 10_000,
    send_timeout_ms: int = 5_000,
    partitions: int = 3,
) -> None:
    """``netfeed.yaml``: Kafka at ``bootstrap`` through a spool under ``tmp/spool``."""
    (tmp / "netfeed.yaml").write_text(
        yaml.safe_dump(
            {
                "bus": {
                    "backend": "kafka",
                    "topic_prefix": prefix,
                    "kafka": {
                        "bootstrap_servers": bootstrap,
                        "request_timeout_ms": 5000,
                        "partitions": partitions,
                    },
                    "spool": {
                        "path": "spool",
                        "stop_timeout_ms": stop_timeout_ms,
                        "send_timeout_ms": send_timeout_ms,
                    },
                },
                "collector": {"instance_id": INSTANCE, "stop_grace_s": stop_grace_s},
            }
        )
    )


def closed_udp_port() -> int:
    """A loopback UDP port nothing listens on (bound once by the OS, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_networks(
    tmp: Path,
    sims: list[SimulatedNetwork],
    *,
    interval_s: float = 5,
    timeout_s: float = 1.0,
    retries: int = 1,
    spread: float = 0.3,
    dead: dict[str, int] | None = None,
) -> None:
    """One network file per simulated network, polling ``interfaces`` every
    ``interval_s``; devices in ``dead`` (id -> port) are pointed at that port
    instead of their agent."""
    dead = dead or {}
    for sim in sims:
        path = write_network(
            tmp,
            sim.name,
            [
                {
                    "id": d.device_id,
                    "port": dead.get(d.device_id) or sim.port(d.device_id),
                    "community": "public",
                }
                for d in sim.devices
            ],
            timeout_s=timeout_s,
            retries=retries,
            deadline_s=interval_s,
        )
        path.write_text(
            path.read_text()
            + f"datasets: {{interfaces: {{interval_s: {interval_s}}}}}\n"
            + f"collection: {{spread: {spread}}}\n"
        )


def spool_depth(tmp: Path) -> int:
    """Messages left in the collector's spool file (0 if there is none)."""
    path = tmp / "spool" / f"{INSTANCE}.sqlite3"
    if not path.exists():
        return 0
    store = SpoolStore(path, 1 << 30)
    store.open()
    try:
        return store.depth
    finally:
        store.close()


def spooled_records(tmp: Path) -> dict[str, tuple[str, int]]:
    """The records left in the spool file: record id (header) -> (network, tick)."""
    path = tmp / "spool" / f"{INSTANCE}.sqlite3"
    store = SpoolStore(path, 1 << 30)
    store.open()
    try:
        chunks = store.read(10_000_000)
    finally:
        store.close()
    out: dict[str, tuple[str, int]] = {}
    for c in chunks:
        for topic, _k, value, headers in c.messages:
            if c.marker or not topic.endswith(".interfaces"):
                continue
            r = decode(value)
            assert isinstance(r, Record)
            out[dict(headers)[RECORD_ID_HEADER].decode()] = (r.network, r.scheduled_unix_ms)
    return out


class CollectProcess:
    """``netfeed -v collect --dataset interfaces`` on the folder ``tmp``; its
    stderr lines are kept in :attr:`lines`, its cycle summaries in :attr:`cycles`."""

    def __init__(self, tmp: Path, *args: str) -> None:
        self.tmp = tmp
        self.args = args
        self.lines: list[str] = []
        self.cycles: dict[tuple[str, int], CycleLine] = {}
        self.first_tick: dict[str, int] = {}
        self.proc: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        # the config names the bus and the broker: no environment override of them
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("NETFEED_KAFKA", "NETFEED_BUS"))
        }
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "netfeed.cli",
            "-v",
            "collect",
            "--config",
            str(self.tmp),
            "--dataset",
            "interfaces",
            *self.args,
            cwd=REPO,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            asyncio.create_task(self._read(self.proc.stderr)),
            asyncio.create_task(self._read(self.proc.stdout)),
        ]

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := (await stream.readline()).decode(errors="replace"):
            self.lines.append(line)
            if m := _CYCLE.search(line):
                c = CycleLine(
                    m["net"],
                    int(m["tick"]),
                    *(
                        int(m[k])
                        for k in ("ok", "planned", "failed", "timed_out", "skipped", "records")
                    ),
                )
                self.cycles[(c.network, c.tick)] = c
            elif m := _FIRST.search(line):
                self.first_tick[m["net"]] = int(m["tick"])

    async def wait_for(self, what: str, done: Callable[[], bool], timeout_s: float) -> None:
        """Until ``done()``; fails (with the log) after ``timeout_s`` or if the process ended."""
        end = time.monotonic() + timeout_s
        while not done():
            assert self.proc is not None
            if self.proc.returncode is not None or time.monotonic() > end:
                raise AssertionError(f"{what}: not within {timeout_s} s\n{self.log()}")
            await asyncio.sleep(0.1)

    def ticks_done(self, network: str) -> int:
        return sum(n == network for n, _ in self.cycles)

    async def terminate(self, timeout_s: float = 120) -> tuple[int, float]:
        """SIGTERM; returns the exit code and how long the process took to exit."""
        assert self.proc is not None
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        rc = await asyncio.wait_for(self.proc.wait(), timeout_s)
        took = time.monotonic() - t0
        await asyncio.wait_for(asyncio.gather(*self._readers), 10)
        return rc, took

    async def wait(self, timeout_s: float = 120) -> int:
        assert self.proc is not None
        rc = await asyncio.wait_for(self.proc.wait(), timeout_s)
        await asyncio.wait_for(asyncio.gather(*self._readers), 10)
        return rc

    async def kill(self) -> None:
        """Cleanup: SIGKILL if still running."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        for r in self._readers:
            r.cancel()

    def log(self) -> str:
        return "".join(self.lines[-200:])

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)
