#!/usr/bin/env python3
"""NETCONF at scale: N persistent sessions and one poll round of ``interfaces`` each,
per session layer, against the project's NETCONF simulator on loopback.

    python3 bench/netconf_scale.py                       # N=200 and N=2000, every layer
    python3 bench/netconf_scale.py --sizes 200 --rounds 1   # a quick look

The simulator (``python -m netfeed.simulator --netconf``) runs in ``--sim-procs``
separate processes serving ``max(--sizes)`` devices in all (``--interfaces``
each, ``--flavour`` replies: ietf by default, a ~43 KB ``<get>`` reply for 50
interfaces).  A size N uses the first N devices.  Each layer runs in its own
child process, one after the other:

* ``asyncssh``: the real ``NetconfDriver`` (``client: asyncssh``): sessions opened
  through ``driver.session`` (``max_handshakes`` at once), then rounds of
  ``driver.poll(device, "interfaces")`` over all devices at once, records built;
* ``ncclient``: the same driver with ``client: ncclient`` (``NcclientSession``);
* ``plain-ncclient``: the baseline a user writes: ``manager.connect(...)`` per
  device and ``m.get(filter=("subtree", <interfaces/>))`` per device in a
  ``ThreadPoolExecutor`` (``--plain-workers``), reply parsed by ncclient
  (``data_ele``), no records built; ``hostkey_verify=False``.

Measured in the child: time to open the N sessions (bounded by
``--open-deadline``; those not open by then are counted failed), the cycle
time of one full round (median of ``--rounds``, each bounded by
``--round-timeout``), CPU seconds (user+sys of the child) per device polled
in the rounds, idle CPU with the sessions open (``--idle-s``), threads (from
/proc), peak RSS.  "cores/60s" is the CPU a 60 s cycle would cost: one round
plus the idle rate for the rest of the minute, in cores.  The simulator's
CPU during each child is printed apart (it shares the machine).  Everything
is bounded in time; a child over its budget is killed and shown as such.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import os
import resource
import select
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LAYERS = ("asyncssh", "ncclient", "plain-ncclient")
PASSWORD = "bench-sim-pw"
PW_ENV = "NETFEED_BENCH_NC_PW"
IF_FILTER = '<interfaces xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces"/>'


# measuring -------------------------------------------------------------------


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def proc_status(pid: int | str = "self") -> dict[str, str]:
    out = {}
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def threads_now() -> int:
    return int(proc_status()["Threads"])


def rss_mb(key: str = "VmRSS", pid: int | str = "self") -> float:
    return int(proc_status(pid)[key].split()[0]) / 1024


def proc_cpu_s(pid: int) -> float:
    """user+sys of a running process (and its waited-for children)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick


# the child: one layer --------------------------------------------------------


def child(a: argparse.Namespace) -> None:
    rows = json.loads(Path(a.inventory).read_text())[: a.n]
    if a.layer == "plain-ncclient":
        result = run_plain(rows, a)
    else:
        result = asyncio.run(run_driver(rows, a))
    result["peak_rss_mb"] = rss_mb("VmHWM")
    print("RESULT " + json.dumps(result), flush=True)
    os._exit(0)  # no slow teardown of thousands of threads or sessions


def _round_stats(result: dict[str, Any], rounds: list[dict[str, float]]) -> None:
    result["rounds"] = rounds
    if rounds:
        result["cycle_s"] = statistics.median(r["wall_s"] for r in rounds)
        polled = sum(r["polled"] for r in rounds)
        result["cpu_ms_per_device"] = 1000 * sum(r["cpu_s"] for r in rounds) / max(polled, 1)
        result["ok_per_round"] = min(r["ok"] for r in rounds)
        result["rpcs_per_device"] = rounds[-1].get("rpcs_per_device", 1)


