"""``bgp`` against LibreNMS ``bgp-peers`` (``bgpPeers`` and ``bgpPeers_cbgp``).

Peers are matched by address (LibreNMS's ``bgpPeerIdentifier`` is the peer's
address, IPv6 written out in full); both sides list the same peers.  Every
vendor table merges into BGP4-MIB's rows, so a peer is one record even where
the device lists it in two MIBs (IOS-XR, Nokia).

How LibreNMS stores values (its rules, not facts about the device):
- a counter or prefix count the device did not give is stored as 0;
- admin status is BGP4-MIB's ``start``/``stop``, or the BGP4-V2 MIBs'
  ``running``/``halted`` (we publish ``start``/``stop`` for both);
- ``bgpPeers_cbgp`` has one row per address family; we publish the sum over
  families, so the rows are summed per peer before comparing;
- ``AdvertisedPrefixes`` is CISCO-BGP4-MIB advertised minus withdrawn
  (both running totals), as ours.
``astext`` is LibreNMS's own AS-name lookup; ``bgpPeerIface`` its join with
the IP-address table; ``bgpPeerRemoteAddr`` is always 0.0.0.0; last-error
fields are not in the dataset: none is compared.

Written exceptions:
- Nokia (``timos_7750-bgp``): LibreNMS stores tBgpPeerNgOperLastEvent (e.g.
  ``receiveOpen``) as the admin status; we publish tBgpPeerNgShutdown as
  start/stop.  Its "total messages" are octet counts (tBgpPeerNgOperMsgOctets*,
  so LibreNMS notes); we publish no message counts for Nokia.  Its local
  address is not read (0.0.0.0); we publish tBgpPeerNgLocalAddress.  Its
  established times and description are not in the recording.
  Two peers of one VPRN have a per-peer local AS (tBgpPeerNgLocalAS4Byte
  12345 in a VPRN of AS 54321): LibreNMS shows the VPRN's AS, we the peer's;
  Nokia's local AS is compared with the recording.
- IOS-XR (``iosxr``): cbgpPeer2AddrFamilyPrefixTable carries only the accepted
  count for IPv4 peers; LibreNMS then reports 0 advertised, we take advertised
  minus withdrawn from the older cbgpPeerAddrFamilyPrefixTable, which the
  device does fill.  LibreNMS lists no address families (so no counts) for
  its IPv6 peers, which cbgpPeer2AddrFamilyPrefixTable has.  Both are
  compared with the recording instead.
"""

from __future__ import annotations

import ipaddress
import json
from collections import defaultdict
from typing import Any

import pytest

from tests.conformance.conftest import covered, profile_for
from tests.conformance.snmprec import column, snmprec
from tests.support.librenms import LIBRENMS, recording_names

ADMIN = {"start": "start", "stop": "stop", "running": "start", "halted": "stop"}
PLAIN = {
    "remote_as": "bgpPeerRemoteAs",
    "state": "bgpPeerState",
    "description": "bgpPeerDescr",
}
COUNTERS = {
    "in_updates": "bgpPeerInUpdates",
    "out_updates": "bgpPeerOutUpdates",
    "in_total_messages": "bgpPeerInTotalMessages",
    "out_total_messages": "bgpPeerOutTotalMessages",
    "established_time_s": "bgpPeerFsmEstablishedTime",
}
NOKIA = "timos_7750-bgp"
NOKIA_NOT_COMPARED = {
    "admin_status",
    "local_address",
    "in_total_messages",
    "out_total_messages",
    "established_time_s",
    "description",
}
# the default instance BGP4-MIB rows are given, per profile with instances
DEFAULT_INSTANCE = {"junos": "0", "arista_eos": "1", "timos": "1"}
# each peer table's state column (source_oid = <column>.<row index>)
STATE_COLUMNS = (
    "1.3.6.1.2.1.15.3.1.2",
    "1.3.6.1.4.1.9.9.187.1.2.5.1.3",
    "1.3.6.1.4.1.2636.5.1.1.2.1.1.1.2",
    "1.3.6.1.4.1.30065.4.1.1.2.1.13",
    "1.3.6.1.4.1.6527.3.1.2.14.4.7.1.59",
)


def split_source(src: str) -> tuple[str, str]:
    """``source_oid`` as (state column, row index)."""
    col = next(c for c in STATE_COLUMNS if src.startswith(c + "."))
    return col, src[len(col) + 1 :]


