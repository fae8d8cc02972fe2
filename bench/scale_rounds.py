"""The rounds bench/snmp_scale.py measures: one per tool, over the same agents.

Each round returns a :class:`Round`: the polling process's CPU, wall time,
peak RSS, varbinds and failures, plus what the snmpd simulator (and, for the
collector, the Kafka broker) spent meanwhile and the kernel's UDP drop counters.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scale_proc import CpuDelta, ProcCpu, run_measured, spawn, stop, udp_counters, udp_delta

HERE = Path(__file__).resolve().parent


@dataclass
class Round:
    tool: str
    wall_s: float
    cpu_s: float
    varbinds: int
    maxrss_kb: int
    agents: int
    ok: int
    failed: int
    timed_out: int
    snmpd_cpu_s: float | None
    udp: dict[str, int]
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def us_per_varbind(self) -> float | None:
        return self.cpu_s / self.varbinds * 1e6 if self.varbinds else None


class _Watch:
    """snmpd CPU, extra servers' CPU and UDP counters across one round."""

    def __init__(self, snmpd: ProcCpu | None, others: dict[str, ProcCpu] | None = None) -> None:
        self.snmpd = CpuDelta(snmpd)
        self.others = {k: CpuDelta(p) for k, p in (others or {}).items()}

    def __enter__(self) -> _Watch:
        self.udp0 = udp_counters()
        self.snmpd.__enter__()
        for d in self.others.values():
            d.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.snmpd.__exit__()
        for d in self.others.values():
            d.__exit__()
        self.udp = udp_delta(self.udp0, udp_counters())


# --- the netfeed collector ------------------------------------------------------------


