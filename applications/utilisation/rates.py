"""Counter deltas to rates, with wraps and reboots handled.

:func:`counter_delta` returns the increase of a cumulative counter between
two samples, or ``None`` when no honest delta exists:

- the device rebooted between the samples (its uptime went backwards, or
  less time passed on the device than the counter would need): counters
  restarted from zero, so the old sample is meaningless;
- the counter went backwards on a 64-bit counter (a 2**64 wrap needs
  centuries at any real speed: it is a reset, not a wrap);
- the counter went backwards on a 32-bit counter: one wrap is assumed
  (add 2**32) only if the result is possible at the interface's speed.
"""

from __future__ import annotations

from dataclasses import dataclass

WRAP = {32: 1 << 32, 64: 1 << 64}


@dataclass(frozen=True, slots=True)
class Sample:
    unix_ms: int
    uptime_ms: int | None
    in_octets: int | None
    out_octets: int | None
    counter_bits: int | None
    speed_bps: int | None


def rebooted(prev: Sample, cur: Sample) -> bool:
    if prev.uptime_ms is None or cur.uptime_ms is None:
        return False
    return cur.uptime_ms < prev.uptime_ms


def elapsed_s(prev: Sample, cur: Sample) -> float:
    """Time between samples: device uptime if both known (device clock), else wall."""
    if prev.uptime_ms is not None and cur.uptime_ms is not None and cur.uptime_ms > prev.uptime_ms:
        return (cur.uptime_ms - prev.uptime_ms) / 1000.0
    return (cur.unix_ms - prev.unix_ms) / 1000.0


def counter_delta(
    prev: int | None, cur: int | None, bits: int | None, *, elapsed: float, speed_bps: int | None
) -> int | None:
    if prev is None or cur is None or elapsed <= 0:
        return None
    d = cur - prev
    if d >= 0:
        return d
    if bits != 32:
        return None
    wrapped = d + WRAP[32]
    if speed_bps and wrapped * 8 > speed_bps * elapsed * 1.1:
        return None  # more than line rate: a reset, not a wrap
    return wrapped


def rates(prev: Sample, cur: Sample) -> tuple[float | None, float | None, float]:
    """``(in_bps, out_bps, elapsed_s)``; ``None`` where no honest rate exists."""
    if rebooted(prev, cur):
        return None, None, 0.0
    dt = elapsed_s(prev, cur)
    bits = cur.counter_bits if cur.counter_bits == prev.counter_bits else None
    if bits is None:
        return None, None, dt  # the counter source changed (HC appeared/vanished)
    din = counter_delta(prev.in_octets, cur.in_octets, bits, elapsed=dt, speed_bps=cur.speed_bps)
    dout = counter_delta(prev.out_octets, cur.out_octets, bits, elapsed=dt, speed_bps=cur.speed_bps)
    return (None if din is None else din * 8 / dt, None if dout is None else dout * 8 / dt, dt)
