"""Each recording is matched to its own profile (``generic`` for a vendor no
shipped profile is named after), and every record validates."""

from typing import Any

import pytest

from bus.datasets import validate
from bus.records import RecordError
from collectors.profiles import ProfileSet
from tests.conformance.conftest import DATASETS, covered, profile_for
from tests.support.librenms import recording_names


@pytest.mark.parametrize("recording", recording_names())
def test_recording_matches_its_profile_and_records_validate(collected: Any, recording: str) -> None:
    for ds in DATASETS:
        out = collected[recording][ds]
        for rec in out.records:
            assert rec.profile == profile_for(recording), (recording, ds, rec.profile)
            try:
                validate(rec)
            except RecordError as exc:  # a record the contract rejects: a failed check
                raise AssertionError(f"{recording} {ds}: {exc}") from None
    covered("system", "sys_name")


VENDORS = ("ios", "iosxe", "iosxr", "nxos", "junos", "arista_eos", "timos", "vrp", "linux")


def test_vendor_profiles_keep_their_bases_and_datasets() -> None:
    import yaml

    from collectors.profiles import SHIPPED

    profiles = ProfileSet().profiles
    for name in VENDORS:
        spec = yaml.safe_load((SHIPPED / f"{name}.yaml").read_text())
        assert spec["extends"][0] == "_standard", name
        assert {f"_{name}-health", f"_{name}-sensors"} <= set(spec["extends"]), name
        assert {"system", "interfaces", "inventory", "bgp"} <= set(profiles[name].datasets), name


@pytest.mark.parametrize(
    ("sys_object_id", "sys_descr", "profile"),
    [
        # Cisco shares sysObjectID prefixes across IOS, IOS-XE and IOS-XR: sysDescr decides
        (
            "1.3.6.1.4.1.9.1.1208",
            "Cisco IOS Software, C2960X Software (C2960X-UNIVERSALK9-M)",
            "ios",
        ),
        ("1.3.6.1.4.1.9.1.1", "Cisco Internetwork Operating System Software IOS (tm) C2600", "ios"),
        (
            "1.3.6.1.4.1.9.1.2494",
            "Cisco IOS Software [Amsterdam], Catalyst L3 Switch Software "
            "(CAT9K_IOSXE), Version 17.3.4",
            "iosxe",
        ),
        (
            "1.3.6.1.4.1.9.1.1116",
            "Cisco IOS Software, ASR1000 Software (PPC_LINUX_IOSD-ADV)",
            "iosxe",
        ),
        (
            "1.3.6.1.4.1.9.1.1018",
            "Cisco IOS XR Software (Cisco ASR9K Series),  Version 5.3.4",
            "iosxr",
        ),
        ("1.3.6.1.4.1.9.12.3.1.3.2193", "Cisco NX-OS(tm) Nexus9000 C93180YC-FX3", "nxos"),
        ("1.3.6.1.4.1.2636.1.1.1.2.90", "Juniper Networks, Inc. mx5-t internet router", "junos"),
        (
            "1.3.6.1.4.1.30065.1.3011.7050.1958.128",
            "Arista Networks EOS version 4.15.3F",
            "arista_eos",
        ),
        ("1.3.6.1.4.1.6527.1.3.17", "TiMOS-C-23.10.R3 cpm/hops64 Nokia 7750 SR", "timos"),
        ("1.3.6.1.4.1.2011.2.23.291", "Huawei Versatile Routing Platform Software", "vrp"),
        ("1.3.6.1.4.1.8072.3.2.10", "Linux host 4.18.0 #1 SMP x86_64", "linux"),
    ],
)
def test_match_by_sysobjectid_and_sysdescr(
    sys_object_id: str, sys_descr: str, profile: str
) -> None:
    got, matched = ProfileSet().match(sys_object_id, sys_descr)
    assert (got.name, matched) == (profile, True)


def test_unknown_device_falls_back_to_generic_and_says_so() -> None:
    got, matched = ProfileSet().match("1.3.6.1.4.1.99999.1", "Acme")
    assert (got.name, matched) == ("generic", False)
    assert {"system", "interfaces", "inventory", "bgp", "health", "sensors"} <= set(got.datasets)


@pytest.mark.parametrize(
    ("sys_object_id", "sys_descr"),
    [
        ("1.3.6.1.4.1.9.1.745", "Cisco Adaptive Security Appliance Version 9.8(4)"),
        ("1.3.6.1.4.1.9.1.1208", "C2960X switch, image c2960x-universalk9-mz.152-7.E4.bin"),
        ("1.3.6.1.4.1.9.1.2494", ""),
        ("1.3.6.1.4.1.9.1.2494", None),
    ],
)
def test_known_vendor_with_unexpected_sysdescr_gets_its_family_not_generic(
    sys_object_id: str, sys_descr: str | None
) -> None:
    """sysDescr only splits IOS / IOS-XE / IOS-XR, which share sysObjectIDs: a
    Cisco sysDescr none of them expects is read with the Cisco family base."""
    got, matched = ProfileSet().match(sys_object_id, sys_descr)
    assert (got.name, matched) == ("cisco", True)
    assert {"health", "sensors", "bgp"} <= set(got.datasets)
