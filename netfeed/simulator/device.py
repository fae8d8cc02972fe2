"""A simulated network element and its MIB; interfaces are in :mod:`.interfaces`.

Guarantees:

* Everything static (vendor, names, ifIndex values, MACs, base rates, uptime at
  construction) is a pure function of ``(seed, device_id, n_interfaces, kind)``.
  Counters are a pure function of that, the construction time ``now`` and the
  time ``t`` they are read at, so two reads at ``t1 < t2`` give
  ``(octets(t2) - octets(t1)) * 8 / (t2 - t1)`` equal to the mean modelled rate.
* Counters never go backwards except by wrapping (32-bit columns modulo 2**32,
  64-bit ones modulo 2**64), by :meth:`SimulatedDevice.reboot`, or if the wall
  clock the agent reads steps back.
* The OID index is built once; a read costs one bisect plus the value's own
  arithmetic.  Values are computed only for the OIDs actually asked for.

Value types are the snmprec type codes (``INTEGER`` 2, ``OCTETS`` 4, ...), so
the same ``(tag, value)`` pairs feed the agent and :meth:`SimulatedDevice.snmprec`.
"""

from __future__ import annotations

import random
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator
from functools import partial

from netfeed.simulator.interfaces import ROLES, Interface, make_interface
from netfeed.simulator.vendors import SITES, SOFTWARE_LOOPBACK, VENDORS, VendorProfile

# snmprec type codes
INTEGER, OCTETS, OID, COUNTER32, GAUGE32, TIMETICKS, COUNTER64 = 2, 4, 6, 65, 66, 67, 70

Oid = tuple[int, ...]
Value = tuple[int, int | str | bytes | Oid]
Getter = Callable[[float], Value]

SYSTEM = (1, 3, 6, 1, 2, 1, 1)
IF_NUMBER = (1, 3, 6, 1, 2, 1, 2, 1, 0)
IF_ENTRY = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IFX_ENTRY = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
DOT3_DUPLEX = (1, 3, 6, 1, 2, 1, 10, 7, 2, 1, 19)

M32, M64, GAUGE_MAX = 2**32, 2**64, 2**32 - 1


def _duplex(i: Interface, t: float) -> Value:
    return INTEGER, 3 if i.oper_up else 1  # fullDuplex(3) while up, unknown(1) while down


def _c32(v: int) -> Value:
    return COUNTER32, v % M32


def _c64(v: int) -> Value:
    return COUNTER64, v % M64


# Column number -> value of that column for one interface at time t.
_IF_COLUMNS: dict[int, Callable[[Interface, float], Value]] = {
    1: lambda i, t: (INTEGER, i.spec.if_index),
    2: lambda i, t: (OCTETS, i.spec.descr),
    3: lambda i, t: (INTEGER, i.spec.if_type),
    4: lambda i, t: (INTEGER, i.spec.mtu),
    5: lambda i, t: (GAUGE32, min(i.spec.speed_bps, GAUGE_MAX)),
    6: lambda i, t: (OCTETS, i.mac),
    7: lambda i, t: (INTEGER, 1 if i.admin_up else 2),
    8: lambda i, t: (INTEGER, 1 if i.oper_up else 2),
    # 9, ifLastChange, needs the device's boot time: SimulatedDevice._last_change.
    10: lambda i, t: _c32(i.in_octets(t)),
    11: lambda i, t: _c32(i.packets(t, True)[0]),
    12: lambda i, t: _c32(sum(i.packets(t, True)[1:])),
    13: lambda i, t: _c32(i.events(i.in_disc_s, t)),
    14: lambda i, t: _c32(i.events(i.in_err_s, t)),
    15: lambda i, t: _c32(i.events(i.unknown_s, t)),
    16: lambda i, t: _c32(i.out_octets(t)),
    17: lambda i, t: _c32(i.packets(t, False)[0]),
    18: lambda i, t: _c32(sum(i.packets(t, False)[1:])),
    19: lambda i, t: _c32(i.events(i.out_disc_s, t)),
    20: lambda i, t: _c32(i.events(i.out_err_s, t)),
}

