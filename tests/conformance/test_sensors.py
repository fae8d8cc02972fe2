"""``sensors`` against LibreNMS ``sensors``.

Rows are matched by the OID each side read (LibreNMS ``sensor_oid`` = our
``source_oid``).  For each: class and unit by ``CLASSES``; the value, after
LibreNMS's divisor/multiplier, within ``tolerance()`` (LibreNMS keeps dBm
converted from power to 3 decimals and its thresholds to 1; everything else
compares to float precision); thresholds where both sides have one.  LibreNMS fills missing
thresholds with defaults of its own (``librenms_default``), which the MIB does
not give and we do not publish.  State sensors: raw value, state name, and
status against LibreNMS's graded state.

Every rule is LibreNMS's or keyed by the MIB object read, never by recording:
LibreNMS classes outside the dataset (``OUT_OF_SCOPE``); one OID LibreNMS
lists twice, in watts and in dBm (ours is compared with the row in our unit,
the other must be the same reading converted); LibreNMS rows we do not
reproduce (``NOT_REPRODUCED``), rows we add (``EXTRA``), thresholds and state
grades that differ (``THRESHOLDS_DIFFER``, ``STATUS_DIFFERS``), each with the
reason.  Where LibreNMS has no ``sensors`` result at all, nothing is compared
with it; every sensor still reads an object of the recording.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import pytest

from bus.datasets import implausible
from bus.records import Record
from collectors.driver import PollOutcome
from tests.conformance.conftest import covered
from tests.conformance.snmprec import snmprec
from tests.conformance.tally import ROW, Tally
from tests.support.librenms import librenms_json, recording_names

# LibreNMS class -> (our sensor_class values, our unit)
CLASSES = {
    "temperature": ({"temperature"}, "celsius"),
    "fanspeed": ({"fan"}, "rpm"),
    "voltage": ({"voltage"}, "volts"),
    "current": ({"current"}, "amperes"),
    "power": ({"power"}, "watts"),
    "dbm": ({"rx_power", "tx_power"}, "dbm"),
    "humidity": ({"humidity"}, "percent"),
    "percent": ({"fan", "humidity", "power_supply", "other"}, "percent"),
    "state": ({"state"}, "state"),
}
# LibreNMS classes that are not what the sensors dataset models (temperature,
# fans, PSUs, optics rx/tx power, voltage, current, power, states): not compared.
OUT_OF_SCOPE = {
    "count": "statistics (sessions, tunnels, connections, PoE devices, subscribers)",
    "load": "session-table utilisation (a statistic)",
    "ber": "coherent optics line quality (pre-FEC bit error rate)",
    "chromatic_dispersion": "coherent optics line quality",
    "delay": "coherent optics line quality (differential group delay)",
    "frequency": "coherent optics carrier frequency offset",
    "quality_factor": "coherent optics line quality",
    "snr": "coherent optics line quality",
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
PETH_MAIN_PSE_POWER = "1.3.6.1.2.1.105.1.3.1.1.2."  # pethMainPsePower (the PoE budget)
PETH_MAIN_PSE_CONSUMPTION = "1.3.6.1.2.1.105.1.3.1.1.4."
ENTITY_SENSOR_VALUE = "1.3.6.1.2.1.99.1.1.1.4."
JNX_DOM = "1.3.6.1.4.1.2636.3.60.1.1.1.1"  # jnxDomCurrentTable
DELL_VLT_LOCAL = "1.3.6.1.4.1.6027.3.17.1.3.1.3."  # dellNetVLTDetailLocalStatus
DELL_VLT_PEER = "1.3.6.1.4.1.6027.3.17.1.3.1.4."  # dellNetVLTDetailPeerStatus
DELL_OPTICS = "1.3.6.1.4.1.6027.3.11.1.3.1.1"  # dellNetIfTransceiverDataTable
JNX_DOM_LANE = "1.3.6.1.4.1.2636.3.60.1.2.1.1"  # jnxDomCurrentLaneTable

# LibreNMS sensor_oid prefix -> why we do not publish it.
NOT_REPRODUCED = {
    PETH_MAIN_PSE_POWER: (
        "pethMainPsePower (the PoE budget) is published as the high_critical of the PoE "
        "power sensor, not as a sensor of its own (test_poe_budget_...)"
    ),
}


def raw_at(r: Record, column: str, other: str) -> Any:
    """The recording's value of column ``other`` at the row ``r`` read in ``column``."""
    return snmprec(r.device).get(other + str(r.fields["source_oid"])[len(column) :])


