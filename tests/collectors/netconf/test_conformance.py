"""Every real NETCONF reply in ../shared/recordings/netconf through the profile
of its family/model: records validate against the contract, are never partial,
and agree with NAPALM's result for the same reply (where the folder has one)
and with a generic reader of the XML (every interface and peer in the reply
is a record; counters and identity are the text of a documented leaf)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from collectors.netconf.extract import build_records, load_netconf_profiles
from collectors.netconf.xml import hello_capabilities, parse_data
from tests.collectors.netconf.conformance import (
    check_reply,
    profile_for,
    profiles_for,
    recordings_dir,
    reply_files,
)

FOLDER = recordings_dir()
needs_folder = pytest.mark.skipif(
    not FOLDER.is_dir(),
    reason=f"NETCONF recordings not found at {FOLDER} (../shared/recordings/netconf; "
    "a fresh clone has none)",
)
REPLIES = reply_files(FOLDER) if FOLDER.is_dir() else []
CASES = [(p, n) for p in REPLIES for n in profiles_for(p)]
# payloads no profile reads (openconfig-system config, a netopeer2 <get>
# without ietf-interfaces): they must give no record, not junk
NOT_READ = re.compile(r"get-config-system|scrapligo-netopeer2")


@needs_folder
@pytest.mark.parametrize(("path", "profile"), CASES, ids=[f"{p.stem}-{n}" for p, n in CASES])
def test_reply_gives_records_agreeing_with_napalm_and_the_xml(path: Path, profile: str) -> None:
    out = check_reply(path, profile)
    assert not out.problems, "\n".join(out.problems)
    if NOT_READ.search(path.stem):
        assert not out.records
        return
    assert out.records, f"{path.name}: no records through profile {out.profile}"
    assert sum(out.compared.values()) > 0, f"{path.name}: nothing compared"
    if list(path.parent.glob(f"{path.stem}.napalm*.json")):
        assert out.compared.get("napalm", 0) > 0, f"{path.name}: oracle not used"


@needs_folder
def test_the_folder_is_covered() -> None:
    """Every family in the folder has replies that produce records."""
    assert len(REPLIES) >= 25
    families = {p.stem.split("_")[0] for p in REPLIES if not NOT_READ.search(p.stem)}
    for fam in families:
        assert any(check_reply(p).records for p in REPLIES if p.stem.startswith(fam + "_")), fam


@needs_folder
def test_profiles_match_real_hello_capabilities() -> None:
    profiles = load_netconf_profiles()
    xr = hello_capabilities((FOLDER / "iosxr_hello-capabilities_napalm-xrv9k.xml").read_bytes())
    hit = profiles.match_capabilities(xr)
    assert hit is not None and hit.name == "iosxr"
    xe = (FOLDER / "iosxe_hello-capabilities-list_ncc-csr1000v.txt").read_text().split()
    hit = profiles.match_capabilities(xe)
    assert hit is not None and hit.name == "iosxe"
    assert profiles.match_capabilities(["urn:ietf:params:netconf:base:1.1"]) is None
    only_ietf = ["urn:ietf:params:xml:ns:yang:ietf-interfaces?module=ietf-interfaces"]
    hit = profiles.match_capabilities(only_ietf)
    assert hit is not None and hit.name == "ietf"
    oc = [*only_ietf, "http://openconfig.net/yang/interfaces?module=openconfig-interfaces"]
    hit = profiles.match_capabilities(oc)
    assert hit is not None and hit.name == "openconfig"
    junos = ["http://xml.juniper.net/netconf/junos/1.0", *oc]
    hit = profiles.match_capabilities(junos)
    assert hit is not None and hit.name == "junos"


@needs_folder
@pytest.mark.parametrize(
    "name",
    [
        "iosxr_pfi-im-cmd-oper-interface-stats_napalm-asr9k.xml",
        "iosxe_interfaces-oper_ncc-csr1000v.xml",
        "sros_bgp-neighbors_napalm-sros.xml",
        "openconfig_bgp-state_pyez-junos.xml",
    ],
)
def test_same_records_with_and_without_namespaces(name: str) -> None:
    raw = (FOLDER / name).read_text()
    bare = re.sub(r'\sxmlns(:\w+)?="[^"]*"', "", raw)
    bare = re.sub(r"<(/?)\w+:", r"<\1", bare)  # prefixed names lose their prefix
    assert bare != raw or "xmlns" not in raw
    profile = load_netconf_profiles().profiles[profile_for(FOLDER / name)]
    for ds in profile.datasets:
        a, _ = build_records(profile, ds, parse_data(raw), network="n", device="d")
        b, _ = build_records(profile, ds, parse_data(bare), network="n", device="d")
        assert [(r.tags, r.fields) for r in a] == [(r.tags, r.fields) for r in b]
