"""Interfaces of a simulated device: identity, traffic model, counters.

Guarantees: octet counters are the exact integral of the modelled rate (closed
form, no stepping), so they are exact at any read time, continuous across link
state changes, and only go back to zero on :meth:`Interface.reset`.  Packet,
error and discard counters are derived from octets and link-up time with fixed
per-interface constants, so they are monotonic too.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from netfeed.simulator.vendors import ALIASES, ETHERNET_CSMACD, PortSpec

M64 = 2**64


@dataclass(slots=True, eq=False)
class Interface:
    """One interface: static identity, traffic model and the state that survives reads.

    Traffic in each direction is ``base * (1 + swing * sin(omega * t + phase))``
    bits/s while the link is up and 0 while it is down; the octet counters are
    the exact integral of that since the last reboot (closed form, no stepping).
    """

    spec: PortSpec
    mac: bytes
    alias: str
    admin_up: bool
    in_bps: float
    out_bps: float
    swing: float
    omega: float
    phase_in: float
    phase_out: float
    in_pkt: float  # mean packet size, bytes
    out_pkt: float
    mcast: float  # share of packets that are multicast / broadcast
    bcast: float
    in_err_s: float  # events per second of link-up time
    in_disc_s: float
    out_err_s: float
    out_disc_s: float
    unknown_s: float
    oper_up: bool
    last_change: float  # absolute time of the last oper-status change
    seg_start: float = 0.0  # start of the current up/down segment
    acc_in: float = 0.0  # octets counted before seg_start
    acc_out: float = 0.0
    acc_up_s: float = 0.0  # link-up seconds before seg_start
    ethernet: bool = field(init=False)

    def __post_init__(self) -> None:
        self.ethernet = self.spec.if_type == ETHERNET_CSMACD

    @property
    def if_index(self) -> int:
        return self.spec.if_index

    def in_rate_bps(self, t: float) -> float:
        """Instantaneous inbound rate at ``t`` (bits/s)."""
        if not self.oper_up:
            return 0.0
        return self.in_bps * (1 + self.swing * math.sin(self.omega * t + self.phase_in))

    def out_rate_bps(self, t: float) -> float:
        """Instantaneous outbound rate at ``t`` (bits/s)."""
        if not self.oper_up:
            return 0.0
        return self.out_bps * (1 + self.swing * math.sin(self.omega * t + self.phase_out))

    def _octets(self, base: float, phase: float, t: float) -> float:
        # Integral of the rate over [seg_start, t] in octets; the difference
        # (t - s) is taken first so large epoch values lose no precision.
        s = self.seg_start
        if not self.oper_up or t <= s:
            return 0.0
        w = self.omega
        cos_term = math.cos(w * t + phase) - math.cos(w * s + phase)
        return base / 8 * ((t - s) - self.swing / w * cos_term)

    def in_octets_total(self, t: float) -> float:
        """Octets received since the last reboot, unwrapped (float)."""
        return self.acc_in + self._octets(self.in_bps, self.phase_in, t)

    def out_octets_total(self, t: float) -> float:
        """Octets sent since the last reboot, unwrapped (float)."""
        return self.acc_out + self._octets(self.out_bps, self.phase_out, t)

    def in_octets(self, t: float) -> int:
        """ifHCInOctets at ``t`` (64-bit); ifInOctets is this modulo 2**32."""
        return int(self.in_octets_total(t)) % M64

    def out_octets(self, t: float) -> int:
        """ifHCOutOctets at ``t`` (64-bit); ifOutOctets is this modulo 2**32."""
        return int(self.out_octets_total(t)) % M64

    def up_seconds(self, t: float) -> float:
        """Seconds of link-up time since the last reboot (errors grow with it)."""
        cur = max(t - self.seg_start, 0.0) if self.oper_up else 0.0
        return self.acc_up_s + cur

    def packets(self, t: float, inbound: bool) -> tuple[int, int, int]:
        """(unicast, multicast, broadcast) packets since reboot, unwrapped."""
        octets = self.in_octets_total(t) if inbound else self.out_octets_total(t)
        pkts = octets / (self.in_pkt if inbound else self.out_pkt)
        # floor(pkts * constant) keeps each counter monotonic in time.
        return (
            int(pkts * (1 - self.mcast - self.bcast)),
            int(pkts * self.mcast),
            int(pkts * self.bcast),
        )

    def events(self, per_s: float, t: float) -> int:
        """A slowly growing error/discard counter for the given per-second rate."""
        return int(self.up_seconds(t) * per_s)

    def set_oper(self, up: bool, t: float) -> None:
        """Change link state at ``t``, keeping the counters continuous."""
        if up == self.oper_up:
            return
        self.acc_in = self.in_octets_total(t)
        self.acc_out = self.out_octets_total(t)
        self.acc_up_s = self.up_seconds(t)
        self.seg_start = t
        self.oper_up = up
        self.last_change = t

    def reset(self, t: float) -> None:
        """Zero everything as a reboot at ``t`` does; the link state is kept."""
        self.acc_in = self.acc_out = self.acc_up_s = 0.0
        self.seg_start = t
        self.last_change = t


# Traffic roles: (weight, utilisation range of line rate, or None for idle/down).
ROLES = {
    "busy": (0.15, (0.55, 0.85)),
    "access": (0.40, (0.005, 0.10)),
    "idle": (0.20, None),
    "down": (0.15, None),
    "disabled": (0.10, None),
}


def make_interface(
    rng: random.Random, spec: PortSpec, role: str, mac: bytes, boot: float, uptime: float
) -> Interface:
    """Draw one interface's traffic model; ``role`` is a key of ROLES, "uplink" or "loopback"."""
    speed = spec.speed_bps
    if role == "loopback":
        base = rng.uniform(50e3, 500e3)
    elif role == "uplink":
        base = speed * rng.uniform(0.20, 0.60)
    elif role == "idle":
        base = rng.uniform(1e3, 50e3)
    elif role in ("down", "disabled"):
        base = 0.0
    else:
        lo, hi = ROLES[role][1]  # type: ignore[misc]
        base = speed * rng.uniform(lo, hi)
    out = min(base * rng.uniform(0.3, 1.4), speed * 0.85)
    # Cap the swing so the peak stays under line rate.
    peak = max(base, out, 1.0)
    swing = min(rng.uniform(0.05, 0.30), max(0.98 * speed / peak - 1, 0.0))
    noisy = role not in ("loopback", "down", "disabled")
    if role == "uplink":
        alias = f"uplink to core-{rng.randint(1, 4)}"
    elif role in ("down", "disabled"):
        alias = rng.choice(("", "unused", "reserved"))
    elif role == "loopback":
        alias = ""
    else:
        alias = f"{rng.choice(ALIASES)} {rng.choice('ABCDEFG')}{rng.randint(1, 40)}"
    # Most links came up right after boot; some flapped later.
    since_boot = rng.uniform(30, 180) if rng.random() < 0.8 else rng.uniform(0.1, 0.95) * uptime
    iface = Interface(
        spec=spec,
        mac=mac,
        alias=alias,
        admin_up=role != "disabled",
        in_bps=base,
        out_bps=out,
        swing=swing,
        omega=2 * math.pi / rng.uniform(600, 3600),
        phase_in=rng.uniform(0, 2 * math.pi),
        phase_out=rng.uniform(0, 2 * math.pi),
        in_pkt=rng.uniform(300, 1200),
        out_pkt=rng.uniform(300, 1200),
        mcast=rng.uniform(0.001, 0.02),
        bcast=rng.uniform(0.0005, 0.01),
        in_err_s=rng.uniform(0.0005, 0.02) if noisy and rng.random() < 0.3 else 0.0,
        in_disc_s=rng.uniform(0.001, 0.05) if noisy and rng.random() < 0.4 else 0.0,
        out_err_s=rng.uniform(0.0005, 0.01) if noisy and rng.random() < 0.2 else 0.0,
        out_disc_s=rng.uniform(0.001, 0.05) if noisy and rng.random() < 0.4 else 0.0,
        unknown_s=rng.uniform(0.0001, 0.01) if noisy and rng.random() < 0.3 else 0.0,
        oper_up=role not in ("down", "disabled"),
        last_change=boot + min(since_boot, uptime),
    )
    iface.seg_start = boot
    return iface
