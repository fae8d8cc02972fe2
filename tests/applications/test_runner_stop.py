"""AppRunner's stop deadlines, with a consumer whose broker went away mid-run
(its commit never returns): the run and the stop still end in bounded time."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from applications.runner import AppRunner
from bus.api import BusMessage
from bus.records import encode
from bus.settings import BusSettings, EmbeddedSettings
from tests.support.countapp import CaptureApp
from tests.support.messages import rec


class StuckConsumer:
    """Returns one message, then nothing; ``commit`` and ``stop`` hang (a broker
    that vanished: aiokafka retries finding the coordinator without end)."""

    def __init__(self, hang_stop: bool = False) -> None:
        self.given = False
        self.commits_started = 0
        self.committing = asyncio.Event()
        self.stopped = False
        self.hang_stop = hang_stop

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self.stopped = True

    async def getmany(self, timeout_ms: int = 1000, max_records: int = 10_000) -> list[Any]:
        if self.given:
            await asyncio.sleep(timeout_ms / 1000)
            return []
        self.given = True
        value = encode(rec("d1", 0, network="n"))
        return [BusMessage("netfeed.n.interfaces", 0, 0, b"d1", value, 0)]

    async def commit(self) -> None:
        self.commits_started += 1
        self.committing.set()
        await asyncio.Event().wait()

    def assignment(self) -> set[tuple[str, int]]:
        return {("netfeed.n.interfaces", 0)}


def runner(tmp_path: Path, consumer: StuckConsumer, app: CaptureApp) -> AppRunner:
    bus = BusSettings(backend="embedded", embedded=EmbeddedSettings(path=tmp_path / "b.sqlite3"))
    r = AppRunner(app, bus, instance_id="i", stop_timeout_s=1.0)
    r.consumer = consumer  # type: ignore[assignment]
    return r


async def test_a_commit_that_never_returns_is_abandoned_at_the_stop_deadline(
    tmp_path: Path,
) -> None:
    consumer, app = StuckConsumer(), CaptureApp()
    r = runner(tmp_path, consumer, app)
    await r.start()
    stop = asyncio.Event()
    run = asyncio.create_task(r.run(stop=stop))
    async with asyncio.timeout(10):
        await consumer.committing.wait()
    assert len(app.items) == 1  # handled; its commit hangs
    t0 = time.monotonic()
    stop.set()
    async with asyncio.timeout(10):
        await run
    took = time.monotonic() - t0
    assert 0.9 < took < 3.0, took  # waited for the batch in hand, then gave up
    assert r.abandoned == 1 and r.handled == 0  # not committed: delivered again
    await r.stop()
    assert consumer.stopped


async def test_an_application_stop_that_hangs_is_cut_and_the_consumer_still_closed(
    tmp_path: Path,
) -> None:
    class SlowStop(CaptureApp):
        async def stop(self) -> None:
            await asyncio.Event().wait()

    consumer = StuckConsumer()
    r = runner(tmp_path, consumer, SlowStop())
    await r.start()
    t0 = time.monotonic()
    async with asyncio.timeout(10):
        await r.stop()
    assert time.monotonic() - t0 < 3.0
    assert consumer.stopped
