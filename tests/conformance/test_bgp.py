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

Rules by the table a peer was read from (its ``source_oid``), not by recording:
- Nokia (TIMETRA-BGP-MIB tBgpPeerNg*): LibreNMS stores tBgpPeerNgOperLastEvent
  (e.g. ``receiveOpen``) as the admin status; we publish tBgpPeerNgShutdown as
  start/stop.  Its "total messages" are octet counts (tBgpPeerNgOperMsgOctets*,
  so LibreNMS notes); we publish no message counts for Nokia.  Its local
  address is not read (0.0.0.0); we publish tBgpPeerNgLocalAddress.  Its
  established times and description are not in the recording.
  Peers of a VPRN may have a per-peer local AS (tBgpPeerNgLocalAS4Byte, e.g.
  12345 in a VPRN of AS 54321): LibreNMS shows the VPRN's AS, we the peer's;
  Nokia's local AS is compared with the recording.
- CISCO-BGP4-MIB: where cbgpPeer2AddrFamilyPrefixTable carries only the
  accepted count (IOS-XR IPv4 peers), LibreNMS reports 0 advertised; we take
  advertised minus withdrawn from the older cbgpPeerAddrFamilyPrefixTable,
  which the device does fill.  Where LibreNMS lists no address families for a
  peer (IOS-XR IPv6 peers) it has no counts; both are compared with the
  recording instead.  LibreNMS lists every family of cbgpPeer2AddrFamilyTable
  and repeats another family's counts for one with no prefix-table row (IOS-XR
  VPNv6 next to VPNv4): only families the recording has counts for are summed.
