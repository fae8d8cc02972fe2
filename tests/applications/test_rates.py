import pytest

from applications.utilisation.rates import Sample, counter_delta, rates

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