def no_light(r: Record) -> bool:
    src = str(r.fields["source_oid"])
    return (
        "value" not in r.fields
        and r.tags["sensor_class"] == "rx_power"
        and snmprec(r.device).get(src) == -1000000000
    )


CIENA_XCVR = "1.3.6.1.4.1.1271.2.1.9.1.1.1.1"  # cienaCesPortXcvrTable
# source_oid prefix -> why our value is left out where LibreNMS shows 0: the MIB
# object's range excludes 0, which the device returns when it has no reading.
NO_READING = {
    f"{CIENA_XCVR}.{column}.": (
        "cienaCesPortXcvr temperature, Vcc, bias, rx/tx power are INTEGER (1..65535): "
        "0 (an empty cage, a value the module does not report) is no reading; "
        "LibreNMS shows it as 0"
    )
    for column in (3, 4, 5, 6, 35)
}

TIMETRA_DDM = (  # TIMETRA-PORT-MIB tmnxDDMTable and tmnxDDMLaneTable
    "1.3.6.1.4.1.6527.3.1.2.2.4.31.1.",
    "1.3.6.1.4.1.6527.3.1.2.2.4.66.1.",
)


def admin_down(r: Record) -> bool:
    """Is the port a sensor of ours measures administratively down (ifAdminStatus 2)?"""
    return snmprec(r.device).get(f"1.3.6.1.2.1.2.2.1.7.{r.tags.get('if_index')}") == 2


# our source_oid prefix -> (why LibreNMS does not list such a sensor of ours, when)
EXTRA: dict[str, tuple[str, Callable[[Record], bool]]] = {
    ENTITY_SENSOR_VALUE: (
        "receive power read as -10^9 (EOS: no light; the end of EntitySensorValue's range): "
        "we publish the sensor, its thresholds and status, with no value; LibreNMS drops it",
        no_light,
    ),
    "1.3.6.1.2.1.105.1.3.1.1.3.": (
        "PoE PSE state (pethMainPseOperStatus): not in LibreNMS's definitions",
        lambda _r: True,
    ),
    PETH_MAIN_PSE_CONSUMPTION: (
        "PoE consumption of a PSE with no power budget (pethMainPsePower 0): LibreNMS "
        "lists no PoE sensor for it",
        lambda r: raw_at(r, PETH_MAIN_PSE_CONSUMPTION, PETH_MAIN_PSE_POWER) == 0,
    ),
    DELL_VLT_LOCAL: (
        "a VLT port-channel down on both peers (dellNetVLTDetailPeerStatus down(0)): "
        "LibreNMS's OS9 definition skips it; we publish its local status (down)",
        lambda r: raw_at(r, DELL_VLT_LOCAL, DELL_VLT_PEER) == 0,
    ),
    **{
        f"{DELL_OPTICS}.{column}.": (
            "Dell OS9 transceiver laser bias of exactly 0 mA (laser off): LibreNMS's "
            "definition skips it",
            lambda r: float(snmprec(r.device).get(str(r.fields["source_oid"])) or b"nan") == 0,
        )
        for column in (18, 19, 20, 21)
    },
    **{
        table: (
            "TIMETRA-PORT-MIB optics of a port that is admin down (ifAdminStatus 2): the "
            "module still reports them; LibreNMS's SR OS definition skips the port",
            admin_down,
        )
        for table in TIMETRA_DDM
    },
    "1.3.6.1.4.1.2636.3.60.1.1.1.1.25.": (
        "JUNIPER-DOM module voltage: not in LibreNMS's Junos definition",
        lambda _r: True,
    ),
    "1.3.6.1.4.1.25506.2.70.1.1.1.": (
        "HH3C-TRANSCEIVER-INFO-MIB digital diagnostics: LibreNMS lists these modules "
        "(ddm 1) in its transceivers result but no sensors of theirs",
        lambda _r: True,
    ),
    **{
        f"{table}.{column}.": (
            "JUNIPER-DOM laser rx/tx power or bias (module or lane) of exactly 0 (no "
            "light): LibreNMS's Junos definition skips it",
            lambda r: snmprec(r.device).get(str(r.fields["source_oid"])) == 0,
        )
        for table, columns in ((JNX_DOM, (5, 6, 7)), (JNX_DOM_LANE, (6, 7, 8)))
        for column in columns
    },
}

