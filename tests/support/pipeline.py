"""Helpers for end-to-end tests: write a network config, collect once, consume."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from applications.api import Application
from applications.runner import AppRunner
from bus.factory import make_producer
from bus.records import CycleComplete, Record
from bus.settings import BusSettings
from collectors.config import load_network
from collectors.publish import Publisher
from collectors.service import Collector
from collectors.settings import CollectorSettings
from collectors.snmp.driver import SnmpDriver
from tests.support.fake_snmp import shipped_profiles


def write_network(
    tmp: Path,
    name: str,
    devices: list[dict[str, object]],
    *,
    timeout_s: float = 2.0,
    retries: int = 1,
    deadline_s: float = 30.0,
) -> Path:
    """A network YAML with one community file per device (``file:`` references)."""
    (tmp / "networks").mkdir(parents=True, exist_ok=True)
    (tmp / "secrets").mkdir(exist_ok=True)
    lines = [
        f"network: {name}",
        "defaults:",
        f"  snmp: {{timeout_s: {timeout_s}, retries: {retries}, max_repetitions: 10, "
        f"device_deadline_s: {deadline_s}}}",
        "devices:",
    ]
    for d in devices:
        secret = tmp / "secrets" / f"{name}-{d['id']}"
        secret.write_text(str(d["community"]))
        lines.append(
            f"  - {{id: {d['id']}, host: {d.get('host', '127.0.0.1')}, "
            f"snmp: {{port: {d['port']}, community: 'file:{secret}'}}}}"
        )
    path = tmp / "networks" / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_sim_network(tmp: Path, name: str, sim: Any, **kw: Any) -> Path:
    """:func:`write_network` for every device of a simulated network (community
    ``public``, the simulator's port per device)."""
    devices: list[dict[str, object]] = [
        {"id": d.device_id, "port": sim.port(d.device_id), "community": "public"}
        for d in sim.devices
    ]
    return write_network(tmp, name, devices, **kw)


class KeepingPublisher(Publisher):
    """The real publisher; keeps a copy of every record it sent."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.sent: list[Record] = []

    async def publish(self, records: list[Record]) -> None:
        await super().publish(records)
        self.sent += records


async def collect_once(
    bus: BusSettings,
    network_yaml: Path,
    datasets: list[str],
    sent: list[Record] | None = None,
) -> list[CycleComplete]:
    """One cycle of ``datasets``; the records published are appended to ``sent``."""
    net = load_network(network_yaml)
    async with make_producer(bus, client_id="test-collector") as producer:
        publisher = KeepingPublisher(producer, bus.topic_prefix)
        if sent is not None:
            publisher.sent = sent
        collector = Collector(
            [net],
            CollectorSettings(instance_id="test"),
            publisher,
            {"snmp": SnmpDriver(profiles=shipped_profiles())},
        )
        try:
            return await collector.run_once(datasets)
        finally:
            await collector.stop()


async def consume_until(runner: AppRunner, done, timeout_s: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    """Step ``runner`` until ``done()`` is true; fail after ``timeout_s``."""
    end = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > end:
            raise AssertionError(f"condition not met within {timeout_s}s")
        await runner.step(timeout_ms=200)
        await asyncio.sleep(0)


def runner_for(app: Application, bus: BusSettings, instance: str = "t") -> AppRunner:
    return AppRunner(app, bus, instance_id=instance)
