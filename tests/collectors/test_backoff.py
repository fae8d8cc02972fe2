"""Device backoff: repeated failures make a device skipped for 1, 2, 4, ... cycles
(capped), one success ends it; cycles count the skipped devices."""

from __future__ import annotations

import asyncio

import pytest

from bus.records import CycleComplete
from collectors.backoff import Backoff
from collectors.config import (
    CollectionSettings,
    DatasetSchedule,
    Device,
    NetworkConfig,
)
from collectors.cycle import run_cycle
from collectors.profiles import ProfileSet
from collectors.service import Collector
from collectors.settings import CollectorSettings
from collectors.snmp.options import SnmpSettings
from collectors.snmp.pysnmp_client import PysnmpClient
from netfeed.simulator.network import SimulatedNetwork
from tests.collectors.test_cycle import ListSink, devices
from tests.support.fake_snmp import FakeClient, device_data, snmp_driver


@pytest.fixture(scope="module")
def profiles() -> ProfileSet:
    return ProfileSet()


def pattern(b: Backoff, outcomes: list[bool], device: str = "d") -> str:
    """Run cycles until ``outcomes`` are used up: 's' skipped, 'P' polled and ok,
    'F' polled and failed."""
    out = ""
    todo = list(outcomes)
    while todo:
        if b.skip(device):
            out += "s"
            continue
        ok = todo.pop(0)
        b.record(device, ok)
        out += "P" if ok else "F"
    return out


def test_skips_grow_exponentially_up_to_the_cap_and_success_resets() -> None:
    b = Backoff(after_failures=3, max_cycles=8)
    # F F F: backoff starts; then each failed retry doubles the skip, capped at 8
    assert pattern(b, [False] * 7) == "FFF" + "sF" + "ssF" + "ssssF" + "ssssssssF"
    assert b.failures("d") == 7 and b.backing_off() == {"d": 8}
    assert pattern(b, [False]) == "ssssssssF"  # stays at the cap
    # the device answers at its next try: polled every cycle again, count reset
    assert pattern(b, [True, True, False, False]) == "ssssssss" + "PPFF"
    assert b.failures("d") == 2 and b.backing_off() == {}


def test_skip_reason_names_failures_and_next_try() -> None:
    b = Backoff(after_failures=2, max_cycles=16)
    assert b.record("d", False) == 0
    assert b.record("d", False) == 1
    assert b.skip("d") == "backing off after 2 failures (next try in 1 cycle)"
    assert b.skip("d") is None
    assert b.record("d", False) == 2
    assert b.skip("d") == "backing off after 3 failures (next try in 2 cycles)"
    assert b.skip("d") == "backing off after 3 failures (next try in 1 cycle)"
    assert b.skip("d") is None


def test_disabled_and_pruned() -> None:
    off = Backoff(after_failures=0)
    assert not off.enabled
    assert pattern(off, [False] * 20) == "F" * 20
    b = Backoff(after_failures=1, max_cycles=4)
    b.record("gone", False)
    b.record("kept", False)
    b.retain(["kept", "other"])
    assert b.backing_off() == {"kept": 1}
    with pytest.raises(ValueError):
        Backoff(after_failures=1, max_cycles=0)


def test_long_dead_device_stays_at_the_cap() -> None:
    b = Backoff(after_failures=1, max_cycles=16)
    for _ in range(10_000):
        b.record("d", False)
    assert b.backing_off() == {"d": 16}


def accounted(m: CycleComplete) -> bool:
    total = m.devices_ok + m.devices_failed + m.devices_timed_out + m.devices_skipped
    return total == m.devices_planned and len(m.failures) == m.devices_planned - m.devices_ok