# source_oid prefix -> why LibreNMS's number for a laser bias is ours x 1000: its
# definition divides the MIB's unit down to milliamperes and files the result
# as class current, whose unit is the ampere (4.466 "A" for 4.466 mA).
AOS_DDM_BIAS = "1.3.6.1.4.1.6486.801.1.2.1.5.1.1.2.6.1.12."  # ddmPortTxBiasCurrent
LIBRENMS_MILLIAMPS = {
    AOS_DDM_BIAS: "ALCATEL-IND1-PORT-MIB ddmPortTxBiasCurrent (thousandths of a mA)",
    **{
        f"{DELL_OPTICS}.{column}.": "Dell OS9 dellNetIfTransTransmitBiasCurrentLane1-4 (mA)"
        for column in (18, 19, 20, 21)
    },
}


def librenms_scale(src: str) -> float:
    """What LibreNMS's number is, in ours (1000 where it shows mA as A)."""
    return 1000.0 if any(src.startswith(p) for p in LIBRENMS_MILLIAMPS) else 1.0


def same_label(ours: Any, theirs: Any) -> bool:
    """A state's name as LibreNMS shows it: its tables capitalise some of the
    MIB's enum labels ("Up" for up(1)); case is display, the label is the same."""
    if isinstance(ours, str) and isinstance(theirs, str):
        return ours.lower() == theirs.lower()
    return bool(ours == theirs)


# (source_oid prefix, threshold) where both sides have a threshold and differ.
THRESHOLDS_DIFFER = {
    ("1.3.6.1.4.1.2011.5.25.31.1.1.3.1.8.", "high_critical"): (
        "LibreNMS reads hwEntityOpticalRxHighWarnThreshold as uW and converts it to dBm; "
        "the thresholds are 0.01 dBm (alarm and warning ordered around the reading), so "
        "ours is hwEntityOpticalRxHighThreshold / 100"
    ),
    ("1.3.6.1.4.1.2011.5.25.31.1.1.1.1.11.", "high_critical"): (
        "LibreNMS ignores hwEntityTemperatureThreshold and sets its default (+20 C)"
    ),
}

# LibreNMS state tables labelled with another MIB's names (value -> LibreNMS's name is wrong).
STATE_NAMES_DIFFER = {
    "cswStackPortOperStatus": "LibreNMS labels it with CISCO-ENVMON's names (MIB: up/down/forcedDown)",
    "fgHwSensors": "LibreNMS's own labels OK/ERROR (MIB fgHwSensorEntAlarmStatus: false/true)",
    "fgHaStatsSyncStatus": (
        "LibreNMS's own labels In Sync/Out Of Sync (MIB: synchronized/unsynchronized)"
    ),
    "fgVpnSslState": "LibreNMS capitalises them (MIB FnBoolState: disabled/enabled)",
    **dict.fromkeys(
        ("os10PowerSupplyOperStatus", "os10FanTrayOperStatus", "os10FanOperStatus"),
        "LibreNMS's own labels normal/abnormal (MIB Os10CmnOperStatus: up/down/...)",
    ),
    **dict.fromkeys(
        (
            "tmnxChassisCriticalLEDState",
            "tmnxChassisMajorLEDState",
            "tmnxChassisMinorLEDState",
            "tmnxChassisOverTempState",
        ),
        "LibreNMS drops the MIB's enum prefix (TmnxLEDState ledOff -> Off, stateOk -> Ok)",
    ),
    "dellNetVLTRole": "LibreNMS capitalises them (MIB: standAlone/primary/secondary)",
    "dellNetVLTIclStatus": "LibreNMS's own labels up/down... (MIB: linkUp/linkDown/...)",
    "dellNetVLTIclBwStatus": "LibreNMS's own labels <80%/>80% (MIB: below/abovethreshold)",
    "arubaWiredVsxIslOperState": "LibreNMS spells the MIB's names apart (MIB: init/outSync/inSync)",
    "entStateOper": (
        "LibreNMS labels ENTITY-STATE-MIB's operational state with its own names "
        "(notPresent/unknown/ok/failed); the MIB's EntityOperState is unknown/disabled/enabled/testing"
    ),
    "cumulus_hardware_state": (
        "LibreNMS labels entPhySensorOperStatus OK/UNAVAILABLE/FAILED (MIB: "
        "ok/unavailable/nonoperational)"
    ),
}
# LibreNMS state tables graded otherwise: state name -> (reason, {state: our status}).
STATUS_DIFFERS = {
    **{
        name: (
            "PAN-OS HA: a passive firewall is the healthy standby of an active/passive "
            "pair: we grade it ok, LibreNMS unknown",
            {"passive": "ok"},
        )
        for name in ("panSysHAState", "panSysHAPeerState")
    },
    "jnxYellowAlarmState": (
        "a Juniper yellow alarm is a minor alarm: we grade 'on' warning, LibreNMS critical",
        {"on": "warning"},
    ),
}


