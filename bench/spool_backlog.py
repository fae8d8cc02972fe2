"""A broker outage's backlog draining while collection goes on (issue 8).

    python bench/spool_backlog.py [--networks 2 --nes 2000 --interfaces 50
                                   --interval-s 5 --backlog-s 30 --timeout-s 600]

Two phases, through the collector's real path (``Publisher`` -> ``Spool`` ->
``KafkaProducer``), on the broker at NETFEED_KAFKA_BOOTSTRAP:

1. **outage**: the broker is away; ``backlog-s / interval-s`` cycles of every
   network (each NE's interface records one append, then each network's
   cycle marker) fill the spool as fast as the publisher can;
2. **recovery**: the broker is back; the drainer sends the backlog while a
   collection task goes on publishing one cycle of every network per
   ``interval-s`` tick (the live rate).  Timed until the backlog is
   acknowledged (the spool is FIFO: ``sent`` passes the backlog's messages),
   then collection stops and the spool is drained empty.

Printed: the assumptions, the fill rate, the backlog's drain time and
records/s, the live records published meanwhile (and ticks that found the
previous cycle still publishing: the collection side not keeping up), the
spool's drop counter, and a check against the broker: the topics' end offsets
sum to every message sent (records, plus each marker once per partition).
Every wait is bounded by ``--timeout-s``; a run that does not finish says so.
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

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka import AIOKafkaConsumer, TopicPartition

from bus.kafka import KafkaProducer
from bus.records import CycleComplete
from bus.settings import BusSettings, KafkaSettings, SpoolSettings
from bus.spool import Spool
from bus.topics import topic_name
from collectors.publish import Publisher
from netfeed import gctune

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bus_throughput import make_records  # the same realistic records


class _Away:
    """A producer whose broker never answers: the spool only fills."""

    async def start(self) -> None:
        await asyncio.Event().wait()

    async def abort(self) -> None:
        pass


class Collection:
    """Publishes cycles of ``networks`` x ``nes`` NEs x ``interfaces`` records."""

    def __init__(self, pub: Publisher, args: argparse.Namespace) -> None:
        self.pub = pub
        self.args = args
        self.templates = make_records(args.interfaces, devices=1)
        self.records = 0
        self.markers = 0

    async def cycle(self, scheduled_ms: int, spread_s: float) -> None:
        """One cycle of every network, as the collector runs it: every NE's poll
        its own task, starts spread over ``spread_s``, each publishing its
        records as one append when done; then each network's marker."""
        a = self.args
        loop = asyncio.get_running_loop()
        t0 = loop.time()

        async def one(net: str, cid: str, d: int) -> None:
            delay = t0 + spread_s * d / a.nes - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            dev = f"{net}-ne-{d:05d}"
            recs = [
                msgspec.structs.replace(
                    t, network=net, device=dev, cycle_id=cid, scheduled_unix_ms=scheduled_ms
                )
                for t in self.templates
            ]
            await self.pub.publish(recs)
            self.records += len(recs)

        async def network(n: int) -> None:
            net = f"bench{n}"
            cid = f"{net}:interfaces:{scheduled_ms}"
            await asyncio.gather(*(one(net, cid, d) for d in range(a.nes)))
            await self.pub.complete_cycle(_marker(net, cid, scheduled_ms, a.nes, a.interfaces))
            self.markers += 1

        await asyncio.gather(*(network(n) for n in range(a.networks)))


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.iterdir())


def _marker(net: str, cid: str, ms: int, nes: int, interfaces: int) -> CycleComplete:
    return CycleComplete(
        network=net,
        dataset="interfaces",
        cycle_id=cid,
        scheduled_unix_ms=ms,
        started_unix_ms=ms,
        finished_unix_ms=ms + 1,
        duration_ms=1,
        devices_planned=nes,
        devices_ok=nes,
        devices_failed=0,
        devices_timed_out=0,
        records=nes * interfaces,
    )


