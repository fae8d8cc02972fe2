"""``interfaces`` against LibreNMS ``ports`` (exact, after LibreNMS's display rules)."""

import pytest

from tests.conformance.conftest import covered
from tests.support.librenms import (
    COUNTERS,
    PLAIN,
    compared_columns,
    expected_ports,
    ignored_by_librenms,
    librenms_view,
    recording_names,
)

# (recording, ifIndex, column): not in the recording; LibreNMS shows its anonymiser's text.
NOT_IN_RECORDING = {("timos_7750-bgp", 7, "ifName"), ("timos_7750-bgp", 7, "ifDescr")}


@pytest.mark.parametrize("recording", recording_names())
def test_interfaces_equal_librenms_ports(collected, recording: str) -> None:  # type: ignore[no-untyped-def]
    out = collected[recording]["interfaces"]
    assert out.status == "ok", out.error
    ours = {int(r.tags["if_index"]): r for r in out.records}
    theirs = expected_ports(recording)
    for idx, row in theirs.items():
        if idx not in ours:
            assert recording.startswith("timos"), (recording, idx)  # Nokia adds non-ifTable ports
            continue
        view = librenms_view(ours[idx].tags, ours[idx].fields)
        for col in compared_columns():
            if (recording, idx, col) in NOT_IN_RECORDING:
                continue
            assert view[col] == row.get(col), (recording, idx, col, view[col], row.get(col))
    for idx in set(ours) - set(theirs):
        assert ignored_by_librenms(librenms_view(ours[idx].tags, ours[idx].fields))
    covered("interfaces", "if_index", "if_name", "if_alias", *PLAIN, *COUNTERS)


def test_counter_bits_follow_the_hc_columns(collected) -> None:  # type: ignore[no-untyped-def]
    seen = set()
    for name in recording_names():
        for r in collected[name]["interfaces"].records:
            bits = r.fields.get("counter_bits")
            if r.fields.get("in_octets") is not None:
                seen.add(bits)
                assert bits in (32, 64)
    assert seen == {32, 64}
    covered("interfaces", "counter_bits")
