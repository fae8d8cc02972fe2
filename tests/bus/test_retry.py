"""bus.retry.start_patiently: retries an away or refusing broker, reports each
kind once (then at most once a minute), and a stop ends it at once."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from bus import retry
from bus.api import BusError, BusRefused, BusUnreachable


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "UNREACHABLE_BACKOFF_S", (0.01,))
    monkeypatch.setattr(retry, "REFUSED_BACKOFF_S", (0.02,))


async def test_retries_until_started_and_reports_each_kind_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outcomes: list[BaseException | None] = (
        [BusUnreachable("down")] * 5
        + [BusRefused("kafka x (SASL_SSL, SASL SCRAM-SHA-512 as user 'u'): login refused")] * 5
        + [None]
    )
    calls = 0

    async def start() -> None:
        nonlocal calls
        calls += 1
        exc = outcomes.pop(0)
        if exc is not None:
            raise exc

    caplog.set_level(logging.INFO, logger="bus.retry")
    async with asyncio.timeout(10):
        assert await retry.start_patiently(start, asyncio.Event(), "app: bus")
    assert calls == 11
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [lvl for lvl, _ in lines] == ["WARNING", "ERROR", "WARNING"], lines
    assert "broker unreachable" in lines[0][1]
    assert "refused" in lines[1][1] and "as user 'u'" in lines[1][1]
    assert "connected after" in lines[2][1] and "10 failed tries" in lines[2][1]


async def test_a_stop_cancels_the_attempt_in_progress() -> None:
    stop = asyncio.Event()
    cancelled = asyncio.Event()

    async def start() -> None:
        try:
            await asyncio.Event().wait()  # a broker that never answers
        finally:
            cancelled.set()

    asyncio.get_running_loop().call_later(0.2, stop.set)
    t0 = time.monotonic()
    async with asyncio.timeout(10):
        assert not await retry.start_patiently(start, stop, "app: bus")
    assert time.monotonic() - t0 < 2 and cancelled.is_set()


async def test_other_errors_are_not_retried() -> None:
    async def start() -> None:
        raise BusError("bad subscription")

    with pytest.raises(BusError, match="bad subscription"):
        async with asyncio.timeout(10):
            await retry.start_patiently(start, asyncio.Event(), "app: bus")
