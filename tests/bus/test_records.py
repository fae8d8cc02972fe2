import json

import jsonschema
import pytest

from bus.datasets import validate
from bus.records import CycleComplete, Provenance, Record, RecordError, decode, encode
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


def test_published_schema_matches_models() -> None:
    assert PUBLISHED.read_text() == render(), "run python -m bus.schema"


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
