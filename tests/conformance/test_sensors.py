"""``sensors`` against LibreNMS ``sensors``.

Rows are matched by the OID each side read (LibreNMS ``sensor_oid`` = our
``source_oid``).  For each: class and unit by ``CLASSES``; the value, after
LibreNMS's divisor/multiplier, within ``tolerance()`` (LibreNMS keeps dBm
converted from power to 3 decimals and its thresholds to 1; everything else
compares to float precision); thresholds where both sides have one.  LibreNMS fills missing
thresholds with defaults of its own (``librenms_default``), which the MIB does
not give and we do not publish.  State sensors: raw value, state name, and
status against LibreNMS's graded state.  LibreNMS rows we cannot reproduce are
in ``NOT_REPRODUCED``, rows we add in ``EXTRA``, each with the reason.
"""

from __future__ import annotations

import json
import math
import re
from functools import cache
from typing import Any

import pytest

from bus.records import Record
from tests.conformance.conftest import covered
from tests.support.librenms import LIBRENMS, recording_names

MIN_SHARE = 0.94  # of LibreNMS's sensors per recording we reproduce (ios_2960x: 36 of 38)

# LibreNMS class -> (our sensor_class values, our unit)
CLASSES = {
    "temperature": ({"temperature"}, "celsius"),
    "fanspeed": ({"fan"}, "rpm"),
    "voltage": ({"voltage"}, "volts"),
    "current": ({"current"}, "amperes"),
    "power": ({"power"}, "watts"),
    "dbm": ({"rx_power", "tx_power"}, "dbm"),
    "state": ({"state"}, "state"),
}
GENERIC = {0: "ok", 1: "warning", 2: "critical", 3: "unknown"}  # LibreNMS state grades
STATUSES = (None, "ok", "warning", "critical", "unknown", "unavailable")
ORDER = ("low_critical", "low_warning", "high_warning", "high_critical")
LIMITS = {
    "sensor_limit": "high_critical",
    "sensor_limit_warn": "high_warning",
    "sensor_limit_low": "low_critical",
    "sensor_limit_low_warn": "low_warning",
}

# (recording, LibreNMS sensor_oid) -> why we do not publish it.
NOT_REPRODUCED = {
    ("ios_2960x", "1.3.6.1.2.1.105.1.3.1.1.2.1"): (
        "pethMainPsePower (the PoE budget) is published as the high_critical of the PoE "
        "power sensor, not as a sensor of its own (checked below)"
    ),
    ("ios_2960x", "1.3.6.1.4.1.9.9.402.1.4.1.0"): (
        "CISCO-POWER-ETHERNET-EXT-MIB count of powered devices: a statistic, not modelled"
    ),
}

# (recording, source_oid prefix) -> why we publish sensors LibreNMS does not.
EXTRA = {
    ("arista_eos", "1.3.6.1.2.1.99.1.1.1.4."): (
        "receive power read as -10^9 (EOS: no light; the end of EntitySensorValue's range): "
        "we publish the sensor, its thresholds and status, with no value; LibreNMS drops it"
    ),
    ("ios_2960x", "1.3.6.1.2.1.105.1.3.1.1.3."): "PoE PSE state: not in LibreNMS's IOS definition",
    ("junos_mx5t-isis", "1.3.6.1.4.1.2636.3.60.1.1.1.1.25."): (
        "JUNIPER-DOM module voltage: not in LibreNMS's Junos definition"
    ),
}

# (recording, source_oid prefix, threshold) where both sides have a threshold and differ.
THRESHOLDS_DIFFER = {
    ("vrp_5720", "1.3.6.1.4.1.2011.5.25.31.1.1.3.1.8.", "high_critical"): (
        "LibreNMS reads hwEntityOpticalRxHighWarnThreshold as uW and converts it to dBm; "
        "the thresholds are 0.01 dBm (alarm and warning ordered around the reading), so "
        "ours is hwEntityOpticalRxHighThreshold / 100"
    ),
    ("vrp_5720", "1.3.6.1.4.1.2011.5.25.31.1.1.1.1.11.", "high_critical"): (
        "LibreNMS ignores hwEntityTemperatureThreshold and sets its default (+20 C)"
    ),
}

# LibreNMS state tables labelled with another MIB's names (value -> LibreNMS's name is wrong).
STATE_NAMES_DIFFER = {
    "cswStackPortOperStatus": "LibreNMS labels it with CISCO-ENVMON's names (MIB: up/down/forcedDown)",
}


