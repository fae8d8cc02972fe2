"""Counter deltas to rates, with wraps and reboots handled.

:func:`counter_delta` returns the increase of a cumulative counter between
two samples, or ``None`` when no honest delta exists:

- the device rebooted between the samples: its uptime went backwards (other
  than sysUpTime's own wrap after 2**32 ticks, 497 days), or it advanced
  clearly less than the wall clock did (more than :data:`SLACK_S` plus 10 %
  short: the clock restarted and ran again for a while): counters restarted
  from zero, so the old sample is meaningless;
- the counter went backwards on a 64-bit counter (a 2**64 wrap needs
  centuries at any real speed: it is a reset, not a wrap);
- the counter went backwards on a 32-bit counter: one wrap is assumed
  (add 2**32) only if the result is possible at the interface's speed.
"""

from __future__ import annotations

from dataclasses import dataclass

WRAP = {32: 1 << 32, 64: 1 << 64}
UPTIME_WRAP_MS = (1 << 32) * 10  # sysUpTime is TimeTicks: 2**32 hundredths of a second
SLACK_S = 5.0  # polling jitter allowed between the device's clock and the wall clock


@dataclass(frozen=True, slots=True)
class Sample:
    unix_ms: int
    uptime_ms: int | None
    in_octets: int | None
    out_octets: int | None
    counter_bits: int | None
    speed_bps: int | None


def device_elapsed_ms(prev: Sample, cur: Sample) -> int | None:
    """Time the device's clock advanced between the samples (across one
    sysUpTime wrap), or None without both uptimes."""
    if prev.uptime_ms is None or cur.uptime_ms is None:
        return None
    d = cur.uptime_ms - prev.uptime_ms
    wall = cur.unix_ms - prev.unix_ms
    if d < 0 and abs(d + UPTIME_WRAP_MS - wall) <= SLACK_S * 1000 + wall * 0.1:
        d += UPTIME_WRAP_MS  # the 497-day wrap, not a reboot
    return d


def rebooted(prev: Sample, cur: Sample) -> bool:
    d = device_elapsed_ms(prev, cur)
    if d is None:
        return False
    wall = cur.unix_ms - prev.unix_ms
    return d < 0 or d < wall - (SLACK_S * 1000 + wall * 0.1)


def elapsed_s(prev: Sample, cur: Sample) -> float:
    """Time between samples: device uptime if both known (device clock), else wall."""
    d = device_elapsed_ms(prev, cur)
    if d is not None and d > 0:
        return d / 1000.0
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
