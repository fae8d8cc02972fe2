"""``netfeed app run`` and ``netfeed collect`` against the real SASL_SSL
listener with a wrong password: each says plainly, once, that the broker
refused the login (listener, mechanism, user; no password in any output),
keeps going (collect: into its spool, which keeps the data), and exits 0 on
SIGTERM.  Skips where the listener's variables are absent."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from pathlib import Path

import yaml

from bus.spool import SpoolStore
from netfeed.simulator.network import SimulatedNetwork
from tests.bus.test_kafka_security import Listener, listener  # noqa: F401 (fixture)
from tests.support.apps import start_instance, stop_all, wait_exit, wait_for, write_config
from tests.support.pipeline import write_sim_network

ROOT = Path(__file__).resolve().parents[2]
REFUSED = "the broker refused us"


def env_with(password: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NETFEED_KAFKA")}
    return {**clean, "NF_TEST_KAFKA_PASSWORD": password}


def check_said_plainly(out: str, lst: Listener, wrong: str) -> None:
    assert out.count(REFUSED) == 1, out  # once, not a flood
    line = next(x for x in out.splitlines() if REFUSED in x)
    assert " ERROR " in line and "login refused by the broker" in line, line
    assert lst.bootstrap in line and lst.mechanism in line and repr(lst.username) in line
    assert "Traceback" not in out
    for pw in (wrong, lst.password()):
        assert pw not in out


async def test_app_run_with_a_refused_login_says_so_and_stops_cleanly(
    listener: Listener,  # noqa: F811
    tmp_path: Path,
) -> None:
    bus = listener.settings(sasl_password="env:NF_TEST_KAFKA_PASSWORD")
    cfg = write_config(tmp_path, bus, tmp_path / "seen")
    wrong = f"wrong-{uuid.uuid4().hex}"
    proc = start_instance(cfg, "a", env=env_with(wrong))
    try:
        stderr = cfg / "a.stderr"
        await wait_for(lambda: REFUSED in stderr.read_text(), 60, "the refusal to be reported")
        await asyncio.sleep(6)  # the next attempt (5 s later) is refused again, silently
        assert proc.poll() is None, stderr.read_text()
        proc.send_signal(signal.SIGTERM)
        assert await wait_exit(proc, 20) == 0, stderr.read_text()
    finally:
        stop_all([proc])
    check_said_plainly(stderr.read_text(), listener, wrong)


async def test_collect_with_a_refused_login_keeps_collecting_into_the_spool(
    listener: Listener,  # noqa: F811
    tmp_path: Path,
) -> None:
    bus = listener.settings(sasl_password="env:NF_TEST_KAFKA_PASSWORD")
    conf = bus.model_dump(mode="json")
    conf["spool"] = {"path": "spool", "stop_timeout_ms": 2000}
    (tmp_path / "netfeed.yaml").write_text(
        yaml.safe_dump({"bus": conf, "collector": {"instance_id": "c1"}})
    )
    wrong = f"wrong-{uuid.uuid4().hex}"
    async with SimulatedNetwork("sp", 2, seed=5, base_port=0, n_interfaces=3) as sim:
        path = write_sim_network(
            tmp_path,
            "sp",
            sim,
        )
        path.write_text(path.read_text() + "datasets: {interfaces: {interval_s: 1}}\n")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "netfeed.cli",
            "collect",
            "--config",
            str(tmp_path),
            "--dataset",
            "interfaces",
            cwd=ROOT,
            env=env_with(wrong),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stderr is not None
        lines: list[str] = []
        end = time.monotonic() + 90
        while time.monotonic() < end:
            line = (await asyncio.wait_for(proc.stderr.readline(), 60)).decode()
            lines.append(line)
            said = any(REFUSED in x for x in lines)
            if said and sum("sp interfaces: 2/2 ok" in x for x in lines) >= 3:
                break
        proc.send_signal(signal.SIGTERM)
        out, rest = await asyncio.wait_for(proc.communicate(), 30)
    err = "".join(lines) + rest.decode()
    assert proc.returncode == 0, err
    assert sum("sp interfaces: 2/2 ok" in x for x in lines) >= 3, err  # collection went on
    check_said_plainly(out.decode() + err, listener, wrong)
    store = SpoolStore(tmp_path / "spool" / "c1.sqlite3", 1 << 30)
    store.open()
    try:
        assert store.depth >= 3 * 6, err  # three cycles of 2 devices x 3 interfaces, kept
    finally:
        store.close()
