"""Each rule kind's condition on frames of its dataset (no bus)."""

from __future__ import annotations

from applications.alerts.conditions import Memory, evaluate
from applications.alerts.rules import BgpLeftEstablished, CpuAbove, MemoryAbove, SensorOutside
from applications.frames import cycle_frame
from bus.records import Provenance, Record


def rec(dataset: str, tags: dict[str, str], **fields: object) -> Record:
    return Record(
        network="n",
        device="r1",
        profile="generic",
        dataset=dataset,
        cycle_id=f"n:{dataset}:1",
        scheduled_unix_ms=1,
        request_unix_ms=1,
        response_unix_ms=1,
        provenance=Provenance(protocol="snmpv2c", collector_version="t"),
        tags=tags,
        fields=fields,
    )


def test_cpu_and_memory_above_their_limits() -> None:
    frame = cycle_frame(
        [
            rec("health", {"component_kind": "cpu", "component_index": "1"}, cpu_util_pct=91.0),
            rec("health", {"component_kind": "cpu", "component_index": "2"}, cpu_util_pct=90.0),
            rec(
                "health",
                {"component_kind": "memory", "component_index": "1"},
                memory_used_octets=97,
                memory_total_octets=100,
            ),
            rec(
                "health", {"component_kind": "memory", "component_index": "2"}, memory_util_pct=50.0
            ),
        ],
        "health",
    )
    cpu, _ = evaluate(CpuAbove(name="c", kind="cpu_above", threshold_pct=90), frame, Memory())
    assert list(cpu) == [("r1", "cpu=1")] and cpu[("r1", "cpu=1")][0] == 91.0
    mem, _ = evaluate(MemoryAbove(name="m", kind="memory_above", threshold_pct=95), frame, Memory())
    assert list(mem) == [("r1", "memory=1")] and mem[("r1", "memory=1")][0] == 97.0


def test_sensor_outside_its_own_thresholds_only() -> None:
    tags = {"sensor_class": "temperature"}
    frame = cycle_frame(
        [
            rec(
                "sensors",
                {**tags, "sensor_index": "1"},
                value=80.0,
                unit="celsius",
                high_critical=75.0,
            ),
            rec(
                "sensors",
                {**tags, "sensor_index": "2"},
                value=-5.0,
                unit="celsius",
                low_critical=0.0,
            ),
            rec("sensors", {**tags, "sensor_index": "3"}, value=500.0, unit="celsius"),
            rec(
                "sensors",
                {**tags, "sensor_index": "4"},
                value=70.0,
                unit="celsius",
                high_warning=60.0,
                high_critical=75.0,
            ),
        ],
        "sensors",
    )
    crit, _ = evaluate(SensorOutside(name="s", kind="sensor_outside_thresholds"), frame, Memory())
    assert sorted(crit) == [("r1", "temperature=1"), ("r1", "temperature=2")]
    warn, _ = evaluate(
        SensorOutside(name="w", kind="sensor_outside_thresholds", level="warning"), frame, Memory()
    )
    assert sorted(warn) == [("r1", "temperature=4")]


def test_bgp_peer_leaving_established_but_not_an_admin_stop() -> None:
    rule = BgpLeftEstablished(name="b", kind="bgp_left_established")
    mem = Memory()

    def frame(a: str, b: str, b_admin: str = "start"):  # type: ignore[no-untyped-def]
        return cycle_frame(
            [
                rec("bgp", {"peer_address": "10.0.0.1"}, state=a, admin_status="start"),
                rec("bgp", {"peer_address": "10.0.0.2"}, state=b, admin_status=b_admin),
            ],
            "bgp",
        )

    assert evaluate(rule, frame("idle", "established"), mem)[0] == {}  # never established
    assert evaluate(rule, frame("established", "established"), mem)[0] == {}
    hits, _ = evaluate(rule, frame("active", "idle", b_admin="stop"), mem)
    assert list(hits) == [("r1", "peer=10.0.0.1")]  # .2 was stopped on purpose
    hits, judged = evaluate(rule, frame("established", "idle", b_admin="stop"), mem)
    assert hits == {} and ("r1", "peer=10.0.0.1") in judged
