"""``system`` against the raw recordings and LibreNMS's ``os`` module.

The SNMPv2-MIB values are compared with what the device said (the recording).
Vendor, OS, version, model, hardware and serial are compared with LibreNMS's
``version`` / ``hardware`` / ``serial``, which LibreNMS takes from different
places per OS: ``HARDWARE_IS`` says which of our fields holds its ``hardware``.

Written exceptions (LibreNMS derives these by non-SNMP means or its own rules):

- Huawei VRP ``version``: LibreNMS composes ``"<VRP version> (<release>)
  [<patch state>]"`` from sysDescr and HUAWEI-SYS-MAN-MIB; we publish the
  release (``V200R010C00SPC600``), which must appear in LibreNMS's string.
- Junos ``hardware`` without jnxBoxDescr (EX): LibreNMS prints ``"Juniper "`` +
  the sysDescr model upper-cased; we publish the model as the device wrote it.
- Linux ``hardware``: LibreNMS shows its own label for the machine type
  (``Generic x86 64-bit``); we publish the machine field of sysDescr
  (``x86_64``).
- Nokia SR OS: LibreNMS's results have no ``os`` module for this recording;
  only the recording is compared.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conformance.conftest import covered, profile_for
from tests.conformance.snmprec import snmprec, text
from tests.support.librenms import LIBRENMS, recording_names

SYS = "1.3.6.1.2.1.1"

# profile -> (vendor, os_name) published
IDENTITY = {
    "ios": ("Cisco", "IOS"),
    "iosxe": ("Cisco", "IOS-XE"),
    "iosxr": ("Cisco", "IOS-XR"),
    "nxos": ("Cisco", "NX-OS"),
    "junos": ("Juniper", "Junos"),
    "arista_eos": ("Arista", "EOS"),
    "timos": ("Nokia", "SR OS"),
    "vrp": ("Huawei", "VRP"),
    "linux": (None, "Linux"),
}

# recording -> our field that holds what LibreNMS calls hardware
HARDWARE_IS = {
    "ios_2960x": "model",
    "iosxe_c9400": "model",
    "iosxr": "hardware",
    "nxos_n9k-c93180yc-fx3": "model",
    "junos_mx5t-isis": "hardware",
    "junos_ex": "model",
    "arista_eos": "model",
    "vrp_5720": "model",
    "linux_powermon": "hardware",
}

# What each recording yields beyond LibreNMS's three values (from the
# recording itself): the fields nothing else asserts.
EXPECTED_EXTRA = {
    "ios_2960x": {"hardware": "Catalyst C29xx Switch Stack"},
    "iosxe_c9400": {"hardware": "Cisco Catalyst 9400 Series 4 Slot Chassis"},
    "iosxr": {},
    "nxos_n9k-c93180yc-fx3": {"hardware": "Nexus9000 C93180YC-FX3"},
    "junos_mx5t-isis": {"model": "mx5-t"},
    "junos_ex": {},
    "arista_eos": {"hardware": "48x25GbE (SFP) & 6x100GbE (QSFP) Ethernet Switch"},
    "vrp_5720": {"hardware": "S5720"},
    "linux_powermon": {},
    "timos_7750-bgp": {"os_version": "23.10.R3", "model": "7750 SR"},
}


def librenms_os(recording: str) -> dict[str, Any] | None:
    data = json.loads((LIBRENMS / "json" / f"{recording}.json").read_text())
    module = data.get("os")
    if not module:
        return None
    rows: list[dict[str, Any]] = module["discovery"]["devices"]
    return rows[0]


def _one(collected: Any, recording: str) -> dict[str, Any]:
    out = collected[recording]["system"]
    assert out.status == "ok", out.error
    assert len(out.records) == 1, (recording, len(out.records))
    rec = out.records[0]
    return {**rec.tags, **rec.fields}


@pytest.mark.parametrize("recording", recording_names())
def test_snmpv2_mib_values_are_the_recordings(collected, recording: str) -> None:  # type: ignore[no-untyped-def]
    got = _one(collected, recording)
    raw = snmprec(recording)
    for field, oid in (
        ("sys_descr", f"{SYS}.1.0"),
        ("sys_contact", f"{SYS}.4.0"),
        ("sys_name", f"{SYS}.5.0"),
        ("sys_location", f"{SYS}.6.0"),
    ):
        want = text(recording, oid)
        assert got.get(field) == (None if want is None else want.rstrip("\x00")), (recording, field)
    assert got.get("sys_object_id") == raw.get(f"{SYS}.2.0")
    assert got.get("uptime_ticks") == raw.get(f"{SYS}.3.0")  # absent in two recordings
    assert isinstance(got["sys_descr"], str) and isinstance(got["sys_object_id"], str)
    covered("system", "sys_descr", "sys_object_id", "sys_contact", "sys_name", "sys_location")
    covered("system", "uptime_ticks")


@pytest.mark.parametrize("recording", recording_names())
def test_snmpv2_mib_values_equal_librenms(collected, recording: str) -> None:  # type: ignore[no-untyped-def]
    theirs = librenms_os(recording)
    if theirs is None:
        pytest.skip(f"LibreNMS has no os results for {recording}")
    got = _one(collected, recording)
    assert got["sys_descr"].replace('"', "").strip() == theirs["sysDescr"]
    assert "." + got["sys_object_id"] == theirs["sysObjectID"]
    for ours, col in (("sys_contact", "sysContact"), ("sys_location", "location")):
        assert got.get(ours) == theirs[col], (recording, ours)


@pytest.mark.parametrize("recording", recording_names())
def test_identity_equals_librenms(collected, recording: str) -> None:  # type: ignore[no-untyped-def]
    got = _one(collected, recording)
    profile = profile_for(recording)
    vendor, os_name = IDENTITY[profile]
    assert got.get("vendor") == vendor and got.get("os_name") == os_name
    for field, want in EXPECTED_EXTRA[recording].items():
        assert got.get(field) == want, (recording, field, got.get(field))
    theirs = librenms_os(recording)
    if theirs is None:  # Nokia: nothing to compare with beyond the recording
        assert recording.startswith("timos"), recording
        assert got.get("serial") is None and got.get("hardware") is None
        covered("system", "vendor", "os_name", "os_version", "model", "serial", "hardware")
        return
    assert theirs["os"] == profile  # LibreNMS recognised the same OS
    if profile == "vrp":
        assert got["os_version"] in theirs["version"], (got["os_version"], theirs["version"])
    else:
        assert got.get("os_version") == theirs["version"], (recording, got.get("os_version"))
    hardware = got.get(HARDWARE_IS[recording])
    if recording == "junos_ex":
        assert hardware is not None and "Juniper " + hardware.upper() == theirs["hardware"]
    elif recording == "linux_powermon":
        assert (hardware, theirs["hardware"]) == ("x86_64", "Generic x86 64-bit")
    else:
        assert hardware == theirs["hardware"], (recording, hardware, theirs["hardware"])
    assert got.get("serial") == theirs["serial"], (recording, got.get("serial"))
    covered("system", "vendor", "os_name", "os_version", "model", "serial", "hardware")
