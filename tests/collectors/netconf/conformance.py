"""The NETCONF conformance checks, as functions (the test module runs them over
every reply in ../shared/recordings/netconf; ``python -m`` prints a summary).

No per-file expected values: each reply goes through the profile of its
family/model, and its records are compared with NAPALM's result for the same
reply where the folder has one, and otherwise with what a small generic reader
(below, independent of the profiles) finds in the XML."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from bus.datasets import validate
from bus.records import Record
from collectors.netconf.extract import build_records, load_netconf_profiles
from collectors.netconf.xml import parse_data


def recordings_dir() -> Path:
    snmp = os.environ.get("NETFEED_RECORDINGS")
    if snmp:
        return Path(snmp).parent / "netconf"
    return Path(__file__).resolve().parents[4] / "shared" / "recordings" / "netconf"


def reply_files(folder: Path) -> list[Path]:
    """Every data reply: XML, not a request, not a <hello>."""
    out = []
    for p in sorted(folder.glob("*.xml")):
        if p.stem.endswith("_request") or "hello" in p.stem:
            continue
        out.append(p)
    return out


# family -> profile: a reply's family (its file name's first part) names the
# profile a device of that family matches by its hello capabilities (tested
# separately on real hellos); a vendor profile also reads the standard models
# its devices serve (an IOS-XR device's OpenConfig reply).  Families without a
# profile of their own (openconfig, ietf; EOS, whose only reply is
# openconfig-system) go to the generic model profiles.  A new vendor profile
# is picked up by its name: no table here to edit.
MODELS = ("openconfig", "ietf")
VENDORS = tuple(
    sorted(n for n in load_netconf_profiles().profiles if n not in MODELS and not n.startswith("_"))
)


def profile_for(path: Path) -> str:
    family = path.stem.split("_")[0]
    if family in ("openconfig", "eos"):
        return "openconfig"
    return family if family in VENDORS else "ietf"


def profiles_for(path: Path) -> list[str]:
    """The family's profile, plus the generic model profile for a standard-model
    reply, plus the vendor profile of the device that served a model-family reply."""
    family, what, *_ = path.stem.split("_")
    source = path.stem.rsplit("_", 1)[-1]
    out = [profile_for(path)]
    for model in MODELS:
        if what.startswith(model) and model not in out:
            out.append(model)
    out += [v for v in VENDORS if family not in VENDORS and v in source and v not in out]
    return out


@dataclass
class Outcome:
    reply: str
    profile: str
    records: dict[str, list[Record]] = field(default_factory=dict)
    compared: dict[str, int] = field(default_factory=dict)  # check -> values compared
    problems: list[str] = field(default_factory=list)

    def cmp(self, check: str, what: str, ours: Any, theirs: Any) -> None:
        self.compared[check] = self.compared.get(check, 0) + 1
        if ours != theirs:
            self.problems.append(f"{check}: {what}: ours {ours!r} != {theirs!r}")


# --- the generic reader: local names only, no profile ------------------------

_IF_LISTS = {"interface", "physical-interface", "logical-interface", "port"}
_IF_KEYS = ("name", "interface-name", "port-id")
_PEER_LISTS = {"neighbor", "bgp-peer"}
_PEER_KEYS = ("neighbor-address", "peer-address", "ip-address")
# the documented counter leaves of every model, per record field
_COUNTERS = {
    "in_octets": {"in-octets", "input-bytes", "bytes-received"},
    "out_octets": {"out-octets", "output-bytes", "bytes-sent", "out-octets-64"},
    "in_errors": {"in-errors", "input-errors", "in-errors-64"},
    "out_errors": {"out-errors", "output-errors"},
}


def _local(el: Any) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _child_text(el: Any, names: tuple[str, ...]) -> str | None:
    for c in el:
        if _local(c) in names and c.text and c.text.strip():
            return c.text.strip()
    return None


def generic_interfaces(tree: Any) -> dict[str, list[Any]]:
    """Interface name -> the list entries that carry it."""
    out: dict[str, list[Any]] = {}
    for el in tree.iter():
        if _local(el) in _IF_LISTS and (name := _child_text(el, _IF_KEYS)):
            out.setdefault(name, []).append(el)
    return out


def generic_peers(tree: Any) -> set[str]:
    out = set()
    for el in tree.iter():
        if _local(el) in _PEER_LISTS and (addr := _child_text(el, _PEER_KEYS)):
            out.add(addr.split("+")[0])
    return out


def _own_numbers(entry: Any, names: set[str]) -> set[int]:
    """Numbers at the named leaves inside one list entry, not inside a nested
    entry of another interface list (a Junos unit inside its port)."""
    got: set[int] = set()
    stack = list(entry)
    while stack:
        el = stack.pop()
        if _local(el) in _IF_LISTS:
            continue
        if _local(el) in names and el.text and re.fullmatch(r"\d+", el.text.strip()):
            got.add(int(el.text.strip()))
        stack.extend(el)
    return got


# --- napalm oracles ----------------------------------------------------------

_NAPALM_COUNTERS = {
    "rx_octets": "in_octets",
    "tx_octets": "out_octets",
    "rx_unicast_packets": "in_ucast_pkts",
    "tx_unicast_packets": "out_ucast_pkts",
    "rx_multicast_packets": "in_multicast_pkts",
    "tx_multicast_packets": "out_multicast_pkts",
    "rx_broadcast_packets": "in_broadcast_pkts",
    "tx_broadcast_packets": "out_broadcast_pkts",
    "rx_errors": "in_errors",
    "tx_errors": "out_errors",
    "rx_discards": "in_discards",
    "tx_discards": "out_discards",
}


def _mac(v: str) -> str:
    return re.sub(r"[^0-9a-f]", "", v.lower())


def _oracle_interfaces(out: Outcome, oracle: dict[str, Any], by_name: dict[str, Record]) -> None:
    for name, o in oracle.items():
        rec = by_name.get(name)
        if rec is None:
            out.problems.append(f"napalm-get_interfaces: no record for {name!r}")
            continue
        f = rec.fields
        if "oper_status" in f:
            out.cmp("napalm", f"{name} is_up", f["oper_status"] == "up", o["is_up"])
        if "admin_status" in f:
            out.cmp("napalm", f"{name} is_enabled", f["admin_status"] == "up", o["is_enabled"])
        if o.get("description"):
            out.cmp("napalm", f"{name} description", f.get("if_alias"), o["description"])
        if o.get("mtu", 0) > 0 and "mtu_octets" in f:
            out.cmp("napalm", f"{name} mtu", f["mtu_octets"], o["mtu"])
        if o.get("speed", -1) > 0 and "speed_bps" in f:
            out.cmp("napalm", f"{name} speed", f["speed_bps"] / 1e6, float(o["speed"]))
        mac = o.get("mac_address", "")
        if (
            re.fullmatch(r"[0-9A-Fa-f]{2}([:.-]?[0-9A-Fa-f]{2}){5}", mac or "")
            and "phys_address" in f
        ):
            out.cmp("napalm", f"{name} mac", f["phys_address"], _mac(mac))


def _oracle_counters(
    out: Outcome, oracle: dict[str, Any], by_name: dict[str, Record], total_packets: bool
) -> None:
    for name, o in oracle.items():
        rec = by_name.get(name)
        if rec is None:
            out.problems.append(f"napalm-get_interfaces_counters: no record for {name!r}")
            continue
        for theirs, ours in _NAPALM_COUNTERS.items():
            if o.get(theirs, -1) != -1 and ours in rec.fields:
                value = rec.fields[ours]
                if total_packets and ours.endswith("ucast_pkts"):
                    # napalm's iosxr_netconf reports packets-received/-sent (all
                    # packets, per the model) as unicast: compare with our sum
                    d = ours.split("_")[0]
                    value = sum(
                        rec.fields.get(f"{d}_{k}_pkts", 0)
                        for k in ("ucast", "multicast", "broadcast")
                    )  # type: ignore[misc]
                out.cmp("napalm", f"{name} {ours}", value, o[theirs])


def _oracle_facts(out: Outcome, o: dict[str, Any], system: list[Record], names: set[str]) -> None:
    if len(system) != 1:
        out.problems.append(f"napalm-get_facts: {len(system)} system records")
        return
    rec = system[0]
    f = rec.fields
    out.cmp("napalm", "hostname", rec.tags.get("sys_name"), o["hostname"])
    out.cmp("napalm", "vendor", f.get("vendor"), o["vendor"])
    out.cmp("napalm", "model", f.get("model"), o["model"])
    out.cmp("napalm", "os_version", f.get("os_version"), o["os_version"])
    out.cmp("napalm", "serial", f.get("serial"), o["serial_number"])
    if "uptime_ticks" in f:
        ours = f["uptime_ticks"]
        assert isinstance(ours, int)
        out.cmp("napalm", "uptime_s", abs(ours / 100 - float(o["uptime"])) <= 1, True)
    if names:  # the reply's interface names (when it carries any) are records
        for n in o.get("interface_list", []):
            out.cmp("napalm", f"interface {n}", n in names, True)


def _oracle_bgp(out: Outcome, oracle: dict[str, Any], bgp: list[Record]) -> None:
    by_key = {(r.tags.get("routing_instance"), r.tags["peer_address"]): r for r in bgp}
    for vrf, v in oracle.items():
        for addr, o in v.get("peers", {}).items():
            rec = by_key.get((None if vrf == "global" else vrf, addr))
            if rec is None:
                out.problems.append(f"napalm-get_bgp_neighbors: no record for {vrf}/{addr}")
                continue
            f, w = rec.fields, f"{vrf}/{addr}"
            out.cmp("napalm", f"{w} remote_as", f.get("remote_as"), o["remote_as"])
            out.cmp("napalm", f"{w} local_as", f.get("local_as"), o["local_as"])
            if o.get("remote_id") and "peer_identifier" in f:
                out.cmp("napalm", f"{w} remote_id", f["peer_identifier"], o["remote_id"])
            out.cmp("napalm", f"{w} is_up", f.get("state") == "established", o["is_up"])
            if "admin_status" in f:
                out.cmp("napalm", f"{w} is_enabled", f["admin_status"] == "start", o["is_enabled"])
            if o.get("description"):
                out.cmp("napalm", f"{w} description", f.get("description"), o["description"])
            if "established_time_s" in f and o.get("uptime", -1) >= 0:
                out.cmp("napalm", f"{w} uptime", f["established_time_s"], o["uptime"])
            afs = o.get("address_family", {}).values()
            for theirs, ours in (
                ("received_prefixes", "prefixes_received"),
                ("accepted_prefixes", "prefixes_accepted"),
                ("sent_prefixes", "prefixes_advertised"),
            ):
                vals = [a[theirs] for a in afs if a.get(theirs, -1) != -1]
                if vals and ours in f:
                    out.cmp("napalm", f"{w} {ours}", f[ours], sum(vals))


def _oracle_bgp_detail(out: Outcome, oracle: dict[str, Any], bgp: list[Record]) -> None:
    """napalm's per-VRF, per-remote-AS peer details.  Its iosxr_netconf message
    counts are napalm's own arithmetic (inputs 0 where the reply has others,
    outputs one more than messages-sent), so they are not compared."""
    by_key = {(r.tags.get("routing_instance"), r.tags["peer_address"]): r for r in bgp}
    for vrf, by_as in oracle.items():
        for peers in by_as.values():
            for o in peers:
                w = f"{vrf}/{o['remote_address']}"
                rec = by_key.get((None if vrf == "global" else vrf, o["remote_address"]))
                if rec is None:
                    out.problems.append(f"napalm-get_bgp_neighbors_detail: no record for {w}")
                    continue
                f = rec.fields
                out.cmp("napalm", f"{w} remote_as", f.get("remote_as"), o["remote_as"])
                out.cmp("napalm", f"{w} local_as", f.get("local_as"), o["local_as"])
                if o.get("local_address") and "local_address" in f:
                    out.cmp("napalm", f"{w} local_address", f["local_address"], o["local_address"])
                if o.get("router_id") and "peer_identifier" in f:
                    out.cmp("napalm", f"{w} router_id", f["peer_identifier"], o["router_id"])
                out.cmp("napalm", f"{w} state", f.get("state"), o["connection_state"].lower())
                for theirs, ours in (
                    ("accepted_prefix_count", "prefixes_accepted"),
                    ("advertised_prefix_count", "prefixes_advertised"),
                ):
                    if o.get(theirs, -1) != -1 and ours in f:
                        out.cmp("napalm", f"{w} {ours}", f[ours], o[theirs])


# --- one reply ---------------------------------------------------------------


def check_reply(path: Path, name: str | None = None) -> Outcome:
    profiles = load_netconf_profiles()
    name = name or profile_for(path)
    out = Outcome(path.name, name)
    profile = profiles.profiles[name]
    raw = path.read_bytes()
    data = parse_data(raw)
    for ds in sorted(profile.datasets):
        recs, _ = build_records(profile, ds, data, network="conformance", device=path.stem)
        for r in recs:
            validate(r)  # raises on a record that breaks the contract
            if r.partial:
                out.problems.append(f"{ds}: partial record {r.tags}: {r.missing}")
        if recs:
            out.records[ds] = recs
    tree = etree.fromstring(raw)
    interfaces = out.records.get("interfaces", [])
    by_name = {r.tags["if_name"]: r for r in interfaces if "if_name" in r.tags}

    # generic reader: every interface / peer in the reply is a record
    wanted = generic_interfaces(tree) if "interfaces" in profile.datasets else {}
    if "bgp" in path.stem or "bgp" in {_local(e) for e in tree.iter()}:
        wanted = {}  # a BGP reply's <neighbor> lists are peers, not interfaces
    for n, entries in wanted.items():
        out.cmp("xml", f"interface {n} is a record", n in by_name, True)
        rec = by_name.get(n)
        if rec is None:
            continue
        for fname, leaves in _COUNTERS.items():
            found = set().union(*(_own_numbers(e, leaves) for e in entries))
            if fname in rec.fields:
                out.cmp(
                    "xml",
                    f"{n} {fname} is a number at a documented leaf",
                    rec.fields[fname] in found,
                    True,
                )
            elif found:
                out.problems.append(f"{n}: {fname}: the reply has {sorted(found)} but no field")
    peers = generic_peers(tree) if "bgp" in profile.datasets else set()
    by_peer: dict[str, list[Record]] = {}
    for r in out.records.get("bgp", []):
        by_peer.setdefault(r.tags["peer_address"], []).append(r)
    for p in peers:
        out.cmp("xml", f"peer {p} is a record", p in by_peer, True)
    # a peer's remote AS is the number at its peer-as / remote-as leaf
    for el in tree.iter():
        if _local(el) not in _PEER_LISTS or not (addr := _child_text(el, _PEER_KEYS)):
            continue
        ases = {
            int(c.text)
            for c in el.iter()
            if _local(c) in {"peer-as", "remote-as"} and c.text and c.text.strip().isdigit()
        }
        got_as = {r.fields.get("remote_as") for r in by_peer.get(addr.split("+")[0], [])}
        if ases and got_as != {None}:
            out.cmp("xml", f"peer {addr} remote_as", bool(got_as & ases), True)

    # generic reader, system: identity leaves the reply has are the record's
    system = out.records.get("system", [])
    for fname, leaves in (
        ("sys_name", {"host-name", "oper-name"}),
        ("serial", {"serial-number"}),
        ("os_version", {"junos-version", "version-number", "software-revision"}),
        ("model", {"product-model", "platform", "model-name"}),
    ):
        texts = [
            e.text.strip() for e in tree.iter() if _local(e) in leaves and e.text and e.text.strip()
        ]
        if not texts or "system" not in profile.datasets:
            continue
        if len(system) != 1:
            out.problems.append(
                f"system: the reply has {fname} {texts[0]!r} but {len(system)} records"
            )
            continue
        got = system[0].tags.get(fname) if fname == "sys_name" else system[0].fields.get(fname)
        out.cmp("xml", f"system {fname} is one of the reply's", got in texts, True)
    seconds = [
        e.get("seconds")
        for e in tree.iter()
        if _local(e) in {"time-length", "up-time"} and e.get("seconds")
    ]
    if seconds and system:
        got = system[0].fields.get("uptime_ticks")
        out.cmp("xml", "system uptime", isinstance(got, int) and str(got // 100) in seconds, True)

    # generic reader, health: every CPU / memory entry of the reply is a
    # component, its value the number at a documented leaf
    health = out.records.get("health", [])
    for kind, lists, leaves in (
        ("cpu", {"cpu-utilization", "route-engine"}, {"total-cpu-five-minute", "cpu-idle"}),
        ("memory", {"node", "route-engine"}, {"ram-memory", "memory-dram-size"}),
    ):
        if "health" not in profile.datasets:
            break
        entries = [
            e
            for e in tree.iter()
            if _local(e) in lists and any(_local(c) in leaves for c in e.iter())
        ]
        got = [r for r in health if r.tags["component_kind"] == kind]
        if entries:
            out.cmp("xml", f"{kind} components", len(got), len(entries))
        for e in entries:
            numbers = {
                float(re.match(r"\d+", c.text.strip()).group())  # type: ignore[union-attr]
                for c in e.iter()
                if _local(c) in leaves and c.text and re.match(r"\d+", c.text.strip())
            }
            values = {
                r.fields.get("cpu_util_pct")
                if kind == "cpu"
                else r.fields.get("memory_total_octets")
                for r in got
            }
            ok = any(
                v is not None and any(v in (n, 100 - n) or v == n * 1048576 for n in numbers)
                for v in values
            )
            out.cmp("xml", f"{kind} value at a documented leaf", ok, True)

    # napalm oracles
    for oracle in sorted(path.parent.glob(f"{path.stem}.napalm*.json")):
        o = json.loads(oracle.read_text())
        kind = oracle.name.rsplit(".", 2)[1]
        if kind.endswith("get_interfaces"):
            _oracle_interfaces(out, o, by_name)
        elif kind.endswith("get_interfaces_counters"):
            _oracle_counters(out, o, by_name, total_packets=out.profile == "iosxr")
        elif kind.endswith("get_facts"):
            _oracle_facts(out, o, out.records.get("system", []), set(by_name))
        elif kind.endswith("get_bgp_neighbors"):
            _oracle_bgp(out, o, out.records.get("bgp", []))
        elif kind.endswith("get_bgp_neighbors_detail"):
            _oracle_bgp_detail(out, o, out.records.get("bgp", []))
        else:
            out.problems.append(f"{oracle.name}: no comparison written for this oracle")
    return out


if __name__ == "__main__":
    for p, prof in [(f, n) for f in reply_files(recordings_dir()) for n in profiles_for(f)]:
        o = check_reply(p, prof)
        recs = ", ".join(f"{d} {len(r)}" for d, r in o.records.items()) or "none"
        cmp = ", ".join(f"{k} {v}" for k, v in o.compared.items()) or "-"
        print(
            f"{o.reply} [{o.profile}]: records {recs}; compared {cmp}; problems {len(o.problems)}"
        )
        for pr in o.problems[:8]:
            print("   ", pr)
