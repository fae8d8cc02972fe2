"""A device that never answers and one that answers garbage end as failed in the
cycle marker on the bus, while the other devices complete."""

from __future__ import annotations

import time
from pathlib import Path

from applications.api import AppSettings
from bus.records import CycleComplete, Record
from bus.settings import BusSettings
from netfeed.simulator.network import SimulatedNetwork
from tests.support.countapp import CaptureApp
from tests.support.pipeline import collect_once, consume_until, runner_for, write_network


async def test_silent_and_garbage_devices_fail_alone(any_bus: BusSettings, tmp_path: Path) -> None:
    async with SimulatedNetwork("faulty", 5, seed=7, base_port=0, n_interfaces=4) as sim:
        ids = [d.device_id for d in sim.devices]
        sim.set_fault(ids[0], "silent")
        sim.set_fault(ids[1], "garbage")
        yaml = write_network(
            tmp_path,
            "faulty",
            [{"id": i, "port": sim.port(i), "community": "public"} for i in ids],
            timeout_s=0.5,
            retries=1,
            deadline_s=5,
        )
        t0 = time.monotonic()
        [marker] = await collect_once(any_bus, yaml, ["interfaces"])
        took = time.monotonic() - t0

    assert marker.devices_planned == 5 and marker.devices_ok == 3
    assert marker.devices_failed + marker.devices_timed_out == 2
    assert set(marker.failures) == {ids[0], ids[1]}
    assert "no answer" in marker.failures[ids[0]]
    assert took < 10, "a dead device must cost its own timeout, not delay the cycle"

    app = CaptureApp(AppSettings(networks=["faulty"], datasets=["interfaces"]))
    async with runner_for(app, any_bus) as runner:
        await consume_until(
            runner,
            lambda: (
                sum(isinstance(i.message, CycleComplete) for i in app.items) >= marker.partitions
            ),
        )
    seen = [i.message for i in app.items]
    devices = {m.device for m in seen if isinstance(m, Record)}
    assert devices == set(ids[2:])
    assert len([m for m in seen if isinstance(m, Record)]) == 3 * 4
    markers = [m for m in seen if isinstance(m, CycleComplete)]
    assert {m.partition for m in markers} == set(range(marker.partitions))
    assert all(m.failures == marker.failures for m in markers)
