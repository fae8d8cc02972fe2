"""Dead and silent devices under a real collector: two networks x 20 simulated
SNMP devices polled every 5 s by ``netfeed collect`` on Kafka + spool, with 10 %
of them not answering: in each network one device's agent drops every request
(silent) and one points at a loopback port where nothing listens (dead).

Every tick runs for the healthy devices: a marker for every grid tick of each
network, the 18 healthy devices ok each time and their records delivered
exactly once, the two others counted failed or timed out (or skipped by the
device backoff once they have failed three times in a row), never ok.  One
``FAULT-FIGURES`` line is printed.  Uses the shared broker (nothing is done
to it); skipped without NETFEED_KAFKA_BOOTSTRAP.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from bus.records import CycleComplete
from tests.support.collect_proc import (
    CollectProcess,
    closed_udp_port,
    now_ms,
    simulated,
    sleep_until_ms,
    spool_depth,
    write_config,
    write_networks,
)
from tests.support.delivery import check_run, grid, read_bus, show

BOOTSTRAP = os.environ.get("NETFEED_KAFKA_BOOTSTRAP")
pytestmark = pytest.mark.skipif(not BOOTSTRAP, reason="NETFEED_KAFKA_BOOTSTRAP not set")

INTERVAL_MS = 5000
DEVICES = 20
INTERFACES = 4
NETWORKS = ["da", "db"]
COLLECT_S = 35


async def test_dead_and_silent_devices_every_tick_runs_for_the_healthy_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert BOOTSTRAP is not None
    prefix = f"dead{uuid.uuid4().hex[:8]}"
    write_config(tmp_path, bootstrap=BOOTSTRAP, prefix=prefix)
    proc = CollectProcess(tmp_path)
    async with simulated(NETWORKS, DEVICES, INTERFACES) as sims:
        silent = {s.name: s.devices[3].device_id for s in sims}
        dead = {s.name: s.devices[11].device_id for s in sims}
        for s in sims:
            s.set_fault(silent[s.name], "silent")
        try:
            # timeout 1 s x 2 tries after a start spread over 30 % of the interval:
            # a silent device is declared dead well before the next tick (4.5 s)
            write_networks(
                tmp_path,
                sims,
                interval_s=INTERVAL_MS / 1000,
                timeout_s=1.0,
                retries=1,
                spread=0.3,
                dead={d: closed_udp_port() for d in dead.values()},
            )
            await proc.start()
            await proc.wait_for("the schedule", lambda: len(proc.first_tick) == 2, 60)
            first = max(proc.first_tick.values())
            await sleep_until_ms(first + COLLECT_S * 1000 + INTERVAL_MS // 2)
            stop_ms = now_ms()
            rc, took = await proc.terminate()
        finally:
            await proc.kill()
    assert rc == 0, proc.log()
    assert took < 10 + 10 + 10, took  # stop_grace_s + stop_timeout_ms + margin
    assert spool_depth(tmp_path) == 0
    assert proc.count("skipped: previous cycle still running") == 0, proc.log()
    expected = {n: grid(proc.first_tick[n], stop_ms - 1000, INTERVAL_MS) for n in NETWORKS}
    assert all(len(t) >= COLLECT_S * 1000 // INTERVAL_MS for t in expected.values()), expected
    d = await read_bus(BOOTSTRAP, prefix, NETWORKS, lambda d: d.complete(proc.cycles))
    fig = check_run(d, proc.cycles, expected, devices_ok=DEVICES - 2)
    assert fig.lost == 0
    assert fig.polled == fig.ticks * (DEVICES - 2) * INTERFACES, fig
    kinds = {"failed": 0, "timed_out": 0, "skipped": 0}
    for net in NETWORKS:
        bad = {silent[net], dead[net]}
        for n, t in enumerate(expected[net]):
            m: CycleComplete = d.markers[(net, t)][0]
            assert m.devices_planned == DEVICES
            assert set(m.failures) == bad, (t, m.failures)  # the healthy ones all ok
            assert m.devices_failed + m.devices_timed_out + m.devices_skipped == 2, m
            if n < 3:  # before the backoff may skip them: polled and not answering
                assert m.devices_skipped == 0, m
            assert "no answer" in m.failures[silent[net]] or "skipped" in m.failures[silent[net]]
            for why in m.failures.values():
                kind = why.split(":")[0]
                assert kind in kinds, why
                kinds[kind] += 1
            assert m.duration_ms < INTERVAL_MS, m
    show(
        capsys,
        f"{fig.line('dead-and-silent')} bad_polls: failed={kinds['failed']} "
        f"timed_out={kinds['timed_out']} skipped={kinds['skipped']}",
    )
