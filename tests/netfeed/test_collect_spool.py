"""`netfeed collect` on Kafka goes through the spool: collection never waits on
the broker, SIGTERM with the broker down exits 0 in bounded time, and what was
spooled is sent by the next run."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest
import yaml

from bus.spool import SpoolStore
from netfeed.simulator.network import SimulatedNetwork
from tests.support.pipeline import write_sim_network

ROOT = Path(__file__).resolve().parents[2]
DOWN = "127.0.0.1:1"  # nothing listens there: a broker that is down


def write_config(tmp: Path, bootstrap: str) -> None:
    (tmp / "netfeed.yaml").write_text(
        yaml.safe_dump(
            {
                "bus": {
                    "backend": "kafka",
                    "topic_prefix": "spool" + tmp.name[-6:].replace("_", "x"),
                    "kafka": {"bootstrap_servers": bootstrap, "request_timeout_ms": 3000},
                    "spool": {"path": "spool", "stop_timeout_ms": 3000},
                },
                "collector": {"instance_id": "c1"},
            }
        )
    )


async def run(tmp: Path, *args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "netfeed.cli",
        *args,
        "--config",
        str(tmp),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_sigterm_with_the_broker_down_exits_0_and_the_next_run_sends_the_spool(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NETFEED_KAFKA_BOOTSTRAP"}
    write_config(tmp_path, DOWN)
    async with SimulatedNetwork("sp", 2, seed=3, base_port=0, n_interfaces=3) as sim:
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
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stderr is not None
        cycles = 0
        lines: list[str] = []
        end = time.monotonic() + 60
        while cycles < 3 and time.monotonic() < end:
            line = (await asyncio.wait_for(proc.stderr.readline(), 60)).decode()
            lines.append(line)
            cycles += "sp interfaces: 2/2 ok" in line  # collection goes on, broker down
        assert cycles == 3, "".join(lines)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, rest = await asyncio.wait_for(proc.communicate(), 60)
        took = time.monotonic() - t0
    assert proc.returncode == 0, "".join(lines) + rest.decode()
    assert took < 15, took  # stop_timeout 3 s + bounded producer close
    store = SpoolStore(tmp_path / "spool" / "c1.sqlite3", 1 << 30)
    store.open()
    chunks = store.read(10_000)
    store.close()
    assert sum(len(c.messages) for c in chunks if not c.marker) >= 3 * 6
    assert sum(c.marker for c in chunks) >= 3

    boot = os.environ.get("NETFEED_KAFKA_BOOTSTRAP")
    if not boot:
        pytest.skip("NETFEED_KAFKA_BOOTSTRAP not set: the second half needs a broker")
    # The broker is back (the devices are gone): the next run sends what the last spooled.
    write_config(tmp_path, boot)
    code, _, err = await run(
        tmp_path, "collect", "--once", "--dataset", "interfaces", env=dict(env)
    )
    # the devices are gone, so this run itself fails (exit 1: no device answered) ...
    assert code == 1 and "no device answered" in err, err
    # ... yet what the last run spooled was sent before it ended
    assert not (tmp_path / "spool" / "c1.sqlite3").exists() or _depth(tmp_path) == 0, err
    code, out, err = await run(
        tmp_path,
        "tail",
        "*.sp.interfaces",
        "--from-beginning",
        "--duration",
        "8",
        env=dict(env),
    )
    assert code == 0, err
    assert sum('"kind":"record"' in x for x in out.splitlines()) >= 3 * 6


def _depth(tmp: Path) -> int:
    store = SpoolStore(tmp / "spool" / "c1.sqlite3", 1 << 30)
    store.open()
    try:
        return store.depth
    finally:
        store.close()