async def test_cycles_skip_a_dead_device_and_take_it_back_when_it_answers(
    profiles: ProfileSet,
) -> None:
    devs = devices(3)
    data = {d.id: device_data(2) for d in devs}
    dead = data.pop("d2")  # d2 never answers (FakeClient: SnmpTimeout)
    client = FakeClient(data)
    backoff = Backoff(after_failures=2, max_cycles=4)
    sink = ListSink()

    async def cycle(n: int) -> CycleComplete:
        return await run_cycle(
            network="n",
            dataset="interfaces",
            devices=devs,
            driver=snmp_driver(client, profiles),
            sink=sink,
            limits=[asyncio.Semaphore(8)],
            scheduled_unix_ms=n * 60_000,
            backoff=backoff,
        )

    markers = [await cycle(n) for n in range(10)]
    assert all(accounted(m) for m in markers)
    seen = "".join(
        "s" if m.devices_skipped else ("T" if m.devices_timed_out else "P") for m in markers
    )
    # 2 failures, skip 1, fail, skip 2, fail, skip 4 (the cap) ...
    assert seen == "TT" + "sT" + "ssT" + "sss"
    assert all(m.devices_ok == 2 for m in markers)  # the others are never held back
    assert (
        markers[2].failures["d2"] == "skipped: backing off after 2 failures (next try in 1 cycle)"
    )
    assert markers[4].failures["d2"].startswith("skipped: backing off after 3 failures")
    assert markers[0].failures["d2"].startswith("timed_out: ")
    assert markers[2].devices_planned == 3 and markers[2].devices_skipped == 1

    client.data["d2"] = dead  # it comes back: polled again at its next try, then every cycle
    later = [await cycle(n) for n in range(10, 14)]
    assert [m.devices_ok for m in later] == [2, 3, 3, 3]
    assert later[0].devices_skipped == 1 and later[1].failures == {}
    assert backoff.failures("d2") == 0 and backoff.backing_off() == {}
    assert {r.device for r in sink.records if r.cycle_id.endswith(":780000")} == {"d0", "d1", "d2"}


async def test_without_backoff_every_device_is_polled_every_cycle(profiles: ProfileSet) -> None:
    devs = devices(2)
    client = FakeClient({"d0": device_data(1)})
    for n in range(6):
        m = await run_cycle(
            network="n",
            dataset="system",
            devices=devs,
            driver=snmp_driver(client, profiles),
            sink=ListSink(),
            limits=[asyncio.Semaphore(8)],
            scheduled_unix_ms=n,
        )
        assert (m.devices_timed_out, m.devices_skipped) == (1, 0)


def network(devs: list[Device], **collection: object) -> NetworkConfig:
    return NetworkConfig(
        network="n",
        source=".",  # type: ignore[arg-type]
        devices=devs,
        datasets={"system": DatasetSchedule(interval_s=60)},
        collection=CollectionSettings(spread=0, **collection),  # type: ignore[arg-type]
    )


async def test_collector_keeps_backoff_per_job_from_the_network_settings(
    profiles: ProfileSet,
) -> None:
    devs = devices(2)
    client = FakeClient({"d0": device_data(1)})
    sink = ListSink()
    net = network(devs, backoff_after_failures=1, backoff_max_cycles=2)
    coll = Collector(
        [net], CollectorSettings(instance_id="t"), sink, {"snmp": snmp_driver(client, profiles)}
    )
    markers = [await coll.cycle("n", "system", n * 60_000) for n in range(7)]
    assert [m.devices_skipped for m in markers] == [0, 1, 0, 1, 1, 0, 1]
    assert coll.backoff["n.system"].failures("d1") == 3
    assert all(accounted(m) for m in markers)


async def test_simulated_device_goes_silent_backs_off_and_comes_back(profiles: ProfileSet) -> None:
    """A real agent over UDP: silent, skipped with growing gaps; healed, polled again."""
    async with SimulatedNetwork("bk", 3, seed=3, base_port=0, n_interfaces=2) as sim:
        ids = [d.device_id for d in sim.devices]
        devs = [
            Device(
                network="bk",
                id=i,
                host=sim.host,
                options={
                    "snmp": SnmpSettings(
                        community="env:X",  # "public", set by tests/collectors/conftest.py
                        port=sim.port(i),
                        timeout_s=0.3,
                        retries=0,
                    )
                },
            )
            for i in ids
        ]
        net = network(devs, backoff_after_failures=2, backoff_max_cycles=2).model_copy(
            update={"network": "bk"}
        )
        client = PysnmpClient()
        sink = ListSink()
        coll = Collector(
            [net], CollectorSettings(instance_id="t"), sink, {"snmp": snmp_driver(client, profiles)}
        )
        try:
            silent = ids[1]
            sim.set_fault(silent, "silent")
            before = [await coll.cycle("bk", "system", n * 60_000) for n in range(7)]
            state = "".join(
                "s"
                if silent in m.failures and m.failures[silent].startswith("skipped")
                else "T"
                if silent in m.failures
                else "P"
                for m in before
            )
            assert state == "TT" + "sT" + "ssT"
            assert all(m.devices_ok == 2 and accounted(m) for m in before)
            assert "after 3 failures" in before[4].failures[silent]

            sim.set_fault(silent, None)  # healed: back at its next try, then every cycle
            after = [await coll.cycle("bk", "system", n * 60_000) for n in range(7, 12)]
            assert [m.devices_ok for m in after] == [2, 2, 3, 3, 3]
            assert all(m.failures[silent].startswith("skipped") for m in after[:2])
            assert all(m.failures == {} for m in after[2:])
            assert coll.backoff["bk.system"].failures(silent) == 0
        finally:
            client.close()
