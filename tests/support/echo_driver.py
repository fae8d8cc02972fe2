"""A protocol driver that is not SNMP, for tests of the protocol-neutral core.

It "polls" by sleeping ``delay_s`` and answers one ``system`` record whose
``sys_descr`` is the device's configured ``answer``; it counts polls in
flight per network, so tests can check how limits nest.
"""

from __future__ import annotations

import asyncio
import time
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from bus.records import Provenance, Record
from collectors.config import Device
from collectors.driver import Driver, PollOutcome


class EchoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    answer: str
    delay_s: float = 0.0


class EchoOverrides(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    answer: str | None = None
    delay_s: float | None = None


class EchoDriver(Driver):
    name = "echo"
    Options = EchoOptions
    Overrides = EchoOverrides
    csv_columns: ClassVar[dict[str, str]] = {"answer": "answer"}

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        self.max_total = 0
        self.started: dict[tuple[str, str], float] = {}  # (device, dataset) -> monotonic
        self.running = False

    async def start(self) -> None:
        self.running = True

    async def stop(self) -> None:
        self.running = False

    async def poll(
        self, device: Device, dataset: str, scheduled_unix_ms: int, cycle_id: str
    ) -> PollOutcome:
        opts = device.options[self.name]
        assert isinstance(opts, EchoOptions)
        net = device.network
        self.started.setdefault((device.id, dataset), time.monotonic())
        self.in_flight[net] = self.in_flight.get(net, 0) + 1
        self.max_in_flight[net] = max(self.max_in_flight.get(net, 0), self.in_flight[net])
        self.max_total = max(self.max_total, sum(self.in_flight.values()))
        try:
            sent = time.time_ns() // 1_000_000
            await asyncio.sleep(opts.delay_s)
        finally:
            self.in_flight[net] -= 1
        rec = Record(
            network=net,
            device=device.id,
            profile="echo",
            dataset=dataset,
            cycle_id=cycle_id,
            scheduled_unix_ms=scheduled_unix_ms,
            request_unix_ms=sent,
            response_unix_ms=time.time_ns() // 1_000_000,
            provenance=Provenance(protocol="echo", collector_version="test", sources=[]),
            tags=dict(device.tags),
            fields={"sys_descr": opts.answer},
        )
        return PollOutcome(device.id, "ok", [rec], values_read=1)