async def run_driver(rows: list[dict[str, Any]], a: argparse.Namespace) -> dict[str, Any]:
    from collectors.config import Device
    from collectors.netconf.driver import NetconfDriver
    from collectors.netconf.options import NetconfDriverSettings, NetconfOptions
    from collectors.netconf.session import NetconfSessionError

    os.environ[PW_ENV] = PASSWORD
    client = "ncclient" if a.layer == "ncclient" else "asyncssh"
    devices = [
        Device(
            network="bench",
            id=r["id"],
            host=r["host"],
            options={
                "netconf": NetconfOptions.model_validate(
                    {
                        "port": r["port"],
                        "username": "netfeed",
                        "password": f"env:{PW_ENV}",
                        "known_hosts": a.known_hosts,
                        "client": client,
                        "connect_timeout_s": 60,
                        "rpc_timeout_s": a.round_timeout,
                        "device_deadline_s": a.round_timeout,
                    }
                )
            },
        )
        for r in rows
    ]
    drv = NetconfDriver(
        NetconfDriverSettings(max_handshakes=a.handshakes, max_rpcs_in_flight=a.rpcs)
    )
    result: dict[str, Any] = {"layer": a.layer, "n": len(rows)}
    errors: dict[str, int] = {}

    async def open_one(dev: Device) -> bool:
        try:
            await drv.session(dev, dev.options["netconf"])  # type: ignore[arg-type]
            return True
        except NetconfSessionError as exc:
            key = str(exc).split(": ", 1)[-1][:60]
            errors[key] = errors.get(key, 0) + 1
            return False

    c0, t0 = cpu_s(), time.monotonic()
    tasks = [asyncio.create_task(open_one(d)) for d in devices]
    done, pending = await asyncio.wait(tasks, timeout=a.open_deadline)
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    result["open_s"] = time.monotonic() - t0
    result["open_cpu_s"] = cpu_s() - c0
    result["opened"] = sum(1 for t in done if t.result())
    result["open_deadline_hit"] = bool(pending)
    result["open_errors"] = errors
    live = [d for d in devices if d.id in drv.sessions and drv.sessions[d.id].alive]
    result["threads_open"] = threads_now()

    rounds = []
    budget_end = time.monotonic() + a.budget
    for k in range(a.rounds if live else 0):
        if time.monotonic() + a.round_timeout > budget_end and rounds:
            break
        sched = int(time.time() * 1000)
        c0, t0 = cpu_s(), time.monotonic()
        polls = [asyncio.create_task(drv.poll(d, "interfaces", sched, f"c{k}")) for d in live]
        done, pending = await asyncio.wait(polls, timeout=a.round_timeout)
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        wall, cpu = time.monotonic() - t0, cpu_s() - c0
        outs = [t.result() for t in done if not t.cancelled() and t.exception() is None]
        ok = [o for o in outs if o.status == "ok"]
        rounds.append(
            {
                "wall_s": wall,
                "cpu_s": cpu,
                "polled": len(live),
                "ok": len(ok),
                "records": sum(len(o.records) for o in ok),
                "timed_out_round": bool(pending),
                "rpcs_per_device": 2 if a.flavour == "ietf" else 1,
                "errors": sorted({(o.error or "")[:80] for o in outs if o.status != "ok"})[:3],
            }
        )
    _round_stats(result, rounds)

    # the session layer alone: one <get> of the interfaces per session, reply not parsed
    sessions = [drv.sessions[d.id] for d in live if d.id in drv.sessions]
    sessions = [x for x in sessions if x.alive]
    if sessions:
        c0, t0 = cpu_s(), time.monotonic()
        cap = asyncio.Semaphore(a.rpcs)  # as the driver caps RPCs in flight

        async def get(x: Any) -> bytes:
            async with cap:
                return bytes(await x.get(IF_FILTER))

        gets = [asyncio.create_task(get(x)) for x in sessions]
        done, pending = await asyncio.wait(gets, timeout=a.round_timeout)
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        ok_gets = [t for t in done if not t.cancelled() and t.exception() is None]
        result["get_round_s"] = time.monotonic() - t0
        result["cpu_ms_per_get"] = 1000 * (cpu_s() - c0) / max(len(ok_gets), 1)
        result["get_ok"] = len(ok_gets)
        result["get_kb"] = sum(len(t.result()) for t in ok_gets) / max(len(ok_gets), 1) / 1024

    c0 = cpu_s()
    await asyncio.sleep(a.idle_s)
    result["idle_cores"] = (cpu_s() - c0) / a.idle_s
    result["threads"] = threads_now()
    result["rss_mb"] = rss_mb()
    result["sessions_alive"] = sum(1 for s in drv.sessions.values() if s.alive)
    return result


