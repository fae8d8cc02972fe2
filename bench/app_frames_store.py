"""One cycle of 2,000 devices x 50 interfaces: into its typed DataFrame
(``cycle_frame``, what ``on_cycle`` gets) and into the store (Parquet +
DuckDB views; PostgreSQL too when NETFEED_PG_DSN_FILE names a DSN file).

    python bench/app_frames_store.py [--runs 5]

Prints the median of ``--runs`` runs of each, records/s, and the load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb
import psycopg

from applications.frames import cycle_frame
from applications.store.parquet import ParquetStore
from applications.store.postgres import PostgresStore
from bus.records import Provenance, Record

N_DEV, N_IF = 2000, 50


def records(cycle: int) -> list[Record]:
    prov = Provenance(protocol="snmpv2c", collector_version="bench")
    t = 1_764_028_800_000 + cycle * 60_000
    return [
        Record(
            network="bench", device=f"ne-{d:04d}", profile="ios", dataset="interfaces",
            cycle_id=f"bench:interfaces:{t}", scheduled_unix_ms=t, request_unix_ms=t + 5,
            response_unix_ms=t + 40, device_uptime_ms=10**9 + t, provenance=prov,
            tags={"if_index": str(i), "if_name": f"Gi0/{i}"},
            fields={
                "if_descr": f"GigabitEthernet0/{i}", "if_type": "ethernetCsmacd",
                "admin_status": "up", "oper_status": "up", "speed_bps": 10**9,
                "mtu_octets": 1500, "counter_bits": 64, "in_octets": d * i * 1000 + t,
                "out_octets": d * i * 999 + t, "in_ucast_pkts": i * t, "out_ucast_pkts": i,
                "in_errors": 0, "out_errors": 0, "in_discards": 0, "out_discards": 0,
                "in_multicast_pkts": 1, "out_multicast_pkts": 2, "in_broadcast_pkts": 3,
                "out_broadcast_pkts": 4, "last_change_ticks": 5,
            },
        )
        for d in range(N_DEV)
        for i in range(N_IF)
    ]  # fmt: skip


def median_s(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for k in range(runs):
        t = time.perf_counter()
        fn(k)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    n = N_DEV * N_IF
    cycles = [records(k) for k in range(args.runs)]
    frames = [cycle_frame(c, "interfaces") for c in cycles]
    s = median_s(lambda k: cycle_frame(cycles[k], "interfaces"), args.runs)
    print(f"cycle_frame          {n:,} rows: {s:.3f} s median ({n / s:,.0f} records/s)")
    tmp = Path(tempfile.mkdtemp(prefix="bench-store-"))
    store = ParquetStore(tmp)
    store.start()
    s = median_s(lambda k: store.write_cycle("bench", "interfaces", frames[k]), args.runs)
    print(f"store parquet write  {n:,} rows: {s:.3f} s median ({n / s:,.0f} records/s)")
    t = time.perf_counter()
    with duckdb.connect(str(tmp / "netfeed.duckdb"), read_only=True) as con:
        rows = con.execute("select count(*) from interfaces").fetchone()
    q = time.perf_counter() - t
    print(f"duckdb view count    {rows[0]:,} rows (deduplicated by record id): {q:.3f} s")
    dsn_file = os.environ.get("NETFEED_PG_DSN_FILE")
    if dsn_file:
        dsn = Path(dsn_file).read_text().strip()  # noqa: ASYNC240 (set-up, before the clock)
        db = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{db}"')
        pg = PostgresStore(dsn.rsplit("/", 1)[0] + f"/{db}", "bench")
        await pg.start()
        times = []
        for k in range(args.runs):
            t = time.perf_counter()
            await pg.write_cycle("interfaces", frames[k], None)
            times.append(time.perf_counter() - t)
        await pg.stop()
        s = statistics.median(times)
        print(f"store postgres write {n:,} rows: {s:.3f} s median ({n / s:,.0f} records/s)")
    else:
        print("store postgres write: skipped (NETFEED_PG_DSN_FILE not set)")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    asyncio.run(main())
