"""``interfaces`` against LibreNMS ``ports`` (exact, after LibreNMS's display rules).

The rules (``tests/support/librenms.py``) are LibreNMS's, not per recording:
its display rules for strings and absent values, its ``is_port_valid`` for
the interfaces it drops, and what it read differently from us because it
read the raw recording:

- LibreNMS polled the *raw* file.  Where a walk of the raw file ends a column
  early (netfeed marks those records partial and names the column), LibreNMS
  has no value there either: such a column compares with our raw collection.
- A 64-bit counter of 0 next to a non-zero 32-bit one: LibreNMS shows the
  32-bit value (it takes ifHC* only when non-zero).
- An OCTET STRING with octets that are not printable: LibreNMS shows its text
  of the recording's value (``octets_text``: before the first NUL, else a ``.``
  per octet); we publish the string without its NUL padding.
- LibreNMS adds ports that are not in ifTable (Nokia VPRN and management
  ports); and where the recording has neither ifDescr nor ifName for a row,
  LibreNMS's names come from outside the recording (its anonymiser).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bus.records import Record
from collectors.driver import PollOutcome
from tests.conformance.conftest import covered
from tests.conformance.snmprec import column, snmprec
from tests.conformance.tally import ROW, Tally
from tests.support.librenms import (
    COUNTER32_OID,
    COUNTERS,
    PLAIN,
    PRINTABLE,
    STRING_OIDS,
    compared_columns,
    display,
    dropped_by_librenms,
    expected_ports,
    librenms_os,
    librenms_view,
    octets_text,
    recording_names,
    same,
)

IF_TABLE = "1.3.6.1.2.1.2.2.1"
IFX_TABLE = "1.3.6.1.2.1.31.1.1.1"


def iftable_rows(recording: str) -> set[int]:
    """ifIndex of every row of the recording's ifTable (a record is one such row)."""
    pre = IF_TABLE + "."
    return {int(o[len(pre) :].split(".")[1]) for o in snmprec(recording) if o.startswith(pre)}


STRING_FIELDS = {"ifDescr": "if_descr", "ifName": "if_name", "ifAlias": "if_alias"}


def explained(recording: str, rec: Record, col: str, ours: Any, want: Any) -> bool:
    """A column that differs for one of the reasons in the module docstring."""
    idx = int(rec.tags["if_index"])
    if col in STRING_OIDS:
        raw = snmprec(recording).get(f"{STRING_OIDS[col]}.{idx}")
        if isinstance(raw, bytes) and not set(raw) <= PRINTABLE:
            mine = {**rec.tags, **rec.fields}.get(STRING_FIELDS[col])
            text = raw.decode("utf-8", "replace").strip("\0")
            return want == display(octets_text(raw)) and (mine or "") == text
    field = next((f for f, c in COUNTERS.items() if c == col), None)
    if field in COUNTER32_OID and ours == 0 and want:
        return column(recording, COUNTER32_OID[field]).get(str(idx)) == want
    return False


def compare_interfaces(
    out: PollOutcome, recording: str, raw_partial: Callable[[], list[Record]]
) -> Tally:
    """Every column of every port LibreNMS lists against our record; ``raw_partial``
    gives the partial records of a collection of the raw recording (called
    only where a column differs)."""
    tally = Tally(recording, "interfaces")
    if not tally.expect(out.status == "ok", "(poll)", "status", out.error, "ok"):
        return tally
    os_name = librenms_os(recording)
    ours = {int(r.tags["if_index"]): r for r in out.records}
    theirs = expected_ports(recording)
    in_recording = iftable_rows(recording)
    raw_view: dict[int, dict[str, Any]] | None = None
    for idx, row in theirs.items():
        # every port LibreNMS lists passes our model of its is_port_valid
        why = dropped_by_librenms(row, os_name)
        tally.expect(why is None, idx, "is_port_valid", why, row["ifDescr"])
        if idx not in ours:
            if idx in in_recording:  # else: LibreNMS adds ports that are not in ifTable
                tally.missing(idx, compared_columns(), row)
            continue
        view = librenms_view(ours[idx].tags, ours[idx].fields, os_name)
        for col in compared_columns():
            want = row.get(col)
            if same(col, view[col], want) or explained(recording, ours[idx], col, view[col], want):
                tally.check(True, idx, col)
                continue
            if col in ("ifName", "ifDescr", "ifAlias") and not any(
                f"{STRING_OIDS[c]}.{idx}" in snmprec(recording) for c in ("ifDescr", "ifName")
            ):
                continue  # no name in the recording: LibreNMS's is its anonymiser's
            if raw_view is None:  # LibreNMS read the raw file: a column cut short there
                raw_view = {
                    int(r.tags["if_index"]): librenms_view(r.tags, r.fields, os_name)
                    for r in raw_partial()
                    if r.partial
                }
            cut = raw_view.get(idx)
            tally.check(cut is not None and same(col, cut[col], want), idx, col, view[col], want)
    for idx in set(ours) - set(theirs):
        view = librenms_view(ours[idx].tags, ours[idx].fields, os_name)
        dropped = dropped_by_librenms(view, os_name)
        tally.check(bool(dropped), idx, ROW, view["ifDescr"], "not dropped by LibreNMS")
    return tally


@pytest.mark.parametrize("recording", recording_names())
def test_interfaces_equal_librenms_ports(
    collected: Any, recording: str, request: pytest.FixtureRequest
) -> None:
    def raw_partial() -> list[Record]:
        return list(request.getfixturevalue("collected_raw")[recording]["interfaces"].records)

    compare_interfaces(collected[recording]["interfaces"], recording, raw_partial).assert_clean()
    covered("interfaces", "if_index", "if_name", "if_alias", *PLAIN, *COUNTERS)


@pytest.mark.parametrize("recording", recording_names())
def test_every_iftable_row_is_collected(collected: Any, recording: str) -> None:
    got = {int(r.tags["if_index"]) for r in collected[recording]["interfaces"].records}
    assert got == iftable_rows(recording), recording


def test_counter_bits_follow_the_hc_columns(collected: Any) -> None:
    seen = set()
    for name in recording_names():
        for r in collected[name]["interfaces"].records:
            bits = r.fields.get("counter_bits")
            if r.fields.get("in_octets") is not None:
                seen.add(bits)
                assert bits in (32, 64)
                hc = f"{IFX_TABLE}.6.{r.tags['if_index']}" in snmprec(name)
                assert bits == (64 if hc else 32), (name, r.tags)
    assert seen <= {32, 64}
    covered("interfaces", "counter_bits")
