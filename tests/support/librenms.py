"""LibreNMS's results in ``../shared/recordings/snmp/librenms/json`` as a test oracle.

The recordings README lists how LibreNMS stores each value; the helpers here
turn a netfeed ``interfaces`` record into that form so fields compare 1:1, and
model which interfaces LibreNMS drops (its ``is_port_valid``).  Everything here
is a rule of LibreNMS's (global, or per LibreNMS OS definition), never a table
of per-recording expectations.
"""

from __future__ import annotations

import json
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

RECORDINGS = Path(
    os.environ.get(
        "NETFEED_RECORDINGS", Path(__file__).resolve().parents[3] / "shared" / "recordings" / "snmp"
    )
)
LIBRENMS = RECORDINGS / "librenms"


def recording_names() -> list[str]:
    return sorted(p.stem for p in (LIBRENMS / "snmprec").glob("*.snmprec"))


@cache
def librenms_json(name: str) -> dict[str, Any]:
    """The whole json of one recording (``{module: {"discovery": ..., "poller": ...}}``)."""
    data: dict[str, Any] = json.loads((LIBRENMS / "json" / f"{name}.json").read_text())
    return data


def module_rows(name: str, module: str, table: str, poller: bool = True) -> list[dict[str, Any]]:
    """Rows of ``table`` in ``module``: the poller's where it has its own (and
    ``poller``), else discovery's; [] when LibreNMS has no such module."""
    mod = librenms_json(name).get(module) or {}
    polled = mod.get("poller")
    source = polled if poller and isinstance(polled, dict) else mod.get("discovery") or {}
    return list(source.get(table) or [])


def librenms_os(name: str) -> str | None:
    """The OS LibreNMS recognised (its ``os`` module), None where it has no result."""
    rows = module_rows(name, "os", "devices", poller=False)
    return rows[0]["os"] if rows else None


def expected_ports(name: str) -> dict[int, dict[str, Any]]:
    return {int(r["ifIndex"]): r for r in module_rows(name, "ports", "ports")}


# netfeed field -> LibreNMS column; counters compare HC-else-32-bit, 0 for none.
COUNTERS = {
    "in_octets": "ifInOctets",
    "out_octets": "ifOutOctets",
    "in_ucast_pkts": "ifInUcastPkts",
    "out_ucast_pkts": "ifOutUcastPkts",
    "in_multicast_pkts": "ifInMulticastPkts",
    "out_multicast_pkts": "ifOutMulticastPkts",
    "in_broadcast_pkts": "ifInBroadcastPkts",
    "out_broadcast_pkts": "ifOutBroadcastPkts",
    "in_nucast_pkts": "ifInNUcastPkts",
    "out_nucast_pkts": "ifOutNUcastPkts",
    "in_errors": "ifInErrors",
    "out_errors": "ifOutErrors",
    "in_discards": "ifInDiscards",
    "out_discards": "ifOutDiscards",
    "in_unknown_protos": "ifInUnknownProtos",
}
# the 32-bit column of each counter that has a 64-bit (ifHC*) one
COUNTER32_OID = {
    "in_octets": "1.3.6.1.2.1.2.2.1.10",
    "in_ucast_pkts": "1.3.6.1.2.1.2.2.1.11",
    "out_octets": "1.3.6.1.2.1.2.2.1.16",
    "out_ucast_pkts": "1.3.6.1.2.1.2.2.1.17",
    "in_multicast_pkts": "1.3.6.1.2.1.31.1.1.1.2",
    "in_broadcast_pkts": "1.3.6.1.2.1.31.1.1.1.3",
    "out_multicast_pkts": "1.3.6.1.2.1.31.1.1.1.4",
    "out_broadcast_pkts": "1.3.6.1.2.1.31.1.1.1.5",
}
PLAIN = {
    "if_descr": "ifDescr",
    "if_type": "ifType",
    "admin_status": "ifAdminStatus",
    "oper_status": "ifOperStatus",
    "duplex": "ifDuplex",
    "speed_bps": "ifSpeed",
    "mtu_octets": "ifMtu",
    "phys_address": "ifPhysAddress",
    "last_change_ticks": "ifLastChange",
}
# The string columns and where the recording has them (ifTable / ifXTable).
STRING_OIDS = {
    "ifDescr": "1.3.6.1.2.1.2.2.1.2",
    "ifName": "1.3.6.1.2.1.31.1.1.1.1",
    "ifAlias": "1.3.6.1.2.1.31.1.1.1.18",
}
# Columns LibreNMS stores as 0 where the device gave no value (and leaves
# unset where it kept no poller results at all: ports "poller" is "matches
# discovery").
ZERO_WHEN_ABSENT = {*COUNTERS.values(), "ifLastChange"}

