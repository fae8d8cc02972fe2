"""Vendor-like identities for simulated devices: system group strings and port naming.

Every identity is invented for the simulator (plausible, not copied from any
device recording).  Each profile knows how the vendor names and numbers its
ports, so collectors meet the same shapes they meet in the field: sparse
ifIndex values, ``ifDescr`` different from ``ifName`` (Cisco), speeds above the
32-bit ``ifSpeed`` range (Arista 40G), a software loopback row (Linux).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

ETHERNET_CSMACD = 6  # IANAifType ethernetCsmacd
SOFTWARE_LOOPBACK = 24  # IANAifType softwareLoopback

G = 1_000_000_000


@dataclass(frozen=True, slots=True)
class PortSpec:
    """Static identity of one interface row; ``uplink`` ports get the busy traffic roles."""

    if_index: int
    descr: str
    name: str
    if_type: int
    mtu: int
    speed_bps: int
    uplink: bool = False


@dataclass(frozen=True, slots=True)
class VendorProfile:
    """One vendor kind: what the system group says and how ports are laid out."""

    kind: str  # e.g. "cisco-ios"; stable key for tests and inventories
    vendor: str  # e.g. "cisco"; what inventory_rows() reports
    sys_object_id: tuple[int, ...]
    sys_services: int
    oui: bytes  # first three bytes of every port MAC
    versions: tuple[str, ...]
    descr_template: str  # str.format(version=..., host=...)
    ports: Callable[[int], list[PortSpec]]  # n -> exactly n ports, ifIndex ascending

    def sys_descr(self, rng: random.Random, host: str) -> str:
        """The sysDescr text; the software version is drawn from ``rng``."""
        return self.descr_template.format(version=rng.choice(self.versions), host=host)


def _uplinks(n: int) -> int:
    # Small boxes get no separate uplink ports; bigger ones get two, like a
    # 48-port access switch with two SFP+ cages.
    return 0 if n < 4 else 2


def _cisco_ports(n: int) -> list[PortSpec]:
    up = _uplinks(n)
    out = [
        PortSpec(10100 + k, f"GigabitEthernet1/0/{k}", f"Gi1/0/{k}", ETHERNET_CSMACD, 1500, G)
        for k in range(1, n - up + 1)
    ]
    out += [
        PortSpec(
            10600 + k,
            f"TenGigabitEthernet1/0/{k}",
            f"Te1/0/{k}",
            ETHERNET_CSMACD,
            1500,
            10 * G,
            uplink=True,
        )
        for k in range(1, up + 1)
    ]
    return out


def _juniper_ports(n: int) -> list[PortSpec]:
    up = _uplinks(n)
    out = [
        PortSpec(513 + k, f"ge-0/0/{k}", f"ge-0/0/{k}", ETHERNET_CSMACD, 1514, G)
        for k in range(n - up)
    ]
    # Juniper numbers later-created interfaces higher; uplinks sit on FPC 1.
    base = 513 + max(n - up, 0) + 20
    out += [
        PortSpec(base + k, f"xe-1/0/{k}", f"xe-1/0/{k}", ETHERNET_CSMACD, 1514, 10 * G, True)
        for k in range(up)
    ]
    return out


def _arista_ports(n: int) -> list[PortSpec]:
    up = _uplinks(n)
    out = [
        PortSpec(k, f"Ethernet{k}", f"Ethernet{k}", ETHERNET_CSMACD, 9214, 10 * G)
        for k in range(1, n - up + 1)
    ]
    # QSFP ports after the 48 RJ45 ones, breakout naming: Ethernet49/1 has ifIndex 49001.
    first = max(n - up + 1, 49)
    out += [
        PortSpec(
            (first + k) * 1000 + 1,
            f"Ethernet{first + k}/1",
            f"Ethernet{first + k}/1",
            ETHERNET_CSMACD,
            9214,
            40 * G,
            uplink=True,
        )
        for k in range(up)
    ]
    return out


def _huawei_ports(n: int) -> list[PortSpec]:
    up = _uplinks(n)
    out = [
        PortSpec(
            5 + k, f"GigabitEthernet0/0/{k}", f"GigabitEthernet0/0/{k}", ETHERNET_CSMACD, 1500, G
        )
        for k in range(1, n - up + 1)
    ]
    base = 5 + n - up
    out += [
        PortSpec(
            base + k,
            f"XGigabitEthernet0/0/{k}",
            f"XGigabitEthernet0/0/{k}",
            ETHERNET_CSMACD,
            1500,
            10 * G,
            uplink=True,
        )
        for k in range(1, up + 1)
    ]
    return out


def _linux_ports(n: int) -> list[PortSpec]:
    # net-snmp reports the loopback first, then ethN; eth0 carries the traffic.
    out = [PortSpec(1, "lo", "lo", SOFTWARE_LOOPBACK, 65536, 10_000_000)]
    out += [
        PortSpec(
            2 + k,
            f"eth{k}",
            f"eth{k}",
            ETHERNET_CSMACD,
            1500,
            10 * G if k == 0 else G,
            uplink=(k == 0),
        )
        for k in range(n - 1)
    ]
    return out[:n]


VENDORS: dict[str, VendorProfile] = {
    p.kind: p
    for p in (
        VendorProfile(
            kind="cisco-ios",
            vendor="cisco",
            sys_object_id=(1, 3, 6, 1, 4, 1, 9, 1, 1208),
            sys_services=2,
            oui=bytes.fromhex("00000c"),
            versions=("15.0(2)EX5", "15.2(2)E6", "15.2(7)E3"),
            descr_template=(
                "Cisco IOS Software, C2960X Software (C2960X-UNIVERSALK9-M), "
                "Version {version}, RELEASE SOFTWARE (fc1)\r\n"
                "Technical Support: http://www.cisco.com/techsupport\r\n"
                "Copyright (c) 1986-2019 by Cisco Systems, Inc."
            ),
            ports=_cisco_ports,
        ),
        VendorProfile(
            kind="juniper-junos",
            vendor="juniper",
            sys_object_id=(1, 3, 6, 1, 4, 1, 2636, 1, 1, 1, 2, 25),
            sys_services=4,
            oui=bytes.fromhex("000585"),
            versions=("19.4R3-S1.3", "20.4R3.8", "21.2R3-S2.9"),
            descr_template=(
                "Juniper Networks, Inc. mx480 internet router, kernel JUNOS {version}, "
                "Build date: 2021-03-01 00:00:00 UTC "
                "Copyright (c) 1996-2021 Juniper Networks, Inc."
            ),
            ports=_juniper_ports,
        ),
        VendorProfile(
            kind="arista-eos",
            vendor="arista",
            sys_object_id=(1, 3, 6, 1, 4, 1, 30065, 1, 3011, 7050, 3741, 48),
            sys_services=6,
            oui=bytes.fromhex("001c73"),
            versions=("4.15.2F", "4.20.15M", "4.24.2.4F"),
            descr_template=(
                "Arista Networks EOS version {version} running on an Arista Networks DCS-7050TX-64"
            ),
            ports=_arista_ports,
        ),
        VendorProfile(
            kind="huawei-vrp",
            vendor="huawei",
            sys_object_id=(1, 3, 6, 1, 4, 1, 2011, 2, 23, 419),
            sys_services=6,
            oui=bytes.fromhex("00e0fc"),
            versions=("V200R011C10SPC500", "V200R019C10SPC500"),
            descr_template=(
                "S5720-28X-SI-AC\r\n"
                "Huawei Versatile Routing Platform Software\r\n"
                "VRP (R) software, Version 5.170 (S5720 {version})\r\n"
                "Copyright (C) 2000-2019 HUAWEI TECH CO., LTD"
            ),
            ports=_huawei_ports,
        ),
        VendorProfile(
            kind="net-snmp-linux",
            vendor="net-snmp",
            sys_object_id=(1, 3, 6, 1, 4, 1, 8072, 3, 2, 10),
            sys_services=72,
            oui=bytes.fromhex("525400"),
            versions=("5.10.0-28-amd64", "6.1.0-18-amd64"),
            descr_template="Linux {host} {version} #1 SMP Debian x86_64",
            ports=_linux_ports,
        ),
    )
}

SITES = ("dc1 row A rack 12", "dc1 row C rack 03", "pop-ams hall 2", "campus bldg 4 IDF 3F")
ALIASES = ("server", "hypervisor", "AP", "printer", "storage", "firewall", "voice gw")
