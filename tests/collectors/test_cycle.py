import asyncio
import time

from bus.datasets import validate
from bus.records import CycleComplete, Record
from collectors.config import Device
from collectors.cycle import run_cycle, start_offset_s
from collectors.snmp.options import SnmpSettings
from tests.support.fake_snmp import FakeClient, device_data, snmp_driver


class ListSink:
    def __init__(self) -> None:
        self.records: list[Record] = []
        self.markers: list[CycleComplete] = []

    async def publish(self, records: list[Record]) -> None:
        self.records += records

    async def complete_cycle(self, marker: CycleComplete) -> CycleComplete:
        self.markers.append(marker)
        return marker


def devices(n: int, **snmp: object) -> list[Device]:
    s = SnmpSettings(community="env:X", **snmp)  # type: ignore[arg-type]
    return [
        Device(network="n", id=f"d{i}", host="127.0.0.1", options={"snmp": s}, tags={"site": "x"})
        for i in range(n)
    ]


async def test_records_are_valid_and_marker_counts_outcomes() -> None:
    devs = devices(4)
    client = FakeClient({d.id: device_data(3) for d in devs[:3]})  # d3 never answers
    sink = ListSink()
    m = await run_cycle(
        network="n",
        dataset="interfaces",
        devices=devs,
        driver=snmp_driver(client),
        sink=sink,
        limits=[asyncio.Semaphore(10)],
        scheduled_unix_ms=60_000,
    )
    assert (m.devices_planned, m.devices_ok, m.devices_timed_out, m.records) == (4, 3, 1, 9)
    assert m.devices_skipped == 0  # no backoff given: every device is polled
    assert list(m.failures) == ["d3"] and sink.markers == [m]
    for r in sink.records:
        validate(r)
        assert r.cycle_id == "n:interfaces:60000" and r.device_uptime_ms == 123450
        assert r.tags["site"] == "x" and r.profile == "linux"  # net-snmp's sysObjectID
    assert {r.tags["if_index"] for r in sink.records} == {"1", "2", "3"}


async def test_partial_walk_is_published_as_partial() -> None:
    devs = devices(1)
    client = FakeClient(
        {"d0": device_data(2)}, problems={"d0": {"1.3.6.1.2.1.2.2.1.8": "OID not increasing at x"}}
    )
    sink = ListSink()
    await run_cycle(
        network="n",
        dataset="interfaces",
        devices=devs,
        driver=snmp_driver(client),
        sink=sink,
        limits=[asyncio.Semaphore(1)],
        scheduled_unix_ms=0,
    )
    assert sink.records and all(r.partial for r in sink.records)
    assert "1.3.6.1.2.1.2.2.1.8: OID not increasing at x" in sink.records[0].missing


async def test_in_flight_is_bounded() -> None:
    devs = devices(20)
    client = FakeClient({d.id: device_data(1) for d in devs}, delay_s=0.02)
    await run_cycle(
        network="n",
        dataset="system",
        devices=devs,
        driver=snmp_driver(client),
        sink=ListSink(),
        limits=[asyncio.Semaphore(3)],
        scheduled_unix_ms=0,
    )
    assert client.max_in_flight == 3


async def test_devices_are_spread_over_the_window_stably() -> None:
    devs = devices(30)
    client = FakeClient({d.id: device_data(1) for d in devs})
    driver = snmp_driver(client)  # loading profiles takes a while: not part of the window
    t0 = asyncio.get_running_loop().time()
    start = time.monotonic()
    await run_cycle(
        network="n",
        dataset="system",
        devices=devs,
        driver=driver,
        sink=ListSink(),
        limits=[asyncio.Semaphore(100)],
        scheduled_unix_ms=0,
        spread_s=1.0,
    )
    assert time.monotonic() - start < 2.5
    offsets = sorted(client.started[d.id] - t0 for d in devs)
    assert offsets[0] < 0.3 and offsets[-1] > 0.6  # spread, not all at once
    for d in devs:  # each device at its own stable offset
        assert abs((client.started[d.id] - t0) - start_offset_s(d.id, 1.0)) < 0.25


async def test_a_cycle_ends_by_its_deadline_and_counts_stragglers_timed_out() -> None:
    devs = devices(6)
    slow = FakeClient({d.id: device_data(1) for d in devs}, delay_s=0.0)
    driver = snmp_driver(slow)

    class Stalling:  # d0 and d1 answer after 30 s: long after the next tick
        name = "stall"

        async def poll(self, device, dataset, scheduled_unix_ms, cid):  # type: ignore[no-untyped-def]
            if device.id in ("d0", "d1"):
                await asyncio.sleep(30)
            return await driver.poll(device, dataset, scheduled_unix_ms, cid)

    sink = ListSink()
    start = time.monotonic()
    now_ms = time.time_ns() // 1_000_000
    m = await run_cycle(
        network="n",
        dataset="system",
        devices=devs,
        driver=lambda _d: Stalling(),  # type: ignore[arg-type,return-value]
        sink=sink,
        limits=[asyncio.Semaphore(10)],
        scheduled_unix_ms=now_ms,
        deadline_unix_ms=now_ms + 800,
    )
    assert time.monotonic() - start < 1.5
    assert (m.devices_ok, m.devices_timed_out) == (4, 2)
    assert m.failures == {
        "d0": "timed_out: no answer before the next tick",
        "d1": "timed_out: no answer before the next tick",
    }
    assert len(sink.records) == 4 and sink.markers == [m]  # records already published stay


class SlowSink(ListSink):
    """A sink whose publish really waits (as a bus does) and that logs the order of calls."""

    def __init__(self, fail_for: str = "") -> None:
        super().__init__()
        self.calls: list[str] = []
        self.fail_for = fail_for

    async def publish(self, records: list[Record]) -> None:
        await asyncio.sleep(0.05)
        if records[0].device == self.fail_for:
            raise ConnectionError("broker gone")
        self.calls += [f"record {r.device}" for r in records]
        await super().publish(records)

    async def complete_cycle(self, marker: CycleComplete) -> CycleComplete:
        self.calls.append("marker")
        return await super().complete_cycle(marker)


async def test_the_marker_follows_every_record_of_its_cycle() -> None:
    devs = devices(5)
    sink = SlowSink()
    m = await run_cycle(
        network="n",
        dataset="interfaces",
        devices=devs,
        driver=snmp_driver(FakeClient({d.id: device_data(2) for d in devs})),
        sink=sink,
        limits=[asyncio.Semaphore(10)],
        scheduled_unix_ms=0,
    )
    assert sink.calls[-1] == "marker" and sink.calls.count("marker") == 1
    assert len(sink.calls) == 11 and m.records == 10


async def test_a_publish_error_fails_its_device_in_the_marker() -> None:
    devs = devices(3)
    sink = SlowSink(fail_for="d1")
    m = await run_cycle(
        network="n",
        dataset="interfaces",
        devices=devs,
        driver=snmp_driver(FakeClient({d.id: device_data(2) for d in devs})),
        sink=sink,
        limits=[asyncio.Semaphore(10)],
        scheduled_unix_ms=0,
    )
    assert (m.devices_ok, m.devices_failed, m.records) == (2, 1, 4)
    assert m.failures == {"d1": "failed: publish failed: ConnectionError: broker gone"}
