import json
from typing import Any

import jsonschema
import msgspec
import pytest

from bus.datasets import DATASETS, validate
from bus.records import (
    CycleComplete,
    Provenance,
    Quarantined,
    Record,
    RecordError,
    decode,
    encode,
    record_id,
)
from bus.schema import PUBLISHED, message_schema, render


def _record(**over: object) -> Record:
    base: dict[str, object] = dict(
        network="lab-east",
        device="core-1",
        profile="generic",
        dataset="interfaces",
        cycle_id="lab-east:interfaces:1000",
        scheduled_unix_ms=1000,
        request_unix_ms=1001,
        response_unix_ms=1002,
        device_uptime_ms=5000,
        provenance=Provenance(
            protocol="snmpv2c", collector_version="0.1.0", sources=["1.3.6.1.2.1.2.2.1"]
        ),
        tags={"if_index": "3", "if_name": "Gi0/3", "site": "east"},
        fields={
            "if_descr": "GigabitEthernet0/3",
            "oper_status": "up",
            "in_octets": 2**63 + 5,
            "counter_bits": 64,
            "speed_bps": 10**9,
        },
    )
    base.update(over)
    return Record(**base)  # type: ignore[arg-type]


def _marker() -> CycleComplete:
    return CycleComplete(
        network="lab-east",
        dataset="interfaces",
        cycle_id="lab-east:interfaces:1000",
        scheduled_unix_ms=1000,
        started_unix_ms=1001,
        finished_unix_ms=1500,
        duration_ms=499,
        devices_planned=3,
        devices_ok=2,
        devices_failed=1,
        devices_timed_out=0,
        records=10,
        failures={"x": "failed: garbage"},
    )


def test_round_trip_keeps_every_field_and_big_counters() -> None:
    rec = _record()
    back = decode(encode(rec))
    assert back == rec
    assert isinstance(back, Record) and back.fields["in_octets"] == 2**63 + 5


def test_encoding_is_stable() -> None:
    assert encode(_record()) == encode(decode(encode(_record())))
    assert encode(_marker()) == encode(_marker())


def test_marker_decodes_as_marker() -> None:
    m = decode(encode(_marker()))
    assert isinstance(m, CycleComplete) and m.devices_failed == 1


@pytest.mark.parametrize(
    "payload, words",
    [
        (b"not json", "not a netfeed message"),
        (b'{"kind": "other"}', "not a netfeed message"),
        (b'{"kind": "record", "network": 3}', "not a netfeed message"),
    ],
)
def test_bad_payloads_name_where(payload: bytes, words: str) -> None:
    with pytest.raises(RecordError, match=words) as err:
        decode(payload, where="netfeed.x.interfaces[2]@17")
    assert "netfeed.x.interfaces[2]@17" in str(err.value)


def test_newer_schema_version_is_refused() -> None:
    data = json.loads(encode(_record()))
    data["schema_version"] = 99
    with pytest.raises(RecordError, match="newer"):
        decode(json.dumps(data).encode())


def _meaning(schema: Any) -> Any:
    """``schema`` as JSON data with every description's whitespace collapsed: what the
    contract says (properties, types, required, enums, descriptions' words), not how a
    Python or msgspec version indented the docstrings the descriptions come from."""
    if isinstance(schema, dict):
        return {
            k: " ".join(v.split()) if k == "description" and isinstance(v, str) else _meaning(v)
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_meaning(v) for v in schema]
    return schema


def _models_meaning() -> Any:
    return _meaning(json.loads(render()))


def test_published_schema_matches_models() -> None:
    published = _meaning(json.loads(PUBLISHED.read_text()))
    assert published == _models_meaning(), "the models changed: run python -m bus.schema"


def _set_interface_field(schema: Any, name: str, spec: Any) -> None:
    schema["$defs"]["InterfaceFields"]["properties"][name] = spec


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            lambda s: _set_interface_field(s, "brand_new", {"type": "integer"}), id="new-field"
        ),
        pytest.param(
            lambda s: s["$defs"]["InterfaceFields"]["properties"].pop("in_octets"),
            id="dropped-field",
        ),
        pytest.param(
            lambda s: _set_interface_field(
                s, "in_octets", {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
            ),
            id="type",
        ),
        pytest.param(lambda s: s["$defs"]["InterfaceTags"]["required"].pop(), id="required"),
        pytest.param(
            lambda s: s["$defs"]["InterfaceFields"]["properties"]["counter_bits"]["anyOf"][0][
                "enum"
            ].append(128),
            id="enum",
        ),
        pytest.param(
            lambda s: s["$defs"]["Record"]["properties"]["dataset"].update(type="integer"),
            id="record-type",
        ),
    ],
)
def test_schema_comparison_sees_changes_of_meaning(change: Any) -> None:
    """Guards the guard: whitespace in descriptions is ignored, nothing else is."""
    reindented = json.loads(render())
    d = reindented["$defs"]["InterfaceFields"]
    d["description"] = "\n    ".join(d["description"].split("\n"))
    assert _meaning(reindented) == _models_meaning()
    changed = json.loads(render())
    change(changed)
    assert _meaning(changed) != _models_meaning()


