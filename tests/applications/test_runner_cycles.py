"""The runner on both backends: cycles handed to ``on_cycle`` from two
networks, commits that never pass work still held, an ``on_cycle`` that
raises, dedupe, and replay from a point in time."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest

from applications.api import Application, AppSettings, Batch
from applications.runner import AppRunner
from bus.factory import make_producer
from bus.records import record_id
from bus.settings import BusSettings
from collectors.publish import Publisher
from tests.support import messages


class Cycles(Application):
    name: ClassVar[str] = "test-cycles-inproc"
    default_datasets: ClassVar[list[str]] = ["interfaces"]

    def __init__(self, settings: AppSettings | None = None, fail_on: str = "") -> None:
        super().__init__(settings)
        self.frames: list[tuple[str, str, pd.DataFrame]] = []
        self.fail_on = fail_on

    async def on_cycle(self, network: str, dataset: str, frame: pd.DataFrame) -> None:
        if self.fail_on and frame.attrs["cycle_id"].endswith(self.fail_on):
            raise RuntimeError("on_cycle failed on purpose")
        self.frames.append((network, dataset, frame))


class Handled(Application):
    name: ClassVar[str] = "test-handled-inproc"
    default_datasets: ClassVar[list[str]] = ["interfaces"]

    def __init__(self, settings: AppSettings | None = None, fail: bool = False) -> None:
        super().__init__(settings)
        self.ids: list[str] = []
        self.fail = fail

    async def handle(self, batch: Batch) -> None:
        if self.fail:
            raise RuntimeError("handle failed on purpose")
        self.ids += [record_id(r) for r in batch.records]


async def publish(bus: BusSettings, network: str, cycle: int, devices: int = 6) -> set[str]:
    recs = [
        messages.rec(f"d{d}", i, cycle, network=network) for d in range(devices) for i in range(3)
    ]
    async with make_producer(bus, client_id="test-pub") as producer:
        pub = Publisher(producer, bus.topic_prefix)
        await pub.publish(recs)
        await pub.complete_cycle(messages.marker(cycle, len(recs), network=network))
    return {record_id(r) for r in recs}


async def drain(runner: AppRunner, until, timeout_s: float = 30) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout_s
    while not until():
        assert time.monotonic() < end, "timed out waiting for the runner"
        await runner.step(timeout_ms=200)


async def test_on_cycle_gets_one_whole_frame_per_network_and_cycle(any_bus: BusSettings) -> None:
    sent = await publish(any_bus, "lab-a", 100) | await publish(any_bus, "lab-b", 100)
    sent |= await publish(any_bus, "lab-a", 200)
    app = Cycles(AppSettings(networks=["lab-*"]))
    async with AppRunner(app, any_bus, instance_id="one") as runner:
        await drain(runner, lambda: len(app.frames) == 3)
        await asyncio.sleep(0.5)
        await runner.step(timeout_ms=200)
    got = {(n, f.attrs["cycle_id"]): f for n, _, f in app.frames}
    assert set(got) == {
        ("lab-a", "lab-a:interfaces:100"),
        ("lab-b", "lab-b:interfaces:100"),
        ("lab-a", "lab-a:interfaces:200"),
    }
    assert all(len(f) == 18 and f.attrs["complete"] for f in got.values())
    assert all(f.attrs["partitions"] == [0, 1, 2] for f in got.values())
    assert set().union(*(set(f["record_id"]) for f in got.values())) == sent
    assert len(app.frames) == 3  # each cycle once


async def test_a_failing_on_cycle_leaves_the_cycle_uncommitted(any_bus: BusSettings) -> None:
    sent = await publish(any_bus, "lab-a", 100)
    sent |= await publish(any_bus, "lab-a", 200)
    bad = Cycles(AppSettings(networks=["lab-a"]), fail_on=":200")
    async with AppRunner(bad, any_bus, instance_id="bad") as runner:
        with pytest.raises(RuntimeError, match="on purpose"):
            await drain(runner, lambda: False, timeout_s=20)
    assert [f.attrs["cycle_id"] for _, _, f in bad.frames] == ["lab-a:interfaces:100"]
    # The next instance of the group gets cycle 200 again, whole; 100 was committed.
    good = Cycles(AppSettings(networks=["lab-a"]))
    async with AppRunner(good, any_bus, instance_id="good") as runner:
        await drain(runner, lambda: len(good.frames) >= 1)
        await asyncio.sleep(0.5)
        await runner.step(timeout_ms=300)
    assert [f.attrs["cycle_id"] for _, _, f in good.frames] == ["lab-a:interfaces:200"]
    assert len(good.frames[0][2]) == 18
    ids = set(bad.frames[0][2]["record_id"]) | set(good.frames[0][2]["record_id"])
    assert ids == sent


async def test_records_held_for_an_open_cycle_are_not_committed(any_bus: BusSettings) -> None:
    # Records of cycle 300 arrive without their marker: the runner holds them
    # and must not commit past them, or a restart would never see them again.
    recs = [messages.rec(f"d{d}", 1, 300, network="lab-a") for d in range(6)]
    async with make_producer(any_bus, client_id="test-pub") as producer:
        await Publisher(producer, any_bus.topic_prefix).publish(recs)
    first = Cycles(AppSettings(networks=["lab-a"]))
    async with AppRunner(first, any_bus, instance_id="first") as runner:
        await drain(runner, lambda: runner.handled >= 6)
        await runner.step(timeout_ms=300)
    assert first.frames == []
    async with make_producer(any_bus, client_id="test-pub") as producer:
        await Publisher(producer, any_bus.topic_prefix).complete_cycle(
            messages.marker(300, 6, network="lab-a")
        )
    second = Cycles(AppSettings(networks=["lab-a"]))
    async with AppRunner(second, any_bus, instance_id="second") as runner:
        await drain(runner, lambda: len(second.frames) == 1)
    assert set(second.frames[0][2]["record_id"]) == {record_id(r) for r in recs}


async def test_a_failing_handle_leaves_its_batch_uncommitted(any_bus: BusSettings) -> None:
    sent = await publish(any_bus, "lab-a", 100)
    bad = Handled(AppSettings(networks=["lab-a"]), fail=True)
    async with AppRunner(bad, any_bus, instance_id="bad") as runner:
        with pytest.raises(RuntimeError, match="on purpose"):
            await drain(runner, lambda: False, timeout_s=20)
    good = Handled(AppSettings(networks=["lab-a"]))
    async with AppRunner(good, any_bus, instance_id="good") as runner:
        await drain(runner, lambda: set(good.ids) >= sent)
    assert set(good.ids) == sent


async def test_dedupe_drops_records_sent_twice(any_bus: BusSettings) -> None:
    sent = await publish(any_bus, "lab-a", 100)
    await publish(any_bus, "lab-a", 100)  # a collector's retry: same ids
    plain = Handled(AppSettings(networks=["lab-a"], group="plain"))
    deduped = Handled(AppSettings(networks=["lab-a"], group="deduped", dedupe=True))
    for app in (plain, deduped):
        async with AppRunner(app, any_bus, instance_id=app.settings.group or "") as runner:
            await drain(runner, lambda app=app: len(app.ids) >= len(sent))  # type: ignore[misc]
            for _ in range(4):
                await runner.step(timeout_ms=200)
    assert len(plain.ids) == 2 * len(sent)
    assert sorted(deduped.ids) == sorted(sent)


async def test_replay_from_a_time_gets_exactly_what_came_after_it(any_bus: BusSettings) -> None:
    before = await publish(any_bus, "lab-a", 100)
    await asyncio.sleep(1.2)
    cut = datetime.now(UTC)
    await asyncio.sleep(0.3)
    after = await publish(any_bus, "lab-a", 200)
    cases = {"earliest": before | after, "latest": set(), cut: after}
    for start, want in cases.items():
        app = Handled(AppSettings(networks=["lab-a"], group=f"g-{id(start)}", start_from=start))
        async with AppRunner(app, any_bus, instance_id="replay") as runner:
            if want:
                await drain(runner, lambda app=app, want=want: set(app.ids) >= want)  # type: ignore[misc]
            for _ in range(4):
                await runner.step(timeout_ms=300)
        assert set(app.ids) == want, start
        assert len(app.ids) == len(want), start


async def test_a_time_without_zone_is_utc(tmp_path: Path) -> None:
    from applications.runner import _ms

    naive = datetime(2026, 1, 2, 3, 4, 5)
    assert _ms(naive) == _ms(naive.replace(tzinfo=UTC)) == 1767323045000


async def test_a_payload_that_does_not_decode_is_skipped_and_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.conftest import bus_for

    bus = bus_for("embedded", tmp_path)
    sent = await publish(bus, "lab-a", 100)
    topic = f"{bus.topic_prefix}.lab-a.interfaces"
    async with make_producer(bus, client_id="garbage") as producer:
        await producer.send(topic, b"not json at all", key=b"x", partition=1)
        await producer.flush()
    app = Handled(AppSettings(networks=["lab-a"]))
    async with AppRunner(app, bus, instance_id="g") as runner:
        await drain(runner, lambda: runner.bad_messages >= 1 and set(app.ids) >= sent)
    assert runner.bad_messages == 1 and set(app.ids) == sent
    assert any(
        re.search(rf"skipped: {re.escape(topic)}\[1\]@\d+: not a netfeed message", r.getMessage())
        for r in caplog.records
    )
