"""SIGTERM in the middle of a cycle of a real ``netfeed collect`` (two networks x
20 simulated SNMP devices every 5 s, starts spread over 60 % of the interval,
Kafka + spool), with the broker up and with it stopped.

The process exits 0 within ``collector.stop_grace_s`` + ``bus.spool.stop_timeout_ms``
(+ a margin); the cycle the signal cut into still polls every device and
publishes its marker (the grace), and nothing polled is lost: what the
collector says it polled equals what was delivered in that run plus what it
left in the spool, and all of it arrives on the bus once the next run has
sent the spool.  One ``FAULT-FIGURES`` line per test.  The broker-down test
stops the outage broker (tests/support/outage_broker.py); both use it.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from tests.support.collect_proc import (
    CollectProcess,
    now_ms,
    simulated,
    sleep_until_ms,
    spool_depth,
    spooled_records,
    write_config,
    write_networks,
)
from tests.support.delivery import Delivered, check_run, grid, read_bus, show
from tests.support.outage_broker import BOOTSTRAP, broker_restored, kafka_sh, needs_outage_broker

pytestmark = needs_outage_broker

INTERVAL_MS = 5000
DEVICES = 20
INTERFACES = 4
NETWORKS = ["ta", "tb"]
GRACE_S = 5.0
STOP_TIMEOUT_MS = 5000
# what the exit may take beyond grace + spool stop: the job tasks' own 5 s
# bound is not reached here; the producer's close is bounded by 6 s past the
# spool's deadline; the interpreter's exit
MARGIN_S = 8.0
INTO_CYCLE_MS = 1000  # SIGTERM this long after a tick: most devices not yet polled


async def sigterm_mid_cycle(proc: CollectProcess, broker_down: bool) -> tuple[int, int, float]:
    """Run ``proc`` for two ticks (stopping the broker after them if
    ``broker_down``, and one more tick), then SIGTERM it just after a tick;
    returns the cut tick, the exit code and the time it took to exit."""
    await proc.start()
    await proc.wait_for("two ticks", lambda: all(proc.ticks_done(n) >= 2 for n in NETWORKS), 60)
    if broker_down:
        await asyncio.to_thread(kafka_sh, "stop")
        done = {n: proc.ticks_done(n) for n in NETWORKS}
        await proc.wait_for(
            "a tick with the broker down",
            lambda: all(proc.ticks_done(n) > done[n] for n in NETWORKS),
            30,
        )
    cut = (now_ms() // INTERVAL_MS + 1) * INTERVAL_MS
    await sleep_until_ms(cut + INTO_CYCLE_MS)
    assert not any((n, cut) in proc.cycles for n in NETWORKS), "the cycle ended before SIGTERM"
    rc, took = await proc.terminate()
    return cut, rc, took


def check_exit(proc: CollectProcess, cut: int, rc: int, took: float) -> None:
    assert rc == 0, proc.log()
    assert took < GRACE_S + STOP_TIMEOUT_MS / 1000 + MARGIN_S, took
    for n in NETWORKS:  # the grace let the cut cycle finish: every device polled
        c = proc.cycles.get((n, cut))
        assert c is not None and c.ok == DEVICES, f"{n}: cut cycle {cut}: {c}\n{proc.log()}"
    assert proc.count("cycle cut at the end of the stop grace") == 0, proc.log()


async def test_sigterm_mid_cycle_broker_up_exits_in_time_nothing_lost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = f"term{uuid.uuid4().hex[:8]}"
    write_config(
        tmp_path,
        bootstrap=BOOTSTRAP,
        prefix=prefix,
        stop_grace_s=GRACE_S,
        stop_timeout_ms=STOP_TIMEOUT_MS,
    )
    proc = CollectProcess(tmp_path)
    async with simulated(NETWORKS, DEVICES, INTERFACES) as sims:
        try:
            write_networks(tmp_path, sims, interval_s=INTERVAL_MS / 1000, spread=0.6)
            cut, rc, took = await sigterm_mid_cycle(proc, broker_down=False)
        finally:
            await proc.kill()
    check_exit(proc, cut, rc, took)
    assert spool_depth(tmp_path) == 0, "broker up: the spool is drained before the exit"
    expected = {n: grid(proc.first_tick[n], cut + 1, INTERVAL_MS) for n in NETWORKS}
    d = await read_bus(BOOTSTRAP, prefix, NETWORKS, lambda d: d.complete(proc.cycles))
    fig = check_run(d, proc.cycles, expected, devices_ok=DEVICES)
    show(capsys, f"{fig.line('sigterm-broker-up')} exit_s={took:.1f}")
    assert fig.lost == 0
    assert fig.polled == fig.ticks * DEVICES * INTERFACES


async def test_sigterm_mid_cycle_broker_down_exits_in_time_next_run_sends_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = f"term{uuid.uuid4().hex[:8]}"
    write_config(
        tmp_path,
        bootstrap=BOOTSTRAP,
        prefix=prefix,
        stop_grace_s=GRACE_S,
        stop_timeout_ms=STOP_TIMEOUT_MS,
    )
    proc = CollectProcess(tmp_path)
    with broker_restored():
        async with simulated(NETWORKS, DEVICES, INTERFACES) as sims:
            try:
                write_networks(tmp_path, sims, interval_s=INTERVAL_MS / 1000, spread=0.6)
                cut, rc, took = await sigterm_mid_cycle(proc, broker_down=True)
                check_exit(proc, cut, rc, took)
                left = spooled_records(tmp_path)
                assert left, "the broker was down: records stay in the spool"
                await asyncio.to_thread(kafka_sh, "start")
                # what the first run delivered before the broker went away
                polled = sum(c.records for c in proc.cycles.values())
                first = await read_bus(
                    BOOTSTRAP,
                    prefix,
                    NETWORKS,
                    lambda d: len(set(d.copies) | set(left)) >= polled,
                    timeout_s=30,
                )
                # the next run (devices still up) sends what the first one spooled
                again = CollectProcess(tmp_path, "--once")
                await again.start()
                rc2 = await again.wait()
            finally:
                await proc.kill()
    assert rc2 == 0, again.log()
    assert spool_depth(tmp_path) == 0, again.log()
    assert not set(proc.cycles) & set(again.cycles)
    delivered_then = set(first.copies)
    # what the first run polled, counted from its bus and its spool, per cycle
    for key, c in proc.cycles.items():
        ids = first.per_cycle.get(key, set()) | {i for i, k in left.items() if k == key}
        assert len(ids) == c.records, f"{key}: {c.records} polled, {len(ids)} delivered or spooled"
    cycles = {**proc.cycles, **again.cycles}
    d: Delivered = await read_bus(BOOTSTRAP, prefix, NETWORKS, lambda d: d.complete(cycles))
    expected = {n: grid(proc.first_tick[n], cut + 1, INTERVAL_MS) for n in NETWORKS}
    fig = check_run(d, cycles, expected, devices_ok=DEVICES)
    assert fig.lost == 0
    run1 = set().union(*(d.per_cycle[k] for k in proc.cycles))
    show(
        capsys,
        f"{fig.line('sigterm-broker-down')} exit_s={took:.1f} run1_polled={polled} "
        f"run1_delivered={len(delivered_then)} run1_spooled={len(left)} "
        f"run1_arrived={len(run1)} overlap={len(delivered_then & set(left))}",
    )
    assert len(run1) == polled
