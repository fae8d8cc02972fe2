"""threshold-alerts on both backends: a scripted sequence of cycles raises and
clears exactly the expected alerts on ``<prefix>.alerts``; a restart in the
middle (with a cycle delivered again) neither raises twice nor forgets to
clear; bad rule files are clear errors naming file, rule and key."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from applications.alerts import AlertSettings, ThresholdAlerts
from applications.alerts.rules import load_rules
from applications.api import AppContext
from applications.frames import cycle_frame
from applications.publisher import BusPublisher
from applications.readback import read_topic
from bus.configfile import SettingsError
from bus.records import Alert, CycleComplete, Provenance, Record
from bus.settings import BusSettings
from bus.topics import alerts_topic

RULES = """
rules:
  - {name: link-busy, kind: utilisation_above, threshold_pct: 90, for_cycles: 2}
  - {name: link-down, kind: oper_down, severity: critical}
  - {name: cpu-high, kind: cpu_above, threshold_pct: 80}
  - {name: gone, kind: device_missing, dataset: interfaces, for_cycles: 2}
"""
SPEED = 100_000_000  # 100 Mb/s
STEP_S = 60


def iface(t: int, dev: str, idx: int, octets: int, oper: str = "up") -> Record:
    return Record(
        network="n",
        device=dev,
        profile="generic",
        dataset="interfaces",
        cycle_id=f"n:interfaces:{t * 1000}",
        scheduled_unix_ms=t * 1000,
        request_unix_ms=t * 1000,
        response_unix_ms=t * 1000,
        device_uptime_ms=t * 1000,
        provenance=Provenance(protocol="snmpv2c", collector_version="t"),
        tags={"if_index": str(idx), "if_name": f"eth{idx}"},
        fields={
            "in_octets": octets,
            "out_octets": 0,
            "counter_bits": 64,
            "speed_bps": SPEED,
            "oper_status": oper,
            "admin_status": "up",
        },
    )


def cycle(t: int, records: list[Record], failed: dict[str, str]) -> pd.DataFrame:
    frame = cycle_frame(records, "interfaces")
    frame.attrs.update(
        cycle_id=f"n:interfaces:{t * 1000}",
        partitions=[0],
        marker=CycleComplete(
            network="n",
            dataset="interfaces",
            cycle_id=f"n:interfaces:{t * 1000}",
            scheduled_unix_ms=t * 1000,
            started_unix_ms=0,
            finished_unix_ms=1,
            duration_ms=1,
            devices_planned=2,
            devices_ok=2 - len(failed),
            devices_failed=len(failed),
            devices_timed_out=0,
            records=len(records),
            failures=failed,
            partitions=1,
        ),
    )
    return frame


def script() -> list[pd.DataFrame]:
    """Five cycles: r1 eth1 at 95 % in cycles 2-4, 10 % in 5; r1 eth2 down in
    cycle 4 only; r2 silent in cycles 2-4."""
    rate = {1: 0, 2: 95, 3: 95, 4: 95, 5: 10}  # % of SPEED over the previous minute
    octets, out = 0, []
    for k in range(1, 6):
        t = k * STEP_S
        octets += rate[k] * SPEED // 100 * STEP_S // 8
        recs = [iface(t, "r1", 1, octets), iface(t, "r1", 2, 0, "down" if k == 4 else "up")]
        failed = {"r2": "timeout"} if k in (2, 3, 4) else {}
        if not failed:
            recs.append(iface(t, "r2", 1, 0))
        out.append(cycle(t, recs, failed))
    return out


async def started(bus: BusSettings, rules_file: Path) -> tuple[ThresholdAlerts, BusPublisher]:
    pub = BusPublisher(bus, "alerts-test")
    app = ThresholdAlerts(AlertSettings(rules_file=rules_file))
    await app.start(AppContext("a", bus.topic_prefix, lambda t: {0}, pub, bus))
    return app, pub


async def test_alerts_raise_and_clear_exactly_across_a_restart(
    any_bus: BusSettings, tmp_path: Path
) -> None:
    rules = tmp_path / "alerts.yaml"
    rules.write_text(RULES)
    frames = script()
    app, pub = await started(any_bus, rules)
    for f in frames[:4]:
        await app.on_cycle("n", "interfaces", f)
    await pub.flush()
    await pub.stop()
    # A new instance (the old one crashed after cycle 4, before committing it):
    # cycle 4 comes again, then cycle 5.
    app2, pub2 = await started(any_bus, rules)
    assert set(app2.raised) == set(app.raised)
    for f in frames[3:]:
        await app2.on_cycle("n", "interfaces", f)
    await pub2.flush()
    await pub2.stop()
    got = [
        (m.alert_id, m.state, m.at_unix_ms // 1000)
        for m in await read_topic(any_bus, alerts_topic(any_bus.topic_prefix))
        if isinstance(m, Alert)
    ]
    want = [
        ("n/r1/link-busy/if_index=1 eth1", "raise", 180),
        ("n/r2/gone/", "raise", 180),
        ("n/r1/link-down/if_index=2 eth2", "raise", 240),
        ("n/r1/link-busy/if_index=1 eth1", "clear", 300),
        ("n/r1/link-down/if_index=2 eth2", "clear", 300),
        ("n/r2/gone/", "clear", 300),
    ]
    # one partition per key: order holds per alert; compare per alert id
    assert sorted(got) == sorted(want)
    for aid in {a for a, _, _ in want}:
        assert [s for a, s, _ in got if a == aid] == ["raise", "clear"]
    busy = next(
        m
        for m in await read_topic(any_bus, alerts_topic(any_bus.topic_prefix))
        if isinstance(m, Alert) and m.rule == "link-busy" and m.state == "raise"
    )
    assert busy.value == pytest.approx(95) and busy.threshold == 90


def test_bad_rules_name_file_rule_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "alerts.yaml"
    bad.write_text(
        "rules:\n"
        "  - {name: a, kind: utilisation_above, threshold_pct: 150}\n"
        "  - {name: b, kind: cpu_above}\n"
        "  - {name: c, kind: nonsense}\n"
        "  - {name: d, kind: oper_down, colour: red}\n"
    )
    with pytest.raises(SettingsError) as err:
        load_rules(bad)
    text = "\n".join(err.value.problems)
    assert f"{bad}: rules[0] (a).threshold_pct" in text
    assert f"{bad}: rules[1] (b).threshold_pct: Field required" in text
    assert f"{bad}: rules[2] (c)" in text and "nonsense" in text
    assert f"{bad}: rules[3] (d).colour: Extra inputs are not permitted" in text
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules:\n  - {name: a, kind: [\n")
    with pytest.raises(SettingsError, match=rf"{broken}:\d+: not YAML"):
        load_rules(broken)


def test_the_shipped_rules_file_loads() -> None:
    shipped = Path(__file__).resolve().parents[2] / "configs" / "alerts.yaml"
    assert {r.kind for r in load_rules(shipped)} >= {"utilisation_above", "device_missing"}
