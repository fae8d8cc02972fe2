"""LibreNMS's results in ``../shared/recordings/snmp/librenms/json`` as a test oracle.

The recordings README lists how LibreNMS stores each value; the helpers here
turn a netfeed ``interfaces`` record into that form so fields compare 1:1.
"""

from __future__ import annotations

import json
import os
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


def expected_ports(name: str) -> dict[int, dict[str, Any]]:
    data = json.loads((LIBRENMS / "json" / f"{name}.json").read_text())
    ports = data.get("ports", {})
    poller = ports.get("poller")
    rows = (poller if isinstance(poller, dict) else ports.get("discovery", {})).get("ports", [])
    return {int(r["ifIndex"]): r for r in rows}


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


def _display(s: str | None) -> str | None:
    """LibreNMS strips quotes and backslashes and trims the strings it stores."""
    return None if s is None else s.replace('"', "").replace("\\", "").strip()


def librenms_view(tags: dict[str, str], fields: dict[str, Any]) -> dict[str, Any]:
    """A netfeed interface record in LibreNMS's terms (display rules applied)."""
    view: dict[str, Any] = {
        "ifIndex": int(tags["if_index"]),
        "ifName": _display(tags.get("if_name")),
    }
    for ours, theirs in PLAIN.items():
        v = fields.get(ours)
        view[theirs] = _display(v) if isinstance(v, str) else v
    alias = fields.get("if_alias")
    view["ifAlias"] = _display(alias) if alias else view["ifDescr"]
    for ours, theirs in COUNTERS.items():
        view[theirs] = fields.get(ours) or 0
    return view


def compared_columns() -> list[str]:
    return ["ifName", "ifAlias", *PLAIN.values(), *COUNTERS.values()]


def ignored_by_librenms(row: dict[str, Any]) -> bool:
    """Interfaces LibreNMS drops (notPresent, or names with these words)."""
    name = f"{row.get('ifName') or ''} {row.get('ifDescr') or ''}".lower()
    return row.get("ifOperStatus") == "notPresent" or any(
        w in name for w in ("unrouted", "bluetooth", "irtual")
    )
