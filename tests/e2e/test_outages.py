"""Broker outages under a real collector: two networks x 20 simulated SNMP
devices polled every 5 s by a ``netfeed collect`` process on Kafka + spool for
two minutes, while the broker is stopped, or frozen with SIGSTOP, for 30 s.

Each test prints one ``FAULT-FIGURES`` line (ticks polled, records polled,
delivered, duplicates, lost) and asserts on it: every grid tick of each
network polled with all 20 devices ok and none skipped, every record polled
delivered exactly once after deduplication by the ``netfeed-id`` header,
every marker on every partition after its cycle's records, and the spool
empty once the collector has exited.

They stop and freeze a broker, so they use the outage broker only
(tests/support/outage_broker.py); without it they are skipped.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.collect_proc import (
    CollectProcess,
    now_ms,
    simulated,
    sleep_until_ms,
    spool_depth,
    write_config,
    write_networks,
)
from tests.support.delivery import check_run, grid, read_bus, show
from tests.support.outage_broker import (
    BOOTSTRAP,
    broker_pid,
    broker_restored,
    kafka_sh,
    needs_outage_broker,
)

pytestmark = needs_outage_broker

INTERVAL_MS = 5000
DEVICES = 20
INTERFACES = 4
NETWORKS = ["fa", "fb"]
COLLECT_S = 120  # from the first tick
UP_BEFORE_S = 25  # broker up this long after the first tick, then down
DOWN_S = 30


async def outage_run(
    tmp: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    down: Callable[[], None],
    up: Callable[[], None],
) -> None:
    prefix = f"flt{uuid.uuid4().hex[:8]}"
    write_config(tmp, bootstrap=BOOTSTRAP, prefix=prefix)
    proc = CollectProcess(tmp)
    async with simulated(NETWORKS, DEVICES, INTERFACES) as sims:
        try:
            write_networks(tmp, sims, interval_s=INTERVAL_MS / 1000)
            await proc.start()
            await proc.wait_for("the schedule", lambda: len(proc.first_tick) == 2, 60)
            first = max(proc.first_tick.values())
            await sleep_until_ms(first + UP_BEFORE_S * 1000)
            assert all(proc.ticks_done(n) >= 4 for n in NETWORKS), proc.log()
            t_down = time.monotonic()
            await asyncio.to_thread(down)
            await asyncio.sleep(max(0.0, DOWN_S - (time.monotonic() - t_down)))
            await asyncio.to_thread(up)
            outage_s = time.monotonic() - t_down
            # stop in the middle of an interval, two minutes after the first tick
            await sleep_until_ms(first + COLLECT_S * 1000 + INTERVAL_MS // 2)
            stop_ms = now_ms()
            rc, took = await proc.terminate()
        finally:
            await proc.kill()
    assert rc == 0, proc.log()
    assert took < 10 + 10 + 10, took  # stop_grace_s + stop_timeout_ms + margin
    assert spool_depth(tmp) == 0, "the spool was not drained once the broker was back"
    assert proc.count("bus: broker unreachable") == 1, proc.log()
    assert proc.count("bus: broker reachable again") == 1, proc.log()
    assert proc.count("skipped: previous cycle still running") == 0, proc.log()
    # every tick from each network's first to the last one before SIGTERM
    expected = {n: grid(proc.first_tick[n], stop_ms - 1000, INTERVAL_MS) for n in NETWORKS}
    assert all(len(t) >= COLLECT_S * 1000 // INTERVAL_MS for t in expected.values()), expected
    d = await read_bus(BOOTSTRAP, prefix, NETWORKS, lambda d: d.complete(proc.cycles))
    fig = check_run(d, proc.cycles, expected, devices_ok=DEVICES)
    show(capsys, f"{fig.line(name)} outage_s={outage_s:.1f} exit_s={took:.1f}")
    assert fig.lost == 0
    assert fig.polled == fig.ticks * DEVICES * INTERFACES, fig


async def test_broker_stopped_30s_every_tick_polled_every_record_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with broker_restored():
        await outage_run(
            tmp_path,
            capsys,
            "broker-stopped",
            lambda: kafka_sh("stop"),
            lambda: kafka_sh("start"),
        )


async def test_broker_frozen_30s_every_tick_polled_every_record_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with broker_restored():
        pid = broker_pid()
        try:
            await outage_run(
                tmp_path,
                capsys,
                "broker-frozen",
                lambda: os.kill(pid, signal.SIGSTOP),
                lambda: os.kill(pid, signal.SIGCONT),
            )
        finally:
            os.kill(pid, signal.SIGCONT)
