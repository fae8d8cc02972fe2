"""``system`` against the raw recordings and LibreNMS's ``os`` module.

The SNMPv2-MIB values are compared with what the device said (the recording).
Vendor and OS name are the profile's (``IDENTITY``).  Version, hardware and
serial are compared with LibreNMS's ``version`` / ``hardware`` / ``serial``,
which LibreNMS takes from different places per OS: its ``hardware`` is our
``model`` or our ``hardware``.  Generic rules (LibreNMS's, not per recording):

- LibreNMS composes versions from several parts (IOS-XE ``"<image> <version>"``,
  Huawei VRP ``"<VRP version> (<release>) [<patch state>]"`` from sysDescr and
  HUAWEI-SYS-MAN-MIB): ours must be one whole part of LibreNMS's string.
- Junos ``hardware`` without jnxBoxDescr: LibreNMS prints ``"Juniper "`` + the
  sysDescr model upper-cased; we publish the model as the device wrote it.
- Linux ``hardware``: LibreNMS shows its own label for the machine type
  (``LINUX_MACHINES``); we publish the machine field of sysDescr.
- Every identity value LibreNMS does not vouch for (no ``os`` result, or a
  field it does not show) must be text of the recording: nothing made up.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from collectors.driver import PollOutcome
from tests.conformance.conftest import covered, profile_for
from tests.conformance.snmprec import snmprec, text
from tests.conformance.tally import Tally
from tests.support.librenms import module_rows, recording_names

SYS = "1.3.6.1.2.1.1"
IDENTITY_FIELDS = ("os_version", "model", "hardware", "serial")

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
    "dnos": ("Dell", "OS9"),
    "dell-os10": ("Dell", "OS10"),
    "fortigate": ("Fortinet", "FortiOS"),
    "ciena-saos": ("Ciena", "SAOS"),
    "zxr10": ("ZTE", "ZXR10"),
    "ironware": ("Brocade", "IronWare"),
    "voss": ("Extreme", "VOSS"),
    "routeros": ("MikroTik", "RouterOS"),
    "edgeos": ("Ubiquiti", "EdgeOS"),
    "cumulus": ("Cumulus Networks", "Cumulus Linux"),
    "aos7": ("Alcatel-Lucent Enterprise", "AOS"),
    "linux": (None, "Linux"),
    "procurve": ("HPE", "ArubaOS-Switch"),
    "comware": ("HPE", "Comware"),
    "arubaos-cx": ("HPE", "ArubaOS-CX"),
    "panos": ("Palo Alto Networks", "PAN-OS"),
    "generic": (None, None),
}
# LibreNMS's labels for Linux machine types (uname -m)
LINUX_MACHINES = {"x86_64": "Generic x86 64-bit", "armv7l": "Generic ARMv7"}


def librenms_os(recording: str) -> dict[str, Any] | None:
    rows = module_rows(recording, "os", "devices", poller=False)
    return rows[0] if rows else None


def _one(collected: Any, recording: str) -> dict[str, Any]:
    got = _record(collected[recording]["system"])
    assert isinstance(got, dict), (recording, got)
    return got


def _record(out: PollOutcome) -> dict[str, Any] | str:
    """The one record's tags and fields, or what is wrong with the outcome."""
    if out.status != "ok":
        return f"status {out.status}: {out.error}"
    if len(out.records) != 1:
        return f"{len(out.records)} records"
    rec = out.records[0]
    return {**rec.tags, **rec.fields}


def in_recording(recording: str, value: str) -> bool:
    """``value`` is (part of) a text value of the recording."""
    return any(isinstance(v, bytes) and value.encode() in v for v in snmprec(recording).values())


def librenms_hardware(profile: str, got: dict[str, Any]) -> set[str]:
    """What LibreNMS would show as hardware for our record."""
    out = {v for v in (got.get("model"), got.get("hardware")) if v}
    if profile == "junos" and got.get("model"):
        out.add("Juniper " + got["model"].upper())
    if profile == "linux" and got.get("hardware") in LINUX_MACHINES:
        out.add(LINUX_MACHINES[got["hardware"]])
    return out


@pytest.mark.parametrize("recording", recording_names())
def test_snmpv2_mib_values_are_the_recordings(collected: Any, recording: str) -> None:
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
def test_snmpv2_mib_values_equal_librenms(collected: Any, recording: str) -> None:
    theirs = librenms_os(recording)
    if theirs is None:
        pytest.skip(f"LibreNMS has no os results for {recording}")
    got = _one(collected, recording)
    assert got["sys_descr"].replace('"', "").strip() == theirs["sysDescr"]
    assert "." + got["sys_object_id"] == theirs["sysObjectID"]
    for ours, col in (("sys_contact", "sysContact"), ("sys_location", "location")):
        assert got.get(ours) == theirs[col], (recording, ours)


def compare_system(out: PollOutcome, recording: str) -> Tally:
    """os, version, hardware and serial against LibreNMS's ``os`` result; every
    identity value LibreNMS does not vouch for must be text of the recording."""
    tally = Tally(recording, "system")
    got = _record(out)
    if isinstance(got, str):
        tally.missing("system", ["os", "version", "hardware", "serial"])
        tally.expect(False, "system", "record", got, "one record")
        return tally
    profile = profile_for(recording)
    vendor, os_name = IDENTITY[profile]
    ours_os = (got.get("vendor"), got.get("os_name"))
    theirs = librenms_os(recording)
    vouched: set[str] = set()
    if theirs is None:
        tally.expect(ours_os == (vendor, os_name), "system", "vendor, os_name", ours_os, profile)
        tally.skip("LibreNMS has no os result")
    else:
        # LibreNMS recognised the same OS (or one we have no profile for)
        same_os = theirs["os"] == profile or profile == "generic"
        tally.check(same_os and ours_os == (vendor, os_name), "system", "os", ours_os, theirs["os"])
        version = got.get("os_version")
        if theirs["version"] is None:
            tally.check(version is None, "system", "version", version, None)
        else:
            parts = {theirs["version"], *theirs["version"].split()}
            parts |= set(re.findall(r"\((\S+)\)", theirs["version"]))
            tally.check(version in parts, "system", "version", version, theirs["version"])
        hardware = librenms_hardware(profile, got)
        if theirs["hardware"]:
            ok = theirs["hardware"] in hardware
        else:
            ok = not hardware
        tally.check(ok, "system", "hardware", sorted(hardware), theirs["hardware"])
        serial = got.get("serial")
        tally.check(serial == theirs["serial"], "system", "serial", serial, theirs["serial"])
        vouched = {"os_version", "serial"}
        vouched |= {f for f in ("model", "hardware") if got.get(f) == theirs["hardware"]}
    for field in IDENTITY_FIELDS:
        value = got.get(field)
        if field not in vouched and value is not None:
            tally.expect(in_recording(recording, value), "system", field, value, "in the recording")
    return tally


@pytest.mark.parametrize("recording", recording_names())
def test_identity_equals_librenms(collected: Any, recording: str) -> None:
    compare_system(collected[recording]["system"], recording).assert_clean()
    covered("system", "vendor", "os_name", "os_version", "model", "serial", "hardware")
