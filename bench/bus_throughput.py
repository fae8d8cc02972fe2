"""Records/s through each bus backend, side by side in one run.

    python bench/bus_throughput.py [--records 200000] [--backends embedded,kafka]

For each backend: encode + publish N realistic ``interfaces`` records keyed by
device through the collector's Publisher (then flush: durable), and consume +
decode them all through a consumer group with commits (the application
runner's path).  Kafka needs NETFEED_KAFKA_BOOTSTRAP (scripts/kafka.sh start).

On Kafka it also measures the produce paths apart, each to its own topic:
``send`` (aiokafka ``send()`` per message, then flush), ``batch`` (records
grouped per partition with the murmur2 partitioner and sent with
``KafkaProducer.send_batches``: ``create_batch``/``send_batch``, acked), and
``spool`` (the collector's path with a spool: Publisher appends to the
on-disk spool, the drainer sends in batches; timed until the spool is empty).
Prints one line per backend and path and the machine load.
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
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bus.factory import make_consumer, make_producer
from bus.kafka import KafkaProducer
from bus.partitioner import KeyPartitioner
from bus.records import RECORD_ID_HEADER, Provenance, Record, decode, encode, record_id
from bus.settings import BusSettings, EmbeddedSettings, KafkaSettings, SpoolSettings
from bus.spool import Spool
from bus.topics import topic_name
from collectors.publish import Publisher
from netfeed import gctune


def make_records(n: int, devices: int = 200) -> list[Record]:
    prov = Provenance(protocol="snmpv2c", collector_version="bench", sources=["1.3.6.1.2.1.2.2.1"])
    out = []
    for i in range(n):
        dev, idx = divmod(i, 50)
        out.append(
            Record(
                network="bench",
                device=f"ne-{dev % devices:04d}",
                profile="generic",
                dataset="interfaces",
                cycle_id="bench:interfaces:0",
                scheduled_unix_ms=0,
                request_unix_ms=1,
                response_unix_ms=2,
                device_uptime_ms=123456789,
                provenance=prov,
                tags={"if_index": str(idx + 1), "if_name": f"Gi1/0/{idx + 1}"},
                fields={
                    "if_descr": f"GigabitEthernet1/0/{idx + 1}",
                    "if_type": "ethernetCsmacd",
                    "admin_status": "up",
                    "oper_status": "up",
                    "speed_bps": 1_000_000_000,
                    "mtu_octets": 1500,
                    "counter_bits": 64,
                    "in_octets": 10**12 + i,
                    "out_octets": 2 * 10**12 + i,
                    "in_ucast_pkts": 10**9 + i,
                    "out_ucast_pkts": 10**9 + 2 * i,
                    "in_errors": 0,
                    "out_errors": 0,
                    "in_discards": 0,
                    "out_discards": 0,
                },
            )
        )
    return out


async def run(bus: BusSettings, records: list[Record]) -> tuple[float, float]:
    pub_cpu0, t0 = time.process_time(), time.perf_counter()
    async with make_producer(bus, client_id="bench") as producer:
        pub = Publisher(producer, bus.topic_prefix)
        for k in range(0, len(records), 1000):
            await pub.publish(records[k : k + 1000])
        await producer.flush()
    produce_s = time.perf_counter() - t0
    topic = topic_name(bus.topic_prefix, "bench", "interfaces")
    seen = 0
    t1 = time.perf_counter()
    async with make_consumer(bus, group="bench", topics=[topic], client_id="bench") as consumer:
        deadline = time.monotonic() + 300
        while seen < len(records) and time.monotonic() < deadline:
            msgs = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for m in msgs:
                decode(m.value)
            seen += len(msgs)
            if msgs:
                await consumer.commit()
    consume_s = time.perf_counter() - t1
    if seen < len(records):
        raise SystemExit(f"{bus.backend}: consumed only {seen}/{len(records)} within 300 s")
    _ = pub_cpu0
    return len(records) / produce_s, len(records) / consume_s


async def produce_batch(
    bus: BusSettings, records: list[Record], chunk: int = 20_000, *, pre_encoded: bool = False
) -> tuple[float, float]:
    """Records/s and CPU us/record through ``KafkaProducer.send_batches``
    (encode, id, partition, batch, send, ack); the topic is created before the
    clock starts.  ``pre_encoded``: payloads, ids and partitions are made before
    the clock starts, so only the transport (batch, compress, send, ack) is timed."""
    topic = topic_name(bus.topic_prefix, "bench", "interfaces")
    async with KafkaProducer(bus, client_id="bench-batch") as producer:
        parts = await producer.ensure_topic(topic)
        keys = KeyPartitioner()

        def group(rs: list[Record]) -> dict[int, list[tuple[bytes | None, bytes, Any, int | None]]]:
            groups: dict[int, list[tuple[bytes | None, bytes, Any, int | None]]] = {}
            for r in rs:
                key = r.device.encode()
                groups.setdefault(keys.partition(key, parts), []).append(
                    (key, encode(r), ((RECORD_ID_HEADER, record_id(r).encode()),), None)
                )
            return groups

        chunks = [records[k : k + chunk] for k in range(0, len(records), chunk)]
        ready = [group(c) for c in chunks] if pre_encoded else []
        t0, c0 = time.perf_counter(), time.process_time()
        for i, c in enumerate(chunks):
            groups = ready[i] if pre_encoded else group(c)
            await producer.send_batches([(topic, p, m) for p, m in groups.items()])
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return len(records) / wall, cpu / len(records) * 1e6


class _Away:
    """A producer whose broker never answers: the spool only fills."""

    async def start(self) -> None:
        await asyncio.Event().wait()

    async def abort(self) -> None:
        pass


async def produce_spool(
    bus: BusSettings, records: list[Record]
) -> tuple[float, float, float, float]:
    """The collector's path with a spool, in two phases: Publisher appends every
    record to a spool whose broker is away (append records/s, CPU us/record),
    then a drainer sends that backlog to the broker (drain records/s, CPU
    us/record).  The topic is created before the clocks start."""
    tmp = Path(tempfile.mkdtemp(prefix="nf-bench-spool-"))
    path = tmp / "bench.sqlite3"
    settings = SpoolSettings(path=tmp, stop_timeout_ms=0)
    async with Spool(settings, path, _Away()) as spool:
        pub = Publisher(cast(Any, None), bus.topic_prefix, spool=spool)
        t0, c0 = time.perf_counter(), time.process_time()
        for k in range(0, len(records), 50):  # one device's interfaces per append
            await pub.publish(records[k : k + 50])
        append_wall, append_cpu = time.perf_counter() - t0, time.process_time() - c0
    producer = KafkaProducer(bus, client_id="bench-spool")
    await producer.start()
    await producer.ensure_topic(topic_name(bus.topic_prefix, "bench", "interfaces"))
    async with Spool(settings, path, producer) as spool:
        t0, c0 = time.perf_counter(), time.process_time()
        while spool.stats.depth:  # noqa: ASYNC110 - a bench polling a counter
            await asyncio.sleep(0.005)
        drain_wall, drain_cpu = time.perf_counter() - t0, time.process_time() - c0
    n = len(records)
    return n / append_wall, append_cpu / n * 1e6, n / drain_wall, drain_cpu / n * 1e6


async def produce_spool_live(bus: BusSettings, records: list[Record]) -> tuple[float, float]:
    """The collector's normal path: Publisher -> spool -> drainer with the
    broker up, until the spool is empty (records/s, CPU us/record)."""
    tmp = Path(tempfile.mkdtemp(prefix="nf-bench-live-"))
    producer = KafkaProducer(bus, client_id="bench-live")
    await producer.start()
    await producer.ensure_topic(topic_name(bus.topic_prefix, "bench", "interfaces"))
    async with Spool(SpoolSettings(path=tmp), tmp / "bench.sqlite3", producer) as spool:
        pub = Publisher(cast(Any, None), bus.topic_prefix, spool=spool)
        t0, c0 = time.perf_counter(), time.process_time()
        for k in range(0, len(records), 50):
            await pub.publish(records[k : k + 50])
        while spool.stats.depth:  # noqa: ASYNC110 - a bench polling a counter
            await asyncio.sleep(0.005)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return len(records) / wall, cpu / len(records) * 1e6


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--backends", default="embedded,kafka")
    ap.add_argument(
        "--compression",
        default=KafkaSettings().compression,
        choices=["none", "gzip", "snappy", "lz4", "zstd"],
        help="kafka.compression (default: the setting's default)",
    )
    ap.add_argument(
        "--gc-default",
        action="store_true",
        help="CPython's GC settings, not netfeed.gctune's (see README)",
    )
    args = ap.parse_args()
    records = make_records(args.records)
    if not args.gc_default:
        # As `netfeed collect` after its start-up.  This also freezes the
        # pre-built records: a collector frees each device's records once
        # published, it never holds 200k that every full collection walks.
        gctune.settle()
    size = sum(len(__import__("bus.records").records.encode(r)) for r in records[:1000]) / 1000
    print(
        f"bus_throughput: {args.records} interface records, {size:.0f} B each (JSON), "
        f"loadavg {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}, {os.cpu_count()} cores, "
        f"kafka compression {args.compression}, "
        f"gc {'CPython default' if args.gc_default else 'netfeed.gctune'}"
    )
    for backend in args.backends.split(","):
        prefix = f"bench{uuid.uuid4().hex[:8]}"
        if backend == "kafka":
            boot = os.environ.get("NETFEED_KAFKA_BOOTSTRAP")
            if not boot:
                print(
                    "kafka     : skipped (NETFEED_KAFKA_BOOTSTRAP not set; scripts/kafka.sh start)"
                )
                continue
            bus = BusSettings(
                backend="kafka",
                topic_prefix=prefix,
                kafka=KafkaSettings(
                    bootstrap_servers=boot, partitions=6, compression=args.compression
                ),
            )
        else:
            tmp = Path(tempfile.mkdtemp(prefix="nf-bench-"))
            bus = BusSettings(
                backend="embedded",
                topic_prefix=prefix,
                embedded=EmbeddedSettings(path=tmp / "bus.sqlite3", partitions=6),
            )
        prod, cons = await run(bus, records)
        print(
            f"{backend:<10}: produce {prod:>9,.0f} records/s (encode+publish+flush)   "
            f"consume {cons:>9,.0f} records/s (fetch+decode+commit)"
        )
        if backend == "kafka":
            b = bus.model_copy(update={"topic_prefix": prefix + "b"})
            batch, batch_cpu = await produce_batch(b, records)
            print(f"kafka     : produce {prod:>9,.0f} records/s with send (per message)")
            print(
                f"kafka     : produce {batch:>9,.0f} records/s with batch (send_batches), "
                f"{batch_cpu:.1f} CPU-us/record"
            )
            e = bus.model_copy(update={"topic_prefix": prefix + "e"})
            enc, enc_cpu = await produce_batch(e, records, pre_encoded=True)
            print(
                f"kafka     : produce {enc:>9,.0f} records/s with batch, pre-encoded "
                f"(transport only), {enc_cpu:.1f} CPU-us/record"
            )
            s = bus.model_copy(update={"topic_prefix": prefix + "s"})
            app, app_cpu, drain, drain_cpu = await produce_spool(s, records)
            print(
                f"kafka     : spool append {app:>9,.0f} records/s, {app_cpu:.1f} CPU-us/record "
                "(Publisher -> spool file, broker away)"
            )
            print(
                f"kafka     : spool drain  {drain:>9,.0f} records/s, {drain_cpu:.1f} CPU-us/record "
                "(that backlog -> broker, batched, acked, deleted)"
            )
            live = bus.model_copy(update={"topic_prefix": prefix + "l"})
            lv, lv_cpu = await produce_spool_live(live, records)
            print(
                f"kafka     : spool live   {lv:>9,.0f} records/s, {lv_cpu:.1f} CPU-us/record "
                "(Publisher -> spool -> broker up, until empty)"
            )
    print(f"loadavg after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
