"""Records/s through each bus backend, side by side in one run.

    python bench/bus_throughput.py [--records 200000] [--backends embedded,kafka]

For each backend: encode + publish N realistic ``interfaces`` records keyed by
device through the collector's Publisher (then flush: durable), and consume +
decode them all through a consumer group with commits (the application
runner's path).  Kafka needs NETFEED_KAFKA_BOOTSTRAP (scripts/kafka.sh start).
Prints one line per backend and the machine load.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bus.factory import make_consumer, make_producer
from bus.records import Provenance, Record, decode
from bus.settings import BusSettings, EmbeddedSettings, KafkaSettings
from bus.topics import topic_name
from collectors.publish import Publisher


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


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--backends", default="embedded,kafka")
    args = ap.parse_args()
    records = make_records(args.records)
    size = sum(len(__import__("bus.records").records.encode(r)) for r in records[:1000]) / 1000
    print(
        f"bus_throughput: {args.records} interface records, {size:.0f} B each (JSON), "
        f"loadavg {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}, {os.cpu_count()} cores"
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
                kafka=KafkaSettings(bootstrap_servers=boot, partitions=6),
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
    print(f"loadavg after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
