"""NETCONF profiles: the strict schema's path/rows/key/requests keys, matching by
capabilities, the record contract, and the one field pipeline shared with SNMP."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from bus.datasets import validate
from bus.records import Record
from collectors.netconf.extract import build_records, check, load_netconf_profiles
from collectors.netconf.xml import parse_data
from collectors.profiles import ProfileError, ProfileSet


def site(tmp: Path, **files: str) -> Path:
    for name, text in files.items():
        (tmp / f"{name}.yaml").write_text(text)
    return tmp


NC = "protocol: netconf\ncapabilities: ['urn:x']\n"


def test_shipped_netconf_profiles_load_and_pass_the_contract() -> None:
    ps = load_netconf_profiles()
    assert {"ietf", "openconfig", "junos", "iosxe", "iosxr", "sros"} <= set(ps.profiles)
    assert check([]) == []


def test_a_field_not_in_the_contract_is_refused_naming_file_and_key(tmp_path: Path) -> None:
    bad = (
        f"name: x\n{NC}datasets:\n  interfaces:\n    tables:\n      t:\n"
        "        rows: a/b\n        fields:\n          in_octetz: {path: c}\n"
    )
    problems = check([site(tmp_path, x=bad)])
    assert any("x.yaml" in p and "interfaces.tables.t.fields.in_octetz" in p for p in problems)


def test_snmp_and_netconf_keys_do_not_mix(tmp_path: Path) -> None:
    oid_in_nc = f"name: a\n{NC}datasets:\n  system:\n    scalars:\n      fields:\n        model: {{oid: 1.3.6.1}}\n"
    assert any("reads paths, not oids" in p for p in check([site(tmp_path, a=oid_in_nc)]))
    path_in_snmp = (
        "name: b\ndatasets:\n  system:\n    scalars:\n      fields:\n        model: {path: x}\n"
    )
    (tmp_path / "snmp").mkdir()
    with pytest.raises(ProfileError, match="path needs 'protocol: netconf'"):
        ProfileSet([site(tmp_path / "snmp", b=path_in_snmp)])


def test_each_protocol_set_loads_only_its_own_site_profiles(tmp_path: Path) -> None:
    nc = f"name: mine\n{NC}extends: [_ietf-interfaces]\n"
    folder = site(tmp_path, mine=nc)
    assert "mine" in load_netconf_profiles([folder]).profiles
    assert "mine" not in ProfileSet([folder]).profiles  # the SNMP set leaves it alone


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("{path: 'a[', type: int}", "not a valid XPath"),
        ("{path: a, rows: b}", "needs both rows and key"),
        ("{value: 1, key: a}", "rows and key go with path"),
        ("{path: a, scale: [1, 2]}", "one per path"),
        ("{path: a, sum_over: 1}", "sum_over with path needs a joined list"),
        ("{path: a, rows: b, key: [c], sum_over: 1}", "more than sum_over parts"),
    ],
)
def test_bad_path_fields_are_refused(tmp_path: Path, spec: str, words: str) -> None:
    text = (
        f"name: x\n{NC}datasets:\n  system:\n    scalars:\n      fields:\n        model: {spec}\n"
    )
    assert any(words in p for p in check([site(tmp_path, x=text)]))


def test_requests_are_checked(tmp_path: Path) -> None:
    base = f"name: x\n{NC}datasets:\n  system:\n    scalars:\n      fields:\n        model: {{path: m}}\n"
    bad_get = base + "    requests:\n      - get: '<a><b></a>'\n"
    assert any("not well-formed" in p for p in check([site(tmp_path, x=bad_get)]))
    two = base + "    requests:\n      - {rpc: get-x, xpath: /a}\n"
    assert any("exactly one of" in p for p in check([site(tmp_path, x=two)]))


def test_table_path_fields_need_rows(tmp_path: Path) -> None:
    text = f"name: x\n{NC}datasets:\n  interfaces:\n    tables:\n      t:\n        fields:\n          in_octets: {{path: a}}\n"
    assert any("need the table's 'rows'" in p for p in check([site(tmp_path, x=text)]))


PROFILE = """
name: t
protocol: netconf
capabilities: ['urn:t']
datasets:
  interfaces:
    tables:
      main:
        rows: ifs/if
        key: name
        index_tag: if_index
        tags:
          if_name: {path: name}
        where: [{field: _kind, not_in: [internal]}]
        fields:
          _kind: {path: kind}
          if_alias: {path: desc, rows: cfg/if, key: name}
          oper_status: {path: st, type: enum, enum: nc-if-status}
          speed_bps: {path: [speed-kbps, bw], type: int, scale: [1000, 1000000], nonzero: true}
          mtu_octets: {path: mtu, type: int, absent: [0]}
          phys_address: {path: mac, type: hex}
          in_octets: {path: [hc-in, in], type: int}
          counter_bits: {chosen: in_octets, values: [64, 32]}
          _pk: {path: pk, type: int}
          _mc: {path: mc, type: int}
          in_ucast_pkts: {expr: _pk - _mc, type: int}
          if_descr: {first_of: [_none, if_alias]}
          _none: {path: nothing}
