"""One SNMP poll round of N simulated NEs by each tool, measured side by side (issue 3).

    bench/netns_snmpd.sh up                          # root: namespace nfbench + snmpd
    python3 bench/snmp_scale.py --agents 200         # re-runs itself inside the namespace
    python3 bench/snmp_scale.py                      # 2,000 agents
    bench/netns_snmpd.sh down

The agents are one net-snmp ``snmpd`` answering on every 127.1.x.y address of
the namespace (49-row ifTable).  In one run, over the same agents, each as a
separate child process whose CPU (user+sys, from wait4 or /proc) and peak RSS
are measured:

- **netfeed collector**, once per SNMP engine this checkout has (``fast``
  when ``collectors/snmp/fast_client.py`` exists, then ``pysnmp``; chosen by
  the ``snmp_engine`` setting): one full cycle of every dataset (system +
  interfaces, and health when the config accepts it), normalised and published.  The bus is
  Kafka: a broker started by ``scripts/kafka.sh`` *inside the namespace*
  (the root namespace's broker is unreachable from it), unless ``--bus
  embedded``.  Its CPU counts the producer (encoding, gzip) but not the broker.
- **net-snmp** ``snmpget``/``snmpbulkwalk`` via ``xargs -P`` (C baseline; one
  process per table per agent, so it walks whole tables).
- **Prometheus snmp_exporter** (Debian's 0.21) with a generated module that
  GETs the same scalars and walks the same columns, scraped once per agent.
- the **snmpd** simulator's own CPU during each round.

It prints per tool: CPU-seconds per 1,000 varbinds, round wall time, peak
RSS, failures and timeouts, ratios to snmp_exporter, UDP receive errors; and
loadavg before/after and nproc.  Only loopback addresses inside the namespace
are ever polled.  Children are killed at exit; every round has a deadline.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

import scale_proc  # noqa: E402
import scale_rounds  # noqa: E402
import scale_setup  # noqa: E402
from scale_proc import ProcCpu, loadavg  # noqa: E402
from scale_rounds import Round  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=2000, help="simulated NEs (default 2000)")
    ap.add_argument("--in-flight", type=int, default=64, help="agents polled at once, every tool")
    ap.add_argument("--max-repetitions", type=int, default=20, help="GETBULK max-repetitions")
    ap.add_argument("--timeout", type=float, default=3.0, help="SNMP request timeout, seconds")
    ap.add_argument("--retries", type=int, default=1, help="SNMP retries per request")
    ap.add_argument(
        "--device-deadline", type=float, default=30.0, help="collector: per device and dataset"
    )
    ap.add_argument(
        "--columns",
        choices=["profile", "issue12"],
        default="profile",
        help="baselines read what the collector's profile reads (default), or issue 3's "
        "12 IF-MIB columns + 3 scalars",
    )
    ap.add_argument("--engines", help="collector SNMP engines, comma-separated (default: all)")
    ap.add_argument("--bus", choices=["kafka", "embedded"], default="kafka")
    ap.add_argument(
        "--kafka-bootstrap",
        help="a broker reachable inside the namespace (default: start one with scripts/kafka.sh)",
    )
    ap.add_argument("--keep-kafka", action="store_true", help="leave the broker started running")
    ap.add_argument("--skip-collector", action="store_true")
    ap.add_argument("--skip-netsnmp", action="store_true")
    ap.add_argument("--skip-exporter", action="store_true")
    ap.add_argument(
        "--py-spy", action="store_true", help="run collector rounds under py-spy (adds overhead)"
    )
    ap.add_argument("--round-timeout", type=float, default=900, help="kill a round after this")
    ap.add_argument("--pause", type=float, default=3.0, help="seconds between rounds")
    ap.add_argument("--community", default=os.environ.get("NFBENCH_COMMUNITY", "public"))
    ap.add_argument("--netns", default=os.environ.get("NFBENCH_NETNS", "nfbench"))
    ap.add_argument("--snmpd-pidfile", type=Path, default=None)
    ap.add_argument("--workdir", type=Path, default=REPO / "var" / "bench-scale")
    ap.add_argument("--json", type=Path, help="also write every round's numbers here")
    return ap.parse_args(argv)


# --- environment ---------------------------------------------------------------------


def ensure_in_netns(ns: str) -> None:
    """Re-exec inside namespace ``ns`` unless already there."""
    ns_file = Path("/run/netns") / ns
    if not ns_file.exists():
        sys.exit(f"snmp_scale: namespace {ns} absent: run `bench/netns_snmpd.sh up` (as root)")
    if os.stat("/proc/self/ns/net").st_ino == os.stat(ns_file).st_ino:
        return
    if os.geteuid() != 0:
        sys.exit("snmp_scale: must run as root to enter the namespace")
    argv = ["ip", "netns", "exec", ns, sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]]
    os.execvp("ip", argv)


def snmpd_proc(pidfile: Path) -> ProcCpu | None:
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    comm = Path(f"/proc/{pid}/comm")
    return ProcCpu(pid, "snmpd") if comm.exists() and comm.read_text().strip() == "snmpd" else None


def check_agents(agents: list[str], community: str) -> None:
    for a in (agents[0], agents[-1]):
        cmd = ["snmpget", "-v2c", "-c", community, "-t", "2", "-r", "1", "-Oqv", a]
        r = subprocess.run([*cmd, scale_setup.SYS_UPTIME], capture_output=True, timeout=15)
        if r.returncode != 0:
            sys.exit(f"snmp_scale: agent {a} does not answer: {r.stderr.decode().strip()}")


@dataclass
class Engine:
    name: str
    setting: str | None  # the collector's snmp_engine value, when it has the setting
    client_class: str | None  # else MODULE:CLASS handed to the Collector by the bench


FALLBACK_CLIENTS = {"fast": "collectors.snmp.fast_client:FastSnmpClient"}


def available_engines(wanted: list[str] | None) -> tuple[list[Engine], list[str]]:
    """The collector engines to measure, and notes on those skipped or substituted."""
    from pydantic import ValidationError

    from collectors.snmp.options import SnmpDriverSettings

    notes = []
    has_setting = True  # collector.drivers.snmp.engine
    has_fast = (REPO / "collectors" / "snmp" / "fast_client.py").exists()
    out: list[Engine] = []
    for e in wanted or ["fast", "pysnmp"]:  # the reference last: at scale it may run long
        if e == "fast" and not has_fast:
            notes.append("engine fast skipped: collectors/snmp/fast_client.py not in this checkout")
            continue
        if has_setting:
            try:
                SnmpDriverSettings.model_validate({"engine": e})
            except ValidationError:
                notes.append(f"engine {e} skipped: collector.drivers.snmp.engine refuses it")
                continue
            out.append(Engine(e, e, None))
        elif e == "pysnmp":
            out.append(Engine(e, None, None))  # the collector's only client
        elif e in FALLBACK_CLIENTS:
            notes.append(
                f"engine {e}: no snmp_engine setting yet, so the bench hands the Collector "
                f"{FALLBACK_CLIENTS[e]} itself"
            )
            out.append(Engine(e, None, FALLBACK_CLIENTS[e]))
        else:
            notes.append(f"engine {e} skipped: unknown")
    return out, notes


class Kafka:
    """A broker reachable from inside the namespace: given, or started with kafka.sh."""

    def __init__(self, given: str | None, run_dir: Path, keep: bool) -> None:
        self.bootstrap = given
        self.env = {**os.environ, "NETFEED_RUN": str(run_dir), "PYTHON": sys.executable}
        self.env.pop("NETFEED_KAFKA_BOOTSTRAP", None)
        self.pidfile = run_dir / "kafka" / "kafka.pid"
        self.started = False
        self.keep = keep
        self.note = f"Kafka at {given} (given)"

    def start(self) -> None:
        if self.bootstrap:
            return
        script = str(REPO / "scripts" / "kafka.sh")
        running = subprocess.run([script, "status"], env=self.env, capture_output=True)
        r = subprocess.run(
            [script, "start"], env=self.env, capture_output=True, text=True, timeout=300
        )
        if r.returncode != 0:
            sys.exit(f"snmp_scale: kafka.sh start failed:\n{r.stderr[-1500:]}")
        self.bootstrap = r.stdout.strip().splitlines()[-1].split("=", 1)[1]
        self.started = running.returncode != 0
        self.note = (
            f"Kafka {self.bootstrap}: a broker inside the namespace (scripts/kafka.sh, "
            f"NETFEED_RUN={self.env['NETFEED_RUN']}), "
            + ("started by this run" if self.started else "already running")
        )

    def proc(self) -> ProcCpu | None:
        try:
            return ProcCpu(int(self.pidfile.read_text().strip()), "kafka")
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        if self.started and not self.keep:
            subprocess.run(
                [str(REPO / "scripts" / "kafka.sh"), "stop"],
                env=self.env,
                capture_output=True,
                timeout=90,
            )
            self.started = False


# --- report --------------------------------------------------------------------------


def _f(x: float | None, fmt: str = ".2f") -> str:
    return "-" if x is None else format(x, fmt)


def report(rounds: list[Round]) -> None:
    ref = next((r for r in rounds if r.tool == "snmp_exporter" and r.varbinds), None)
    head = (
        f"{'tool':<28} {'CPU-s/1k vb':>11} {'CPU s':>8} {'wall s':>8} {'varbinds':>10} "
        f"{'RSS MB':>7} {'ok':>6} {'failed':>6} {'t/out':>6} {'snmpd s':>8} {'RcvbufE':>7} "
        f"{'CPU/vb x exp':>12} {'wall x exp':>10}"
    )
    print(head)
    print("-" * len(head))
    for r in rounds:
        per_k = r.cpu_s / r.varbinds * 1000 if r.varbinds else None
        ratio = wall_ratio = None
        if ref is not None and r.varbinds:
            ratio = (r.cpu_s / r.varbinds) / (ref.cpu_s / ref.varbinds) if ref.cpu_s else None
            wall_ratio = r.wall_s / ref.wall_s if ref.wall_s else None
        print(
            f"{r.tool:<28} {_f(per_k, '.3f'):>11} {r.cpu_s:>8.2f} {r.wall_s:>8.2f} "
            f"{r.varbinds:>10} {r.maxrss_kb / 1024:>7.1f} {r.ok:>6} {r.failed:>6} "
            f"{r.timed_out:>6} {_f(r.snmpd_cpu_s):>8} {r.udp.get('RcvbufErrors', 0):>7} "
            f"{_f(ratio, '.1f'):>12} {_f(wall_ratio, '.1f'):>10}"
        )
    print()
    for r in rounds:
        for n in r.notes:
            print(f"  {r.tool}: {n}")
        if r.udp.get("InErrors"):
            print(f"  {r.tool}: UDP {r.udp}")
        x = r.extra
        if "cycle_cpu_s" in x:
            print(
                f"  {r.tool}: cycle alone {x['cycle_cpu_s']:.2f} CPU-s in {x['cycle_wall_s']:.2f} s"
                f" (process start-up {x['setup_cpu_s']:.2f} CPU-s); {x['records']} records"
                f" ({x['partial_records']} partial); requests {x['get_requests']} GET +"
                f" {x['walk_requests']} GETBULK; Kafka broker {_f(x.get('kafka_cpu_s'))} CPU-s"
            )
            if x.get("runq_wait_s") is not None:
                print(
                    f"  {r.tool}: of its {r.wall_s:.1f} s wall: {r.cpu_s:.1f} s on a CPU,"
                    f" {x['runq_wait_s']:.1f} s runnable but waiting for one (machine load),"
                    f" the rest waiting for answers"
                )
            for ds, d in x["datasets"].items():
                print(
                    f"  {r.tool}:   {ds}: {d['ok']}/{d['planned']} ok, {d['failed']} failed,"
                    f" {d['timed_out']} timed out, {d['records']} records, {d['duration_ms']} ms"
                )
            for kind, n in x["failure_kinds"]:
                print(f"  {r.tool}:   {n} x {kind}")
            goal = (
                x["cycle_wall_s"] <= 60
                and r.cpu_s <= 60
                and r.failed == 0
                and r.timed_out == 0
                and r.ok == r.agents
            )
            print(
                f"  {r.tool}: goal (all {r.agents} NEs ok, cycle <= 60 s, <= 60 CPU-s): "
                + ("MET" if goal else "NOT MET")
            )


def main() -> int:
    args = parse_args()
    ensure_in_netns(args.netns)
    atexit.register(scale_proc.kill_all)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    run_dir = Path(os.environ.get("NFBENCH_RUN", "/run/nfbench"))
    snmpd = snmpd_proc(args.snmpd_pidfile or run_dir / "snmpd.pid")
    agents = scale_setup.agent_addresses(args.agents)
    check_agents(agents, args.community)
    datasets = scale_setup.supported_datasets()
    rs = (
        scale_setup.profile_read_set(datasets)
        if args.columns == "profile"
        else scale_setup.issue12_read_set()
    )
    types = scale_setup.probe_types(agents[0], args.community, rs, args.timeout)
    absent = [o for o in (*rs.scalars, *rs.columns) if o not in types]
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)

    load0 = loadavg()
    print(f"snmp_scale: {args.agents} agents (127.1.x.y in namespace {args.netns})")
    rmem = Path("/proc/sys/net/core/rmem_max").read_text().strip()
    print(f"  nproc {os.cpu_count()}, loadavg before {load0}, net.core.rmem_max {rmem}")
    print(
        f"  read set: {rs.how}: {len(rs.scalars)} scalars + {len(rs.columns)} columns"
        f" ({len(absent)} absent on the agent: {', '.join(absent) or 'none'})"
    )
    print(
        f"  every tool: {args.in_flight} agents in flight, max-repetitions "
        f"{args.max_repetitions}, timeout {args.timeout:g}s x {args.retries + 1} tries"
    )
    print(f"  snmpd pid {snmpd.pid if snmpd else '? (its CPU not measured)'}")
    sys.stdout.flush()

    rounds: list[Round] = []
    kafka = Kafka(
        args.kafka_bootstrap, Path(tempfile.gettempdir()) / "nfbench-run", args.keep_kafka
    )
    try:
        if not args.skip_netsnmp:
            lines, per_agent = scale_setup.netsnmp_lines(
                agents,
                rs,
                types,
                community=args.community,
                timeout_s=args.timeout,
                retries=args.retries,
                max_repetitions=args.max_repetitions,
            )
            rounds.append(
                scale_rounds.netsnmp_round(
                    lines,
                    per_agent,
                    agents=len(agents),
                    in_flight=args.in_flight,
                    snmpd=snmpd,
                    timeout_s=args.round_timeout,
                )
            )
            _progress(rounds[-1])
            time.sleep(args.pause)
        if not args.skip_exporter:
            if not _which("prometheus-snmp-exporter"):
                print("  snmp_exporter skipped: `apt-get install prometheus-snmp-exporter`")
            else:
                metrics = scale_setup.write_exporter_config(
                    work / "snmp.yml",
                    rs,
                    types,
                    community=args.community,
                    timeout_s=args.timeout,
                    retries=args.retries,
                    max_repetitions=args.max_repetitions,
                )
                rounds.append(
                    scale_rounds.exporter_round(
                        work / "snmp.yml",
                        metrics,
                        agents,
                        in_flight=args.in_flight,
                        scrape_timeout_s=args.device_deadline,
                        snmpd=snmpd,
                        timeout_s=args.round_timeout,
                    )
                )
                _progress(rounds[-1])
                time.sleep(args.pause)
        if not args.skip_collector:
            engines, notes = available_engines(args.engines.split(",") if args.engines else None)
            for n in notes:
                print(f"  {n}")
            if args.bus == "kafka":
                kafka.start()
                print(f"  {kafka.note}")
            else:
                print("  bus: embedded (SQLite) instead of Kafka")
            for engine in engines:
                label = f"netfeed collector {engine.name}"
                cfg = scale_setup.write_netfeed_config(
                    work / f"config-{engine.name}",
                    agents,
                    datasets=datasets,
                    bus=args.bus,
                    kafka_bootstrap=kafka.bootstrap,
                    engine=engine.setting,
                    in_flight=args.in_flight,
                    timeout_s=args.timeout,
                    retries=args.retries,
                    max_repetitions=args.max_repetitions,
                    deadline_s=args.device_deadline,
                    bus_path=work / "bus.sqlite3",
                )
                try:
                    rounds.append(
                        scale_rounds.collector_round(
                            label,
                            cfg,
                            agents=len(agents),
                            community=args.community,
                            snmpd=snmpd,
                            kafka=kafka.proc() if args.bus == "kafka" else None,
                            timeout_s=args.round_timeout,
                            log_path=work / f"collector-{engine.name}.log",
                            profile_out=work / f"py-spy-{engine.name}.txt" if args.py_spy else None,
                            client_class=engine.client_class,
                        )
                    )
                    _progress(rounds[-1])
                except RuntimeError as exc:
                    print(f"  ROUND FAILED: {exc}", flush=True)
                if engine != engines[-1]:
                    time.sleep(args.pause)
    finally:
        kafka.stop()
        scale_proc.kill_all()

    print()
    report(rounds)
    print(f"\n  loadavg before {load0}, after {loadavg()}; nproc {os.cpu_count()}")
    if args.json:
        args.json.write_text(
            json.dumps([{**r.__dict__, "extra": r.extra} for r in rounds], indent=1, default=str)
        )
    return 0


def _progress(r: Round) -> None:
    print(
        f"  done: {r.tool}: {r.wall_s:.1f} s wall, {r.cpu_s:.2f} CPU-s, {r.varbinds} varbinds,"
        f" {r.ok}/{r.agents} ok",
        flush=True,
    )


def _which(name: str) -> bool:
    from shutil import which

    return which(name) is not None


if __name__ == "__main__":
    sys.exit(main())
