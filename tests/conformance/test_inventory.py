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

Written exception: Juniper MX (``junos_mx5t-isis``) has no ENTITY-MIB in the
recording; LibreNMS builds its list from JUNIPER-MIB's jnxContainersTable and
jnxContentsTable with values of its own making (classes guessed from type
names, indices computed from the container tree), so there is nothing to
compare: we publish no inventory for it.

Huawei VRP: like LibreNMS, board descriptions and models come from
HUAWEI-ENTITY-EXTENT-MIB (hwEntityBomEnDesc, hwEntityBoardType) where the
ENTITY-MIB columns are empty.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conformance.conftest import covered
from tests.conformance.snmprec import column
from tests.support.librenms import LIBRENMS, recording_names

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
NOT_FROM_ENTITY_MIB = {"junos_mx5t-isis"}


def librenms_entities(recording: str) -> dict[int, dict[str, Any]] | None:
    data = json.loads((LIBRENMS / "json" / f"{recording}.json").read_text())
    module = data.get("entity-physical")
    if not module:
        return None
    poller = module.get("poller")
    rows = (poller if isinstance(poller, dict) else module["discovery"])["entPhysical"]
    return {int(r["entPhysicalIndex"]): r for r in rows}


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
    out = collected[recording]["inventory"]
    assert out.status == "ok", out.error
    got = {int(r.tags["entity_index"]): r.fields for r in out.records}
    assert len(got) == len(out.records), "one record per entity"
    return got


@pytest.mark.parametrize("recording", recording_names())
def test_inventory_equals_librenms_entity_physical(collected, recording: str) -> None:  # type: ignore[no-untyped-def]
    ours = _ours(collected, recording)
    theirs = librenms_entities(recording)
    rows_in_recording = set(column(recording, f"{ENT}.2")) | set(column(recording, f"{ENT}.7"))
    if theirs is None or recording in NOT_FROM_ENTITY_MIB:
        assert not rows_in_recording and not ours, recording
        return
    assert set(ours) == set(theirs), (recording, len(ours), len(theirs))
    for idx, row in theirs.items():
        view = librenms_view(ours[idx])
        for col in COLUMNS.values():
            want = None if row[col] == "" else row[col]
            assert view[col] == want, (recording, idx, col, view[col], want)
    covered("inventory", "entity_index", *COLUMNS)


def test_classes_are_entity_mib_names(collected) -> None:  # type: ignore[no-untyped-def]
    seen = set()
    for name in recording_names():
        for r in collected[name]["inventory"].records:
            if "entity_class" in r.fields:
                seen.add(r.fields["entity_class"])
    assert seen >= {"chassis", "module", "port", "powerSupply", "fan", "sensor", "container"}
    assert not {c for c in seen if c.isdigit()}, seen
    covered("inventory", "entity_class")
