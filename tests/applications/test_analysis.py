"""The vectorised helpers agree with the scalar rate rules on every case
(hypothesis draws wraps, reboots, resets, gaps), and align/join behave."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from applications.analysis import align, interface_rates, join_system
from applications.frames import cycle_frame
from applications.rates import Sample, rates
from bus.records import Provenance, Record


def rec(
    t_ms: int,
    up_ms: int | None,
    i: int | None,
    o: int | None,
    bits: int,
    speed: int | None,
    device: str = "r1",
    dataset: str = "interfaces",
    **fields: object,
) -> Record:
    f: dict[str, object] = {"in_octets": i, "out_octets": o, "counter_bits": bits}
    if speed is not None:
        f["speed_bps"] = speed
    f.update(fields)
    return Record(
        network="n",
        device=device,
        profile="generic",
        dataset=dataset,
        cycle_id=f"n:{dataset}:{t_ms}",
        scheduled_unix_ms=t_ms - t_ms % 60_000,
        request_unix_ms=t_ms,
        response_unix_ms=t_ms,
        device_uptime_ms=up_ms,
        provenance=Provenance(protocol="snmpv2c", collector_version="t"),
        tags={"if_index": "1"} if dataset == "interfaces" else {},
        fields={k: v for k, v in f.items() if v is not None} if dataset == "interfaces" else fields,
    )


counters = st.one_of(st.integers(0, 2**32 - 1), st.integers(0, 2**40))
uptimes = st.one_of(st.none(), st.integers(0, 2**32 * 10 - 1))


@settings(max_examples=400, deadline=None)
@given(
    t0=st.integers(1_000_000, 2_000_000),
    dt=st.integers(1, 900_000),
    up0=uptimes,
    up1=uptimes,
    c=st.lists(counters, min_size=4, max_size=4),
    bits=st.sampled_from([32, 64]),
    bits1=st.sampled_from([32, 64, 64, 64]),
    speed=st.one_of(st.none(), st.sampled_from([10**7, 10**8, 10**9, 10**10])),
)
def test_vectorised_rates_follow_the_scalar_rules(
    t0: int,
    dt: int,
    up0: int | None,
    up1: int | None,
    c: list[int],
    bits: int,
    bits1: int,
    speed: int | None,
) -> None:
    a = rec(t0, up0, c[0], c[1], bits, speed)
    b = rec(t0 + dt, up1, c[2], c[3], bits1 if bits1 != 64 or bits == 64 else bits, speed)
    want_in, want_out, _ = rates(
        Sample(t0, up0, c[0], c[1], bits, speed),
        Sample(t0 + dt, up1, c[2], c[3], b.fields["counter_bits"], speed),  # type: ignore[arg-type]
    )
    got = interface_rates(cycle_frame([a], "interfaces"), cycle_frame([b], "interfaces"))
    for want, col in ((want_in, "in_bps"), (want_out, "out_bps")):
        value = got[col].iloc[0]
        if want is None:
            assert pd.isna(value), (col, value)
        else:
            assert not pd.isna(value) and math.isclose(value, want, rel_tol=1e-9), (
                col,
                value,
                want,
            )


def test_utilisation_against_speed_and_the_larger_direction() -> None:
    a = rec(0, 100_000, 0, 0, 64, 10**8)
    b = rec(10_000, 110_000, 62_500_000, 125_000_000, 64, 10**8)
    got = interface_rates(cycle_frame([a], "interfaces"), cycle_frame([b], "interfaces"))
    row = got.iloc[0]
    assert row["in_util_pct"] == pytest.approx(50) and row["out_util_pct"] == pytest.approx(100)
    assert row["util_pct"] == pytest.approx(100) and row["elapsed_s"] == pytest.approx(10)


def test_new_interfaces_have_no_rate_and_are_left_out() -> None:
    a = rec(0, 100_000, 0, 0, 64, 10**8)
    b = rec(10_000, 110_000, 5, 5, 64, 10**8, device="r2")
    got = interface_rates(cycle_frame([a], "interfaces"), cycle_frame([b], "interfaces"))
    assert got.empty


def test_align_puts_devices_polled_at_offsets_on_one_grid() -> None:
    frame = cycle_frame(
        [rec(120_000 + off, None, 0, 0, 64, None, device=f"d{off}") for off in (5, 20_000, 59_999)],
        "interfaces",
    )
    out = align(frame, 60_000)
    assert set(out["aligned_unix_ms"]) == {120_000}
    assert list(out["offset_ms"]) == [5, 20_000, 59_999]


def test_join_system_takes_the_latest_system_record_at_or_before() -> None:
    ifaces = cycle_frame(
        [rec(t, None, 0, 0, 64, None) for t in (60_000, 120_000, 180_000)], "interfaces"
    )
    system = cycle_frame(
        [
            rec(60_000, None, None, None, 64, None, dataset="system", model="A", vendor="v"),
            rec(180_000, None, None, None, 64, None, dataset="system", model="B", vendor="v"),
            rec(60_000, None, None, None, 64, None, device="other", dataset="system", model="X"),
        ],
        "system",
    )
    out = join_system(ifaces, system, ["model", "vendor"])
    assert list(out["model"]) == ["A", "A", "B"]
    assert list(out["scheduled_unix_ms"]) == [60_000, 120_000, 180_000]


def test_sysuptime_wrap_is_not_a_reboot_in_the_vectorised_rates_too() -> None:
    top_ms = 2**32 * 10
    a = rec(0, top_ms - 10_000, 0, 0, 64, 10**9)
    b = rec(60_000, 50_000, 75_000_000, 0, 64, 10**9)
    got = interface_rates(cycle_frame([a], "interfaces"), cycle_frame([b], "interfaces"))
    assert got["in_bps"].iloc[0] == pytest.approx(10e6)
    assert got["elapsed_s"].iloc[0] == pytest.approx(60)