- Where LibreNMS has no ``bgp-peers`` result at all (vrp_ne and iosxr_asr9904
  have BGP data but none), nothing is compared with it ("an absent module is
  not compared"); every record still reads the recording.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from typing import Any

import pytest

from collectors.driver import PollOutcome
from tests.conformance.conftest import covered, profile_for
from tests.conformance.snmprec import column, snmprec
from tests.conformance.tally import ROW, Tally
from tests.support.librenms import librenms_json, recording_names

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
NOKIA_NOT_COMPARED = {
    "admin_status",
    "local_address",
    "in_total_messages",
    "out_total_messages",
    "established_time_s",
    "description",
}
# the default instance BGP4-MIB rows are given, per profile with instances
DEFAULT_INSTANCE = {"junos": "0", "arista_eos": "1", "timos": "1", "dell-os10": "1"}
# each peer table's state column (source_oid = <column>.<row index>)
BGP4 = "1.3.6.1.2.1.15.3.1.2"
CISCO = "1.3.6.1.4.1.9.9.187.1.2.5.1.3"
JUNIPER = "1.3.6.1.4.1.2636.5.1.1.2.1.1.1.2"
ARISTA = "1.3.6.1.4.1.30065.4.1.1.2.1.13"
NOKIA = "1.3.6.1.4.1.6527.3.1.2.14.4.7.1.59"
DELL_OS10 = "1.3.6.1.4.1.674.11000.5000.200.1.1.2.1.13"
CUMULUS = "1.3.6.1.4.1.40310.4.3.1.1.2"  # CUMULUS-BGPUN-MIB bgpPeerState
STATE_COLUMNS = (BGP4, CISCO, JUNIPER, ARISTA, NOKIA, DELL_OS10, CUMULUS)
# BGP4-V2-draft tables: state column -> their per-family received-prefix gauges
V2_GAUGES = {
    ARISTA: "1.3.6.1.4.1.30065.4.1.1.8.1.3",
    DELL_OS10: "1.3.6.1.4.1.674.11000.5000.200.1.1.8.1.3",
}
# state column -> the peer identifier (router id) column of the same table
IDENTIFIER_COLUMNS = {
    BGP4: "1.3.6.1.2.1.15.3.1.1",
    CISCO: "1.3.6.1.4.1.9.9.187.1.2.5.1.12",
    JUNIPER: "1.3.6.1.4.1.2636.5.1.1.2.1.1.1.1",
}
NOKIA_LOCAL_AS = "1.3.6.1.4.1.6527.3.1.2.14.4.7.1.65"  # tBgpPeerNgLocalAS4Byte
CBGP_PREFIX_V1 = "1.3.6.1.4.1.9.9.187.1.2.4.1"  # cbgpPeerAddrFamilyPrefixTable
CBGP_PREFIX_V2 = "1.3.6.1.4.1.9.9.187.1.2.8.1"  # cbgpPeer2AddrFamilyPrefixTable
AFI = {"ipv4": 1, "ipv6": 2}
SAFI = {"unicast": 1, "multicast": 2, "vpn": 128}


def split_source(src: str) -> tuple[str, str]:
    """``source_oid`` as (state column, row index)."""
    col = next(c for c in STATE_COLUMNS if src.startswith(c + "."))
    return col, src[len(col) + 1 :]


def table_of(rec: dict[str, Any]) -> str | None:
    src = rec.get("source_oid")
    return None if src is None else split_source(src)[0]


def ip(addr: str) -> str:
    return str(ipaddress.ip_address(addr))


def librenms_bgp(recording: str) -> dict[str, list[dict[str, Any]]] | None:
    module = librenms_json(recording).get("bgp-peers")
    if not module:
        return None
    poller = module.get("poller")
    result: dict[str, list[dict[str, Any]]] = (
        poller if isinstance(poller, dict) else module["discovery"]
    )
    return result


def ours(collected: Any, recording: str) -> dict[str, dict[str, Any]]:
    got = _peers(collected[recording]["bgp"])
    assert isinstance(got, dict), (recording, got)
    return got


def _peers(out: PollOutcome) -> dict[str, dict[str, Any]] | str:
    """Our peers by address, or what is wrong with the outcome."""
    if out.status != "ok":
        return f"status {out.status}: {out.error}"
    got = {ip(r.tags["peer_address"]): {**r.tags, **r.fields} for r in out.records}
    return got if len(got) == len(out.records) else "two records for one peer"


def cisco_index(addr: str) -> str:
    """A peer's index in the CISCO-BGP4-MIB peer2 tables: <type>.<length>.<octets>."""
    a = ipaddress.ip_address(addr)
    return f"{1 if a.version == 4 else 2}.{len(a.packed)}." + ".".join(str(b) for b in a.packed)


def cisco_has_counts(recording: str, addr: str, afi: int, safi: int) -> bool:
    """Does the recording have prefix counts for this peer and family?"""
    v2 = f"{CBGP_PREFIX_V2}.1.{cisco_index(addr)}.{afi}.{safi}"
    v1 = f"{CBGP_PREFIX_V1}.1.{addr}.{afi}.{safi}"
    return v2 in snmprec(recording) or v1 in snmprec(recording)


def cbgp_totals(
    recording: str, rows: list[dict[str, Any]], cisco: set[str]
) -> dict[str, dict[str, int]]:
    """LibreNMS's per-family rows summed per peer (for peers read from
    CISCO-BGP4-MIB, only the families the recording has counts for)."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        addr = ip(r["bgpPeerIdentifier"])
        family = (AFI.get(r["afi"]), SAFI.get(r["safi"]))
        if addr in cisco and not cisco_has_counts(recording, addr, *family):  # type: ignore[arg-type]
            continue
        for col in ("AcceptedPrefixes", "AdvertisedPrefixes"):
            totals[addr][col] += r[col]
    return totals


PEER_FIELDS = [*PLAIN, *COUNTERS, "admin_status", "local_address", "local_as"]


def compare_bgp(out: PollOutcome, recording: str) -> Tally:
    tally = Tally(recording, "bgp peers")
    theirs = librenms_bgp(recording)
    if theirs is None:
        tally.skip(f"LibreNMS has no bgp-peers result for {recording} (not compared)")
        return tally
    got = _peers(out)
    peers = {ip(r["bgpPeerIdentifier"]): r for r in theirs["bgpPeers"]}
    if isinstance(got, str):
        tally.expect(False, "bgp", "records", got)
        got = {}
    for addr in set(got) - set(peers):
        tally.check(False, addr, ROW, got[addr].get("source_oid"), "not in LibreNMS")
    for addr, row in peers.items():
        if addr not in got:
            tally.missing(addr, PEER_FIELDS)
            continue
        rec = got[addr]
        nokia = table_of(rec) == NOKIA
        skip = NOKIA_NOT_COMPARED if nokia else set()
        for ours_f, col in PLAIN.items():
            if ours_f not in skip:
                mine = rec.get(ours_f, "" if ours_f == "description" else None)
                tally.check(mine == row[col], addr, ours_f, mine, row[col])
        for ours_f, col in COUNTERS.items():
            if ours_f not in skip:
                mine = rec.get(ours_f) or 0
                tally.check(mine == row[col], addr, ours_f, mine, row[col])
        if "admin_status" not in skip:
            want = ADMIN.get(row["bgpPeerAdminStatus"], row["bgpPeerAdminStatus"])
            tally.check(
                rec.get("admin_status") == want, addr, "admin_status", rec.get("admin_status"), want
            )
        if "local_address" not in skip:
            mine, want = rec.get("local_address"), ip(row["bgpLocalAddr"])
            tally.check(mine is not None and ip(mine) == want, addr, "local_address", mine, want)
        if nokia:
            _col, index = split_source(rec["source_oid"])
            own = column(recording, NOKIA_LOCAL_AS)[index]
            tally.expect(
                rec.get("local_as") == own, addr, "local_as (recording)", rec.get("local_as"), own
            )
        else:
            want = row["vrfLocalAs"] or row["bgpLocalAs"]
            tally.check(rec.get("local_as") == want, addr, "local_as", rec.get("local_as"), want)
    return tally


@pytest.mark.parametrize("recording", recording_names())
def test_peers_equal_librenms_bgp_peers(collected: Any, recording: str) -> None:
    ours(collected, recording)  # a poll that failed fails here even with nothing to compare
    tally = compare_bgp(collected[recording]["bgp"], recording)
    if tally.not_compared:
        pytest.skip(tally.not_compared)
    tally.assert_clean()
    covered("bgp", "peer_address", "local_as", "admin_status", "local_address")
    covered("bgp", *PLAIN, *COUNTERS)


@pytest.mark.parametrize("recording", recording_names())
def test_prefix_counts_equal_librenms_cbgp(collected: Any, recording: str) -> None:
    theirs = librenms_bgp(recording)
    if theirs is None or "bgpPeers_cbgp" not in theirs:
        pytest.skip(f"LibreNMS has no per-family prefix counts for {recording}")
    got = ours(collected, recording)
    cisco = {addr for addr, rec in got.items() if table_of(rec) == CISCO}
    totals = cbgp_totals(recording, theirs["bgpPeers_cbgp"], cisco)
    for addr, rec in got.items():
        accepted, advertised = (
            rec.get("prefixes_accepted") or 0,
            rec.get("prefixes_advertised") or 0,
        )
        if addr in cisco and addr not in totals:  # see the module docstring
            assert (accepted, advertised) == cisco_v2_prefixes(recording, addr), addr
            continue
        want = totals.get(addr, {"AcceptedPrefixes": 0, "AdvertisedPrefixes": 0})
        assert accepted == want["AcceptedPrefixes"], (recording, addr)
        if advertised != want["AdvertisedPrefixes"]:  # see the module docstring
            assert addr in cisco and not cisco_v2_has_advertised(recording, addr), (recording, addr)
            assert want["AdvertisedPrefixes"] == 0, (recording, addr)
            assert advertised == cisco_v1_advertised(recording, addr), (recording, addr)
    covered("bgp", "prefixes_accepted", "prefixes_advertised")


def v2_families(recording: str, addr: str, col: int) -> dict[str, Any]:
    """One column of cbgpPeer2AddrFamilyPrefixTable for one peer: family -> value."""
    row = cisco_index(addr) + "."
    return {
        i[len(row) :]: v
        for i, v in column(recording, f"{CBGP_PREFIX_V2}.{col}").items()
        if i.startswith(row)
    }


def cisco_v2_has_advertised(recording: str, addr: str) -> bool:
    return bool(v2_families(recording, addr, 6))


def cisco_v2_prefixes(recording: str, addr: str) -> tuple[int, int]:
    """cbgpPeer2AddrFamilyPrefixTable accepted and advertised - withdrawn of a
    peer, summed over its <type>.<length>.<octets>.<afi>.<safi> rows."""
    acc, adv, wd = (v2_families(recording, addr, c) for c in (1, 6, 8))
    total = sum(int(adv[f]) - int(wd.get(f, 0)) for f in adv)
    return sum(int(v) for v in acc.values()), max(0, total)


def cisco_v1_advertised(recording: str, addr: str) -> int:
    """cbgpPeerAddrFamilyPrefixTable advertised - withdrawn, summed over families."""
    adv, wd = column(recording, f"{CBGP_PREFIX_V1}.6"), column(recording, f"{CBGP_PREFIX_V1}.8")
    fams = [i for i in adv if i.startswith(addr + ".") and i.count(".") == 5]
    return max(0, sum(int(adv[i]) for i in fams) - sum(int(wd.get(i, 0)) for i in fams))


def received_in_recording(recording: str, table: str, index: str) -> int:
    """Received prefixes of one peer row, summed from the recording: Arista's
    per-family gauge rows <row>.<afi>.<safi>; Nokia's IPv4, IPv6, VPN-IPv4 and
    VPN-IPv6 received columns of the peer's own oper row."""
    if table == NOKIA:
        oper = "1.3.6.1.4.1.6527.3.1.2.14.4.8.1"
        return sum(int(column(recording, f"{oper}.{c}")[index]) for c in (5, 27, 13, 40))
    assert table in V2_GAUGES, (recording, table, "received prefixes from an unknown table")
    gauges = column(recording, V2_GAUGES[table])
    return sum(int(v) for i, v in gauges.items() if i.rsplit(".", 2)[0] == index)


@pytest.mark.parametrize("recording", recording_names())
def test_received_prefixes_are_the_recordings_sums(collected: Any, recording: str) -> None:
    # LibreNMS stores no received count (Nokia's goes to its "accepted"); the
    # recording is the reference.
    for r in collected[recording]["bgp"].records:
        if "prefixes_received" in r.fields:
            table, index = split_source(r.fields["source_oid"])
            want = received_in_recording(recording, table, index)
            assert r.fields["prefixes_received"] == want, (recording, r.tags)
    covered("bgp", "prefixes_received")


@pytest.mark.parametrize("recording", recording_names())
def test_source_identifier_and_instance_are_the_recordings(collected: Any, recording: str) -> None:
    raw = snmprec(recording)
    profile = profile_for(recording)
    for r in collected[recording]["bgp"].records:
        src = r.fields.get("source_oid")
        if src is not None:  # the OID the state was read from
            assert src in raw, (recording, src)
        if "peer_identifier" in r.fields:  # the router id column of the table read
            assert src is not None
            table, index = split_source(src)
            assert table in IDENTIFIER_COLUMNS, (recording, table, "identifier from where?")
            want = column(recording, IDENTIFIER_COLUMNS[table])[index]
            want = str(ipaddress.ip_address(want)) if isinstance(want, bytes) else want
            assert r.fields["peer_identifier"] == want, (recording, r.tags)
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


@pytest.mark.parametrize("recording", recording_names())
def test_every_row_of_a_vendor_peer_table_is_a_record(collected: Any, recording: str) -> None:
    """A vendor peer table (one row per peer and instance: Nokia's spans every
    virtual router) is collected whole, one record per row."""
    read: dict[str, set[str]] = defaultdict(set)
    for r in collected[recording]["bgp"].records:
        src = r.fields.get("source_oid")
        if src is not None:
            table, index = split_source(src)
            read[table].add(index)
    for table, indices in read.items():
        if table != BGP4:
            assert indices == set(column(recording, table)), (recording, table)
