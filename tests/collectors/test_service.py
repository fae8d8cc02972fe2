import asyncio
import time

from bus.records import CycleComplete
from collectors.config import CollectionSettings, DatasetSchedule, Device, NetworkConfig
from collectors.service import Collector, deadline_ms, next_tick_ms, tick_ms
from collectors.settings import CollectorSettings
from collectors.snmp.base import SnmpTarget, Value
from tests.collectors.test_cycle import ListSink, devices
from tests.support.fake_snmp import FakeClient, device_data, snmp_driver


def test_tick_is_on_the_interval_grid() -> None:
    assert tick_ms(DatasetSchedule(interval_s=60), 1_000_061_234) == 1_000_020_000
    assert tick_ms(DatasetSchedule(interval_s=60), 1_000_020_000) == 1_000_020_000


def test_the_tick_of_a_cron_schedule_is_its_last_fire_time() -> None:
    every5 = DatasetSchedule(cron="*/5 * * * *")
    assert tick_ms(every5, 1_000_061_234) == 999_900_000  # 5-minute boundaries
    assert tick_ms(every5, 999_900_000) == 999_900_000
    assert next_tick_ms(every5, tick_ms(every5, 1_000_061_234)) > 1_000_061_234
    daily = DatasetSchedule(cron="30 2 * * *")  # 02:30 UTC
    assert tick_ms(daily, 1_764_728_000_000) == 1_764_642_600_000  # 2025-12-03 02:13 -> 12-02
    yearly = DatasetSchedule(cron="0 0 1 1 *")
    assert tick_ms(yearly, 1_764_728_000_000) == 1_735_689_600_000  # 2025-01-01


async def test_run_once_labels_its_cycles_with_the_current_tick() -> None:
    devs = devices(2)
    sink = ListSink()
    coll = Collector(
        [net_of(devs, 3600)],
        CollectorSettings(instance_id="t"),
        sink,
        {"snmp": snmp_driver(FakeClient({d.id: device_data(1) for d in devs}))},
    )
    before = time.time_ns() // 1_000_000
    first = await coll.run_once()
    second = await coll.run_once()
    await coll.stop()
    after = time.time_ns() // 1_000_000
    ticks = {before - before % 3_600_000, after - after % 3_600_000}
    assert first[0].scheduled_unix_ms in ticks and second[0].scheduled_unix_ms in ticks
    if len(ticks) == 1:  # (not run across an hour boundary) one interval, one cycle id
        assert first[0].cycle_id == second[0].cycle_id
    assert all(
        r.cycle_id == first[0].cycle_id or r.cycle_id == second[0].cycle_id for r in sink.records
    )
    assert all(r.request_unix_ms >= r.scheduled_unix_ms for r in sink.records)


def test_next_tick_is_on_the_grid_and_the_deadline_before_it() -> None:
    every5 = DatasetSchedule(interval_s=5)
    assert next_tick_ms(every5, 1_000_001_234) == 1_000_005_000
    assert next_tick_ms(every5, 1_000_005_000) == 1_000_010_000
    assert next_tick_ms(every5, 1_000_005_000, inclusive=True) == 1_000_005_000
    cron = DatasetSchedule(cron="*/5 * * * *")
    assert next_tick_ms(cron, 1_000_061_234) == 1_000_200_000  # 5-minute boundaries
    assert next_tick_ms(cron, 1_000_200_000) == 1_000_500_000
    assert deadline_ms(0, 5_000) == 4_500 and deadline_ms(0, 60_000) == 59_000


def net_of(devs: list[Device], interval_s: float, **collection: object) -> NetworkConfig:
    return NetworkConfig(
        network="n",
        source=".",
        devices=devs,  # type: ignore[arg-type]
        datasets={"system": DatasetSchedule(interval_s=interval_s)},
        collection=CollectionSettings(**collection),  # type: ignore[arg-type]
    )


class SlowMarkers(ListSink):
    """A bus slow to take markers: each takes ``delay_s``."""

    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s
        self.busy = 0
        self.max_busy = 0

    async def complete_cycle(self, marker: CycleComplete) -> CycleComplete:
        self.busy += 1
        self.max_busy = max(self.max_busy, self.busy)
        try:
            if not marker.tick_skipped:
                await asyncio.sleep(self.delay_s)
            return await super().complete_cycle(marker)
        finally:
            self.busy -= 1


async def test_a_tick_missed_while_a_cycle_finishes_is_published_as_skipped() -> None:
    # every cycle takes ~2.5 s to publish its marker, the interval is 1 s
    devs = devices(2)
    sink = SlowMarkers(2.5)
    net = net_of(devs, 1, spread=0)
    client = FakeClient({d.id: device_data(1) for d in devs})
    async with Collector(
        [net], CollectorSettings(instance_id="t"), sink, {"snmp": snmp_driver(client)}
    ) as coll:
        await asyncio.sleep(6.5)
    assert sink.max_busy == 1  # never two cycles of a job at once
    polled = [m for m in sink.markers if not m.tick_skipped]
    skipped = [m for m in sink.markers if m.tick_skipped]
    assert 1 <= len(polled) <= 3 and len(skipped) >= 2
    assert coll.overruns["n.system"] == len(skipped)
    for m in skipped:
        assert m.tick_skipped == "previous cycle still running"
        assert (m.devices_planned, m.devices_skipped, m.records) == (2, 2, 0)
    ticks = sorted(m.scheduled_unix_ms for m in sink.markers)
    # every tick of the grid from the first to the last has its marker, polled or skipped
    assert ticks == list(range(ticks[0], ticks[-1] + 1, 1000))