def librenms(recording: str) -> tuple[list[dict[str, Any]], dict[tuple[str, int], dict[str, Any]]]:
    disc = librenms_json(recording).get("sensors", {}).get("discovery", {})
    states = {(s["state_name"], s["state_value"]): s for s in disc.get("state_indexes", [])}
    return list(disc.get("sensors", [])), states


def in_scope(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["sensor_class"] not in OUT_OF_SCOPE]


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
    if key in made_up and any(math.isclose(lim, v, abs_tol=1e-6) for v in made_up.values()):
        return True  # (for a negative reading its two made-up limits come out swapped)
    # CISCO-ENTITY-SENSOR temperatures: a missing or 0 low threshold becomes -5 / -1
    mine = ours.fields.get(LIMITS[key])
    if row["sensor_type"] == "cisco-entity-sensor" and cls == "temperature" and mine in (None, 0):
        if (key, lim) in (("sensor_limit_low", -5), ("sensor_limit_low_warn", -1)):
            return True
        # a reading far below them (-3276.8: no value) makes them cross; LibreNMS swaps
        # high and low then
        return mine is None and cur < -5 and lim in (-5, -1, cur + 20, cur - 10)
    # ENTITY-SENSOR (Arista): LibreNMS stores 0 for a threshold the device does not set
    if row["sensor_type"] == "entity-sensor" and mine is None:
        return bool(lim == 0)
    # LibreNMS's Junos PoE definition sets constant low limits of -1 W
    return row["sensor_type"] == "junos" and cls == "power" and lim == -1


def threshold_differs(src: str, threshold: str) -> bool:
    return any(src.startswith(p) and t == threshold for p, t in THRESHOLDS_DIFFER)


def words(s: str | None) -> set[str]:
    return {w for w in re.split(r"[^a-z0-9/]+", (s or "").lower()) if w}


def dbm(watts: float) -> float:
    return 10 * math.log10(watts * 1000)


def librenms_dbm(watts: float) -> float:
    """LibreNMS's dBm of a power reading: -60 for 0 W, 0 for an impossible negative one."""
    return dbm(watts) if watts > 0 else -60.0 if watts == 0 else 0.0


def pick(rows: list[dict[str, Any]], r: Record) -> dict[str, Any]:
    """Of LibreNMS's rows for one OID, the one in our record's unit (LibreNMS lists
    optical power read in watts twice: as ``power`` in W and as ``dbm``).  The
    other must be the same reading converted."""
    if len(rows) == 1:
        return rows[0]
    assert len(rows) == 2 and {x["sensor_class"] for x in rows} == {"power", "dbm"}, rows
    w, d = sorted(rows, key=lambda x: x["sensor_class"] != "power")
    assert abs(librenms_dbm(w["sensor_current"]) - d["sensor_current"]) <= 0.01, rows
    return d if r.fields.get("unit") == "dbm" else w


def as_dbm(row: dict[str, Any], r: Record) -> dict[str, Any]:
    """LibreNMS lists some optical power read in watts only as ``power`` (W); ours
    is the same reading as ``rx_power`` / ``tx_power`` in dBm: compare it with
    LibreNMS's reading and thresholds converted (0 W is -60 dBm to LibreNMS)."""
    if row["sensor_class"] != "power" or r.fields.get("unit") != "dbm":
        return row
    out = dict(row, sensor_class="dbm", sensor_current=librenms_dbm(row["sensor_current"]))
    for key in LIMITS:
        if row[key] is not None:
            out[key] = librenms_dbm(row[key])
    return out


def compared_fields(row: dict[str, Any]) -> list[str]:
    """What :func:`compare` compares for a LibreNMS row (a row we lack misses them all)."""
    src = row["sensor_oid"].lstrip(".")
    limits = [v for k, v in LIMITS.items() if row[k] is not None and not threshold_differs(src, v)]
    return [
        "class",
        "value",
        *limits,
        *(["state", "status"] if row["sensor_class"] == "state" else []),
    ]