def librenms(recording: str) -> tuple[list[dict[str, Any]], dict[tuple[str, int], dict[str, Any]]]:
    data = json.loads((LIBRENMS / "json" / f"{recording}.json").read_text())
    disc = data.get("sensors", {}).get("discovery", {})
    states = {(s["state_name"], s["state_value"]): s for s in disc.get("state_indexes", [])}
    return list(disc.get("sensors", [])), states


@cache
def raw_recording(name: str) -> dict[str, str]:
    """The raw recording: OID -> value text."""
    out = {}
    for line in (LIBRENMS / "snmprec-sanitized" / f"{name}.snmprec").read_text().splitlines():
        oid, _typ, value = line.rstrip("\r").split("|", 2)
        out[oid] = value
    return out


def tolerance(lib_class: str, value: float, threshold: bool = False) -> float:
    """LibreNMS keeps dBm converted from power to 3 decimals, and such thresholds to
    1 (EOS); everything else compares to float precision."""
    if lib_class == "dbm":
        return 0.051 if threshold else 0.0006
    return 1e-9 * max(1.0, abs(value))


def librenms_default(row: dict[str, Any], key: str, ours: Record) -> bool:
    """Is LibreNMS's threshold one it makes up when discovery finds none?"""
    cur, cls, lim = row["sensor_current"], row["sensor_class"], row[key]
    made_up = {
        "temperature": {"sensor_limit": cur + 20, "sensor_limit_low": cur - 10},
        "voltage": {"sensor_limit": cur * 1.15, "sensor_limit_low": cur * 0.85},
        "fanspeed": {"sensor_limit": cur * 1.8, "sensor_limit_low": cur * 0.8},
    }.get(cls, {})
    if key in made_up and math.isclose(lim, made_up[key], abs_tol=1e-6):
        return True
    # CISCO-ENTITY-SENSOR temperatures: a missing or 0 low threshold becomes -5 / -1
    mine = ours.fields.get(LIMITS[key])
    if row["sensor_type"] == "cisco-entity-sensor" and cls == "temperature" and mine in (None, 0):
        return (key, lim) in (("sensor_limit_low", -5), ("sensor_limit_low_warn", -1))
    # ENTITY-SENSOR (Arista): LibreNMS stores 0 for a threshold the device does not set
    if row["sensor_type"] == "entity-sensor" and mine is None:
        return bool(lim == 0)
    # LibreNMS's Junos PoE definition sets constant low limits of -1 W
    return row["sensor_type"] == "junos" and cls == "power" and lim == -1


def explained(table: dict[Any, str], recording: str, src: str, *more: str) -> bool:
    return any(k[0] == recording and src.startswith(k[1]) and k[2:] == more for k in table)


def words(s: str | None) -> set[str]:
    return {w for w in re.split(r"[^a-z0-9/]+", (s or "").lower()) if w}


@pytest.mark.parametrize("recording", recording_names())
def test_sensors_equal_librenms(collected, recording: str) -> None:  # type: ignore[no-untyped-def]
    out = collected[recording]["sensors"]
    assert out.status == "ok", out.error
    ours = {str(r.fields["source_oid"]): r for r in out.records}
    assert len(ours) == len(out.records), "two sensors read the same OID"
    rows, states = librenms(recording)
    for row in rows:
        src = row["sensor_oid"].lstrip(".")
        r = ours.get(src)
        if r is None:
            assert (recording, src) in NOT_REPRODUCED, (recording, src, row["sensor_descr"])
            continue
        compare(recording, row, r, states)
    for src in ours:
        assert src in raw_recording(recording), (recording, src, "source_oid not in the recording")
        if src not in {row["sensor_oid"].lstrip(".") for row in rows}:
            assert explained(EXTRA, recording, src), (recording, src, "published, not in LibreNMS")
    covered("sensors", "sensor_class", "unit", "value", "source_oid", *LIMITS.values())
    covered("sensors", "state", "status", "description", "entity_index", "if_index")