def test_schema_comparison_sees_a_field_added_to_a_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model that grows a field (same name, same docstring) fails the published check."""
    model = DATASETS["interfaces"]
    grown = msgspec.defstruct(
        model.fields.__name__,
        [("brand_new_pkts", int | None, None)],
        bases=(model.fields,),
        namespace={"__doc__": model.fields.__doc__},
    )
    monkeypatch.setitem(DATASETS, "interfaces", msgspec.structs.replace(model, fields=grown))
    assert "brand_new_pkts" in _models_meaning()["$defs"]["InterfaceFields"]["properties"]
    with pytest.raises(AssertionError, match=r"run python -m bus\.schema"):
        test_published_schema_matches_models()


def test_schema_accepts_records_and_markers_and_rejects_wrong_types() -> None:
    schema = message_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    v = jsonschema.Draft202012Validator(schema)
    v.validate(json.loads(encode(_record())))
    v.validate(json.loads(encode(_marker())))
    bad = json.loads(encode(_record()))
    bad["fields"]["in_octets"] = "lots"
    assert not v.is_valid(bad)
    bad2 = json.loads(encode(_record()))
    del bad2["tags"]["if_index"]
    assert not v.is_valid(bad2)


def test_dataset_validation() -> None:
    validate(_record())
    with pytest.raises(RecordError, match="in_octets"):
        validate(_record(fields={"in_octets": "x"}))
    with pytest.raises(RecordError, match="unknown"):
        validate(_record(fields={"bogus_field": 1}))
    with pytest.raises(RecordError, match="unknown dataset"):
        validate(_record(dataset="nope"))


def test_quarantine_topic_is_read_only_when_named() -> None:
    import re

    from bus.topics import quarantine_topic, subscription_pattern

    q = quarantine_topic("netfeed", "lab")
    assert q == "netfeed.lab.quarantine"
    assert not re.match(subscription_pattern("netfeed", ["*"], ["*"]), q)
    assert re.match(subscription_pattern("netfeed", ["*"], ["*"]), "netfeed.lab.interfaces")
    assert re.match(subscription_pattern("netfeed", ["lab"], ["quarantine"]), q)


def test_quarantined_message_round_trips() -> None:
    from bus.records import Quarantined

    rec = Record(
        network="n", device="d", profile="p", dataset="interfaces", cycle_id="n:interfaces:0",
        scheduled_unix_ms=0, request_unix_ms=1, response_unix_ms=2,
        provenance=Provenance(protocol="snmpv2c", collector_version="0"),
        tags={"if_index": "1"}, fields={"in_octets": -5},
    )  # fmt: skip
    q = Quarantined(
        network="n", device="d", dataset="interfaces", cycle_id=rec.cycle_id,
        rule="negative", reason="in_octets -5 < 0", record=rec,
    )  # fmt: skip
    back = decode(encode(q))
    assert back == q
    jsonschema.validate(json.loads(encode(q)), message_schema())


def test_record_id_is_pinned() -> None:
    """The ids consumers deduplicate by never change between versions: a
    message re-sent by a newer collector (a spool drained after an upgrade)
    must keep its id.  Values computed by the first implementation."""
    assert record_id(_record()) == "f19429c244610ea31959336ab24c1e79"
    assert record_id(_record(tags={})) == "55874908ee215c338aa42d4987cfd65c"
    # values do not enter the id; tags do, in sorted order
    one = _record(tags={"if_index": "3"}, fields={"x": 1})
    assert record_id(one) == "2c686540a80c469eeaf5d316097fd7a2"
    swapped = _record(tags={"site": "east", "if_name": "Gi0/3", "if_index": "3"})
    assert record_id(swapped) == record_id(_record())
    marker = msgspec.structs.replace(_marker(), partition=2)
    assert record_id(marker) == "9679b1af10c0c2558d47be940078873a"
    q = Quarantined(
        network="lab-east",
        device="core-1",
        dataset="interfaces",
        cycle_id="lab-east:interfaces:1000",
        rule="negative",
        reason="x",
        record=_record(),
    )
    assert record_id(q) == "56f2c048e85719f9c6acd908db36457b"