def run_plain(rows: list[dict[str, Any]], a: argparse.Namespace) -> dict[str, Any]:
    from ncclient import manager

    result: dict[str, Any] = {"layer": a.layer, "n": len(rows)}
    pool = concurrent.futures.ThreadPoolExecutor(a.plain_workers)

    def connect(r: dict[str, Any]) -> Any:
        return manager.connect(
            host=r["host"],
            port=r["port"],
            username="netfeed",
            password=PASSWORD,
            hostkey_verify=False,
            allow_agent=False,
            look_for_keys=False,
            timeout=60,
        )

    def get(m: Any) -> int:
        reply = m.get(filter=("subtree", IF_FILTER))
        return len(reply.data_ele)

    c0, t0 = cpu_s(), time.monotonic()
    futs = [pool.submit(connect, r) for r in rows]
    done, pending = concurrent.futures.wait(futs, timeout=a.open_deadline)
    for f in pending:
        f.cancel()  # those not started; the running ones go on in the background
    result["open_s"] = time.monotonic() - t0
    result["open_cpu_s"] = cpu_s() - c0
    managers = [f.result() for f in done if f.exception() is None]
    errors: dict[str, int] = {}
    for f in done:
        if f.exception() is not None:
            key = f"{type(f.exception()).__name__}: {f.exception()}"[:60]
            errors[key] = errors.get(key, 0) + 1
    result["opened"] = len(managers)
    result["open_deadline_hit"] = bool(pending)
    result["open_errors"] = errors
    result["threads_open"] = threads_now()

    rounds = []
    budget_end = time.monotonic() + a.budget
    for _ in range(a.rounds if managers else 0):
        if time.monotonic() + a.round_timeout > budget_end and rounds:
            break
        c0, t0 = cpu_s(), time.monotonic()
        futs = [pool.submit(get, m) for m in managers]
        done, pending = concurrent.futures.wait(futs, timeout=a.round_timeout)
        for f in pending:
            f.cancel()
        wall, cpu = time.monotonic() - t0, cpu_s() - c0
        ok = [f for f in done if not f.cancelled() and f.exception() is None]
        rounds.append(
            {
                "wall_s": wall,
                "cpu_s": cpu,
                "polled": len(managers),
                "ok": len(ok),
                "rows": sum(f.result() for f in ok),
                "timed_out_round": bool(pending),
                "rpcs_per_device": 1,
                "errors": sorted(
                    {
                        f"{type(f.exception()).__name__}"
                        for f in done
                        if not f.cancelled() and f.exception() is not None
                    }
                )[:3],
            }
        )
        if pending:  # leftovers still hold workers: wait for them, bounded
            concurrent.futures.wait(pending, timeout=30)
    _round_stats(result, rounds)
    if rounds:  # m.get is the layer's get here (ncclient parses every reply)
        result["cpu_ms_per_get"] = result["cpu_ms_per_device"]
        result["get_round_s"] = result["cycle_s"]

    c0 = cpu_s()
    time.sleep(a.idle_s)
    result["idle_cores"] = (cpu_s() - c0) / a.idle_s
    result["threads"] = threads_now()
    result["rss_mb"] = rss_mb()
    result["sessions_alive"] = sum(1 for m in managers if m.connected)
    return result


# the parent --------------------------------------------------------------------


