"""reachability through the real runner on both backends: a device failing
two cycles and recovering gives exactly up, down, up on the state topic, and
a restart publishes no change that did not happen."""

from __future__ import annotations

import time

from applications.reachability import Reachability
from applications.readback import read_topic
from applications.runner import AppRunner
from bus.factory import make_producer
from bus.records import CycleComplete, DeviceState, Provenance, Record
from bus.settings import BusSettings
from bus.topics import state_topic
from collectors.publish import Publisher

DEVICES = ["d1", "d2", "d3"]


async def publish_cycle(bus: BusSettings, k: int, failed: dict[str, str]) -> None:
    t = k * 60_000
    recs = [
        Record(
            network="n",
            device=d,
            profile="generic",
            dataset="system",
            cycle_id=f"n:system:{t}",
            scheduled_unix_ms=t,
            request_unix_ms=t,
            response_unix_ms=t,
            provenance=Provenance(protocol="snmpv2c", collector_version="t"),
            tags={},
            fields={"sys_name": d},
        )
        for d in DEVICES
        if d not in failed
    ]
    marker = CycleComplete(
        network="n",
        dataset="system",
        cycle_id=f"n:system:{t}",
        scheduled_unix_ms=t,
        started_unix_ms=t,
        finished_unix_ms=t + 1,
        duration_ms=1,
        devices_planned=len(DEVICES),
        devices_ok=len(recs),
        devices_failed=len(failed),
        devices_timed_out=0,
        records=len(recs),
        failures=failed,
    )
    async with make_producer(bus, client_id="test-pub") as producer:
        pub = Publisher(producer, bus.topic_prefix)
        await pub.publish(recs)
        await pub.complete_cycle(marker)


async def run(bus: BusSettings, app: Reachability, cycles: int) -> None:
    async with AppRunner(app, bus, instance_id="reach") as runner:
        end = time.monotonic() + 60
        while runner.cycles < cycles:
            assert time.monotonic() < end, f"{runner.cycles} of {cycles} cycles"
            await runner.step(timeout_ms=200)


async def states(bus: BusSettings) -> list[DeviceState]:
    return [
        m
        for m in await read_topic(bus, state_topic(bus.topic_prefix))
        if isinstance(m, DeviceState)
    ]


async def test_a_device_down_two_cycles_then_up_and_a_restart(any_bus: BusSettings) -> None:
    script = [{}, {"d2": "timeout"}, {"d2": "timeout"}, {}]
    for k, failed in enumerate(script, start=1):
        await publish_cycle(any_bus, k, failed)
    await run(any_bus, Reachability(), cycles=4)
    got = await states(any_bus)
    latest = {m.device: m for m in got}
    assert {d: m.state for d, m in latest.items()} == {"d1": "up", "d2": "up", "d3": "up"}
    assert latest["d2"].transitions == [("up", 60_000), ("down", 120_000), ("up", 240_000)]
    d2 = [(m.state, m.reason) for m in got if m.device == "d2"]
    assert d2 == [("up", ""), ("down", "timeout"), ("up", "")]
    assert len(got) == 5  # three first observations, d2's two changes
    # A restart (state read back) and two more cycles, d3 failing in the last
    await publish_cycle(any_bus, 5, {})
    await publish_cycle(any_bus, 6, {"d3": "no route"})
    await run(any_bus, Reachability(), cycles=2)
    got = await states(any_bus)
    assert len(got) == 6  # only d3's change is new
    (last,) = [m for m in got if m.device == "d3" and m.state == "down"]
    assert last.reason == "no route"
    assert last.transitions == [("up", 60_000), ("down", 360_000)]


async def test_only_devices_of_owned_partitions_are_reported() -> None:
    from applications.api import AppContext, Publisher
    from applications.frames import cycle_frame
    from bus.partitioner import partition_for

    class Sent(Publisher):
        def __init__(self) -> None:
            self.sent: list[str] = []

        async def send(self, topic, message, *, key):  # type: ignore[no-untyped-def]
            self.sent.append(key)

    devices = [f"dev{i}" for i in range(30)]
    mine = [d for d in devices if partition_for(d.encode(), 3) == 1]
    assert mine and len(mine) < len(devices)
    pub = Sent()
    app = Reachability()
    app.ctx = AppContext("x", "p", lambda t: {1}, pub)
    app.topic = "p.state"
    frame = cycle_frame([], "system")
    frame.attrs.update(
        partitions=[1],
        marker=CycleComplete(
            network="n", dataset="system", cycle_id="n:system:1", scheduled_unix_ms=1,
            started_unix_ms=1, finished_unix_ms=1, duration_ms=0, devices_planned=30,
            devices_ok=0, devices_failed=30, devices_timed_out=0, records=0,
            failures={d: "timeout" for d in devices}, partitions=3,
        ),
    )  # fmt: skip
    await app.on_cycle("n", "system", frame)
    assert sorted(pub.sent) == sorted(f"n/{d}" for d in mine)