def ip(addr: str) -> str:
    return str(ipaddress.ip_address(addr))


def librenms_bgp(recording: str) -> dict[str, list[dict[str, Any]]] | None:
    data = json.loads((LIBRENMS / "json" / f"{recording}.json").read_text())
    module = data.get("bgp-peers")
    if not module:
        return None
    poller = module.get("poller")
    return poller if isinstance(poller, dict) else module["discovery"]


def ours(collected: Any, recording: str) -> dict[str, dict[str, Any]]:
    out = collected[recording]["bgp"]
    assert out.status == "ok", out.error
    got = {ip(r.tags["peer_address"]): {**r.tags, **r.fields} for r in out.records}
    assert len(got) == len(out.records), "one record per peer"
    return got


def cbgp_totals(rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        for col in ("AcceptedPrefixes", "AdvertisedPrefixes"):
            totals[ip(r["bgpPeerIdentifier"])][col] += r[col]
    return totals


@pytest.mark.parametrize("recording", recording_names())
def test_peers_equal_librenms_bgp_peers(collected, recording: str) -> None:  # type: ignore[no-untyped-def]
    got = ours(collected, recording)
    theirs = librenms_bgp(recording)
    if theirs is None:
        assert not got, recording
        return
    peers = {ip(r["bgpPeerIdentifier"]): r for r in theirs["bgpPeers"]}
    assert set(got) == set(peers), (recording, sorted(set(got) ^ set(peers)))
    skip = NOKIA_NOT_COMPARED if recording == NOKIA else set()
    for addr, row in peers.items():
        rec = got[addr]
        for ours_f, col in PLAIN.items():
            if ours_f not in skip:
                assert rec.get(ours_f, "" if ours_f == "description" else None) == row[col], (
                    recording,
                    addr,
                    ours_f,
                    rec.get(ours_f),
                    row[col],
                )
        for ours_f, col in COUNTERS.items():
            if ours_f not in skip:
                assert (rec.get(ours_f) or 0) == row[col], (recording, addr, ours_f)
        if "admin_status" not in skip:
            assert rec["admin_status"] == ADMIN[row["bgpPeerAdminStatus"]], (recording, addr)
        if "local_address" not in skip:
            assert ip(rec["local_address"]) == ip(row["bgpLocalAddr"]), (recording, addr)
        if recording == NOKIA:
            _col, index = split_source(rec["source_oid"])
            own = column(recording, "1.3.6.1.4.1.6527.3.1.2.14.4.7.1.65")[index]
            assert rec.get("local_as") == own, (recording, addr)
        else:
            assert rec.get("local_as") == (row["vrfLocalAs"] or row["bgpLocalAs"]), (
                recording,
                addr,
            )
    covered("bgp", "peer_address", "local_as", "admin_status", "local_address")
    covered("bgp", *PLAIN, *COUNTERS)


@pytest.mark.parametrize("recording", recording_names())
def test_prefix_counts_equal_librenms_cbgp(collected, recording: str) -> None:  # type: ignore[no-untyped-def]
    theirs = librenms_bgp(recording)
    if theirs is None or "bgpPeers_cbgp" not in theirs:
        pytest.skip(f"LibreNMS has no per-family prefix counts for {recording}")
    got = ours(collected, recording)
    totals = cbgp_totals(theirs["bgpPeers_cbgp"])
    for addr, rec in got.items():
        accepted, advertised = (
            rec.get("prefixes_accepted") or 0,
            rec.get("prefixes_advertised") or 0,
        )
        if recording == "iosxr" and ipaddress.ip_address(addr).version == 6:
            assert addr not in totals  # see the module docstring
            assert (accepted, advertised) == cisco_v2_prefixes(recording, addr), addr
            continue
        want = totals.get(addr, {"AcceptedPrefixes": 0, "AdvertisedPrefixes": 0})
        assert accepted == want["AcceptedPrefixes"], (recording, addr)
        if recording == "iosxr":
            assert want["AdvertisedPrefixes"] == 0  # see the module docstring
            assert advertised == iosxr_v1_advertised(addr), addr
        else:
            assert advertised == want["AdvertisedPrefixes"], (recording, addr)
    covered("bgp", "prefixes_accepted", "prefixes_advertised")


def cisco_v2_prefixes(recording: str, addr: str) -> tuple[int, int]:
    """cbgpPeer2AddrFamilyPrefixTable accepted and advertised - withdrawn of an
    IPv6 peer, summed over its <2.16.octets>.<afi>.<safi> rows."""
    table = "1.3.6.1.4.1.9.9.187.1.2.8.1"
    row = "2.16." + ".".join(str(b) for b in ipaddress.IPv6Address(addr).packed)
    acc, adv, wd = (column(recording, f"{table}.{c}") for c in (1, 6, 8))
    fams = [i for i in acc if i.rsplit(".", 2)[0] == row]
    total = sum(int(adv.get(i, 0)) - int(wd.get(i, 0)) for i in fams)
    return sum(int(acc[i]) for i in fams), max(0, total)


def iosxr_v1_advertised(addr: str) -> int:
    """cbgpPeerAddrFamilyPrefixTable advertised - withdrawn, summed over families."""
    v1 = "1.3.6.1.4.1.9.9.187.1.2.4.1"
    adv, wd = column("iosxr", f"{v1}.6"), column("iosxr", f"{v1}.8")
    fams = [i for i in adv if i.startswith(addr + ".") and i.count(".") == 5]
    return max(0, sum(int(adv[i]) for i in fams) - sum(int(wd.get(i, 0)) for i in fams))


def received_in_recording(recording: str, index: str) -> int:
    """Received prefixes of one peer row, summed from the recording: Arista's
    per-family gauge rows <row>.<afi>.<safi>; Nokia's IPv4, IPv6, VPN-IPv4 and
    VPN-IPv6 received columns of the peer's own oper row."""
    if recording == NOKIA:
        oper = "1.3.6.1.4.1.6527.3.1.2.14.4.8.1"
        return sum(int(column(recording, f"{oper}.{c}")[index]) for c in (5, 27, 13, 40))
    gauges = column(recording, "1.3.6.1.4.1.30065.4.1.1.8.1.3")
    return sum(int(v) for i, v in gauges.items() if i.rsplit(".", 2)[0] == index)


@pytest.mark.parametrize("recording", ["arista_eos", NOKIA])
def test_received_prefixes_are_the_recordings_sums(collected, recording: str) -> None:  # type: ignore[no-untyped-def]
    # LibreNMS stores no received count (Nokia's goes to its "accepted"); the
    # recording is the reference.
    records = collected[recording]["bgp"].records
    assert records
    for r in records:
        _col, index = split_source(r.fields["source_oid"])
        assert r.fields["prefixes_received"] == received_in_recording(recording, index), r.tags
    covered("bgp", "prefixes_received")


@pytest.mark.parametrize("recording", recording_names())
def test_source_identifier_and_instance_are_the_recordings(collected, recording: str) -> None:  # type: ignore[no-untyped-def]
    raw = snmprec(recording)
    profile = profile_for(recording)
    for r in collected[recording]["bgp"].records:
        src = r.fields.get("source_oid")
        if src is not None:  # the OID the state was read from
            assert src in raw, (recording, src)
        if "peer_identifier" in r.fields:  # only Juniper's BGP4-V2 rows carry one here
            assert recording == "junos_mx5t-isis"
            jnx_id = column(recording, "1.3.6.1.4.1.2636.5.1.1.2.1.1.1.1")
            assert src is not None
            want = jnx_id[split_source(src)[1]]
            assert isinstance(want, bytes)
            assert r.fields["peer_identifier"] == str(ipaddress.ip_address(want))
        instance = r.tags.get("routing_instance")
        if profile not in DEFAULT_INSTANCE:
            assert instance is None
        elif src is not None and src.startswith("1.3.6.1.2.1.15."):
            assert instance == DEFAULT_INSTANCE[profile]
        elif profile == "junos":
            assert src is not None
            jnx_instance = column(recording, "1.3.6.1.4.1.2636.5.1.1.2.1.1.1.15")
            assert instance == str(jnx_instance[split_source(src)[1]])
        else:  # the index's first sub-id (Arista instance, Nokia vRtrID)
            assert src is not None and instance == split_source(src)[1].split(".")[0]
    covered("bgp", "source_oid", "peer_identifier", "routing_instance")


def test_nokia_peers_span_virtual_routers(collected) -> None:  # type: ignore[no-untyped-def]
    instances = {r.tags["routing_instance"] for r in collected[NOKIA]["bgp"].records}
    assert instances == {"1", "2", "3", "5"}