def compare_sensors(out: PollOutcome, recording: str) -> Tally:
    tally = Tally(recording, "sensors")
    if not tally.expect(out.status == "ok", "(poll)", "status", out.error, "ok"):
        return tally
    ours = {str(r.fields["source_oid"]): r for r in out.records}
    tally.expect(len(ours) == len(out.records), "sensors", "two sensors read the same OID")
    rows, states = librenms(recording)
    unknown = {r["sensor_class"] for r in rows} - set(CLASSES) - set(OUT_OF_SCOPE)
    tally.expect(
        not unknown, "sensors", "LibreNMS classes neither compared nor out of scope", unknown
    )
    by_oid: dict[str, list[dict[str, Any]]] = {}
    for row in in_scope(rows):
        by_oid.setdefault(row["sensor_oid"].lstrip("."), []).append(row)
    for src, same_oid in by_oid.items():
        r = ours.get(src)
        if r is None:
            if not any(src.startswith(p) for p in NOT_REPRODUCED):
                tally.missing(
                    src, compared_fields(same_oid[0]), {"class": same_oid[0]["sensor_descr"]}
                )
            continue
        compare(tally, as_dbm(pick(same_oid, r), r), r, states)
    raw = snmprec(recording)
    compared = "sensors" in librenms_json(recording)
    if not compared:
        tally.skip("LibreNMS has no sensors result")
    listed = {row["sensor_oid"].lstrip(".") for row in rows}
    for src, r in ours.items():
        tally.expect(src in raw, src, "source_oid in the recording")
        if compared and src not in listed:
            ok = any(src.startswith(p) and when(r) for p, (_w, when) in EXTRA.items())
            tally.check(ok, src, ROW, r.fields.get("description"), "published, not in LibreNMS")
    return tally


@pytest.mark.parametrize("recording", recording_names())
def test_sensors_equal_librenms(collected: Any, recording: str) -> None:
    compare_sensors(collected[recording]["sensors"], recording).assert_clean()
    covered("sensors", "sensor_class", "unit", "value", "source_oid", *LIMITS.values())
    covered("sensors", "state", "status", "description", "entity_index", "if_index")


def refused(f: dict[str, Any], why: str | None, theirs: Any, key: str = "value") -> bool:
    """We left the field out, saying why, where LibreNMS shows a number that the
    record contract calls physically impossible for the sensor's unit (a -32768
    sentinel scaled to -0.032768 W; a sensor's own "no reading" value)."""
    if why is None or not isinstance(theirs, int | float):
        return False
    return key in implausible("sensors", {key: theirs, "unit": f.get("unit")})


