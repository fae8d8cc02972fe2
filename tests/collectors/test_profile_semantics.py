"""The field pipeline's semantics for enums, sentinels and implausible values:
a code the table does not know keeps its number, every ``absent`` sentinel of a
list is honoured (SNMP and NETCONF alike), and a value that is a sentinel or
physically impossible is left out with why in the record's ``absent``."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
import yaml

from bus.datasets import validate
from bus.records import Provenance, Record, record_id
from collectors.driver import records_from_rows
from collectors.profiles.compiled import CompiledDataset, Row, compile_dataset
from collectors.profiles.schema import DatasetSpec

IF_STATUS = {1: "up", 2: "down", 3: "testing", 4: "unknown", 5: "dormant", 6: "notPresent"}
ENUMS: dict[str, dict[int | str, str | int | float]] = {
    "if-status": {**IF_STATUS, 7: "lowerLayerDown"},
    "scale": {8: 0.001, 9: 1},  # a table of numbers (a multiplier, not a name)
    "nc-status": {"UP": "up", "DOWN": "down"},
    "products": {"1.3.6.1.4.1.9.1.516": "catalyst37xxStack", "1.3.6.1.4.1.9.1.1": "gateway"},
}


def compiled(dataset: str, text: str) -> CompiledDataset:
    return compile_dataset(dataset, DatasetSpec.model_validate(yaml.safe_load(text)), ENUMS)


def one(ds: CompiledDataset, cols: dict[str, Any]) -> Row:
    rows = ds.build({c: {"1": v} for c, v in cols.items()}, {})
    assert len(rows) == 1, rows
    return rows[0]


def record(dataset: str, row: Row) -> Record:
    [rec] = records_from_rows(
        [row],
        missing=[],
        device_tags={},
        network="n",
        device="d",
        profile="p",
        dataset=dataset,
        cycle_id=f"n:{dataset}:0",
        scheduled_unix_ms=0,
        request_unix_ms=0,
        response_unix_ms=0,
        provenance=Provenance(protocol="snmpv2c", collector_version="0"),
    )
    return rec


def constants(fields: dict[str, Any]) -> str:
    """A scalars dataset whose fields are these constants."""
    text = {k: format(v, "f") if isinstance(v, float) else v for k, v in fields.items()}
    return "scalars:\n  fields:\n" + "".join(f"    {k}: {{value: {v}}}\n" for k, v in text.items())


IFS = "tables:\n  t:\n    index_tag: if_index\n    fields:\n"


def test_an_enum_code_missing_from_its_table_publishes_the_raw_number() -> None:
    ds = compiled(
        "interfaces", IFS + "      oper_status: {oid: 1.1.8, type: enum, enum: if-status}\n"
    )
    rows = ds.build({"1.1.8": {"1": 1, "2": 0, "3": 99}}, {})
    assert [r.fields for r in rows] == [
        {"oper_status": "up"},
        {"oper_status": 0},  # not nothing, not "0"
        {"oper_status": 99},
    ]
    for r in rows:  # the contract carries it: the quality gate's model rule passes it
        validate(record("interfaces", r))
    assert all(not r.absent and not r.bad for r in rows)


def test_the_contract_takes_a_raw_code_but_not_a_string_of_one() -> None:
    rec = record("interfaces", Row({"if_index": "1"}, {"oper_status": 0}, [], {}))
    validate(rec)
    with pytest.raises(ValueError, match="oper_status"):
        validate(msgspec.structs.replace(rec, fields={"oper_status": "0"}))


def test_an_unknown_code_of_a_table_of_numbers_is_no_value_and_says_why() -> None:
    ds = compiled(
        "sensors",
        "tables:\n  t:\n    index_tag: sensor_index\n    fields:\n"
        "      _scale: {oid: 1.1.2, type: enum, enum: scale}\n"
        "      _raw: {oid: 1.1.4}\n"
        "      value: {expr: _raw * _scale, type: float}\n",
    )
    assert one(ds, {"1.1.2": 8, "1.1.4": 1500}).fields == {"value": 1.5}
    row = one(ds, {"1.1.2": 99, "1.1.4": 1500})  # a multiplier of 99 would be a lie
    assert row.fields == {}
    assert row.absent == {"value": "code 99 is not in enum table scale"}


def test_a_netconf_enum_text_missing_from_its_table_is_no_value_and_says_why() -> None:
    ds = compiled(
        "interfaces",
        "tables:\n  t:\n    rows: x\n    key: k\n    index_tag: if_index\n    fields:\n"
        "      oper_status: {path: s, type: enum, enum: nc-status}\n",
    )
    [col] = ds.columns
    rows = ds.build({col: {"a": "UP", "b": "SIDEWAYS"}}, {})
    assert [(r.fields, r.absent, r.bad) for r in rows] == [
        ({"oper_status": "up"}, {}, []),
        ({}, {"oper_status": "'SIDEWAYS' is not in enum table nc-status"}, []),
    ]


def test_a_field_looked_up_from_another_is_the_table_entry_or_absent_with_why() -> None:
    ds = compiled(
        "system",
        "scalars:\n  fields:\n"
        "    sys_object_id: {oid: 1.1.2.0, type: oid}\n"
        "    model: {from: sys_object_id, type: enum, enum: products}\n"
        "    family: {from: sys_object_id, regex: '^(1.3.6.1.4.1.9.1.1)', type: enum, enum: products}\n",
    )
    [row] = ds.build({}, {"1.1.2.0": "1.3.6.1.4.1.9.1.516"})
    assert row.fields["model"] == "catalyst37xxStack"  # the whole text, not a prefix
    assert "family" not in row.fields  # the regex fails: no value
    [row] = ds.build({}, {"1.1.2.0": "1.3.6.1.4.1.9.1.1"})
    assert (row.fields["model"], row.fields["family"]) == ("gateway", "gateway")
    [row] = ds.build({}, {"1.1.2.0": "1.3.6.1.4.1.9.1.9999"})
    assert "model" not in row.fields
    assert row.absent["model"] == "'1.3.6.1.4.1.9.1.9999' is not in enum table products"


SENSOR_LIST = "[-1, -32768, 2147483647, '']"


@pytest.mark.parametrize("raw", [-1, -32768, 2147483647, b""])
def test_every_absent_sentinel_of_a_list_is_honoured_and_said(raw: Any) -> None:
    ds = compiled(
        "sensors",
        "tables:\n  t:\n    index_tag: sensor_index\n    fields:\n"
        f"      value: {{oid: 1.1.4, type: float, absent: {SENSOR_LIST}}}\n"
        "      description: {oid: 1.1.5, type: text}\n",
    )
    row = one(ds, {"1.1.4": raw, "1.1.5": b"x"})
    assert row.fields == {"description": "x"}
    shown = raw.decode() if isinstance(raw, bytes) else raw
    assert row.absent == {"value": f"no reading: {shown!r} is a sentinel of 1.1.4"}
    assert one(ds, {"1.1.4": 12, "1.1.5": b"x"}).fields == {"value": 12.0, "description": "x"}


@pytest.mark.parametrize("raw", ["-1", "-32768", "2147483647", "n/a"])
def test_every_absent_sentinel_of_a_netconf_path_is_honoured(raw: str) -> None:
    ds = compiled(
        "health",
        "tables:\n  t:\n    rows: x\n    key: k\n    index_tag: component_index\n    fields:\n"
        "      memory_total_octets: {path: m, type: int, absent: [-1, -32768, 2147483647]}\n"
        "      description: {path: d, absent: ['n/a', '']}\n",
    )
    mem, descr = ds.columns
    [got] = ds.build({mem: {"a": raw}, descr: {"a": raw}}, {})
    if raw == "n/a":
        assert got.fields == {} and set(got.absent) == {"description"}
    else:
        assert got.fields == {"description": raw} and set(got.absent) == {"memory_total_octets"}


def test_a_sentinel_is_compared_as_sent_and_as_converted() -> None:
    # an enum's raw code, and a DisplayString number read as float
    ds = compiled(
        "interfaces",
        IFS + "      oper_status: {oid: 1.1.8, type: enum, enum: if-status, absent: [4, 0]}\n"
        "      mtu_octets: {oid: 1.1.4, type: float, absent: [-1]}\n",
    )
    row = one(ds, {"1.1.8": 0, "1.1.4": b"-1"})
    assert row.fields == {} and set(row.absent) == {"oper_status", "mtu_octets"}
    assert one(ds, {"1.1.8": 4, "1.1.4": b"9"}).fields == {"mtu_octets": 9.0}


def test_a_field_computed_from_a_sentinel_says_why_it_has_no_value() -> None:
    ds = compiled(
        "sensors",
        "tables:\n  t:\n    index_tag: sensor_index\n    fields:\n"
        "      _uw: {oid: 1.1.8, absent: [-1]}\n"
        "      value: {expr: '10 * log10(_uw / 1000)', type: float}\n"
        "      high_warning: {first_of: [_uw]}\n"
        "      unit: {value: dbm}\n",
    )
    row = one(ds, {"1.1.8": -1})
    assert row.fields == {"unit": "dbm"}
    why = "no reading: -1 is a sentinel of 1.1.8"
    assert row.absent == {"value": why, "high_warning": why}


@pytest.mark.parametrize(
    ("dataset", "fields", "dropped"),
    [
        ("health", {"memory_used_octets": -1, "memory_total_octets": 8}, "memory_used_octets"),
        ("health", {"cpu_util_pct": 250.0, "memory_total_octets": 8}, "cpu_util_pct"),
        ("sensors", {"value": -327.68, "unit": "dbm"}, "value"),  # -32768 hundredths
        ("sensors", {"value": 30.0, "unit": "dbm"}, "value"),
        ("sensors", {"value": 0.000006, "unit": "amperes"}, "value"),  # uA read as A
        ("sensors", {"value": 400.0, "unit": "celsius"}, "value"),
        ("sensors", {"value": 3.0, "unit": "dbm", "high_critical": 99.0}, "high_critical"),
    ],
)
def test_a_physically_impossible_value_is_left_out_with_why(
    dataset: str, fields: dict[str, Any], dropped: str
) -> None:
    [row] = compiled(dataset, constants(fields)).build({}, {})
    assert dropped not in row.fields
    assert row.absent[dropped].startswith("implausible: ")
    assert set(row.fields) == set(fields) - {dropped}
    rec = record(dataset, row)
    assert rec.absent == row.absent and not rec.partial


@pytest.mark.parametrize(
    ("dataset", "fields"),
    [
        ("health", {"memory_used_octets": 0, "cpu_util_pct": 100.0}),
        ("sensors", {"value": -40.0, "unit": "dbm", "low_critical": -30.0}),
        ("sensors", {"value": 0.0065, "unit": "amperes"}),  # a 6.5 mA laser bias
        ("sensors", {"value": 0.0, "unit": "amperes"}),
        ("sensors", {"value": 0.0001, "unit": "amperes"}),  # the least reading: 0.1 mA
        ("sensors", {"value": 0.006, "unit": "amperes", "low_critical": 0.00005}),  # a setting
        ("sensors", {"value": -48.5, "unit": "volts"}),
        ("sensors", {"value": 12000.0, "unit": "other"}),
    ],
)
def test_plausible_values_are_published(dataset: str, fields: dict[str, Any]) -> None:
    [row] = compiled(dataset, constants(fields)).build({}, {})
    assert row.fields == fields and row.absent == {}


def test_absent_travels_in_the_record_and_does_not_change_its_id() -> None:
    row = Row({"if_index": "1"}, {"if_descr": "x"}, [], {"mtu_octets": "no reading: -1"})
    rec = record("interfaces", row)
    back = msgspec.json.decode(msgspec.json.encode(rec), type=Record)
    assert back.absent == {"mtu_octets": "no reading: -1"}
    assert record_id(rec) == record_id(msgspec.structs.replace(rec, absent={}))
    old = msgspec.json.encode(msgspec.structs.replace(rec, absent={})).replace(b'"absent":{},', b"")
    assert msgspec.json.decode(old, type=Record).absent == {}  # a payload without it still reads


def test_a_number_inside_a_display_string_is_read_by_regex_and_a_miss_says_why() -> None:
    # FOUNDRY-SN-SWITCH-GROUP-MIB optics: "xxx.yyyy dBm" followed by the alarm state
    ds = compiled(
        "sensors",
        "tables:\n  t:\n    index_tag: sensor_index\n    fields:\n"
        "      value: {oid: 1.1.2, type: float, regex: '^\\s*(-?[0-9.]+) dBm'}\n"
        "      description: {oid: 1.1.2, type: text, regex: ':\\s*(\\S+)'}\n",
    )
    row = one(ds, {"1.1.2": b"-002.7140 dBm: Normal"})
    assert row.fields == {"value": -2.714, "description": "Normal"}
    row = one(ds, {"1.1.2": b"N/A"})
    assert row.fields == {}
    assert row.absent["value"] == "no reading: 'N/A' does not match '^\\\\s*(-?[0-9.]+) dBm'"


def test_a_regex_on_an_oid_needs_a_type_that_reads_text() -> None:
    with pytest.raises(ValueError, match="type float or text"):
        compiled("sensors", "tables:\n  t:\n    fields:\n      v: {oid: 1.1.2, regex: '(\\d+)'}\n")
