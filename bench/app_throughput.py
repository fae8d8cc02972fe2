"""Records/s an application instance gets, side by side in one run.

    python bench/app_throughput.py [--records 300000] [--backends embedded,kafka]

N realistic ``interfaces`` records (2,000-device cycles of 50 interfaces, each
cycle with its marker on every partition) are published first.  Then, each
timed from start to the last record:

- ``runner handle``: one :class:`AppRunner` handing every batch to a trivial
  ``handle`` (counts records), committing after each batch;
- ``runner on_cycle``: the same with ``on_cycle`` (cycle assembly and the
  typed DataFrame of every cycle);
- ``plain aiokafka`` (Kafka only): the ratio baseline, an ``AIOKafkaConsumer``
  loop (``getmany`` + msgspec decode, commit per batch) on the same topic.

Kafka needs NETFEED_KAFKA_BOOTSTRAP.  Prints records/s and the machine load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd
from aiokafka import AIOKafkaConsumer

from applications.api import Application, AppSettings, Batch
from applications.runner import AppRunner
from bench.bus_throughput import make_records
from bus.factory import make_producer
from bus.records import CycleComplete, Record, decode
from bus.settings import BusSettings, EmbeddedSettings, KafkaSettings
from collectors.publish import Publisher

CYCLE = 100_000  # records per cycle: 2,000 devices x 50 interfaces


class Count(Application):
    name: ClassVar[str] = "bench-count"
    default_datasets: ClassVar[list[str]] = ["interfaces"]
    records = 0

    async def handle(self, batch: Batch) -> None:
        self.records += sum(1 for i in batch.items if isinstance(i.message, Record))


class Cycles(Application):
    name: ClassVar[str] = "bench-cycles"
    default_datasets: ClassVar[list[str]] = ["interfaces"]
    records = 0

    async def on_cycle(self, network: str, dataset: str, frame: pd.DataFrame) -> None:
        self.records += len(frame)


async def publish(bus: BusSettings, n: int) -> None:
    recs = make_records(n, devices=2000)
    async with make_producer(bus, client_id="bench") as producer:
        pub = Publisher(producer, bus.topic_prefix)
        for c, start in enumerate(range(0, n, CYCLE)):
            part = recs[start : start + CYCLE]
            cid = f"bench:interfaces:{c}"
            for r in part:
                r.cycle_id, r.scheduled_unix_ms = cid, c
            await pub.publish(part)
            await pub.complete_cycle(
                CycleComplete(
                    network="bench", dataset="interfaces", cycle_id=cid, scheduled_unix_ms=c,
                    started_unix_ms=0, finished_unix_ms=1, duration_ms=1, devices_planned=2000,
                    devices_ok=2000, devices_failed=0, devices_timed_out=0, records=len(part),
                )
            )  # fmt: skip


async def through_runner(bus: BusSettings, app: Count | Cycles, n: int) -> float:
    runner = AppRunner(app, bus, instance_id=f"bench-{uuid.uuid4().hex[:6]}", max_records=20_000)
    await runner.start()
    t = time.perf_counter()
    end = t + 300
    while app.records < n and time.perf_counter() < end:
        await runner.step(timeout_ms=200)
    took = time.perf_counter() - t
    await runner.stop()
    return app.records / took


async def plain_aiokafka(bus: BusSettings, n: int) -> float:
    c = AIOKafkaConsumer(
        bootstrap_servers=bus.kafka.bootstrap_servers,
        group_id=f"bench-plain-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await c.start()
    c.subscribe(pattern=rf"^{bus.topic_prefix}\.bench\.interfaces$")
    got = 0
    t = time.perf_counter()
    end = t + 300
    while got < n and time.perf_counter() < end:
        batches = await c.getmany(timeout_ms=200, max_records=20_000)
        for records in batches.values():
            for r in records:
                if isinstance(decode(r.value), Record):
                    got += 1
        if batches:
            await c.commit()
    took = time.perf_counter() - t
    await c.stop()
    return got / took


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=300_000)
    ap.add_argument("--backends", default="embedded,kafka")
    args = ap.parse_args()
    n = args.records
    for backend in args.backends.split(","):
        prefix = f"bench{uuid.uuid4().hex[:6]}"
        if backend == "kafka":
            boot = os.environ.get("NETFEED_KAFKA_BOOTSTRAP")
            if not boot:
                print("kafka: skipped (NETFEED_KAFKA_BOOTSTRAP not set)")
                continue
            bus = BusSettings(
                backend="kafka",
                topic_prefix=prefix,
                kafka=KafkaSettings(bootstrap_servers=boot, partitions=6),
            )
        else:
            tmp = Path(tempfile.mkdtemp(prefix="bench-app-"))
            bus = BusSettings(
                backend="embedded",
                topic_prefix=prefix,
                embedded=EmbeddedSettings(path=tmp / "bus.sqlite3", partitions=4),
            )
        await publish(bus, n)
        rows = [
            ("runner handle", await through_runner(bus, Count(AppSettings(group="h")), n)),
            ("runner on_cycle", await through_runner(bus, Cycles(AppSettings(group="c")), n)),
        ]
        if backend == "kafka":
            rows.append(("plain aiokafka", await plain_aiokafka(bus, n)))
        base = rows[-1][1] if backend == "kafka" else None
        for what, rate in rows:
            ratio = f"  ({rate / base:.2f}x plain aiokafka)" if base else ""
            print(f"{backend:<9} {what:<16} {rate:>10,.0f} records/s{ratio}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    asyncio.run(main())
