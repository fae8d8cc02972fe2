import pytest

from applications.rates import Sample, counter_delta, rates

GIG = 1_000_000_000


def s(
    t_s: float,
    up_s: float | None,
    i: int | None,
    o: int | None,
    bits: int | None = 64,
    speed: int | None = GIG,
) -> Sample:
    return Sample(int(t_s * 1000), None if up_s is None else int(up_s * 1000), i, o, bits, speed)


def test_plain_rate_uses_device_uptime_as_clock() -> None:
    # wall clock says 12 s (late reply), device says 10 s: the device is right
    in_bps, out_bps, dt = rates(s(0, 100, 0, 0), s(12, 110, 125_000_000, 250_000_000))
    assert dt == 10 and in_bps == pytest.approx(100e6) and out_bps == pytest.approx(200e6)


def test_32_bit_wrap_is_unwrapped_once() -> None:
    prev, cur = s(0, 100, 2**32 - 1000, 0, bits=32), s(10, 110, 24_000, 0, bits=32)
    in_bps, _, _ = rates(prev, cur)
    assert in_bps == pytest.approx((1000 + 24_000) * 8 / 10)


def test_impossible_32_bit_wrap_is_a_reset_not_a_rate() -> None:
    # going back by a little on a 10 Mb/s link: unwrapping would mean ~34 Gb/s
    assert counter_delta(5_000_000, 4_000_000, 32, elapsed=10, speed_bps=10_000_000) is None


def test_64_bit_counter_going_back_is_a_reset() -> None:
    in_bps, out_bps, _ = rates(s(0, 100, 10**12, 10**12), s(10, 110, 5, 5))
    assert in_bps is None and out_bps is None


def test_reboot_discards_the_old_sample() -> None:
    in_bps, out_bps, _ = rates(s(0, 10_000, 10**9, 10**9), s(60, 30, 10**6, 10**6))
    assert in_bps is None and out_bps is None


def test_counter_source_change_gives_no_rate() -> None:
    in_bps, _, _ = rates(s(0, 100, 5, 5, bits=32), s(10, 110, 10**12, 10**12, bits=64))
    assert in_bps is None


def test_without_uptime_wall_clock_is_used() -> None:
    in_bps, _, dt = rates(s(0, None, 0, 0), s(5, None, 625_000, 0))
    assert dt == 5 and in_bps == pytest.approx(1e6)


def test_a_reboot_on_32_bit_counters_is_not_fake_traffic() -> None:
    # Counters near the top before, small after a reboot: unwrapping once would
    # look like a plausible 7.9 Mb/s on a 1 Gb/s link.  The uptime says reboot.
    prev = s(0, 1_000, 4_000_000_000, 4_000_000_000, bits=32)
    cur = s(300, 100, 1_000, 1_000, bits=32)
    assert rates(prev, cur)[:2] == (None, None)


def test_a_reboot_seen_as_uptime_advancing_less_than_the_wall_clock() -> None:
    # Rebooted 250 s into a 300 s gap, uptime is larger than before (it was
    # 20 s): only 30 s passed on the device while 300 s passed on the wall.
    prev = s(0, 20, 4_000_000_000, 10, bits=32)
    cur = s(300, 50, 1_000, 10, bits=32)
    assert rates(prev, cur)[:2] == (None, None)


def test_sysuptime_wrapping_after_497_days_is_not_a_reboot() -> None:
    top_s = 2**32 / 100
    prev = s(0, top_s - 10, 0, 0)
    cur = s(60, 50, 60 * 1_250_000, 0)
    in_bps, _, dt = rates(prev, cur)
    assert dt == pytest.approx(60) and in_bps == pytest.approx(10e6)


def test_a_counter_clear_on_a_slow_link_is_not_240_percent() -> None:
    # 32-bit counter cleared (3e9 -> 1e6) on a 10 Mb/s link over 300 s: one
    # wrap would mean 1.3e9 octets = 34.6 Mb/s, more than the link can carry
    # (the check is in bits: octets x 8 against speed x time).
    prev = s(0, 1_000, 3_000_000_000, 3_000_000_000, bits=32, speed=10_000_000)
    cur = s(300, 1_300, 1_000_000, 1_000_000, bits=32, speed=10_000_000)
    assert rates(prev, cur)[:2] == (None, None)


def test_out_direction_wraps_like_in() -> None:
    prev = s(0, 100, 5, 2**32 - 4_000, bits=32)
    cur = s(10, 110, 5, 6_000, bits=32)
    in_bps, out_bps, _ = rates(prev, cur)
    assert in_bps == 0 and out_bps == pytest.approx(10_000 * 8 / 10)


def test_out_direction_64_bit_going_back_is_a_reset() -> None:
    in_bps, out_bps, _ = rates(s(0, 100, 5, 10**12), s(10, 110, 1_005, 7))
    assert in_bps == pytest.approx(800) and out_bps is None