_IFX_COLUMNS: dict[int, Callable[[Interface, float], Value]] = {
    1: lambda i, t: (OCTETS, i.spec.name),
    2: lambda i, t: _c32(i.packets(t, True)[1]),
    3: lambda i, t: _c32(i.packets(t, True)[2]),
    4: lambda i, t: _c32(i.packets(t, False)[1]),
    5: lambda i, t: _c32(i.packets(t, False)[2]),
    6: lambda i, t: _c64(i.in_octets(t)),
    7: lambda i, t: _c64(i.packets(t, True)[0]),
    8: lambda i, t: _c64(i.packets(t, True)[1]),
    9: lambda i, t: _c64(i.packets(t, True)[2]),
    10: lambda i, t: _c64(i.out_octets(t)),
    11: lambda i, t: _c64(i.packets(t, False)[0]),
    12: lambda i, t: _c64(i.packets(t, False)[1]),
    13: lambda i, t: _c64(i.packets(t, False)[2]),
    15: lambda i, t: (GAUGE32, i.spec.speed_bps // 1_000_000),
    18: lambda i, t: (OCTETS, i.alias),
}


class SimulatedDevice:
    """One simulated device and its MIB (system, ifNumber, ifTable, ifXTable, dot3 duplex).

    ``kind`` forces a vendor kind (a key of :data:`VENDORS`); by default it is drawn
    from the seed.  ``now`` is the construction time (defaults to ``time.time()``):
    the device has then already been up for a deterministic 1..300 days.
    """

    def __init__(
        self,
        device_id: str,
        *,
        seed: int = 0,
        n_interfaces: int = 8,
        kind: str | None = None,
        now: float | None = None,
    ) -> None:
        if n_interfaces < 1:
            raise ValueError("n_interfaces must be >= 1")
        now = time.time() if now is None else now
        rng = random.Random(f"netfeed-sim:{seed}:{device_id}")
        drawn = rng.choice(sorted(VENDORS))
        if kind is not None and kind not in VENDORS:
            raise ValueError(f"unknown vendor kind {kind!r}; known: {', '.join(sorted(VENDORS))}")
        self.device_id = device_id
        self.profile: VendorProfile = VENDORS[kind or drawn]
        uptime = rng.uniform(1, 300) * 86400
        self.boot_time = now - uptime
        self.sys_name = device_id
        self.sys_descr = self.profile.sys_descr(rng, device_id)
        self.sys_location = rng.choice(SITES)
        self.sys_contact = "NOC <noc@example.net>"
        self.interfaces: list[Interface] = []
        mac_base = rng.getrandbits(24) & 0xFFF000
        specs = self.profile.ports(n_interfaces)
        has_uplink = any(s.uplink for s in specs)
        names, weights = list(ROLES), [w for w, _ in ROLES.values()]
        for pos, spec in enumerate(specs):
            if spec.if_type == SOFTWARE_LOOPBACK:
                role = "loopback"
            elif spec.uplink or (not has_uplink and pos == 0):
                # At least one busy-ish link per device, so every device has traffic.
                role = "uplink"
            else:
                role = rng.choices(names, weights)[0]
            mac = b"" if role == "loopback" else self.profile.oui + (mac_base + pos).to_bytes(3)
            self.interfaces.append(make_interface(rng, spec, role, mac, self.boot_time, uptime))
        self._by_index = {i.if_index: i for i in self.interfaces}
        self._build_index()

    # -- state changes (for tests) -------------------------------------------------

    @property
    def kind(self) -> str:
        return self.profile.kind

    @property
    def vendor(self) -> str:
        return self.profile.vendor

    def interface(self, if_index: int) -> Interface:
        """The interface with this ifIndex (KeyError if none)."""
        return self._by_index[if_index]

    def reboot(self, at: float | None = None) -> None:
        """Restart at ``at`` (default now): sysUpTime, counters and ifLastChange restart at 0."""
        at = time.time() if at is None else at
        self.boot_time = at
        for iface in self.interfaces:
            iface.reset(at)

    def set_oper_status(self, if_index: int, up: bool, at: float | None = None) -> None:
        """Bring a link up or down at ``at``; its counters stop or resume without a jump."""
        self.interface(if_index).set_oper(up, time.time() if at is None else at)

    def uptime_ticks(self, t: float) -> int:
        """sysUpTime at ``t`` in 1/100 s, wrapping at 2**32 like a real agent."""
        return int(max(t - self.boot_time, 0.0) * 100) % M32

    def _last_change(self, iface: Interface, t: float) -> Value:
        # 0 when the last change predates the boot (RFC 2863).
        ticks = int(max(min(iface.last_change, t) - self.boot_time, 0.0) * 100)
        return TIMETICKS, ticks % M32

    # -- the MIB -------------------------------------------------------------------

    def _build_index(self) -> None:
        entries: list[tuple[Oid, Getter]] = []
        system: dict[int, Getter] = {
            1: lambda t: (OCTETS, self.sys_descr),
            2: lambda t: (OID, self.profile.sys_object_id),
            3: lambda t: (TIMETICKS, self.uptime_ticks(t)),
            4: lambda t: (OCTETS, self.sys_contact),
            5: lambda t: (OCTETS, self.sys_name),
            6: lambda t: (OCTETS, self.sys_location),
            7: lambda t: (INTEGER, self.profile.sys_services),
        }
        objects: set[Oid] = set()
        for col, fn in system.items():
            entries.append(((*SYSTEM, col, 0), fn))
            objects.add((*SYSTEM, col))
        n = len(self.interfaces)
        entries.append((IF_NUMBER, lambda t: (INTEGER, n)))
        objects.add(IF_NUMBER[:-1])
        for table, columns in ((IF_ENTRY, _IF_COLUMNS), (IFX_ENTRY, _IFX_COLUMNS)):
            for col, column in columns.items():
                objects.add((*table, col))
                for iface in self.interfaces:
                    entries.append(((*table, col, iface.if_index), partial(column, iface)))
        objects.update({(*IF_ENTRY, 9), DOT3_DUPLEX})
        for iface in self.interfaces:
            entries.append(((*IF_ENTRY, 9, iface.if_index), partial(self._last_change, iface)))
            if iface.ethernet:
                entries.append(((*DOT3_DUPLEX, iface.if_index), partial(_duplex, iface)))
        entries.sort(key=lambda e: e[0])
        self.oids: list[Oid] = [oid for oid, _ in entries]
        self._getters: list[Getter] = [g for _, g in entries]
        self._pos: dict[Oid, int] = {oid: k for k, oid in enumerate(self.oids)}
        # Which positions hold Counter64 values, without computing them (SNMPv1 skips those).
        self.is_counter64: list[bool] = [
            oid[: len(IFX_ENTRY)] == IFX_ENTRY and 6 <= oid[len(IFX_ENTRY)] <= 13
            for oid in self.oids
        ]
        self._objects = frozenset(objects)

    def position(self, oid: Oid) -> int | None:
        """Index of ``oid`` in :attr:`oids`, or None if the device does not have it."""
        return self._pos.get(oid)

    def next_position(self, oid: Oid) -> int | None:
        """Index of the first OID strictly after ``oid`` (GETNEXT), or None at the end."""
        k = bisect_right(self.oids, oid)
        return k if k < len(self.oids) else None

    def value_at(self, pos: int, t: float) -> Value:
        """The ``(tag, value)`` at index ``pos`` of :attr:`oids`, computed for time ``t``."""
        return self._getters[pos](t)

    def get(self, oid: Oid, t: float | None = None) -> Value | None:
        """The value of one OID at ``t`` (default now), or None if absent."""
        pos = self._pos.get(oid)
        return None if pos is None else self._getters[pos](time.time() if t is None else t)

    def is_known_object(self, oid: Oid) -> bool:
        """True if ``oid`` lies under an object type this device implements.

        Distinguishes noSuchInstance (known column/scalar, wrong instance) from
        noSuchObject (unknown object) for SNMPv2c GET.
        """
        return any(oid[:k] in self._objects for k in range(7, min(len(oid), 12) + 1))

    def walk(self, t: float | None = None, prefix: Oid = ()) -> Iterator[tuple[Oid, Value]]:
        """All ``(oid, (tag, value))`` under ``prefix`` in lexicographic order, at ``t``."""
        t = time.time() if t is None else t
        k = bisect_right(self.oids, prefix) if prefix else 0
        if prefix and k > 0 and self.oids[k - 1] == prefix:
            k -= 1
        while k < len(self.oids) and self.oids[k][: len(prefix)] == prefix:
            yield self.oids[k], self._getters[k](t)
            k += 1

    def snmprec(self, t: float | None = None) -> str:
        """The device's state at ``t`` as snmpsim ``.snmprec`` text (``oid|type|value`` lines).

        Octet strings that are not printable ASCII (MACs, CR/LF in sysDescr) use
        the hex form ``4x``.
        """
        lines = []
        for oid, (tag, value) in self.walk(t):
            dotted = ".".join(map(str, oid))
            if isinstance(value, tuple):
                lines.append(f"{dotted}|{tag}|{'.'.join(map(str, value))}")
            elif isinstance(value, (str, bytes)):
                raw = value.encode() if isinstance(value, str) else value
                if all(32 <= b < 127 and b != ord("|") for b in raw):
                    lines.append(f"{dotted}|{tag}|{raw.decode()}")
                else:
                    lines.append(f"{dotted}|{tag}x|{raw.hex()}")
            else:
                lines.append(f"{dotted}|{tag}|{value}")
        return "\n".join(lines) + "\n"
