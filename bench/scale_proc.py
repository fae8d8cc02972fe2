"""Process measurement for bench/snmp_scale.py: CPU, peak RSS, kernel UDP counters.

- :func:`run_measured` runs a command as a child in its own session and reaps
  it with ``wait4``, which returns exactly that child's rusage (its own CPU
  plus that of every descendant it waited for, and the largest peak RSS among
  them).  The wait is bounded: past ``timeout_s`` the whole process group is
  killed.
- :class:`ProcCpu` reads a running process's CPU from ``/proc/<pid>/stat``
  (for servers that are not our children or keep running: snmpd, the
  exporter, the Kafka broker) and its peak RSS (``VmHWM``).
- :func:`udp_counters` reads ``/proc/net/snmp`` of the current namespace.

Every child started here is registered, and :func:`kill_all` (called at exit)
kills the process groups still alive, by their ids.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

_CLK = os.sysconf("SC_CLK_TCK")
_children: set[int] = set()


@dataclass
class Measured:
    cmd: list[str]
    rc: int | None  # None: killed at the deadline
    wall_s: float
    user_s: float
    sys_s: float
    maxrss_kb: int
    runq_wait_s: float | None = None  # the child's own time runnable but not running

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s


def spawn(cmd: list[str], **kw: Any) -> subprocess.Popen[bytes]:
    """Start a child in its own session (so its group can be killed) and register it."""
    proc = subprocess.Popen(cmd, start_new_session=True, **kw)
    _children.add(proc.pid)
    return proc


def _killpg(pid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def stop(proc: subprocess.Popen[bytes], grace_s: float = 5.0) -> None:
    """TERM a registered child's group, KILL it after ``grace_s``, reap it."""
    if proc.poll() is None:
        _killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            _killpg(proc.pid)
            proc.wait(5)
    _killpg(proc.pid)  # leftovers of its group, if any
    _children.discard(proc.pid)


def kill_all() -> None:
    for pid in list(_children):
        _killpg(pid)
        _children.discard(pid)


def run_measured(
    cmd: list[str],
    *,
    timeout_s: float,
    env: dict[str, str] | None = None,
    stdin: IO[bytes] | int | None = subprocess.DEVNULL,
    stdout: IO[bytes] | int | None = None,
    stderr: IO[bytes] | int | None = None,
    on_stdout: Callable[[bytes], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> Measured:
    """Run ``cmd`` to the end (or ``timeout_s``) and return its own rusage.

    With ``on_stdout`` the child's stdout is a pipe whose chunks are handed to
    the callback by a reader thread (its CPU is ours, not the child's).
    ``on_start(pid)`` is called once the child exists (e.g. to attach py-spy).
    """
    t0 = time.perf_counter()
    proc = spawn(
        cmd,
        env=env,
        stdin=stdin,
        stdout=subprocess.PIPE if on_stdout else stdout,
        stderr=stderr,
    )
    if on_start is not None:
        on_start(proc.pid)
    reader = None
    if on_stdout is not None:
        pipe = proc.stdout
        assert pipe is not None

        def pump() -> None:
            while chunk := os.read(pipe.fileno(), 1 << 16):
                on_stdout(chunk)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
    deadline = t0 + timeout_s
    rc: int | None = None
    runq: float | None = None
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            rc = os.waitstatus_to_exitcode(status)
            break
        runq = runq_wait_s(proc.pid) or runq  # last reading before it exits (20 ms)
        if time.perf_counter() > deadline:
            _killpg(proc.pid)
            pid, status, ru = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    wall = time.perf_counter() - t0
    proc.returncode = rc if rc is not None else -9  # reaped by wait4, not by Popen
    _killpg(proc.pid)  # descendants that outlived it
    _children.discard(proc.pid)
    if reader is not None:
        reader.join(10)
    return Measured(cmd, rc, wall, ru.ru_utime, ru.ru_stime, ru.ru_maxrss, runq)


def runq_wait_s(pid: int) -> float | None:
    """Seconds ``pid`` has spent runnable but waiting for a CPU (/proc/<pid>/schedstat).

    Summed over its threads' main one only; None if unavailable.  Wall time
    minus CPU time minus this is time spent waiting on I/O (the network).
    """
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


class ProcCpu:
    """CPU seconds (user+sys) and peak RSS of a live process, from /proc."""

    def __init__(self, pid: int, name: str) -> None:
        self.pid = pid
        self.name = name

    def cpu_s(self) -> float | None:
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # after "pid (comm)": state is fields[0]; utime, stime are stat fields 14, 15
        return (int(fields[11]) + int(fields[12])) / _CLK

    def peak_rss_kb(self) -> int | None:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except OSError:
            return None
        return None


class CpuDelta:
    """``with CpuDelta(proc) as d: ...`` then ``d.cpu_s`` (None if the process is gone)."""

    def __init__(self, proc: ProcCpu | None) -> None:
        self.proc = proc
        self.cpu_s: float | None = None
        self._start: float | None = None

    def __enter__(self) -> CpuDelta:
        self._start = self.proc.cpu_s() if self.proc else None
        return self

    def __exit__(self, *exc: object) -> None:
        end = self.proc.cpu_s() if self.proc else None
        if self._start is not None and end is not None:
            self.cpu_s = end - self._start


def udp_counters() -> dict[str, int]:
    """The ``Udp:`` line of /proc/net/snmp (this network namespace) as a dict."""
    lines = [
        line.split()[1:]
        for line in Path("/proc/net/snmp").read_text().splitlines()
        if line.startswith("Udp:")
    ]
    if len(lines) < 2:
        return {}
    return {k: int(v) for k, v in zip(lines[0], lines[1], strict=False)}


def udp_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    keys = ("InErrors", "RcvbufErrors", "SndbufErrors")
    return {k: after.get(k, 0) - before.get(k, 0) for k in keys}


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
