"""``inventory`` (ENTITY-MIB entPhysicalTable) against LibreNMS ``entity-physical``.

Matched by entPhysicalIndex; both sides list the same entities (count
equality).  Compared: every column LibreNMS stores that the dataset has
(``entPhysicalVendorType`` is LibreNMS's name for an OID and ``ifIndex`` its
join with entAliasMappingTable: neither is in the dataset).

LibreNMS's display rules, not facts about the device:
- an empty string and a missing value both mean "no value" (LibreNMS stores
  either, we publish what the agent said), so both compare as None;
- ``entPhysicalIsFRU`` is the string ``true``/``false``;
- a missing ``entPhysicalContainedIn`` is stored as 0 and a missing
  ``entPhysicalParentRelPos`` as -1.

- an OCTET STRING with unprintable octets shows as LibreNMS's text of it
  (``octets_text``: the text before the first NUL, else a ``.`` per octet).

Generic rules where LibreNMS's list is not the recording's entPhysicalTable:
- a recording with no entPhysicalTable (Juniper MX, Nokia SR OS): LibreNMS
  builds its list from vendor MIBs (JUNIPER-MIB jnxContainersTable /
  jnxContentsTable, TIMETRA-CHASSIS-MIB) with values of its own making (classes
  guessed from type names, indices computed from the container tree), so there
  is nothing to compare: we publish no inventory for it;
- where LibreNMS has no ``entity-physical`` result at all (an absent module is
  "not compared"), every entity we publish is a row of the recording.

Huawei VRP: like LibreNMS, board descriptions and models come from
HUAWEI-ENTITY-EXTENT-MIB (hwEntityBomEnDesc, hwEntityBoardType) where the
ENTITY-MIB columns are empty.
"""

from __future__ import annotations

from typing import Any

import pytest

from collectors.driver import PollOutcome
from tests.conformance.conftest import covered
from tests.conformance.snmprec import column, snmprec
from tests.conformance.tally import ROW, Tally
from tests.support.librenms import PRINTABLE, module_rows, octets_text, recording_names

ENT = "1.3.6.1.2.1.47.1.1.1.1"
COLUMNS = {
    "description": "entPhysicalDescr",
    "entity_class": "entPhysicalClass",
    "name": "entPhysicalName",
    "hardware_rev": "entPhysicalHardwareRev",
    "firmware_rev": "entPhysicalFirmwareRev",
    "software_rev": "entPhysicalSoftwareRev",
    "serial": "entPhysicalSerialNum",
    "model": "entPhysicalModelName",
    "manufacturer": "entPhysicalMfgName",
    "alias": "entPhysicalAlias",
    "asset_id": "entPhysicalAssetID",
    "is_fru": "entPhysicalIsFRU",
    "contained_in": "entPhysicalContainedIn",
    "parent_rel_pos": "entPhysicalParentRelPos",
}
# entPhysicalTable column of each LibreNMS column
ENT_COLUMN = {
    "entPhysicalDescr": 2,
    "entPhysicalContainedIn": 4,
    "entPhysicalClass": 5,
    "entPhysicalParentRelPos": 6,
    "entPhysicalName": 7,
    "entPhysicalHardwareRev": 8,
    "entPhysicalFirmwareRev": 9,
    "entPhysicalSoftwareRev": 10,
    "entPhysicalSerialNum": 11,
    "entPhysicalMfgName": 12,
    "entPhysicalModelName": 13,
    "entPhysicalAlias": 14,
    "entPhysicalAssetID": 15,
    "entPhysicalIsFRU": 16,
}
# ENTITY-MIB PhysicalClass
PHYSICAL_CLASS = {
    1: "other",
    2: "unknown",
    3: "chassis",
    4: "backplane",
    5: "container",
    6: "powerSupply",
    7: "fan",
    8: "sensor",
    9: "module",
    10: "port",
    11: "stack",
    12: "cpu",
    13: "energyObject",
    14: "battery",
    15: "storageDrive",
}


def librenms_entities(recording: str) -> dict[int, dict[str, Any]] | None:
    rows = module_rows(recording, "entity-physical", "entPhysical")
    return {int(r["entPhysicalIndex"]): r for r in rows} if rows else None


