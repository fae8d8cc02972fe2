"""Reading a topic an application publishes back at start (its own state)."""

from __future__ import annotations

import asyncio
import time

from bus.factory import make_consumer
from bus.records import Message, RecordError, decode
from bus.settings import BusSettings


async def read_topic(bus: BusSettings, topic: str, *, timeout_s: float = 30.0) -> list[Message]:
    """Every message of ``topic`` from the oldest kept, in order per partition,
    until a poll comes back empty twice (the end, as far as it was written
    before this call) or ``timeout_s`` passes (then what was read: the caller
    logs that its state may be partial).  Undecodable messages are skipped."""
    out: list[Message] = []
    end = time.monotonic() + timeout_s
    async with make_consumer(bus, group=None, topics=[topic], client_id="readback") as c:
        idle = 0
        while idle < 2 and time.monotonic() < end:
            msgs = await c.getmany(timeout_ms=500)
            idle = 0 if msgs else idle + 1
            for m in msgs:
                try:
                    out.append(decode(m.value, where=f"{m.topic}[{m.partition}]@{m.offset}"))
                except RecordError:
                    continue
            await asyncio.sleep(0)
    return out