def start_sims(a: argparse.Namespace, total: int, work: Path) -> tuple[list[Any], list[Any]]:
    env = dict(os.environ, NETFEED_SIM_NETCONF_PASSWORD=PASSWORD)
    procs, rows = [], []
    per = [total // a.sim_procs + (1 if k < total % a.sim_procs else 0) for k in range(a.sim_procs)]
    for k, count in enumerate(per):
        (work / f"known_hosts.{k}").unlink(missing_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "netfeed.simulator",
            "--netconf",
            "--devices",
            str(count),
            "--port",
            "0",
            "--interfaces",
            str(a.interfaces),
            "--flavours",
            a.flavour,
            "--network",
            f"sim{k}",
            "--seed",
            str(k),
            "--known-hosts",
            str(work / f"known_hosts.{k}"),
        ]
        err = (work / f"sim{k}.log").open("w")
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env, cwd=ROOT))
    deadline = time.monotonic() + 300
    for p, count in zip(procs, per, strict=True):
        assert p.stdout is not None
        fd, buf = p.stdout.fileno(), b""
        while buf.count(b"\n") < count + 1:  # the CSV header and a line per device
            left = deadline - time.monotonic()
            if left <= 0 or p.poll() is not None:
                raise SystemExit(f"simulator did not start (see {work}/sim*.log)")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                buf += os.read(fd, 1 << 20)
        for line in buf.decode().splitlines()[1 : count + 1]:
            ident, host, port, _vendor, _flavour = line.split(",")
            rows.append({"id": ident, "host": host, "port": int(port)})
    for k, count in enumerate(per):  # written after the CSV (which may come unbuffered)
        path = work / f"known_hosts.{k}"
        while not path.is_file() or path.read_text().count("\n") < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"simulator {k} wrote no known_hosts")
            time.sleep(0.1)
    known = work / "known_hosts"
    known.write_text("".join((work / f"known_hosts.{k}").read_text() for k in range(len(per))))
    (work / "inventory.json").write_text(json.dumps(rows))
    return procs, rows


def run_child(a: argparse.Namespace, layer: str, n: int, work: Path, sims: list[Any]) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        layer,
        "--n",
        str(n),
        "--inventory",
        str(work / "inventory.json"),
        "--known-hosts",
        str(work / "known_hosts"),
    ]
    for k in (
        "open_deadline",
        "round_timeout",
        "rounds",
        "idle_s",
        "budget",
        "handshakes",
        "plain_workers",
        "rpcs",
    ):
        cmd += [f"--{k.replace('_', '-')}", str(getattr(a, k))]
    cmd += ["--flavour", a.flavour]
    sim_cpu0 = sum(proc_cpu_s(p.pid) for p in sims)
    limit = a.open_deadline + a.budget + a.idle_s + 60
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    killed = False
    try:
        out, err = p.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        killed = True
    wall = time.monotonic() - t0
    sim_cpu = sum(proc_cpu_s(p.pid) for p in sims) - sim_cpu0
    res: dict[str, Any] = {"layer": layer, "n": n}
    for line in out.splitlines():
        if line.startswith("RESULT "):
            res = json.loads(line[7:])
    if killed or ("cycle_s" not in res and "opened" not in res):
        res["killed"] = True
        res["stderr_tail"] = err[-500:]
    res["child_wall_s"] = wall
    res["sim_cpu_s"] = sim_cpu
    return res