class PartlySilent(FakeClient):
    """Devices in ``silent`` never answer (the SNMP client waits as long as told)."""

    def __init__(self, data: dict[str, dict[str, Value]], silent: set[str]) -> None:
        super().__init__(data)
        self.silent = silent

    async def _enter(self, t: SnmpTarget) -> dict[str, Value]:
        if t.device in self.silent:
            await asyncio.sleep(t.timeout_s * (t.retries + 1))
        return await super()._enter(t)


async def test_silent_devices_do_not_cost_the_healthy_ones_a_tick() -> None:
    # 10% of the devices silent; their timeout x tries (4 s) is longer than the 2 s interval
    devs = devices(20, timeout_s=2.0, retries=1)
    silent = {"d3", "d11"}
    client = PartlySilent({d.id: device_data(1) for d in devs}, silent)
    sink = ListSink()
    net = net_of(devs, 2, spread=0.25, backoff_after_failures=0)
    async with Collector(
        [net], CollectorSettings(instance_id="t"), sink, {"snmp": snmp_driver(client)}
    ):
        await asyncio.sleep(8.5)
    assert len(sink.markers) >= 3
    ticks = [m.scheduled_unix_ms for m in sink.markers]
    assert ticks == list(range(ticks[0], ticks[-1] + 1, 2000))  # every tick ran
    for m in sink.markers:
        assert not m.tick_skipped
        assert (m.devices_ok, m.devices_timed_out) == (18, 2)
        assert set(m.failures) == silent
        assert m.finished_unix_ms <= m.scheduled_unix_ms + 2000  # over by the next tick
    per_tick = {t: {r.device for r in sink.records if r.scheduled_unix_ms == t} for t in ticks}
    assert all(len(healthy) == 18 for healthy in per_tick.values())


async def test_collectors_started_apart_label_the_same_ticks() -> None:
    devs = devices(2)
    client = FakeClient({d.id: device_data(1) for d in devs})
    sinks = [ListSink(), ListSink()]
    colls = [
        Collector(
            [net_of(devs, 1, spread=0.2)],
            CollectorSettings(instance_id=f"c{i}"),
            sinks[i],
            {"snmp": snmp_driver(client)},
        )
        for i in range(2)
    ]
    await colls[0].start()
    await asyncio.sleep(0.37)  # the second starts in the middle of an interval
    await colls[1].start()
    started = time.time_ns() // 1_000_000
    await asyncio.sleep(3.2)
    for c in colls:
        await c.stop()
    a = {m.scheduled_unix_ms for m in sinks[0].markers}
    b = {m.scheduled_unix_ms for m in sinks[1].markers}
    assert len(b) >= 2 and b <= a and min(b) >= started
    assert all(t % 1000 == 0 for t in a | b)
    for sink in sinks:
        assert sink.records
        for r in sink.records:
            assert r.request_unix_ms >= r.scheduled_unix_ms
            assert r.cycle_id.endswith(f":{r.scheduled_unix_ms}")


async def test_stop_lets_the_running_cycle_finish_within_the_grace() -> None:
    devs = devices(3)
    client = FakeClient({d.id: device_data(1) for d in devs}, delay_s=1.0)
    sink = ListSink()
    coll = Collector(
        [net_of(devs, 5, spread=0)],
        CollectorSettings(instance_id="t", stop_grace_s=6),
        sink,
        {"snmp": snmp_driver(client)},
    )
    await coll.start()
    async with asyncio.timeout(10):
        while client.in_flight == 0:  # noqa: ASYNC110  (the first tick's polls are out)
            await asyncio.sleep(0.05)
    t0 = time.monotonic()
    await coll.stop()
    # The cycle needs ~1 s: stop waits for it, not for the whole grace (room for load).
    assert time.monotonic() - t0 < 4.0
    assert len(sink.markers) == 1 and sink.markers[0].devices_ok == 3
    assert len(sink.records) == 3


async def test_stop_cuts_a_cycle_still_running_after_the_grace() -> None:
    devs = devices(1)
    client = FakeClient({d.id: device_data(1) for d in devs}, delay_s=20)
    sink = ListSink()
    coll = Collector(
        [net_of(devs, 30, spread=0)],
        CollectorSettings(instance_id="t", stop_grace_s=0.5),
        sink,
        {"snmp": snmp_driver(client)},
    )
    # the first tick can be 30 s away: run one by hand
    cycle = asyncio.ensure_future(coll.cycle("n", "system", 0))
    await asyncio.sleep(0.3)
    t0 = time.monotonic()
    await coll.stop()
    assert time.monotonic() - t0 < 1.5 and cycle.cancelled() and not sink.markers


def test_drivers_tell_the_worst_case_of_a_silent_device() -> None:
    from collectors.driver import Driver
    from collectors.netconf.driver import NetconfDriver
    from collectors.netconf.options import NetconfOptions
    from collectors.snmp.driver import SnmpDriver

    (snmp,) = devices(1, timeout_s=2.0, retries=1)
    assert SnmpDriver.worst_case_s(snmp) == 4.0  # 2 s x 2 tries
    (capped,) = devices(1, timeout_s=10.0, retries=5, device_deadline_s=30)
    assert SnmpDriver.worst_case_s(capped) == 30.0  # never past the device's deadline
    nc = Device(
        network="n",
        id="x",
        host="h",
        options={"netconf": NetconfOptions(username="u", password="env:X", rpc_timeout_s=20)},  # type: ignore[arg-type]
    )
    assert NetconfDriver.worst_case_s(nc) == 30.0  # connect 10 s + RPC 20 s
    assert SnmpDriver.worst_case_s(nc) is None and Driver.worst_case_s(snmp) is None