async def _end_offsets(bus: BusSettings, topics: list[str]) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bus.kafka.bootstrap_servers)
    await consumer.start()
    try:
        total = 0
        for t in topics:
            parts = consumer.partitions_for_topic(t) or set()
            if not parts:
                await consumer._client.force_metadata_update()
                parts = consumer.partitions_for_topic(t) or set()
            ends = await consumer.end_offsets([TopicPartition(t, p) for p in parts])
            total += sum(ends.values())
        return total
    finally:
        await consumer.stop()


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--networks", type=int, default=2)
    ap.add_argument("--nes", type=int, default=2000, help="NEs per network")
    ap.add_argument("--interfaces", type=int, default=50, help="records per NE per cycle")
    ap.add_argument("--interval-s", type=float, default=5.0, help="poll interval")
    ap.add_argument("--backlog-s", type=float, default=30.0, help="length of the outage")
    ap.add_argument(
        "--spread", type=float, default=0.5, help="live polls start over this share of the interval"
    )
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument(
        "--gc-default",
        action="store_true",
        help="keep CPython's GC thresholds, not netfeed.gctune's (as `netfeed collect`)",
    )
    ap.add_argument("--max-octets", type=int, default=SpoolSettings().max_octets)
    ap.add_argument("--timeout-s", type=float, default=600.0, help="bound on the recovery phase")
    args = ap.parse_args()
    boot = os.environ.get("NETFEED_KAFKA_BOOTSTRAP")
    if not boot:
        print("spool_backlog: NETFEED_KAFKA_BOOTSTRAP not set (scripts/kafka.sh start)")
        return 2
    cycles = max(1, round(args.backlog_s / args.interval_s))
    per_cycle = args.networks * args.nes * args.interfaces
    print(
        f"spool_backlog: {args.networks} networks x {args.nes} NEs x {args.interfaces} "
        f"interface records every {args.interval_s:g} s = {per_cycle / args.interval_s:,.0f} "
        f"records/s live (polls spread over {args.spread:.0%} of it); "
        f"outage {args.backlog_s:g} s = {cycles} cycles = "
        f"{cycles * per_cycle:,} records backlog; {args.partitions} partitions, spool bound "
        f"{args.max_octets / 2**20:,.0f} MiB; loadavg {os.getloadavg()[0]:.2f}, "
        f"{os.cpu_count()} cores; kafka {boot}; gc thresholds "
        f"{'CPython default' if args.gc_default else (gctune.GEN0, gctune.GEN1, gctune.GEN2)}"
    )
    prefix = f"backlog{uuid.uuid4().hex[:8]}"
    bus = BusSettings(
        backend="kafka",
        topic_prefix=prefix,
        kafka=KafkaSettings(bootstrap_servers=boot, partitions=args.partitions),
    )
    tmp = Path(tempfile.mkdtemp(prefix="nf-bench-backlog-"))
    settings = SpoolSettings(path=tmp, max_octets=args.max_octets, stop_timeout_ms=0)
    path = tmp / "backlog.sqlite3"
    if not args.gc_default:
        gctune.settle()  # as `netfeed collect` does after its start-up

    # Phase 1: the outage.
    async with Spool(settings, path, _Away()) as spool:
        col = Collection(Publisher(cast(Any, None), prefix, spool=spool), args)
        t0, c0 = time.perf_counter(), time.process_time()
        for c in range(cycles):
            await col.cycle(int(c * args.interval_s * 1000), 0.0)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        dropped_fill = spool.stats.dropped
    backlog_records, backlog_markers = col.records, col.markers
    print(
        f"outage    : {backlog_records:,} records + {backlog_markers} markers spooled in "
        f"{wall:.1f} s ({backlog_records / wall:,.0f} records/s, "
        f"{cpu / backlog_records * 1e6:.1f} CPU-us/record), {dropped_fill} dropped, "
        f"file {_size(tmp) / 2**20:,.0f} MiB"
    )

    # Phase 2: recovery while collection goes on.
    topics = [topic_name(prefix, f"bench{n}", "interfaces") for n in range(args.networks)]
    producer = KafkaProducer(bus, client_id="bench-backlog")
    await producer.start()
    for t in topics:
        await producer.ensure_topic(t)
    parts = args.partitions
    backlog_msgs = backlog_records + backlog_markers * parts
    outcome = "drained"
    async with Spool(settings, path, producer) as spool:
        live = Collection(Publisher(cast(Any, None), prefix, spool=spool), args)
        late = 0
        stop = asyncio.Event()

        async def collect() -> None:
            nonlocal late
            loop = asyncio.get_running_loop()
            tick, k = loop.time(), cycles
            while not stop.is_set():
                await live.cycle(int(k * args.interval_s * 1000), args.spread * args.interval_s)
                k += 1
                tick += args.interval_s
                while tick < loop.time():  # the cycle took longer than the interval
                    late += 1
                    tick += args.interval_s
                    k += 1
                try:
                    await asyncio.wait_for(stop.wait(), tick - loop.time())
                except TimeoutError:
                    pass

        loop = asyncio.get_running_loop()
        t0, c0 = time.perf_counter(), time.process_time()
        deadline = loop.time() + args.timeout_s
        task = asyncio.create_task(collect())

        # FIFO: the backlog is out once sent (or dropped: oldest first) passes it.
        def behind() -> bool:
            return spool.stats.sent + spool.stats.dropped < backlog_msgs

        while behind() and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        drain_s, drain_cpu = time.perf_counter() - t0, time.process_time() - c0
        sent_at_drain = spool.stats.sent
        if behind():
            outcome = f"NOT drained within {args.timeout_s:g} s"
        stop.set()
        await asyncio.wait_for(task, max(deadline - loop.time(), 0) + 120)
        while spool.stats.depth and loop.time() < deadline + 120:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        empty_s = time.perf_counter() - t0
        stats = spool.stats
    live_msgs = live.records + live.markers * parts
    print(
        f"recovery  : backlog {outcome} in {drain_s:.1f} s: {sent_at_drain / drain_s:,.0f} "
        f"messages/s sent ({drain_cpu / max(sent_at_drain, 1) * 1e6:.1f} CPU-us/message incl. "
        f"the live collection's appends), while collection published {live.records:,} live "
        f"records ({late} ticks late)"
    )
    print(
        f"recovery  : spool empty after {empty_s:.1f} s, depth {stats.depth}, dropped "
        f"{stats.dropped + dropped_fill}, retries {stats.retries}"
    )
    on_broker = await _end_offsets(bus, topics)
    expected = backlog_msgs + live_msgs
    dropped = stats.dropped + dropped_fill
    # A dropped marker counts 1 in the spool but would have been `parts` messages.
    missing = expected - dropped - on_broker
    verdict = "nothing lost" if missing <= 0 else f"{missing:,} LOST"
    if dropped and missing <= 0:
        verdict += f" beyond the {dropped:,} the full spool dropped (counted and logged)"
    print(
        f"broker    : {on_broker:,} messages on the topics, {expected:,} published "
        f"(records + markers x {parts} partitions): {verdict}"
        + (f", {-missing:,} duplicates (retried rounds)" if missing < 0 and not dropped else "")
    )
    print(f"loadavg after: {os.getloadavg()[0]:.2f}")
    return 0 if missing <= 0 and not dropped and outcome == "drained" else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