"""

REPLY = """<rpc-reply xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><data>
<ifs xmlns="urn:t">
 <if><name>a</name><st>UP</st><speed-kbps>0</speed-kbps><bw>10</bw><mtu>0</mtu>
     <mac>00:11:22:AA:BB:CC</mac><in>7</in><pk>10</pk><mc>3</mc></if>
 <if><name>b</name><st>weird</st><speed-kbps>100</speed-kbps><hc-in>9</hc-in><mtu>1500</mtu></if>
 <if><name>c</name><kind>internal</kind></if>
 <if><name>a</name><st>DOWN</st></if>
</ifs>
<cfg xmlns="urn:t"><if><name>b</name><desc>uplink</desc></if></cfg>
</data></rpc-reply>"""


def test_xml_fills_the_shared_pipeline(tmp_path: Path) -> None:
    profile = load_netconf_profiles([site(tmp_path, t=PROFILE)]).profiles["t"]
    recs, n = build_records(profile, "interfaces", parse_data(REPLY), network="n", device="d")
    assert n > 0
    by = {r.tags["if_name"]: r for r in recs}
    assert set(by) == {"a", "b"}  # where drops c; the duplicate key 'a': first wins
    a, b = by["a"].fields, by["b"].fields
    assert by["a"].tags["if_index"] == "a"  # no if-index leaf: the row key
    assert a["oper_status"] == "up" and "mtu_octets" not in a  # enum; absent 0
    assert by["a"].absent == {"mtu_octets": "no reading: 0 is a sentinel of ifs/if[name]/mtu"}
    assert a["speed_bps"] == 10_000_000  # nonzero: 0 kbps falls to bw (Mb/s)
    assert a["phys_address"] == "001122aabbcc"
    assert (a["in_octets"], a["counter_bits"], a["in_ucast_pkts"]) == (7, 32, 7)
    assert (b["in_octets"], b["counter_bits"], b["speed_bps"]) == (9, 64, 100_000)
    assert b["if_alias"] == b["if_descr"] == "uplink"  # joined by key; first_of
    # unknown enum text: left out, and said why (a name the contract does not know
    # cannot be carried; the device did answer, so the record is not partial)
    assert "oper_status" not in b and not by["b"].partial
    assert by["b"].absent == {"oper_status": "'weird' is not in enum table nc-if-status"}


def test_a_reply_without_the_dataset_gives_no_records() -> None:
    profile = load_netconf_profiles().profiles["junos"]
    data = parse_data("<route-engine-information/>")
    assert build_records(profile, "system", data, network="n", device="d") == ([], 0)


OC_REPLY = """<data><interfaces xmlns="http://openconfig.net/yang/interfaces"><interface>
<name>Ethernet1</name><state><type xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">ianaift:ethernetCsmacd</type>
<mtu>9214</mtu><ifindex>1</ifindex><admin-status>UP</admin-status><oper-status>LOWER_LAYER_DOWN</oper-status>
<counters><in-octets>5</in-octets></counters></state>
<ethernet xmlns="http://openconfig.net/yang/interfaces/ethernet"><state>
<port-speed xmlns:oc-eth="http://openconfig.net/yang/interfaces/ethernet">oc-eth:SPEED_100GB</port-speed>
<mac-address>00:1c:73:aa:bb:cc</mac-address><negotiated-duplex-mode>FULL</negotiated-duplex-mode></state></ethernet>
<subinterfaces><subinterface><index>0</index><state><ifindex>1001</ifindex><oper-status>UP</oper-status>
<counters><in-octets>3</in-octets></counters></state></subinterface></subinterfaces>
</interface></interfaces></data>"""


@pytest.mark.parametrize("name", ["openconfig", "junos", "iosxr"])
def test_openconfig_interfaces_follow_the_model(name: str) -> None:
    """Identities to IANA / IF-MIB names, port-speed identity to bits/s, subinterfaces
    as <parent>.<index>; vendor profiles that extend the base read it the same."""
    profile = load_netconf_profiles().profiles[name]
    recs, _ = build_records(profile, "interfaces", parse_data(OC_REPLY), network="n", device="d")
    by = {r.tags["if_name"]: r for r in recs}
    eth = by["Ethernet1"]
    assert eth.tags["if_index"] == "1" and not eth.partial
    assert eth.fields == {
        "if_descr": "Ethernet1",
        "if_type": "ethernetCsmacd",
        "admin_status": "up",
        "oper_status": "lowerLayerDown",
        "mtu_octets": 9214,
        "phys_address": "001c73aabbcc",
        "speed_bps": 100_000_000_000,
        "duplex": "fullDuplex",
        "in_octets": 5,
        "counter_bits": 64,
    }
    sub = by["Ethernet1.0"]
    assert (sub.tags["if_index"], sub.fields["oper_status"], sub.fields["in_octets"]) == (
        "1001",
        "up",
        3,
    )


# Written from the YANG models (no real reply of these is in the shared folder):
# openconfig-system + openconfig-platform, Cisco-IOS-XE-device-hardware-oper.
OC_SYSTEM = """<rpc-reply xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><data>
<system xmlns="http://openconfig.net/yang/system"><state><hostname>leaf1</hostname></state></system>
<components xmlns="http://openconfig.net/yang/platform" xmlns:t="http://openconfig.net/yang/platform-types">
<component><name>Chassis</name><state><type>t:CHASSIS</type><part-no>DCS-7050SX3</part-no>
<serial-no>JPE1</serial-no></state></component>
<component><name>EOS</name><state><type>t:OPERATING_SYSTEM</type><software-version>4.27.0F</software-version>
</state></component></components></data></rpc-reply>"""
XE_SYSTEM = """<data><device-hardware-data xmlns="http://cisco.com/ns/yang/Cisco-IOS-XE-device-hardware-oper">
<device-hardware><device-inventory><hw-type>hw-type-chassis</hw-type><hw-dev-index>0</hw-dev-index>
<part-number>CSR1000V</part-number><serial-number>9ABC</serial-number></device-inventory>
<device-system-data><software-version>Cisco IOS XE Software, Version 17.03.01a
Cisco IOS Software [Amsterdam], Version 17.3.1a, RELEASE SOFTWARE (fc3)</software-version>
</device-system-data></device-hardware></device-hardware-data>
<native xmlns="http://cisco.com/ns/yang/Cisco-IOS-XE-native"><hostname>csr1</hostname></native></data>"""


@pytest.mark.parametrize(
    ("name", "reply", "tags", "fields"),
    [
        (
            "openconfig",
            OC_SYSTEM,
            {"sys_name": "leaf1"},
            {"model": "DCS-7050SX3", "serial": "JPE1", "os_version": "4.27.0F"},
        ),
        (
            "iosxe",
            XE_SYSTEM,
            {"sys_name": "csr1"},
            {
                "vendor": "Cisco",
                "os_name": "IOS-XE",
                "os_version": "17.03.01a",
                "model": "CSR1000V",
                "serial": "9ABC",
            },
        ),
    ],
)
def test_system_from_the_models(
    name: str, reply: str, tags: dict[str, str], fields: dict[str, object]
) -> None:
    profile = load_netconf_profiles().profiles[name]
    (rec,), _ = build_records(profile, "system", parse_data(reply), network="n", device="d")
    assert rec.tags == tags and rec.fields == fields and not rec.partial


XE_BGP = Path(__file__).parent / "data" / "iosxe_bgp-state-data_handwritten.xml"
XE_BGP_NS = {"b": "http://cisco.com/ns/yang/Cisco-IOS-XE-bgp-oper"}


def _xe_bgp_records(text: str) -> dict[tuple[str, str | None], Record]:
    profile = load_netconf_profiles().profiles["iosxe"]
    recs, _ = build_records(profile, "bgp", parse_data(text), network="n", device="d")
    for r in recs:
        validate(r)
    return {(r.tags["peer_address"], r.tags.get("routing_instance")): r for r in recs}


def test_iosxe_bgp_follows_the_model() -> None:
    """Every value checked against the hand-written reply itself, read here with
    plain XPath: one record per (vrf, neighbour) of the per-address-family list."""
    text = XE_BGP.read_text()
    root = etree.fromstring(text.encode())
    entries = root.findall(".//b:neighbors/b:neighbor", XE_BGP_NS)
    summaries = root.findall(".//b:bgp-neighbor-summary", XE_BGP_NS)

    def leaf(el: etree._Element, path: str) -> str:
        return el.findtext("b:" + path.replace("/", "/b:"), namespaces=XE_BGP_NS).strip()

    by = _xe_bgp_records(text)
    peers = {(leaf(e, "vrf-name"), leaf(e, "neighbor-id")) for e in entries}
    assert len(peers) == 2 and len(by) == 2  # 3 list entries, 2 neighbours
    for vrf, peer in peers:
        mine = [e for e in entries if (leaf(e, "vrf-name"), leaf(e, "neighbor-id")) == (vrf, peer)]
        sums = [s for s in summaries if leaf(s, "id") == peer]
        first = mine[0]
        rec = by[(peer, None if vrf == "default" else vrf)]
        assert not rec.partial, rec.missing
        f = rec.fields
        assert f["remote_as"] == int(leaf(first, "as"))
        assert f["state"] == leaf(first, "session-state").removeprefix("fsm-")
        assert f["in_updates"] == int(leaf(first, "bgp-neighbor-counters/received/updates"))
        assert f["out_updates"] == int(leaf(first, "bgp-neighbor-counters/sent/updates"))
        assert (
            f["in_total_messages"]
            == int(leaf(sums[0], "messages-received"))
            == sum(int(x.text) for x in first.find("b:bgp-neighbor-counters/b:received", XE_BGP_NS))
        )
        assert f["out_total_messages"] == int(leaf(sums[0], "messages-sent"))
        assert f["prefixes_accepted"] == sum(
            int(leaf(e, "prefix-activity/received/current-prefixes")) for e in mine
        )
        assert f["prefixes_advertised"] == sum(
            int(leaf(e, "prefix-activity/sent/current-prefixes")) for e in mine
        )
        assert f["prefixes_received"] == sum(int(leaf(s, "prefixes-received")) for s in sums)
        af = root.xpath(
            "//b:address-family[b:vrf-name=$v and b:afi-safi=$a]/b:local-as",
            namespaces=XE_BGP_NS,
            v=vrf,
            a=leaf(first, "afi-safi"),
        )
        assert f["local_as"] == int(af[0].text)
    up = by[("192.0.2.1", None)].fields
    assert (up["state"], up["established_time_s"]) == ("established", 9 * 86400)  # 1w2d
    assert (up["local_address"], up["description"]) == ("192.0.2.0", "transit-a")
    assert (up["prefixes_received"], up["prefixes_accepted"], up["prefixes_advertised"]) == (
        155,
        150,
        12,
    )
    idle = by[("2001:db8::2", "blue")].fields
    assert idle["state"] == "idle"
    # up-time 'never' and local-host '::' are no values
    assert "established_time_s" not in idle and "local_address" not in idle


@pytest.mark.parametrize(
    ("uptime", "seconds"),
    [
        ("00:12:34", 754),
        ("3d04h", 3 * 86400 + 4 * 3600),
        ("2w3d", 17 * 86400),
        ("1y5w", 400 * 86400),
        ("never", None),
    ],
)
def test_iosxe_bgp_up_time_forms(uptime: str, seconds: int | None) -> None:
    rec = _xe_bgp_records(XE_BGP.read_text().replace(">1w2d<", f">{uptime}<"))[("192.0.2.1", None)]
    assert rec.fields.get("established_time_s") == seconds and not rec.partial


def test_iosxe_bgp_a_family_not_negotiated_says_nothing_of_the_session() -> None:
    text = XE_BGP.read_text()
    first_af = text.replace(
        "<session-state>fsm-established</session-state>",
        "<session-state>fsm-nonnegotiated</session-state>",
        1,
    )
    assert _xe_bgp_records(first_af)[("192.0.2.1", None)].fields["state"] == "established"
    none = text.replace("fsm-established</session-state>", "fsm-nonnegotiated</session-state>")
    rec = _xe_bgp_records(none)[("192.0.2.1", None)]
    assert "state" not in rec.fields and not rec.partial
