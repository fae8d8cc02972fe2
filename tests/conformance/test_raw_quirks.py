"""The raw recordings, quirks included (OIDs that do not increase, early
end-of-MIB): the collector survives, publishes what it could read, and says
what it could not — never a silently different result."""

import pytest

from tests.support.librenms import recording_names


def _key(r):  # type: ignore[no-untyped-def]
    return tuple(sorted(r.tags.items()))


@pytest.mark.parametrize("recording", recording_names())
def test_raw_recording_gives_the_sanitized_result_or_says_what_is_missing(
    collected, collected_raw, recording: str
) -> None:  # type: ignore[no-untyped-def]
    for ds, clean in collected[recording].items():
        raw = collected_raw[recording][ds]
        assert raw.status == clean.status, (recording, ds, raw.error, clean.error)
        clean_recs = {_key(r): r.fields for r in clean.records}
        raw_recs = {_key(r): r.fields for r in raw.records}
        assert set(raw_recs) <= set(clean_recs), (recording, ds, "rows the clean walk lacks")
        if raw_recs == clean_recs:
            continue
        # different: every raw record must be marked partial and name the cause
        assert all(r.partial and r.missing for r in raw.records), (recording, ds)
        assert any(
            "not increasing" in m or "ended early" in m for r in raw.records for m in r.missing
        ), (recording, ds)


async def test_out_of_order_oids_end_the_column_with_a_problem(snmpsim, snmpsim_sanitized) -> None:  # type: ignore[no-untyped-def]
    """The Nokia recording's raw file has OIDs that do not increase (as real SR OS
    does): the walk keeps what it read and names the OID where it stopped."""
    from collectors.snmp.base import SnmpTarget
    from collectors.snmp.pysnmp_client import PysnmpClient

    col = "1.3.6.1.4.1.6527.3.1.2.14.4.8.1"
    client = PysnmpClient()
    try:
        got = {}
        for label, (host, port) in (("raw", snmpsim), ("clean", snmpsim_sanitized)):
            t = SnmpTarget("timos", host, port, "2c", "timos_7750-bgp", 3.0, 1, 10)
            got[label] = await client.walk(t, [col])
    finally:
        client.close()
    assert not got["clean"].problems
    assert "not increasing" in got["raw"].problems[col]
    raw_rows, clean_rows = got["raw"].columns[col], got["clean"].columns[col]
    assert 0 < len(raw_rows) < len(clean_rows)
    assert all(clean_rows[i] == v for i, v in raw_rows.items())