# LibreNMS's is_port_valid (global ``bad_if`` / ``bad_iftype`` lists, matched
# ignoring case as substrings of ifDescr / of the ifType name).
BAD_IF_WORDS = (
    "unrouted",
    "bluetooth",
    "irtual",
    "voip-null",
    "eobc",
    "span rp",
    "span sp",
    "container",
    "async",
    "qos",
    "sslvpn",
    "pppoe-",
    "ras",
)
BAD_IF_TYPES = (
    "voice",
    "ds0",
    "ds1",
    "ds3",
    "sonet",
    "aal5",
    "atmsubinterface",
    "mpls",
)
# Per-OS definitions of LibreNMS's (keyed by LibreNMS's OS name, from ``os``):
# ifDescr patterns it drops (``bad_if_regexp``), ifDescr words that keep a port
# whatever else matches (``good_if``), and OSes whose ports may have an empty
# ifDescr (``empty_ifdescr``; LibreNMS then shows ifName in its place).
OS_BAD_IFDESCR = {"edgeos": re.compile(r"^(npi|loop|gre)")}
OS_GOOD_IFDESCR = {"voss": ("virtual services platform",)}
OS_EMPTY_IFDESCR = {"fortigate"}


def display(s: str | None) -> str | None:
    """LibreNMS removes ``"`` and trims whitespace and backslashes at both ends
    of the strings it stores (a backslash inside stays)."""
    return None if s is None else s.replace('"', "").strip(" \\\t\r\n")


PRINTABLE = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0D}


def octets_text(raw: bytes) -> str:
    """LibreNMS's text of an OCTET STRING with unprintable octets: the text
    before the first NUL; one with nothing before it shows net-snmp's rendering
    (a ``.`` per unprintable octet)."""
    head = raw.split(b"\0", 1)[0]
    if head:
        return head.decode("utf-8", "replace")
    return "".join(chr(b) if b in PRINTABLE else "." for b in raw)


def librenms_view(
    tags: dict[str, str], fields: dict[str, Any], os_name: str | None = None
) -> dict[str, Any]:
    """A netfeed interface record in LibreNMS's terms (display rules applied).

    Strings: :func:`display`; an empty ifDescr shows ifName where the OS
    allows empty ones (``OS_EMPTY_IFDESCR``), an empty ifName shows ifDescr,
    an empty ifAlias shows ifDescr.  A counter or ifLastChange the device did
    not give is 0 (see :func:`same` for LibreNMS's "nothing").
    """
    view: dict[str, Any] = {"ifIndex": int(tags["if_index"])}
    for ours, theirs in PLAIN.items():
        v = fields.get(ours)
        view[theirs] = display(v) if isinstance(v, str) else v
    name = display(tags.get("if_name"))
    if not view["ifDescr"] and os_name in OS_EMPTY_IFDESCR and name:
        view["ifDescr"] = name
    view["ifName"] = name or view["ifDescr"]
    view["ifAlias"] = display(fields.get("if_alias")) or view["ifDescr"]
    for ours, theirs in COUNTERS.items():
        view[theirs] = fields.get(ours)
    for col in ZERO_WHEN_ABSENT:
        view[col] = view[col] or 0
    return view


# enumerated columns: a code outside the MIB's table is kept as the number by both,
# LibreNMS as its text ("0"), netfeed as the int itself (bus.datasets)
ENUM_COLUMNS = frozenset({"ifType", "ifAdminStatus", "ifOperStatus", "ifDuplex"})


def same(column: str, ours: Any, theirs: Any) -> bool:
    """One column of :func:`librenms_view` against LibreNMS's: equal, or a 0 of
    ``ZERO_WHEN_ABSENT`` where LibreNMS kept no poller value, or the same unknown
    code of an enumerated column."""
    if ours == 0 and theirs is None and column in ZERO_WHEN_ABSENT:
        return True
    if column in ENUM_COLUMNS and type(ours) is int and isinstance(theirs, str):
        return theirs == str(ours)
    return bool(ours == theirs)


def compared_columns() -> list[str]:
    return ["ifName", "ifAlias", *PLAIN.values(), *COUNTERS.values()]


def dropped_by_librenms(view: dict[str, Any], os_name: str | None) -> str | None:
    """Why LibreNMS's ``is_port_valid`` drops this interface (None: it keeps it)."""
    descr = view.get("ifDescr") or ""
    if not descr:
        return "empty ifDescr"
    low = descr.lower()
    if any(w in low for w in OS_GOOD_IFDESCR.get(os_name or "", ())):
        return None
    word = next((w for w in BAD_IF_WORDS if w in low), None)
    if word:
        return f"ifDescr contains {word!r}"
    kind = next((t for t in BAD_IF_TYPES if t in str(view.get("ifType") or "").lower()), None)
    if kind:
        return f"ifType {view.get('ifType')} ({kind})"
    pattern = OS_BAD_IFDESCR.get(os_name or "")
    if pattern is not None and pattern.search(descr):
        return f"{os_name} ifDescr pattern {pattern.pattern}"
    if view.get("ifOperStatus") == "notPresent":
        return "notPresent"
    return None


def ignored_by_librenms(row: dict[str, Any], os_name: str | None = None) -> bool:
    """Interfaces LibreNMS drops (see :func:`dropped_by_librenms`)."""
    return dropped_by_librenms(row, os_name) is not None
