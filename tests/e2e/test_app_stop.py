"""``netfeed app run`` stopped by SIGTERM, as a real process on either bus.

- stopped in the middle of a batch, it handles and commits that batch, then
  exits 0: the next instance of the group handles every record the stopped
  one did not, and none it did (record ids, the ``netfeed-id`` header's);
- it leaves the group: the surviving instance takes its partitions over at
  once, well before the (long) session timeout would have told the group;
- with the broker unreachable it still exits 0, in bounded time.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from bus.settings import BusSettings, KafkaSettings
from tests.conftest import bus_for
from tests.support.apps import (
    Burst,
    handled_ids,
    partitions_of,
    start_instance,
    stop_all,
    wait_exit,
    wait_for,
    write_config,
)

SESSION_MS = 30_000  # long: taking over well before it proves the group was left
STOP_BOUND_S = 20.0  # a stopping instance exits within this (its stop_timeout_s is 10 s)


def long_session(bus: BusSettings) -> BusSettings:
    if bus.backend == "kafka":
        k = bus.kafka.model_copy(update={"session_timeout_ms": SESSION_MS})
        return bus.model_copy(update={"kafka": k})
    e = bus.embedded.model_copy(update={"session_timeout_ms": SESSION_MS})
    return bus.model_copy(update={"embedded": e})


@pytest.fixture(params=["embedded", "kafka"])
def bus(request: pytest.FixtureRequest, tmp_path: Path) -> BusSettings:
    return long_session(bus_for(request.param, tmp_path))


async def test_sigterm_mid_batch_commits_it_and_the_next_instance_repeats_nothing(
    bus: BusSettings, tmp_path: Path
) -> None:
    log_dir = tmp_path / "seen"
    cfg = write_config(tmp_path, bus, log_dir, delay_s=3.0, slow_instances=["a"])
    burst = Burst(bus)
    published = await burst(2)  # the topic exists before anyone joins
    a = start_instance(cfg, "a")
    procs = [a]
    try:
        begin = log_dir / f"{a.pid}.begin"
        await wait_for(begin.exists, 60, "instance a to begin handling a batch")
        a.send_signal(signal.SIGTERM)  # a is asleep in the middle of that batch
        t0 = time.monotonic()
        code = await wait_exit(a, STOP_BOUND_S)
        took = time.monotonic() - t0
        err = (cfg / "a.stderr").read_text()
        assert code == 0, err[-3000:]
        assert "Traceback" not in err, err[-3000:]
        by_a = handled_ids(log_dir, a.pid)
        started = sum(int(n) for n in begin.read_text().split())
        assert started and len(by_a) >= 1, "the batch in hand was not handled"
        assert max(by_a.values()) == 1
        assert (log_dir / f"{a.pid}.stopped").exists(), "the application's stop did not run"

        b = start_instance(cfg, "b")
        procs.append(b)
        published |= await burst(1)
        await wait_for(lambda: set(handled_ids(log_dir)) >= published, 90, "b to handle the rest")
        by_b = handled_ids(log_dir, b.pid)
        twice = set(by_a) & set(by_b)
        missed = published - set(by_a) - set(by_b)
        print(
            f"\n{bus.backend}: a stopped in {took:.1f} s after handling {len(by_a)} records; "
            f"b handled {len(by_b)}; published {len(published)}, twice {len(twice)}, "
            f"missed {len(missed)}",
            file=sys.stderr,
        )
        assert not twice, f"{len(twice)} records handled by both a and b"
        assert not missed
        assert max(by_b.values()) == 1
    finally:
        stop_all(procs)


async def test_a_stopped_instance_leaves_the_group_and_the_other_takes_over_at_once(
    bus: BusSettings, tmp_path: Path
) -> None:
    log_dir = tmp_path / "seen"
    cfg = write_config(tmp_path, bus, log_dir)
    burst = Burst(bus)
    await burst(1)
    a, b = start_instance(cfg, "a"), start_instance(cfg, "b")
    procs = [a, b]
    try:
        end = time.monotonic() + 90
        while not (partitions_of(log_dir, a.pid) and partitions_of(log_dir, b.pid)):
            assert time.monotonic() < end, "the two instances never shared the partitions"
            for p in procs:
                assert p.poll() is None, (cfg / "a.stderr").read_text()[-2000:]
            await burst(1)
        a.send_signal(signal.SIGTERM)
        assert await wait_exit(a, STOP_BOUND_S) == 0, (cfg / "a.stderr").read_text()[-3000:]
        t0 = time.monotonic()
        after = await burst(1)
        await wait_for(
            lambda: set(handled_ids(log_dir, b.pid)) >= after,
            SESSION_MS / 1000,
            "b to take every partition over",
        )
        took = time.monotonic() - t0
        print(f"\n{bus.backend}: b took over in {took:.1f} s", file=sys.stderr)
        assert partitions_of(log_dir, b.pid) == {0, 1, 2}
        # a session expiry would have taken SESSION_MS; leaving takes a rebalance
        assert took < SESSION_MS / 1000 / 2, took
    finally:
        stop_all(procs)


async def test_sigterm_with_the_broker_unreachable_exits_0_in_bounded_time(
    tmp_path: Path,
) -> None:
    bus = BusSettings(
        backend="kafka",
        kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1", request_timeout_ms=3000),
    )
    cfg = write_config(tmp_path, bus, tmp_path / "seen")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETFEED_KAFKA")}
    a = start_instance(cfg, "a", env=env)
    try:
        stderr = cfg / "a.stderr"
        await wait_for(
            lambda: "broker unreachable" in stderr.read_text(), 60, "the unreachable report"
        )
        assert a.poll() is None, "the application gave up instead of waiting for the broker"
        a.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        code = await wait_exit(a, STOP_BOUND_S)
        took = time.monotonic() - t0
        err = stderr.read_text()
        assert code == 0, err
        assert "Traceback" not in err, err
        assert err.count("broker unreachable") <= 2, err  # not a flood
        print(f"\nexit 0 {took:.1f} s after SIGTERM, broker unreachable", file=sys.stderr)
    finally:
        stop_all([a])