def fmt(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def table(results: list[dict[str, Any]], cycle_s: float) -> str:
    head = (
        f"{'layer':<15}{'N':>6}{'opened':>8}{'open_s':>8}{'cycle_s':>9}{'ok/round':>9}"
        f"{'ms/get':>7}{'x plain':>8}{'ms/poll':>8}{'idle_cores':>11}{f'cores/{cycle_s:g}s':>11}"
        f"{'threads':>8}{'peakRSS_MB':>11}{'sim_cpu_s':>10}"
    )
    lines = [head, "-" * len(head)]
    base = {r["n"]: r.get("cpu_ms_per_get") for r in results if r["layer"] == "plain-ncclient"}
    for r in results:
        cpu = r.get("cpu_ms_per_device")
        per_get = r.get("cpu_ms_per_get")
        ratio = per_get / base[r["n"]] if per_get and base.get(r["n"]) else None
        cyc = r.get("cycle_s")
        cores = None
        if cyc is not None and cpu is not None and r.get("idle_cores") is not None:
            round_cpu = cpu / 1000 * r["opened"]
            cores = (round_cpu + r["idle_cores"] * max(cycle_s - cyc, 0)) / cycle_s
        name = r["layer"] + (" KILLED" if r.get("killed") else "")
        opened = f"{r.get('opened', 0)}" + ("*" if r.get("open_deadline_hit") else "")
        lines.append(
            f"{name:<15}{r['n']:>6}{opened:>8}{fmt(r.get('open_s'), '.1f'):>8}"
            f"{fmt(cyc, '.2f'):>9}{fmt(r.get('ok_per_round'), 'd'):>9}{fmt(per_get, '.2f'):>7}"
            f"{fmt(ratio, '.2f'):>8}{fmt(cpu, '.2f'):>8}"
            f"{fmt(r.get('idle_cores'), '.3f'):>11}{fmt(cores, '.3f'):>11}"
            f"{fmt(r.get('threads'), 'd'):>8}{fmt(r.get('peak_rss_mb'), '.0f'):>11}"
            f"{fmt(r.get('sim_cpu_s'), '.1f'):>10}"
        )
    return "\n".join(lines)


def parent(a: argparse.Namespace) -> None:
    sizes = sorted(int(s) for s in a.sizes.split(","))
    layers = [x for x in a.layers.split(",") if x]
    for x in layers:
        if x not in LAYERS:
            raise SystemExit(f"unknown layer {x!r}; known: {', '.join(LAYERS)}")
    work = ROOT / "var" / "bench-netconf"
    work.mkdir(parents=True, exist_ok=True)
    load0 = os.getloadavg()
    print(
        f"netconf_scale: sizes {sizes}, layers {layers}, {a.interfaces} interfaces/device "
        f"({a.flavour}), {a.sim_procs} simulator process(es), {os.cpu_count()} CPUs, "
        f"ulimit -n {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}; "
        f"load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}",
        flush=True,
    )
    t0 = time.monotonic()
    sims, rows = start_sims(a, max(sizes), work)
    print(f"simulator: {len(rows)} devices up in {time.monotonic() - t0:.1f}s", flush=True)
    results = []
    try:
        for n in sizes:
            for layer in layers:
                res = run_child(a, layer, n, work, sims)
                results.append(res)
                brief = {
                    k: res.get(k)
                    for k in (
                        "opened",
                        "open_s",
                        "cycle_s",
                        "cpu_ms_per_device",
                        "cpu_ms_per_get",
                        "get_kb",
                        "idle_cores",
                        "threads",
                        "peak_rss_mb",
                        "open_errors",
                        "killed",
                    )
                }
                print(f"  {layer} N={n}: {json.dumps(brief)}", flush=True)
                for r in res.get("rounds", []):
                    if r.get("errors") or r.get("timed_out_round"):
                        print(f"    round: {r.get('errors')} timed out: {r.get('timed_out_round')}")
    finally:
        for p in sims:
            p.send_signal(signal.SIGTERM)
        for p in sims:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
    (work / "results.json").write_text(json.dumps(results, indent=1))
    load1 = os.getloadavg()
    print()
    print(table(results, a.cycle_s))
    print(
        "\nopened*: the open deadline was hit.  ms/get: child CPU (user+sys) per <get> of the "
        "interfaces\n(asyncssh/ncclient: raw reply bytes, one get per session at once; "
        "plain-ncclient: m.get, ncclient parses it);\nx plain: ms/get over plain-ncclient's.  "
        "ms/poll: CPU per device of a driver.poll round (2 RPCs\nwith the ietf profile, parsed, "
        "records built; plain-ncclient: its m.get round).  cores/60s: one poll round plus\nidle "
        "for the rest of the cycle.  cycle_s: median wall time of a poll round.\n"
        f"load average at the end {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}; "
        f"results in {work / 'results.json'}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", default="200,2000")
    p.add_argument("--layers", default=",".join(LAYERS))
    p.add_argument("--interfaces", type=int, default=50)
    p.add_argument("--flavour", default="ietf", choices=["ietf", "openconfig"])
    p.add_argument("--sim-procs", type=int, default=2)
    p.add_argument("--open-deadline", type=float, default=240.0)
    p.add_argument("--round-timeout", type=float, default=90.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--budget", type=float, default=240.0, help="seconds of rounds per child")
    p.add_argument("--idle-s", type=float, default=10.0)
    p.add_argument("--handshakes", type=int, default=16, help="driver max_handshakes")
    p.add_argument("--plain-workers", type=int, default=64)
    p.add_argument("--rpcs", type=int, default=512, help="driver max_rpcs_in_flight")
    p.add_argument("--cycle-s", type=float, default=60.0)
    p.add_argument("--child", choices=LAYERS, help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    p.add_argument("--inventory", help=argparse.SUPPRESS)
    p.add_argument("--known-hosts", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        a.layer = a.child
        child(a)
    else:
        parent(a)


if __name__ == "__main__":
    main()
