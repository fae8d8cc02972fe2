"""Vendor profiles' unit and row rules on values made up for the test (the MIB's
semantics, not a recording's): what the type column, the sentinel and the
documented fallbacks decide."""

import math

from collectors.profiles import ProfileSet

CES = "1.3.6.1.4.1.9.9.91.1.1.1.1"  # CISCO-ENTITY-SENSOR-MIB entSensorValueEntry
ENT_NAME = "1.3.6.1.2.1.47.1.1.1.1.7"
HW_STATE = "1.3.6.1.4.1.2011.5.25.31.1.1.1.1"  # hwEntityStateEntry
HW_OPTIC = "1.3.6.1.4.1.2011.5.25.31.1.1.3.1"  # hwOpticalModuleInfoEntry


def by_source(rows):  # type: ignore[no-untyped-def]
    return {r[1]["source_oid"]: r for r in rows}


def cisco_sensor(index: str, kind: int, scale: int, prec: int, value: int, name: str) -> dict:
    cols = {f"{CES}.1": kind, f"{CES}.2": scale, f"{CES}.3": prec, f"{CES}.4": value}
    return {col: {index: v} for col, v in cols.items()} | {ENT_NAME: {index: name}}


def merged(*parts: dict) -> dict:
    out: dict = {}
    for p in parts:
        for col, vals in p.items():
            out.setdefault(col, {}).update(vals)
    return out


def test_cisco_sensor_type_decides_optical_power_and_its_unit() -> None:
    ds = ProfileSet().profiles["iosxr"].datasets["sensors"]
    cols = merged(
        cisco_sensor("1", 6, 8, 5, 33210, "Hu0/0/0/1 Tx Lane 0 Power"),  # watts, milli, 5 places
        cisco_sensor("2", 8, 9, 1, 266, "Hu0/0/0/1 Transmit Power Sensor"),  # typed celsius
        cisco_sensor("3", 2, 9, 0, 0, "Hu0/0/0/1 Rx Lane 1 Power Sensor"),  # type unknown
        cisco_sensor("4", 14, 9, 1, -43, "Hu0/0/0/1 Receive Power Sensor"),  # dBm
    )
    got = by_source(ds.build(cols, {}))
    tags, f = got[f"{CES}.4.1"][:2]
    assert tags["sensor_class"] == "tx_power" and f["unit"] == "dbm"
    assert math.isclose(f["value"], 10 * math.log10(0.0003321 * 1000))
    tags, f = got[f"{CES}.4.2"][:2]
    assert tags["sensor_class"] == "temperature" and f["unit"] == "celsius"
    assert f["value"] == 26.6
    assert f"{CES}.4.3" not in got  # a value of unknown type has no unit: not published
    tags, f = got[f"{CES}.4.4"][:2]
    assert tags["sensor_class"] == "rx_power" and f["unit"] == "dbm" and f["value"] == -4.3


def test_huawei_optical_power_in_uw_or_hundredths_of_dbm_and_empty_cages() -> None:
    ds = ProfileSet().profiles["vrp"].datasets["sensors"]
    rows = {  # index: (mode, temperature, rx power)
        "1": (5, 40, 536),  # uW (MIB up to V3.81): -2.71 dBm
        "2": (2, 51, -849),  # 0.01 dBm (V3.82)
        "3": (1, 0, 0),  # hwEntityOpticalMode notSupported: no module
        "4": (5, -255, -1),  # empty cage (-255 C)
    }
    cols = {
        f"{HW_OPTIC}.1": {i: r[0] for i, r in rows.items()},
        f"{HW_OPTIC}.5": {i: r[1] for i, r in rows.items()},
        f"{HW_OPTIC}.8": {i: r[2] for i, r in rows.items()},
    }
    got = by_source(ds.build(cols, {}))
    assert math.isclose(got[f"{HW_OPTIC}.8.1"][1]["value"], 10 * math.log10(0.536))
    assert got[f"{HW_OPTIC}.8.2"][1]["value"] == -8.49
    assert not [s for s in got if s.endswith((".3", ".4"))]


def test_huawei_memory_size_from_the_widest_column_given() -> None:
    ds = ProfileSet().profiles["vrp"].datasets["health"]
    cols = {
        f"{HW_STATE}.7": {"9": 50, "10": 50},  # hwEntityMemUsage %
        f"{HW_STATE}.9": {"9": 197133632, "10": 1000000},  # hwEntityMemSize, bytes
        f"{HW_STATE}.19": {"9": 414, "10": 0},  # hwEntityMemSizeMega; 0: not given
    }
    got = {r[0]["component_index"]: r[1] for r in ds.build(cols, {})}
    assert got["9"]["memory_total_octets"] == 414 * 1048576
    assert got["10"]["memory_total_octets"] == 1000000


def test_cisco_model_falls_back_to_the_products_mib_name_of_sysobjectid() -> None:
    ds = ProfileSet().profiles["ios"].datasets["system"]
    scalars = {"1.3.6.1.2.1.1.2.0": "1.3.6.1.4.1.9.1.283", "1.3.6.1.2.1.1.1.0": "IOS (tm)"}
    [(_, f, _, _)] = ds.build({}, scalars)
    assert f["model"] == "cat6509"
    scalars["1.3.6.1.2.1.47.1.1.1.1.13.1"] = "WS-C6509-E"  # ENTITY-MIB wins
    [(_, f, _, _)] = ds.build({}, scalars)
    assert f["model"] == "WS-C6509-E"