def compare(tally: Tally, row: dict[str, Any], r: Record, states: dict[Any, Any]) -> None:
    src, cls = row["sensor_oid"].lstrip("."), row["sensor_class"]
    f: dict[str, Any] = r.fields
    classes, unit = CLASSES[cls]
    ours_class = (r.tags["sensor_class"], f.get("unit"))
    ok = r.tags["sensor_class"] in classes and f.get("unit") == unit
    if cls == "dbm":
        rx = bool(re.search(r"(?i)\b(rx|receive)\b", row["sensor_descr"]))
        ok = ok and r.tags["sensor_class"] == ("rx_power" if rx else "tx_power")
    tally.check(ok, src, "class", ours_class, (cls, row["sensor_descr"]))
    tol = tolerance(cls, row["sensor_current"])
    value = f.get("value")
    if value is None and refused(f, r.absent.get("value"), row["sensor_current"]):
        # LibreNMS displays, as a number, what the device meant as no reading:
        # leaving it out, with the reason, is the right answer.
        tally.check(True, src, "value", None, row["sensor_current"])
    elif (
        value is None
        and r.absent.get("value")
        and row["sensor_current"] == 0
        and any(src.startswith(p) for p in NO_READING)
    ):
        tally.check(True, src, "value", None, 0)  # NO_READING: the MIB's range excludes 0
    else:
        k = librenms_scale(src)
        ok = value is not None and abs(value * k - row["sensor_current"]) <= tol
        tally.check(ok, src, "value", value, row["sensor_current"])
    for key, ours_key in LIMITS.items():
        theirs, mine = row[key], f.get(ours_key)
        if theirs is None or threshold_differs(src, ours_key):
            continue  # LibreNMS has none (we may: e.g. a PoE budget), or a known disagreement
        if mine is None and refused(f, r.absent.get(ours_key), theirs, ours_key):
            continue
        mine_k = None if mine is None else mine * librenms_scale(src)
        same = mine_k is not None and abs(mine_k - theirs) <= tolerance(cls, theirs, threshold=True)
        tally.check(same or librenms_default(row, key, r), src, ours_key, mine, theirs)
    if cls == "state":
        state = states.get((row["state_name"], int(row["sensor_current"])))
        if state is None:
            # a value outside the MIB's enumeration (LibreNMS has no name for it):
            # ours is the raw code, with no status grade
            raw = int(row["sensor_current"])
            tally.check(f.get("state") == raw, src, "state", f.get("state"), raw)
            tally.check(f.get("status") is None, src, "status", f.get("status"), None)
            return
        if row["state_name"] not in STATE_NAMES_DIFFER:
            tally.check(
                same_label(f.get("state"), state["state_descr"]),
                src,
                "state",
                f.get("state"),
                state["state_descr"],
            )
        grade = STATUS_DIFFERS.get(row["state_name"], ("", {}))[1].get(str(f.get("state")))
        want = grade or GENERIC[state["state_generic_value"]]
        tally.check(f.get("status") == want, src, "status", f.get("status"), want)
    if f.get("description"):
        shared = words(f["description"]) & words(row["sensor_descr"])
        tally.check(bool(shared), src, "description", f["description"], row["sensor_descr"])
    if "if_index" in r.tags:
        if row["entPhysicalIndex"] is None:
            return  # LibreNMS does not say which port (e.g. Dell OS9 optics)
        want = str(row["entPhysicalIndex"])
        tally.check(r.tags["if_index"] == want, src, "if_index", r.tags["if_index"], want)
    elif (
        "entity_index" in r.tags
        and row["entPhysicalIndex"] is not None
        and (
            row["entPhysicalIndex_measured"] != "ports"  # LibreNMS moved it to the port's entity
        )
    ):
        want = str(row["entPhysicalIndex"])
        tally.check(
            r.tags["entity_index"] == want, src, "entity_index", r.tags["entity_index"], want
        )


def poe_budgets(recording: str) -> dict[str, float]:
    """LibreNMS's PoE budget sensors: PSE group index -> watts."""
    rows, _ = librenms(recording)
    return {
        row["sensor_oid"].lstrip(".")[len(PETH_MAIN_PSE_POWER) :]: row["sensor_current"]
        for row in rows
        if row["sensor_oid"].lstrip(".").startswith(PETH_MAIN_PSE_POWER)
    }


@pytest.mark.parametrize("recording", [n for n in recording_names() if poe_budgets(n)])
def test_poe_budget_is_the_power_sensors_critical_limit(collected: Any, recording: str) -> None:
    ours = {str(r.fields["source_oid"]): r for r in collected[recording]["sensors"].records}
    for group, budget in poe_budgets(recording).items():
        power = ours.get(PETH_MAIN_PSE_CONSUMPTION + group)
        assert power is not None, (recording, group, "no PoE power sensor")
        assert power.fields["high_critical"] == budget, (recording, group)


@pytest.mark.parametrize("recording", recording_names())
def test_identity_and_vocabulary(collected: Any, recording: str) -> None:
    """One record per sensor identity; statuses from the dataset's vocabulary;
    thresholds in order; sensor_index is the row index of the reading's OID, or
    that OID itself (state and CISCO-ENVMON sensors, whose tables share index
    spaces)."""
    records = collected[recording]["sensors"].records
    ids = [tuple(sorted(r.tags.items())) for r in records]
    assert len(ids) == len(set(ids)), (recording, "two sensors with one identity")
    # thresholds LibreNMS has are compared with it (a device may order them oddly)
    checked = {
        row["sensor_oid"].lstrip(".")
        for row in librenms(recording)[0]
        if any(row[k] is not None for k in LIMITS)
    }
    for r in records:
        src, idx = str(r.fields["source_oid"]), r.tags["sensor_index"]
        assert idx == src or src.endswith("." + idx), (recording, idx, src)
        assert r.fields.get("status") in STATUSES, (recording, src, r.fields.get("status"))
        # thresholds LibreNMS lacks (e.g. Huawei optics) are at least in order
        limits = [r.fields.get(k) for k in ORDER]
        given = [x for x in limits if x is not None]
        assert src in checked or given == sorted(given), (recording, src, limits)
    covered("sensors", "sensor_index")
