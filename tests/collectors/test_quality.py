"""The quality gate: one test per rule, each with a record that passes beside the one
that does not (so a rule that refuses everything fails too)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bus.records import RECORD_ID_HEADER, CycleComplete, Provenance, Quarantined, Record
from collectors.cycle import run_cycle
from collectors.quality import QualityGate, QualitySettings
from tests.collectors.test_cycle import ListSink, devices
from tests.support.fake_snmp import FakeClient, device_data, snmp_driver

NOW_MS = 1_800_000_000_000
GIG = 1_000_000_000


class QuarantineList:
    def __init__(self) -> None:
        self.messages: list[Quarantined] = []

    async def quarantine(self, messages: list[Quarantined]) -> None:
        self.messages += messages


def rec(
    t_s: float = 0, uptime_s: float | None = None, dataset: Any = "interfaces", **fields: Any
) -> Record:
    at = NOW_MS + int(t_s * 1000)
    return Record(
        network="n",
        device="d1",
        profile="p",
        dataset=dataset,
        cycle_id=f"n:{dataset}:{at}",
        scheduled_unix_ms=at,
        request_unix_ms=at,
        response_unix_ms=at + 5,
        device_uptime_ms=None if uptime_s is None else int((1000 + t_s + uptime_s) * 1000),
        provenance=Provenance(protocol="snmpv2c", collector_version="0"),
        tags={"if_index": "1"} if dataset == "interfaces" else {},
        fields=fields,
    )


def gate() -> tuple[QualityGate, ListSink, QuarantineList]:
    sink, q = ListSink(), QuarantineList()
    return QualityGate(sink, q, QualitySettings(), clock=lambda: NOW_MS / 1000 + 3600), sink, q


async def verdicts(*records: Record) -> list[str]:
    """The rule each record broke, in order ('' for published ones)."""
    g, sink, q = gate()
    out = []
    for r in records:
        await g.publish([r])
        out.append(q.messages[-1].rule if q.messages and q.messages[-1].record is r else "")
        assert (r in sink.records) == (out[-1] == "")
    return out


async def test_model_rule() -> None:
    assert await verdicts(rec(in_octets=5), rec(60, in_octets="five")) == ["", "model"]
    assert await verdicts(rec(bogus_field=1)) == ["model"]


async def test_negative_sizes_and_counters() -> None:
    assert await verdicts(rec(mtu_octets=1500), rec(60, mtu_octets=-1500)) == ["", "negative"]
    assert await verdicts(rec(in_errors=-1)) == ["negative"]
    # a sensor reading may be negative (dBm, celsius): not a size
    s = rec(dataset="sensors", value=-7.5, unit="dbm")
    s.tags = {"sensor_index": "1", "sensor_class": "rx_power"}
    assert await verdicts(s) == [""]


async def test_future_timestamps() -> None:
    late = rec(3600 + 30, in_octets=1)  # 30 s ahead: inside the skew
    ahead = rec(3600 + 300, in_octets=1)  # 5 minutes ahead of the collector's clock
    assert await verdicts(late) == [""]
    assert await verdicts(ahead) == ["future_timestamp"]


async def test_64bit_counter_going_backwards_without_reboot() -> None:
    f = {"counter_bits": 64, "speed_bps": GIG}
    got = await verdicts(
        rec(0, uptime_s=0, in_octets=10**12, **f),
        rec(60, uptime_s=60, in_octets=10**12 + 10**6, **f),
        rec(120, uptime_s=120, in_octets=5 * 10**6, **f),  # back to near 0, uptime still up
        rec(180, uptime_s=180, in_octets=6 * 10**6, **f),  # the reset is the new baseline
    )
    assert got == ["", "", "counter_backwards", ""]


async def test_a_reboot_starts_the_counters_again() -> None:
    f = {"counter_bits": 64, "speed_bps": GIG}
    got = await verdicts(
        rec(0, uptime_s=10**6, in_octets=10**12, **f),
        rec(60, uptime_s=-1000 + 50, in_octets=10**5, **f),  # uptime went down: rebooted
    )
    assert got == ["", ""]


async def test_32bit_wrap_is_accepted_a_32bit_reset_is_not() -> None:
    f = {"counter_bits": 32, "speed_bps": GIG}
    wrap = await verdicts(
        rec(0, uptime_s=0, in_octets=2**32 - 10**6, **f),
        rec(60, uptime_s=60, in_octets=10**6, **f),  # 2 MB in 60 s through the top: a wrap
    )
    assert wrap == ["", ""]
    slow = {"counter_bits": 32, "speed_bps": 10_000_000}  # 10 Mb/s cannot wrap in 60 s
    reset = await verdicts(
        rec(0, uptime_s=0, in_octets=2 * 10**9, **slow),
        rec(60, uptime_s=60, in_octets=1000, **slow),
    )
    assert reset == ["", "counter_backwards"]
    # a 64-bit device: the same numbers are a reset, never a wrap
    hc = {"counter_bits": 64, "speed_bps": GIG}
    assert await verdicts(
        rec(0, uptime_s=0, in_octets=2**32 - 10**6, **hc),
        rec(60, uptime_s=60, in_octets=10**6, **hc),
    ) == ["", "counter_backwards"]


async def test_32bit_wrap_without_a_known_speed() -> None:
    f = {"counter_bits": 32}
    assert await verdicts(
        rec(0, uptime_s=0, in_errors=2**32 - 5), rec(60, uptime_s=60, in_errors=3)
    ) == ["", ""]
    assert await verdicts(
        rec(0, uptime_s=0, in_errors=1000, **f), rec(60, uptime_s=60, in_errors=3, **f)
    ) == ["", "counter_backwards"]


async def test_rate_above_line_speed_is_a_spike_not_the_baseline() -> None:
    f = {"counter_bits": 64, "speed_bps": GIG}
    base = 10**12
    got = await verdicts(
        rec(0, uptime_s=0, in_octets=base, **f),
        rec(60, uptime_s=60, in_octets=base + 60 * GIG // 8 // 2, **f),  # 500 Mb/s: fine
        rec(120, uptime_s=120, in_octets=base + 3 * 10**12, **f),  # a bit flip: 400 Gb/s
        rec(180, uptime_s=180, in_octets=base + 120 * GIG // 8 // 2, **f),  # the true value
    )
    assert got == ["", "", "rate_above_speed", ""]


@pytest.mark.parametrize("field", ["in_octets", "out_octets"])
async def test_rate_rule_covers_both_directions(field: str) -> None:
    f = {"counter_bits": 64, "speed_bps": GIG}
    got = await verdicts(
        rec(0, uptime_s=0, **{field: 0}, **f), rec(60, uptime_s=60, **{field: 10**13}, **f)
    )
    assert got == ["", "rate_above_speed"]


async def test_the_gate_in_a_cycle_counts_per_device_and_in_the_marker() -> None:
    devs = devices(3)
    data = {d.id: device_data(2) for d in devs}
    sink, q = ListSink(), QuarantineList()
    g = QualityGate(sink, q)

    async def cycle(at_ms: int) -> CycleComplete:
        return await run_cycle(
            network="n",
            dataset="interfaces",
            devices=devs,
            driver=snmp_driver(FakeClient(data)),
            sink=g,
            limits=[asyncio.Semaphore(5)],
            scheduled_unix_ms=at_ms,
        )

    first = await cycle(0)
    assert (first.records, first.quarantined) == (6, 0)
    data["d1"]["1.3.6.1.2.1.31.1.1.1.6.2"] = 5  # d1's second interface: octets went back
    # Real cycles are an interval apart; two fake ones can fall in one millisecond,
    # and the gate rightly does not judge a sample no newer than the last one.
    await asyncio.sleep(0.005)
    m = await cycle(60_000)
    assert (m.records, m.quarantined) == (5, 1) and sink.markers == [first, m]
    assert len(sink.records) == 11
    assert [(x.device, x.rule) for x in q.messages] == [("d1", "counter_backwards")]
    assert g.quarantined == {"n/d1": 1}


async def test_a_negative_size_is_left_out_by_the_profile_with_why_not_quarantined() -> None:
    """A value its quantity cannot be (octets below 0) never reaches the gate as a
    number: the field is absent and the record says why; the rest is published."""
    devs = devices(1)
    data = {d.id: device_data(2) for d in devs}
    data["d0"]["1.3.6.1.2.1.31.1.1.1.6.2"] = -5
    sink, q = ListSink(), QuarantineList()
    m = await run_cycle(
        network="n",
        dataset="interfaces",
        devices=devs,
        driver=snmp_driver(FakeClient(data)),
        sink=QualityGate(sink, q),
        limits=[asyncio.Semaphore(5)],
        scheduled_unix_ms=0,
    )
    assert (m.records, m.quarantined) == (2, 0) and not q.messages
    second = next(r for r in sink.records if r.tags["if_index"] == "2")
    assert "in_octets" not in second.fields and second.fields["if_descr"] == "eth2"
    assert second.absent["in_octets"].startswith("implausible: -5 is outside 0..")


async def test_dry_run_prints_quarantined_records_as_their_own_kind(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from collectors.publish import DryRunPublisher
    from collectors.quality import DryRunQuarantine

    g = QualityGate(DryRunPublisher(), DryRunQuarantine(), clock=lambda: NOW_MS / 1000)
    await g.publish([rec(in_octets=5), rec(60, in_octets=-5)])
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    assert out[0].startswith('{"kind":"quarantined"') and '"rule":"negative"' in out[0]
    assert out[1].startswith('{"kind":"record"')


async def test_bus_quarantine_goes_to_the_networks_quarantine_topic() -> None:
    from collectors.quality import BusQuarantine

    class Producer:
        def __init__(self) -> None:
            self.sent: list[tuple[str, bytes | None]] = []
            self.ids: list[bytes | None] = []
            self.topics: list[str] = []

        async def ensure_topic(self, topic: str) -> int:
            self.topics.append(topic)
            return 1

        async def send(
            self,
            topic: str,
            value: bytes,
            *,
            key: bytes | None = None,
            headers: list[tuple[str, bytes]] | None = None,
        ) -> None:
            self.sent.append((topic, key))
            self.ids.append(dict(headers or {}).get(RECORD_ID_HEADER))

    p = Producer()
    g = QualityGate(ListSink(), BusQuarantine(p, "pfx"), clock=lambda: NOW_MS / 1000)  # type: ignore[arg-type]
    await g.publish([rec(in_octets=-1), rec(60, in_octets=-2)])
    assert p.sent == [("pfx.n.quarantine", b"d1")] * 2 and p.topics == ["pfx.n.quarantine"]
    assert all(p.ids) and len(set(p.ids)) == 2  # each with its own stable id


async def test_a_failed_publish_leaves_the_marker_counts_whole() -> None:
    from tests.collectors.test_cycle import SlowSink

    devs = devices(2)
    data = {d.id: device_data(2) for d in devs}
    sink, q = SlowSink(), QuarantineList()
    gate = QualityGate(sink, q)

    async def cycle(at_ms: int) -> CycleComplete:
        return await run_cycle(
            network="n",
            dataset="interfaces",
            devices=devs,
            driver=snmp_driver(FakeClient(data)),
            sink=gate,
            limits=[asyncio.Semaphore(5)],
            scheduled_unix_ms=at_ms,
        )

    await cycle(0)  # the counters' baselines
    for d in data.values():
        d["1.3.6.1.2.1.31.1.1.1.6.2"] = 5  # each device: one record refused, one good
    sink.fail_for = "d1"
    m = await cycle(60_000)
    assert (m.devices_ok, m.devices_failed) == (1, 1)
    assert (m.records, m.quarantined) == (1, 1)  # d0's: d1's batch is not on the bus


async def test_with_a_spool_quarantined_records_wait_there_like_the_others() -> None:
    from collectors.quality import BusQuarantine

    class Spool:
        def __init__(self) -> None:
            self.rows: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]] = []

        async def append(
            self, rows: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]], journal: None
        ) -> None:
            self.rows += rows

    class NoBroker:  # the broker is away: nothing may be sent directly
        async def ensure_topic(self, topic: str) -> int:
            raise AssertionError("asked the broker")

        async def send(self, *a: object, **k: object) -> None:
            raise AssertionError("sent past the spool")

    spool = Spool()
    q = BusQuarantine(NoBroker(), "pfx", spool=spool)  # type: ignore[arg-type]
    g = QualityGate(ListSink(), q, clock=lambda: NOW_MS / 1000)
    await g.publish([rec(in_octets=-1)])
    ((topic, key, value, headers),) = spool.rows
    assert topic == "pfx.n.quarantine" and key == b"d1" and b'"rule":"negative"' in value
    assert dict(headers)[RECORD_ID_HEADER]