def librenms_view(fields: dict[str, Any]) -> dict[str, Any]:
    """Our record in LibreNMS's terms."""
    view: dict[str, Any] = {}
    for ours, theirs in COLUMNS.items():
        v = fields.get(ours)
        if isinstance(v, bool):
            v = "true" if v else "false"
        view[theirs] = v
    if view["entPhysicalContainedIn"] is None:
        view["entPhysicalContainedIn"] = 0
    if view["entPhysicalParentRelPos"] is None:
        view["entPhysicalParentRelPos"] = -1
    return {k: (None if v == "" else v) for k, v in view.items()}


def _ours(collected: Any, recording: str) -> dict[int, dict[str, Any]]:
    got = _entities(collected[recording]["inventory"])
    assert isinstance(got, dict), (recording, got)
    return got


def _entities(out: PollOutcome) -> dict[int, dict[str, Any]] | str:
    """Our entities by index, or what is wrong with the outcome."""
    if out.status != "ok":
        return f"status {out.status}: {out.error}"
    got = {int(r.tags["entity_index"]): r.fields for r in out.records}
    return got if len(got) == len(out.records) else "two records for one entity"


def rows_in_recording(recording: str) -> set[int]:
    """entPhysicalIndex of every row the recording's entPhysicalTable has."""
    pre = ENT + "."
    return {int(o[len(pre) :].split(".")[1]) for o in snmprec(recording) if o.startswith(pre)}


def unprintable(recording: str, idx: int, col: str) -> bytes | None:
    """The recording's value of ``col`` at ``idx`` if it has unprintable octets."""
    raw = column(recording, f"{ENT}.{ENT_COLUMN[col]}").get(str(idx))
    return raw if isinstance(raw, bytes) and not set(raw) <= PRINTABLE else None


def compare_inventory(out: PollOutcome, recording: str) -> Tally:
    tally = Tally(recording, "inventory")
    got = _entities(out)
    if isinstance(got, str):
        tally.expect(False, "inventory", "records", got)
        got = {}
    theirs = librenms_entities(recording)
    in_recording = rows_in_recording(recording)
    if not in_recording:  # LibreNMS's list (if any) is built from vendor MIBs
        tally.skip("no entPhysicalTable in the recording")
        tally.expect(not got, "inventory", "no entities", len(got), 0)
        return tally
    if theirs is None:  # not compared; nothing made up
        tally.skip("LibreNMS has no entity-physical result")
        made_up = sorted(set(got) - in_recording)
        tally.expect(not made_up, "inventory", "entities of the recording", made_up)
        return tally
    for idx in set(got) - set(theirs):
        tally.check(False, idx, ROW, got[idx].get("name"), "not in LibreNMS")
    for idx, row in theirs.items():
        if idx not in got:
            tally.missing(idx, list(COLUMNS.values()), row)
            continue
        view = librenms_view(got[idx])
        for col in COLUMNS.values():
            want = None if row[col] == "" else row[col]
            raw = unprintable(recording, idx, col)
            if raw is not None:  # LibreNMS's text of it; ours is the value, NULs stripped
                text = raw.decode("utf-8", "replace").strip("\0")
                ok = want == (octets_text(raw) or None) and (view[col] or "") == text
                tally.check(ok, idx, col, view[col], want)
                continue
            if col == "entPhysicalClass" and type(view[col]) is int:
                want = int(want) if isinstance(want, str) and want.isdigit() else want
            tally.check(view[col] == want, idx, col, view[col], row[col])
    return tally


@pytest.mark.parametrize("recording", recording_names())
def test_inventory_equals_librenms_entity_physical(collected: Any, recording: str) -> None:
    compare_inventory(collected[recording]["inventory"], recording).assert_clean()
    covered("inventory", "entity_index", *COLUMNS)


@pytest.mark.parametrize("recording", recording_names())
def test_classes_are_entity_mib_names(collected: Any, recording: str) -> None:
    """entPhysicalClass by its ENTITY-MIB name; a number outside PhysicalClass
    (a device's fault) as the number itself (LibreNMS shows its text), as the
    record contract carries an enum's unknown code."""
    raw = column(recording, f"{ENT}.5")
    for r in collected[recording]["inventory"].records:
        if "entity_class" in r.fields:
            number = raw[r.tags["entity_index"]]
            assert isinstance(number, int)
            want = PHYSICAL_CLASS.get(number, number)
            assert r.fields["entity_class"] == want, (recording, r.tags, number)
    covered("inventory", "entity_class")
