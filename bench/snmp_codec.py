"""CPU per varbind: the BER codec alone, FastSnmpClient and PysnmpClient end to end.

    python bench/snmp_codec.py [--devices 50] [--interfaces 49] [--rounds 5]
                               [--in-flight 50] [--max-repetitions 20] [--profile FILE]

The simulator runs in a subprocess (``python -m netfeed.simulator``), so the
CPU measured here (``time.process_time`` of this process) is the client's.
Every round polls every device with the same poll set as the measured facts
in ``../shared/notes/measured-parts.md``: a GET of sysDescr, sysUpTime and
sysName, then one walk of 12 ifTable/ifXTable columns (3 + 12 x interfaces
varbinds per device).  Prints, per path, the median over rounds of CPU-us per
varbind (and wall time per round), the ratio pysnmp / fast, the simulator's
own CPU, and the machine's load average before and after.

``ber decode only``: ``ber.decode_message`` over the reply datagrams one
FastSnmpClient round received (captured in the warm-up round), nothing else;
per varbind *decoded*, which includes the rows past each column's end that a
walk's last GETBULK brings back (the end-to-end rows count only rows kept).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import csv
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collectors.snmp import ber
from collectors.snmp.base import SnmpClient, SnmpTarget
from collectors.snmp.fast_client import FastSnmpClient
from collectors.snmp.pysnmp_client import PysnmpClient

SCALARS = ["1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.5.0"]
IF = "1.3.6.1.2.1.2.2.1."
IFX = "1.3.6.1.2.1.31.1.1.1."
COLUMNS = [
    IFX + "1",  # ifName
    IFX + "15",  # ifHighSpeed
    IFX + "6",  # ifHCInOctets
    IFX + "10",  # ifHCOutOctets
    IFX + "7",  # ifHCInUcastPkts
    IFX + "11",  # ifHCOutUcastPkts
    IF + "7",  # ifAdminStatus
    IF + "8",  # ifOperStatus
    IF + "14",  # ifInErrors
    IF + "20",  # ifOutErrors
    IF + "13",  # ifInDiscards
    IF + "19",  # ifOutDiscards
]


class CapturingClient(FastSnmpClient):
    """FastSnmpClient that keeps the datagrams it receives (for the codec-only run)."""

    def __init__(self) -> None:
        super().__init__()
        self.captured: list[bytes] = []
        self.capturing = True

    def _on_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.capturing:
            self.captured.append(data)
        super()._on_datagram(data, addr)


def start_simulator(devices: int, interfaces: int) -> tuple[subprocess.Popen[str], list[int]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "netfeed.simulator",
            "--devices",
            str(devices),
            "--port",
            "0",
            "--interfaces",
            str(interfaces),
            "--network",
            "bench",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert proc.stdout is not None
    rows = csv.reader(iter(proc.stdout.readline, ""))
    header = next(rows)
    assert header[:3] == ["id", "host", "port"], header
    ports = [int(r[2]) for _, r in zip(range(devices), rows, strict=False)]
    return proc, ports


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def poll_round(
    client: SnmpClient, targets: list[SnmpTarget], in_flight: int
) -> tuple[int, int]:
    """Poll every target once; (varbinds, failed devices)."""
    sem = asyncio.Semaphore(in_flight)
    varbinds = failed = 0

    async def one(t: SnmpTarget) -> None:
        nonlocal varbinds, failed
        async with sem:
            try:
                got = await client.get(t, SCALARS)
                walk = await client.walk(t, COLUMNS)
            except Exception as exc:
                failed += 1
                print(f"  {t.device}: {type(exc).__name__}: {exc}", file=sys.stderr)
                return
            varbinds += len(got) + sum(len(c) for c in walk.columns.values())

    await asyncio.gather(*(one(t) for t in targets))
    return varbinds, failed


async def measure_client(
    name: str, client: SnmpClient, targets: list[SnmpTarget], rounds: int, in_flight: int
) -> tuple[list[float], list[float], int]:
    """(CPU-us per varbind per round, wall-s per round, varbinds per round)."""
    await poll_round(client, targets, in_flight)  # warm-up: sockets, caches, imports
    if isinstance(client, CapturingClient):
        client.capturing = False
    per_vb, walls, n = [], [], 0
    for _ in range(rounds):
        c0, w0 = time.process_time(), time.perf_counter()
        n, failed = await poll_round(client, targets, in_flight)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        if failed:
            print(f"  {name}: {failed} device(s) failed this round", file=sys.stderr)
        per_vb.append(cpu / max(n, 1) * 1e6)
        walls.append(wall)
    return per_vb, walls, n


def measure_codec(datagrams: list[bytes], rounds: int) -> tuple[list[float], int]:
    n = sum(len(ber.decode_message(d).varbinds) for d in datagrams)
    out = []
    for _ in range(rounds):
        c0 = time.process_time()
        for d in datagrams:
            ber.decode_message(d)
        out.append((time.process_time() - c0) / n * 1e6)
    return out, n


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--devices", type=int, default=50)
    p.add_argument("--interfaces", type=int, default=49)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--pysnmp-rounds", type=int, default=3)
    p.add_argument("--in-flight", type=int, default=50)
    p.add_argument("--max-repetitions", type=int, default=20)
    p.add_argument("--timeout", type=float, default=5.0)
    p.add_argument("--profile", help="write a cProfile of the fast client's rounds here")
    args = p.parse_args()

    load0 = os.getloadavg()
    sim, ports = start_simulator(args.devices, args.interfaces)
    try:
        targets = [
            SnmpTarget(
                f"bench-{i + 1:03d}",
                "127.0.0.1",
                port,
                "2c",
                "public",
                args.timeout,
                1,
                args.max_repetitions,
            )
            for i, port in enumerate(ports)
        ]
        sim0 = proc_cpu_s(sim.pid)

        async def run() -> tuple[dict[str, tuple[list[float], list[float], int]], list[bytes]]:
            out = {}
            fast = CapturingClient()
            prof = cProfile.Profile() if args.profile else None
            if prof:
                prof.enable()
            out["fast"] = await measure_client("fast", fast, targets, args.rounds, args.in_flight)
            if prof:
                prof.disable()
                prof.dump_stats(args.profile)
            fast.close()
            ref = PysnmpClient()
            out["pysnmp"] = await measure_client(
                "pysnmp", ref, targets, args.pysnmp_rounds, args.in_flight
            )
            ref.close()
            return out, fast.captured

        results, captured = asyncio.run(run())
        sim_cpu = proc_cpu_s(sim.pid) - sim0
    finally:
        sim.terminate()
        sim.wait(10)
    codec, n_codec = measure_codec(captured, args.rounds)
    load1 = os.getloadavg()

    vb_per_dev = len(SCALARS) + len(COLUMNS) * args.interfaces
    print(
        f"snmp codec bench: {args.devices} simulated devices x {vb_per_dev} varbinds "
        f"(GET 3 scalars + walk 12 columns x {args.interfaces} interfaces), "
        f"max-repetitions {args.max_repetitions}, {args.in_flight} in flight; "
        f"python {sys.version.split()[0]}"
    )
    med = {k: statistics.median(v[0]) for k, v in results.items()}
    cmed = statistics.median(codec)
    print(f"  {'path':<22}{'CPU-us/varbind':>16}{'rounds':>8}{'wall-s/round':>14}{'varbinds':>10}")
    print(f"  {'ber decode only':<22}{cmed:>16.2f}{len(codec):>8}{'-':>14}{n_codec:>10}")
    for k, label in (("fast", "FastSnmpClient"), ("pysnmp", "PysnmpClient")):
        per, walls, n = results[k]
        print(f"  {label:<22}{med[k]:>16.2f}{len(per):>8}{statistics.median(walls):>14.3f}{n:>10}")
    print(f"  ratio pysnmp / fast: {med['pysnmp'] / med['fast']:.1f}x")
    rounds_total = 1 + args.rounds + 1 + args.pysnmp_rounds
    print(
        f"  simulator CPU (all {rounds_total} rounds incl. warm-ups): {sim_cpu:.2f} s "
        f"= {sim_cpu / (rounds_total * args.devices * vb_per_dev) * 1e6:.1f} us/varbind"
    )
    before, after = (" ".join(f"{x:.2f}" for x in la) for la in (load0, load1))
    print(f"  loadavg before: {before}; after: {after}; cpus: {os.cpu_count()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
