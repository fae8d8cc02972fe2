"""The netfeed command as a user runs it (subprocesses, real simulator, embedded bus)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml

from bus.datasets import DATASETS
from bus.schema import message_schema
from netfeed.simulator.network import SimulatedNetwork
from tests.support.pipeline import write_network

ROOT = Path(__file__).resolve().parents[2]


def netfeed(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netfeed.cli", *args],
        cwd=ROOT,
        text=True,
        capture_output=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


async def anetfeed(*args: str, timeout: float = 120) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "netfeed.cli",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, out.decode(), err.decode()


def test_validate_shipped_configs() -> None:
    r = netfeed("validate", "configs", env={"NETFEED_SNMP_COMMUNITY": "x"})
    assert r.returncode == 0, r.stderr
    assert "2 network(s), 8 device(s)" in r.stdout


def test_validate_prints_every_problem_and_fails(tmp_path: Path) -> None:
    (tmp_path / "networks").mkdir()
    (tmp_path / "networks" / "a.yaml").write_text(
        "network: a\ndevices:\n  - {id: r1, host: 127.0.0.1, snmp: {community: public}}\n"
    )
    (tmp_path / "netfeed.yaml").write_text("bus: {backend: carrier-pigeon}\nextra: 1\n")
    r = netfeed("validate", str(tmp_path))
    assert r.returncode == 1
    assert f"{tmp_path}/netfeed.yaml: extra: unknown section" in r.stderr
    assert f"{tmp_path}/networks/a.yaml: device 'r1' (devices[0]).snmp.community" in r.stderr
    assert "problem(s)" in r.stderr


async def test_collect_once_dry_run_prints_schema_valid_json_lines(tmp_path: Path) -> None:
    async with SimulatedNetwork("dry", 3, seed=5, base_port=0, n_interfaces=4) as sim:
        write_network(
            tmp_path,
            "dry",
            [
                {"id": d.device_id, "port": sim.port(d.device_id), "community": "public"}
                for d in sim.devices
            ],
        )
        code, out, err = await anetfeed("collect", "--config", str(tmp_path), "--once", "--dry-run")
    assert code == 0, err
    lines = [json.loads(x) for x in out.splitlines()]
    validator = jsonschema.Draft202012Validator(message_schema())
    for line in lines:
        validator.validate(line)
    recs = [x for x in lines if x["kind"] == "record"]
    assert len([r for r in recs if r["dataset"] == "interfaces"]) == 3 * 4
    assert len([r for r in recs if r["dataset"] == "system"]) == 3
    assert {x["dataset"] for x in lines if x["kind"] == "cycle_complete"} == set(DATASETS)
    assert "dry:interfaces" in err and "3/3 ok" in err
    assert not (tmp_path / "var").exists()  # published nothing


async def test_collect_then_tail_on_the_embedded_bus(tmp_path: Path) -> None:
    bus_file = tmp_path / "bus.sqlite3"
    (tmp_path / "netfeed.yaml").write_text(
        yaml.safe_dump({"bus": {"backend": "embedded", "embedded": {"path": str(bus_file)}}})
    )
    async with SimulatedNetwork("tl", 2, seed=6, base_port=0, n_interfaces=3) as sim:
        write_network(
            tmp_path,
            "tl",
            [
                {"id": d.device_id, "port": sim.port(d.device_id), "community": "public"}
                for d in sim.devices
            ],
        )
        code, _, err = await anetfeed(
            "collect", "--config", str(tmp_path), "--once", "--dataset", "interfaces"
        )
    assert code == 0, err
    code, out, err = await anetfeed(
        "tail",
        "netfeed.tl.interfaces",
        "--config",
        str(tmp_path),
        "--from-beginning",
        "--duration",
        "5",
        "--where",
    )
    assert code == 0, err
    lines = out.splitlines()
    assert sum('"kind":"record"' in x for x in lines) == 6
    assert all(x.startswith("netfeed.tl.interfaces[") for x in lines)


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    r = netfeed(
        "demo",
        "--duration",
        "14",
        "--interval",
        "3",
        "--devices",
        "2",
        "--interfaces",
        "4",
        "--workdir",
        str(tmp_path / "demo"),
        "--port",
        "0",
        timeout=90,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "[collector] lab-east" in r.stdout and "[collector] lab-west" in r.stdout
    assert "== lab-east interfaces cycle" in r.stdout and "== lab-west interfaces cycle" in r.stdout
    assert "b/s" in r.stdout
    assert (tmp_path / "demo" / "interface-utilisation.csv").stat().st_size > 0
