"""The Ciena SAOS and ZTE ZXR10 profiles on values the MIBs define (beyond the
one recording of each): matching, identity from sysDescr and the products MIBs,
transceiver units and "no reading" values, per-unit CPU and memory."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from collectors.profiles import ProfileSet, load_profiles
from collectors.profiles.compiled import Row

CES_XCVR = "1.3.6.1.4.1.1271.2.1.9.1.1.1.1"
LEOS_XCVR = "1.3.6.1.4.1.6141.2.60.4.1.1.1.1"
ZXR10_UNIT = "1.3.6.1.4.1.3902.3.3.1.1"
SYS_DESCR, SYS_OID = "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0"


@cache
def profiles() -> ProfileSet:
    return load_profiles()


def build(
    profile: str, dataset: str, columns: dict[str, dict[str, Any]], **scalars: Any
) -> list[Row]:
    return profiles().profiles[profile].datasets[dataset].build(columns, scalars)


def system(profile: str, sys_oid: str, descr: str, **more: Any) -> dict[str, Any]:
    [row] = build(profile, "system", {}, **{SYS_OID: sys_oid, SYS_DESCR: descr.encode(), **more})
    return row.fields


@pytest.mark.parametrize(
    ("sys_oid", "descr", "name"),
    [
        (
            "1.3.6.1.4.1.1271.1.2.22",
            "Ciena Corporation, CN5164 SAOS Operating System, Version saos-10-09-02-0181-RS3",
            "ciena-saos",
        ),
        ("1.3.6.1.4.1.1271.1.2.17", "something unexpected", "ciena-saos"),
        ("1.3.6.1.4.1.6141.1.96", "", "ciena-saos"),
        ("1.3.6.1.4.1.3902.3.100.20", "ZXR10 ROS Version V4.08.23 ZXR10_5928 Software", "zxr10"),
        ("1.3.6.1.4.1.3902.3.100.999", "no version here", "zxr10"),
    ],
)
def test_matched_by_enterprise_and_product_whatever_the_sysdescr(
    sys_oid: str, descr: str, name: str
) -> None:
    profile, matched = profiles().match(sys_oid, descr)
    assert (profile.name, matched) == (name, True)


def test_saos_identity_from_sysdescr_else_the_products_mib() -> None:
    f = system(
        "ciena-saos",
        "1.3.6.1.4.1.1271.1.2.22",
        "Ciena Corporation, CN5164 SAOS Operating System, Version saos-10-09-02-0181-RS3",
    )
    assert (f["vendor"], f["os_name"], f["os_version"], f["model"]) == (
        "Ciena",
        "SAOS",
        "10-09-02-0181-RS3",
        "CN5164",
    )
    # a SAOS 6 box whose sysDescr names no model: WWP-PRODUCTS-MIB names it
    f = system("ciena-saos", "1.3.6.1.4.1.6141.1.77", "Ciena 3920 saos-06-16-00-0231")
    assert (f["model"], f["os_version"]) == ("cn3920", "06-16-00-0231")
    f = system("ciena-saos", "1.3.6.1.4.1.1271.1.2.6", "no model")
    assert f["model"] == "pn8700-2" and "os_version" not in f


def test_zxr10_identity_from_sysdescr_else_zxr10_system_version() -> None:
    descr = (
        "ZXR10 ROS Version V4.08.23 ZXR10_5928 Software, Version ZXR10 5900 "
        "V2.8.23.A.19.P02 Copyright (c) 2000-2011 by ZTE Corporation"
    )
    f = system("zxr10", "1.3.6.1.4.1.3902.3.100.20", descr)
    assert (f["vendor"], f["os_name"], f["os_version"], f["hardware"]) == (
        "ZTE",
        "ZXR10",
        "V2.8.23.A.19.P02",
        "5928",
    )
    f = system(
        "zxr10", "1.3.6.1.4.1.3902.3.100.20", "ZTE", **{"1.3.6.1.4.1.3902.3.1.6.0": b"V4.6.02"}
    )
    assert f["os_version"] == "V4.6.02" and "hardware" not in f


def by_class(rows: list[Row]) -> dict[tuple[str, str], Row]:
    return {(r.tags["sensor_class"], r.tags["sensor_index"]): r for r in rows}


def test_ces_transceiver_units_and_no_reading() -> None:
    cols = {
        f"{CES_XCVR}.3": {"1": 33, "2": 0},  # C
        f"{CES_XCVR}.4": {"1": 3283, "2": 0},  # mV
        f"{CES_XCVR}.5": {"1": 7, "2": 0},  # mA
        f"{CES_XCVR}.6": {"1": 623, "2": 0},  # uW
        f"{CES_XCVR}.35": {"1": 1000, "2": 0},  # uW
        f"{CES_XCVR}.7": {"1": 80, "2": 0},
        f"{CES_XCVR}.8": {"1": -25, "2": 0},
        f"{CES_XCVR}.15": {"1": 1000, "2": 0},  # rx high alarm, uW
        f"{CES_XCVR}.16": {"1": 10, "2": 0},
    }
    s = by_class(build("ciena-saos", "sensors", cols))
    t = s[("temperature", "1")].fields
    assert (t["value"], t["unit"], t["high_critical"], t["low_critical"]) == (
        33,
        "celsius",
        80,
        -25,
    )
    assert s[("voltage", "1")].fields["value"] == pytest.approx(3.283)
    assert s[("current", "1")].fields["value"] == pytest.approx(0.007)
    rx = s[("rx_power", "1")].fields
    assert rx["unit"] == "dbm" and rx["value"] == pytest.approx(-2.0551, abs=1e-4)
    assert (rx["high_critical"], rx["low_critical"]) == (pytest.approx(0), pytest.approx(-20))
    assert s[("tx_power", "1")].fields["value"] == pytest.approx(0)
    # an empty cage reads 0 everywhere: outside INTEGER (1..65535), no reading
    for cls in ("temperature", "voltage", "current", "rx_power", "tx_power"):
        r = s[(cls, "2")]
        assert "value" not in r.fields and "sentinel" in r.absent["value"], cls
    assert "high_critical" not in s[("rx_power", "2")].fields


def test_leos_transceiver_dbm_columns_first_then_microwatts_and_empty_cages_dropped() -> None:
    cols = {
        f"{LEOS_XCVR}.2": {"1": 2, "2": 2, "3": 4},  # enabled, enabled, notPresent
        f"{LEOS_XCVR}.16": {"1": 40, "2": 41, "3": 0},
        f"{LEOS_XCVR}.19": {"1": 500, "2": 100, "3": 0},  # rx, uW
        f"{LEOS_XCVR}.105": {"1": -31234},  # rx, dBm x 10^4 (row 1 only)
        f"{LEOS_XCVR}.109": {"1": 20000},
        f"{LEOS_XCVR}.42": {"2": 1000},
    }
    s = by_class(build("ciena-saos", "sensors", cols))
    assert {k for k in s if k[0] == "temperature"} == {("temperature", "1"), ("temperature", "2")}
    assert s[("rx_power", "1")].fields["value"] == pytest.approx(-3.1234)
    assert s[("rx_power", "1")].fields["high_critical"] == pytest.approx(2.0)
    assert s[("rx_power", "2")].fields["value"] == pytest.approx(-10.0)
    assert s[("rx_power", "2")].fields["high_critical"] == pytest.approx(0.0)


def test_ces_module_state_outside_the_enumeration_is_the_raw_code_without_a_grade() -> None:
    m = "1.3.6.1.4.1.1271.2.1.2.1.2.1.1"
    rows = build("ciena-saos", "sensors", {f"{m}.8": {"1.1.1": 0, "1.1.2": 6}})
    got = {r.tags["sensor_index"]: r for r in rows}
    bad, faulted = got[f"{m}.8.1.1.1"], got[f"{m}.8.1.1.2"]
    assert bad.fields["state"] == 0 and "status" not in bad.fields and bad.absent["status"]
    assert (faulted.fields["state"], faulted.fields["status"]) == ("faulted", "critical")


def test_zxr10_cpu_and_memory_per_running_unit() -> None:
    cols = {
        f"{ZXR10_UNIT}.2": {"1": 1, "2": 0},  # running, shutdown
        f"{ZXR10_UNIT}.3": {"1": 268435456, "2": 268435456},  # bytes
        f"{ZXR10_UNIT}.4": {"1": 67108864, "2": 1},
        f"{ZXR10_UNIT}.5": {"1": 9, "2": 9},  # 2 min
        f"{ZXR10_UNIT}.12": {"1": 12},  # 5 min
    }
    rows = build("zxr10", "health", cols)
    assert {(r.tags["component_kind"], r.tags["component_index"]) for r in rows} == {
        ("cpu", "1"),
        ("memory", "1"),
    }
    cpu = next(r for r in rows if r.tags["component_kind"] == "cpu").fields
    mem = next(r for r in rows if r.tags["component_kind"] == "memory").fields
    assert cpu["cpu_util_pct"] == 12
    assert (mem["memory_used_octets"], mem["memory_free_octets"], mem["memory_util_pct"]) == (
        67108864,
        201326592,
        25.0,
    )