def compare(recording: str, row: dict[str, Any], r: Record, states: dict[Any, Any]) -> None:
    src, cls = row["sensor_oid"].lstrip("."), row["sensor_class"]
    f: dict[str, Any] = r.fields
    classes, unit = CLASSES[cls]
    assert r.tags["sensor_class"] in classes and f["unit"] == unit, (recording, src, cls, r.tags)
    if cls == "dbm":
        rx = bool(re.search(r"(?i)\b(rx|receive)\b", row["sensor_descr"]))
        assert r.tags["sensor_class"] == ("rx_power" if rx else "tx_power"), (recording, src)
    tol = tolerance(cls, row["sensor_current"])
    assert abs(f["value"] - row["sensor_current"]) <= tol, (recording, src, f["value"], row)
    for key, ours_key in LIMITS.items():
        theirs, mine = row[key], f.get(ours_key)
        if theirs is None or explained(THRESHOLDS_DIFFER, recording, src, ours_key):
            continue  # LibreNMS has none (we may: e.g. a PoE budget), or a known disagreement
        same = mine is not None and abs(mine - theirs) <= tolerance(cls, theirs, threshold=True)
        assert same or librenms_default(row, key, r), (recording, src, key, mine, theirs)
    if cls == "state":
        state = states[(row["state_name"], int(row["sensor_current"]))]
        if row["state_name"] not in STATE_NAMES_DIFFER:
            assert f["state"] == state["state_descr"], (recording, src, f["state"], state)
        assert f["status"] == GENERIC[state["state_generic_value"]], (recording, src, f["status"])
    if f.get("description"):
        shared = words(f["description"]) & words(row["sensor_descr"])
        assert shared, (recording, src, f["description"], row["sensor_descr"])
    if "if_index" in r.tags:
        assert r.tags["if_index"] == str(row["entPhysicalIndex"]), (recording, src)
    elif (
        "entity_index" in r.tags
        and row["entPhysicalIndex"] is not None
        and (
            row["entPhysicalIndex_measured"] != "ports"  # LibreNMS moved it to the port's entity
        )
    ):
        assert r.tags["entity_index"] == str(row["entPhysicalIndex"]), (recording, src)


def test_poe_budget_is_the_power_sensors_critical_limit(collected) -> None:  # type: ignore[no-untyped-def]
    rows, _ = librenms("ios_2960x")
    budget = next(r for r in rows if r["sensor_oid"] == ".1.3.6.1.2.1.105.1.3.1.1.2.1")
    power = next(
        r
        for r in collected["ios_2960x"]["sensors"].records
        if r.fields["source_oid"] == "1.3.6.1.2.1.105.1.3.1.1.4.1"
    )
    assert power.fields["high_critical"] == budget["sensor_current"]


def test_extras_are_what_their_reasons_say(collected) -> None:  # type: ignore[no-untyped-def]
    """The optics without light carry no value and read -10^9 in the recording."""
    raw = raw_recording("arista_eos")
    lib = {r["sensor_oid"].lstrip(".") for r in librenms("arista_eos")[0]}
    extra = [
        r for r in collected["arista_eos"]["sensors"].records if r.fields["source_oid"] not in lib
    ]
    assert extra and all(
        "value" not in r.fields
        and raw[str(r.fields["source_oid"])] == "-1000000000"
        and r.tags["sensor_class"] == "rx_power"
        for r in extra
    )


def test_share_identity_and_vocabulary(collected) -> None:  # type: ignore[no-untyped-def]
    """Per recording: the share of LibreNMS's sensors we reproduce; one record per
    sensor identity; statuses from the dataset's vocabulary; thresholds in order;
    sensor_index is the
    row index of the reading's OID, or that OID itself (state and CISCO-ENVMON
    sensors, whose tables share index spaces)."""
    for name in recording_names():
        records = collected[name]["sensors"].records
        rows, _ = librenms(name)
        ours = {str(r.fields["source_oid"]) for r in records}
        if rows:
            share = sum(r["sensor_oid"].lstrip(".") in ours for r in rows) / len(rows)
            assert share >= MIN_SHARE, (name, share)
        else:
            # iosxr, timos: the recordings hold no sensor objects
            assert not records, (name, "sensors where the recording has none")
        ids = [tuple(sorted(r.tags.items())) for r in records]
        assert len(ids) == len(set(ids)), (name, "two sensors with one identity")
        for r in records:
            src, idx = str(r.fields["source_oid"]), r.tags["sensor_index"]
            assert idx == src or src.endswith("." + idx), (name, idx, src)
            assert r.fields.get("status") in STATUSES, (name, src, r.fields.get("status"))
            # thresholds LibreNMS lacks (e.g. Huawei optics) are at least in order
            limits = [r.fields.get(k) for k in ORDER]
            given = [x for x in limits if x is not None]
            assert given == sorted(given), (name, src, limits)
    covered("sensors", "sensor_index")