def collector_round(
    label: str,
    config: Path,
    *,
    agents: int,
    community: str,
    snmpd: ProcCpu | None,
    kafka: ProcCpu | None,
    timeout_s: float,
    log_path: Path,
    profile_out: Path | None = None,
    client_class: str | None = None,
) -> Round:
    env = {**os.environ, "NFBENCH_COMMUNITY": community}
    env.pop("NETFEED_BUS", None)  # the generated netfeed.yaml decides
    env.pop("NETFEED_KAFKA_BOOTSTRAP", None)
    env.pop("NETFEED_BUS_PATH", None)
    cmd = [sys.executable, str(HERE / "scale_collector.py"), "--config", str(config)]
    if client_class:
        cmd += ["--client", client_class]
    spies: list[subprocess.Popen[bytes]] = []

    def attach(pid: int) -> None:
        # py-spy samples the child from outside: its CPU is py-spy's, not the child's
        spy = ["py-spy", "record", "--nonblocking", "-r", "50", "-f", "raw"]
        spy += ["-o", str(profile_out), "--pid", str(pid)]
        spies.append(spawn(spy, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    with tempfile.TemporaryFile() as out, log_path.open("wb") as err:
        with _Watch(snmpd, {"kafka": kafka} if kafka else None) as w:
            m = run_measured(
                cmd,
                timeout_s=timeout_s,
                env=env,
                stdout=out,
                stderr=err,
                on_start=attach if profile_out is not None else None,
            )
        for spy in spies:  # py-spy writes its file when the child exits
            try:
                spy.wait(30)
            except subprocess.TimeoutExpired:
                pass
            stop(spy)
        out.seek(0)
        lines = out.read().decode(errors="replace").strip().splitlines()
    if m.rc is None:
        return _killed_collector(label, m, agents, log_path, w, timeout_s)
    if m.rc != 0 or not lines:
        tail = log_path.read_text(errors="replace")[-1500:]
        raise RuntimeError(
            f"{label}: collector child exited {m.rc} after {m.wall_s:.0f} s:\n{tail}"
        )
    res = json.loads(lines[-1])
    ds = res["datasets"]
    notes = [f"engine {res['engine']}", f"bus {res['bus']}"]
    if profile_out is not None:
        notes.append(f"sampled by py-spy (50 Hz, --nonblocking): {profile_out}")
        notes += summarise_pyspy(profile_out)
    notes.append(f"log {log_path}")
    # a device is ok when every dataset was; failed/timed-out counted per dataset poll
    r = Round(
        tool=label,
        wall_s=m.wall_s,
        cpu_s=m.cpu_s,
        varbinds=res["varbinds"],
        maxrss_kb=m.maxrss_kb,
        agents=agents,
        ok=min(d["ok"] for d in ds.values()) if ds else 0,
        failed=sum(d["failed"] for d in ds.values()),
        timed_out=sum(d["timed_out"] for d in ds.values()),
        snmpd_cpu_s=w.snmpd.cpu_s,
        udp=w.udp,
        notes=notes,
        extra=res,
    )
    r.extra["kafka_cpu_s"] = w.others["kafka"].cpu_s if kafka else None
    r.extra["runq_wait_s"] = m.runq_wait_s
    return r


def _killed_collector(
    label: str, m: Any, agents: int, log_path: Path, w: _Watch, timeout_s: float
) -> Round:
    """A collector round killed at the deadline: what its log says had failed by then."""
    log = log_path.read_text(errors="replace").splitlines()
    timed_out = sum(1 for ln in log if ": timed_out: " in ln)
    failed = sum(1 for ln in log if ": failed: " in ln)
    return Round(
        tool=label,
        wall_s=m.wall_s,
        cpu_s=m.cpu_s,
        varbinds=0,
        maxrss_kb=m.maxrss_kb,
        agents=agents,
        ok=0,
        failed=failed,
        timed_out=timed_out,
        snmpd_cpu_s=w.snmpd.cpu_s,
        udp=w.udp,
        notes=[
            f"KILLED at the {timeout_s:g} s round deadline, cycle unfinished; failures so far "
            f"from its log (one per device and dataset): {timed_out} timed out, {failed} failed",
            f"log {log_path}",
        ],
    )


# --- net-snmp command-line tools ------------------------------------------------------


class _VarbindLines:
    """Counts output lines starting with "." (one varbind each, with -On) across chunks."""

    def __init__(self) -> None:
        self.n = 0
        self._line_start = True

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        if self._line_start and chunk.startswith(b"."):
            self.n += 1
        self.n += chunk.count(b"\n.")
        self._line_start = chunk.endswith(b"\n")


def netsnmp_round(
    lines: list[str],
    per_agent: int,
    *,
    agents: int,
    in_flight: int,
    snmpd: ProcCpu | None,
    timeout_s: float,
) -> Round:
    """``xargs -P in_flight -L 1 env`` over one line per invocation; wait4 on xargs."""
    with tempfile.NamedTemporaryFile("w", prefix="nfbench-netsnmp-", delete=False) as f:
        f.write("\n".join(lines) + "\n")
        arglist = f.name
    counter = _VarbindLines()
    env = {**os.environ, "MIBS": ""}  # numeric OIDs only: no MIB parsing in each process
    with tempfile.TemporaryFile() as err:
        with _Watch(snmpd) as w:
            m = run_measured(
                ["xargs", "-P", str(in_flight), "-L", "1", "-a", arglist, "env"],
                timeout_s=timeout_s,
                env=env,
                stderr=err,
                on_stdout=counter.feed,
            )
        err.seek(0)
        errors = err.read().decode(errors="replace").splitlines()
    os.unlink(arglist)
    timeouts = {ln.rsplit(" ", 1)[-1] for ln in errors if ln.startswith("Timeout")}
    others = [ln for ln in errors if not ln.startswith("Timeout")]
    notes = [f"{len(lines)} processes ({per_agent} per agent), -P {in_flight}"]
    if m.rc is None:
        notes.append(f"killed at the {timeout_s:g}s deadline")
    if others:
        notes.append(f"{len(others)} other error lines, first: {others[0][:100]}")
    return Round(
        tool="net-snmp snmpbulkwalk",
        wall_s=m.wall_s,
        cpu_s=m.cpu_s,
        varbinds=counter.n,
        maxrss_kb=m.maxrss_kb,
        agents=agents,
        ok=agents - len(timeouts),
        failed=0,
        timed_out=len(timeouts),
        snmpd_cpu_s=w.snmpd.cpu_s,
        udp=w.udp,
        notes=notes,
    )


# --- Prometheus snmp_exporter ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def exporter_round(
    config: Path,
    metrics: list[str],
    agent_list: list[str],
    *,
    in_flight: int,
    scrape_timeout_s: float,
    snmpd: ProcCpu | None,
    timeout_s: float,
) -> Round:
    """Start snmp_exporter on a loopback port, scrape every agent once, stop it."""
    port = _free_port()
    listen = f"127.0.0.1:{port}"
    log = (config.parent / "snmp_exporter.log").open("wb")
    proc = spawn(
        [
            "prometheus-snmp-exporter",
            f"--config.file={config}",
            f"--web.listen-address={listen}",
            "--log.level=error",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"snmp_exporter exited: {Path(log.name).read_text(errors='replace')[-800:]}"
                )
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("snmp_exporter did not listen within 15 s") from None
                time.sleep(0.1)
        exporter = ProcCpu(proc.pid, "snmp_exporter")
        cmd = [sys.executable, str(HERE / "scale_scrape.py"), "--exporter", listen]
        cmd += ["--module", "nfbench", "--metrics", ",".join(metrics)]
        cmd += ["--in-flight", str(in_flight), "--scrape-timeout", f"{scrape_timeout_s:g}"]
        cmd += ["--deadline", f"{timeout_s:g}"]
        with tempfile.NamedTemporaryFile("w", delete=False) as f:
            f.write("\n".join(agent_list) + "\n")
            agents_file = f.name
        with tempfile.TemporaryFile() as out, open(agents_file, "rb") as stdin:
            with _Watch(snmpd, {"exporter": exporter}) as w:
                m = run_measured(
                    cmd, timeout_s=timeout_s + 60, stdin=stdin, stdout=out, stderr=None
                )
            out.seek(0)
            lines = out.read().decode().strip().splitlines()
        if m.rc != 0 or not lines:
            raise RuntimeError(f"scraper exited {m.rc}")
        res = json.loads(lines[-1])
        os.unlink(agents_file)
        cpu = w.others["exporter"].cpu_s or 0.0
        rss = exporter.peak_rss_kb() or 0
    finally:
        stop(proc)
        log.close()
    notes = [
        f"scraper (Python, not counted above) {m.cpu_s:.2f} CPU-s, "
        f"peak RSS {m.maxrss_kb / 1024:.0f} MB",
        "walks column by column (one GETBULK chain per column)",
    ]
    if res["skipped"]:
        notes.append(f"{res['skipped']} agents not scraped: round deadline")
    if res["errors"]:
        first = next(iter(res["errors"]))
        notes.append(f"errors: {sum(res['errors'].values())}, first kind: {first}")
    if res["empty"]:
        notes.append(f"{res['empty']} scrapes with no samples")
    return Round(
        tool="snmp_exporter",
        wall_s=m.wall_s,
        cpu_s=cpu,
        varbinds=res["samples"],
        maxrss_kb=rss,
        agents=len(agent_list),
        ok=res["ok"],
        failed=res["failed"] + res["empty"] + res["skipped"],
        timed_out=0,
        snmpd_cpu_s=w.snmpd.cpu_s,
        udp=w.udp,
        notes=notes,
        extra={"scraper_cpu_s": m.cpu_s},
    )


# --- py-spy ---------------------------------------------------------------------------


def summarise_pyspy(path: Path, top: int = 8) -> list[str]:
    """Share of samples by the leaf frame's area and by leaf function (self time)."""
    by_func: dict[str, int] = {}
    by_area: dict[str, int] = {}
    total = 0
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return [f"no py-spy output at {path}"]
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit() or not stack:
            continue
        n = int(count)
        total += n
        leaf = stack.rsplit(";", 1)[-1]
        func, _, where = leaf.partition(" (")
        file = where.rsplit(":", 1)[0]
        by_func[f"{func} ({Path(file).name})"] = by_func.get(f"{func} ({Path(file).name})", 0) + n
        area = _area(file)
        by_area[area] = by_area.get(area, 0) + n
    if not total:
        return [f"py-spy recorded no samples in {path}"]

    def fmt(d: dict[str, int]) -> str:
        items = sorted(d.items(), key=lambda kv: -kv[1])[:top]
        return ", ".join(f"{k} {v / total:.0%}" for k, v in items)

    return [f"{total} samples; by area: {fmt(by_area)}", f"by function (self): {fmt(by_func)}"]


def _area(file: str) -> str:
    """Which part of the stack a source file belongs to (py-spy gives paths from sys.path)."""
    file = "/" + file.lstrip("/")
    for mark in ("/collectors/", "/bus/", "/applications/", "/netfeed/"):
        if mark in file:
            rest = file.split(mark, 1)[1]
            return mark.strip("/") + "/" + rest.split("/", 1)[0].removesuffix(".py")
    for lib in ("aiokafka", "pysnmp", "pyasn1", "msgspec", "asyncio", "pydantic", "gzip", "zlib"):
        if f"/{lib}/" in file or file.endswith(f"/{lib}.py"):
            return lib
    return Path(file).name or "?"
