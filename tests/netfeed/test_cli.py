"""The netfeed command as a user runs it (subprocesses, real simulator, embedded bus)."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from bus.datasets import DATASETS
from bus.schema import message_schema
from collectors.config import load_network
from collectors.service import next_tick_ms, tick_ms
from netfeed.simulator.netconf import SimulatedNetconfNetwork
from netfeed.simulator.network import SimulatedNetwork
from tests.support.pipeline import write_network, write_sim_network

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
    assert "warning" not in r.stderr


@pytest.mark.parametrize("interval_s", [5, 30])
def test_validate_warns_when_a_silent_device_cannot_fit_the_interval(
    tmp_path: Path, interval_s: int
) -> None:
    # the issue's schedule: 5 s interval, timeout 2 s x 2 tries, spread 0.5, 24 devices
    path = write_network(
        tmp_path,
        "tight",
        [{"id": f"r{i}", "port": 161, "community": "public"} for i in range(24)],
        timeout_s=2.0,
        retries=1,
    )
    path.write_text(path.read_text() + f"datasets: {{interfaces: {{interval_s: {interval_s}}}}}\n")
    r = netfeed("validate", str(tmp_path))
    assert r.returncode == 0, r.stderr  # a warning, not a problem
    if interval_s == 30:
        assert "warning" not in r.stderr
        return
    assert f"warning: {path}: datasets.interfaces: " in r.stderr
    assert "a silent device needs up to 4 s" in r.stderr and "5 s interval" in r.stderr


def test_validate_prints_every_problem_and_fails(tmp_path: Path) -> None:
    (tmp_path / "networks").mkdir()
    (tmp_path / "networks" / "a.yaml").write_text(
        "network: a\ndevices:\n  - {id: r1, host: 127.0.0.1, snmp: {community: public}}\n"
    )
    (tmp_path / "netfeed.yaml").write_text(
        "bus: {backend: carrier-pigeon}\nextra: 1\ncollector:\n  max_in_flight: 0\n"
    )
    r = netfeed("validate", str(tmp_path))
    assert r.returncode == 1
    # an unknown section hides nothing: the known sections' problems come too, with lines
    assert f"{tmp_path}/netfeed.yaml:2: extra: unknown section" in r.stderr
    assert f"{tmp_path}/netfeed.yaml:1: bus.backend: Input should be" in r.stderr
    assert f"{tmp_path}/netfeed.yaml:4: collector.max_in_flight: Input should be" in r.stderr
    assert f"{tmp_path}/networks/a.yaml:3: device 'r1' (devices[0]).snmp.community" in r.stderr
    assert "problem(s)" in r.stderr


async def test_collect_once_dry_run_prints_schema_valid_json_lines(tmp_path: Path) -> None:
    async with SimulatedNetwork("dry", 3, seed=5, base_port=0, n_interfaces=4) as sim:
        write_sim_network(
            tmp_path,
            "dry",
            sim,
        )
        code, out, err = await anetfeed("collect", "--config", str(tmp_path), "--once", "--dry-run")
    assert code == 0, err
    lines = dry_run_lines(out)
    recs = [x for x in lines if x["kind"] == "record"]
    assert len([r for r in recs if r["dataset"] == "interfaces"]) == 3 * 4
    assert len([r for r in recs if r["dataset"] == "system"]) == 3
    assert {x["dataset"] for x in lines if x["kind"] == "cycle_complete"} == set(DATASETS)
    # each cycle is labelled with its schedule's current tick (the latest at or before it)
    net = load_network(tmp_path / "networks" / "dry.yaml")
    for m in (x for x in lines if x["kind"] == "cycle_complete"):
        sched, tick = net.datasets[m["dataset"]], m["scheduled_unix_ms"]
        assert tick <= m["started_unix_ms"] < next_tick_ms(sched, tick) + 5000, m
        assert tick_ms(sched, tick) == tick, m
    # one line per finished cycle at default verbosity
    assert "dry interfaces: 3/3 ok, 0 failed, 0 timed out, 0 skipped, 12 records" in err
    assert not (tmp_path / "var").exists()  # published nothing


def netconf_defaults(sim: SimulatedNetconfNetwork, folder: Path, csv_name: str) -> str:
    """The ``netconf:`` defaults (flow YAML) for ``sim``'s devices, whose CSV is
    written to ``networks/<csv_name>``; password by file reference, host keys checked."""
    (folder / "networks").mkdir(exist_ok=True)
    (folder / "secrets").mkdir(exist_ok=True)  # the default secret folder: secrets.dirs
    secret = folder / "secrets" / "nc-password"
    secret.write_text(sim.password)
    known_hosts = sim.write_known_hosts(folder / "known_hosts")
    sim.write_inventory_csv(folder / "networks" / csv_name)
    return (
        f"{{username: {sim.username}, password: 'file:{secret}', "
        f"known_hosts: '{known_hosts}', rpc_timeout_s: 5, device_deadline_s: 10}}"
    )


def dry_run_lines(out: str) -> list[dict[str, Any]]:
    """``collect --dry-run`` output, every line checked against the message schema."""
    lines = [json.loads(x) for x in out.splitlines()]
    validator = jsonschema.Draft202012Validator(message_schema())
    for line in lines:
        validator.validate(line)
    return lines


async def test_collect_once_dry_run_reads_simulated_netconf_devices(tmp_path: Path) -> None:
    sim = SimulatedNetconfNetwork(
        "ncdry", 2, seed=4, n_interfaces=3, kinds=["juniper-junos", "arista-eos"]
    )
    async with sim:
        netconf = netconf_defaults(sim, tmp_path, "ncdry.csv")
        (tmp_path / "networks" / "ncdry.yaml").write_text(
            f"network: ncdry\nprotocol: netconf\ndefaults: {{netconf: {netconf}}}\n"
            "inventories: [{csv: ncdry.csv}]\n"
            "datasets: {system: {interval_s: 60}, interfaces: {interval_s: 60}}\n"
        )
        code, out, err = await anetfeed("collect", "--config", str(tmp_path), "--once", "--dry-run")
        polled = [a.requests for a in sim.agents]
    assert code == 0, err
    assert all(polled), (polled, err[-3000:])  # every device was really asked
    lines = dry_run_lines(out)
    recs = [x for x in lines if x["kind"] == "record"]
    ifs = [r for r in recs if r["dataset"] == "interfaces"]
    assert len(ifs) == 2 * 3
    assert {r["provenance"]["protocol"] for r in recs} == {"netconf"}
    assert {(r["device"], r["profile"]) for r in ifs} == {
        ("ncdry-001", "junos"),
        ("ncdry-002", "ietf"),
    }
    assert all(isinstance(r["fields"]["in_octets"], int) for r in ifs)
    assert [r["device"] for r in recs if r["dataset"] == "system"] == ["ncdry-001"]
    assert "ncdry interfaces: 2/2 ok, 0 failed, 0 timed out, 0 skipped, 6 records" in err
    assert "ncdry system: 2/2 ok" in err
    assert sim.password not in out + err


async def test_one_network_mixing_snmp_and_netconf_devices_gives_one_stream(
    tmp_path: Path,
) -> None:
    snmp = SimulatedNetwork("mix", 2, seed=6, n_interfaces=3, kinds=["juniper-junos"])
    nc = SimulatedNetconfNetwork(
        "mix-nc", 2, seed=6, n_interfaces=3, kinds=["juniper-junos"], flavours=["junos", "ietf"]
    )
    async with snmp, nc:
        netconf = netconf_defaults(nc, tmp_path, "nc.csv")  # its rows say protocol netconf
        community = tmp_path / "secrets" / "community"
        community.write_text(snmp.community)
        snmp.write_inventory_csv(tmp_path / "networks" / "snmp.csv", f"file:{community}")
        (tmp_path / "networks" / "mix.yaml").write_text(
            f"network: mix\ndefaults:\n  snmp: {{timeout_s: 1}}\n  netconf: {netconf}\n"
            "inventories: [{csv: snmp.csv}, {csv: nc.csv}]\n"
            "datasets: {interfaces: {interval_s: 60}}\n"
        )
        code, out, err = await anetfeed("collect", "--config", str(tmp_path), "--once", "--dry-run")
        polled = [a.requests for a in nc.agents]
    assert code == 0, err
    assert all(polled), (polled, err[-3000:])
    lines = dry_run_lines(out)
    recs = [x for x in lines if x["kind"] == "record"]
    (marker,) = [x for x in lines if x["kind"] == "cycle_complete"]
    # one cycle of one network covers the devices of both protocols
    assert marker["devices_planned"] == 4 and marker["devices_ok"] == 4, marker
    assert marker["records"] == len(recs) == 4 * 3
    assert {r["network"] for r in recs} == {"mix"}
    by_proto: dict[str, list[dict[str, Any]]] = {}
    for r in recs:
        by_proto.setdefault(r["provenance"]["protocol"], []).append(r)
    assert {p: len(v) for p, v in by_proto.items()} == {"snmpv2c": 6, "netconf": 6}
    assert {r["device"] for r in by_proto["netconf"]} == {"mix-nc-001", "mix-nc-002"}
    # identically shaped: the same envelope keys, identity tags and field types
    first = by_proto["snmpv2c"][0]
    assert {tuple(sorted(r)) for r in recs} == {tuple(sorted(first))}
    assert {frozenset(r["tags"]) for r in recs} == {frozenset(first["tags"])}
    common = set.intersection(*(set(r["fields"]) for r in recs))
    assert {"in_octets", "out_octets", "oper_status", "admin_status"} <= common, common
    for name in common:
        assert len({type(r["fields"][name]) for r in recs}) == 1, name
    assert "mix interfaces: 4/4 ok, 0 failed, 0 timed out, 0 skipped, 12 records" in err


async def test_scheduled_collect_prints_each_cycle_and_honours_dataset(tmp_path: Path) -> None:
    async with SimulatedNetwork("sch", 2, seed=7, base_port=0, n_interfaces=2) as sim:
        path = write_sim_network(
            tmp_path,
            "sch",
            sim,
        )
        path.write_text(
            path.read_text() + "datasets: {system: {interval_s: 2}, interfaces: {interval_s: 2}}\n"
        )
        code, out, err = await anetfeed(
            "collect",
            "--config",
            str(tmp_path),
            "--dry-run",
            "--duration",
            "5",
            "--dataset",
            "interfaces",
        )
    assert code == 0, err
    assert "sch interfaces: 2/2 ok" in err
    assert "sch system" not in err and '"dataset":"system"' not in out  # --dataset holds


def test_strict_without_once_is_a_usage_error() -> None:
    r = netfeed("collect", "--strict")
    assert r.returncode == 2 and "--strict applies to --once" in r.stderr


async def test_collect_then_tail_on_the_embedded_bus(tmp_path: Path) -> None:
    bus_file = tmp_path / "bus.sqlite3"
    (tmp_path / "netfeed.yaml").write_text(
        yaml.safe_dump({"bus": {"backend": "embedded", "embedded": {"path": str(bus_file)}}})
    )
    async with SimulatedNetwork("tl", 2, seed=6, base_port=0, n_interfaces=3) as sim:
        write_sim_network(
            tmp_path,
            "tl",
            sim,
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
        "2",  # lab-west: 4 devices x 2 = 8 rows, all in the top 10 the demo shows
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
    # lab-west mixes SNMP and NETCONF devices (one Junos-like, one ietf-interfaces):
    # one cycle, one stream, one report
    assert "lab-west also has 2 NETCONF devices" in r.stdout
    assert "[collector] lab-west interfaces: 4/4 ok" in r.stdout, r.stdout[-3000:]
    with (tmp_path / "demo" / "interface-utilisation.csv").open() as handle:
        csv_rows = [row for row in csv.DictReader(handle) if row["network"] == "lab-west"]
    nc_rows = [row for row in csv_rows if row["device"].startswith("lab-west-nc-")]
    assert {row["device"] for row in nc_rows} == {"lab-west-nc-001", "lab-west-nc-002"}
    assert {row["device"] for row in csv_rows} - {row["device"] for row in nc_rows} == {
        "lab-west-001",
        "lab-west-002",
    }
    assert any(float(row["in_bps"]) > 0 for row in nc_rows)  # rates, from the second cycle on
    networks = tmp_path / "demo" / "configs" / "networks"
    assert len((networks / "lab-west-nc.known_hosts").read_text().splitlines()) == 2
    assert "host_key_check" not in (networks / "lab-west.yaml").read_text()  # keys verified


# -- tail always ends: --duration, SIGINT, SIGTERM (also waiting for a topic) --------


def tail_config(tmp_path: Path, backend: str) -> Path:
    """A config folder whose bus is a fresh embedded file or the real Kafka broker."""
    bus: dict[str, object] = {"backend": backend}
    if backend == "kafka":
        bootstrap = os.environ.get("NETFEED_KAFKA_BOOTSTRAP")
        if not bootstrap:
            pytest.skip("NETFEED_KAFKA_BOOTSTRAP not set: Kafka tests need scripts/kafka.sh start")
        bus["kafka"] = {"bootstrap_servers": bootstrap, "request_timeout_ms": 10_000}
    else:
        bus["embedded"] = {"path": str(tmp_path / "bus.sqlite3")}
    (tmp_path / "netfeed.yaml").write_text(yaml.safe_dump({"bus": bus}))
    return tmp_path


BACKENDS = ["embedded", pytest.param("kafka", marks=pytest.mark.kafka)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_tail_of_a_glob_matching_nothing_ends_after_duration(tmp_path: Path, backend: str) -> None:
    cfg = tail_config(tmp_path, backend)
    started = time.monotonic()
    try:
        glob = f"nomatch-{uuid.uuid4().hex[:8]}.*"
        r = netfeed("tail", glob, "--config", str(cfg), "--duration", "3", timeout=40)
    except subprocess.TimeoutExpired:
        pytest.fail(f"netfeed tail --duration 3 on {backend} still running after 40 s")
    took = time.monotonic() - started
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    assert 3 <= took < 20, took  # 3 s, plus start-up and closing


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("backend", BACKENDS)
async def test_tail_of_a_glob_matching_nothing_ends_on_a_signal(
    tmp_path: Path, backend: str, sig: signal.Signals
) -> None:
    cfg = tail_config(tmp_path, backend)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "netfeed.cli", "-v", "tail", f"nomatch-{uuid.uuid4().hex[:8]}.*",
        "--config", str(cfg),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None and proc.stdout is not None
    try:
        # It is reading (signal handlers in place, consumer started) once it logs this.
        async with asyncio.timeout(40):
            while b"tail: reading topics matching" not in (line := await proc.stderr.readline()):
                assert line, "netfeed tail exited before reading"
        await asyncio.sleep(1.0)  # well into waiting for a topic that does not exist
        proc.send_signal(sig)
        started = time.monotonic()
        try:
            code = await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            pytest.fail(f"netfeed tail on {backend} ignored {sig.name} for 10 s")
        assert time.monotonic() - started < 5
        assert code == 0, (await proc.stderr.read()).decode()[-2000:]
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


# -- one version, written only in pyproject.toml ---------------------------------------

VERSIONS_CHILD = """
import importlib.metadata as md, json, sys
real = md.version
def fake(name):
    if name != "netfeed":
        return real(name)
    if sys.argv[1] == "not-installed":
        raise md.PackageNotFoundError(name)
    return sys.argv[1]
if sys.argv[1] != "real":
    md.version = fake
import bus, collectors, netfeed
from collectors.snmp import poll
print(json.dumps([bus.__version__, collectors.__version__, netfeed.__version__,
                  poll.__version__]))
"""


@pytest.mark.parametrize("metadata", ["real", "7.7.7", "not-installed"])
def test_every_package_reports_the_version_from_package_metadata(metadata: str) -> None:
    import tomllib

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    r = subprocess.run(
        [sys.executable, "-c", VERSIONS_CHILD, metadata],
        cwd=ROOT, text=True, capture_output=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    want = {"real": pyproject, "7.7.7": "7.7.7", "not-installed": "0+unknown"}[metadata]
    assert json.loads(r.stdout) == [want] * 4


async def test_sigterm_lets_the_running_cycle_publish_its_marker(tmp_path: Path) -> None:
    """SIGTERM mid-cycle: the slow device's poll finishes within collector.stop_grace_s,
    the cycle's records and marker reach the bus, and collect exits 0 in bounded time."""
    from bus.configfile import load_bus_settings
    from bus.factory import make_consumer
    from bus.records import CycleComplete, Record, decode

    grace = 8.0
    (tmp_path / "netfeed.yaml").write_text(
        yaml.safe_dump(
            {
                "bus": {"backend": "embedded", "embedded": {"path": str(tmp_path / "bus.db")}},
                "collector": {"stop_grace_s": grace},
            }
        )
    )
    async with SimulatedNetwork("term", 2, seed=3, base_port=0, n_interfaces=2) as sim:
        fast, slow = (d.device_id for d in sim.devices)
        sim.set_fault(slow, "slow", 1000)  # each reply 1 s late: a poll takes seconds
        path = write_sim_network(
            tmp_path,
            "term",
            sim,
            timeout_s=3,
        )
        path.write_text(
            path.read_text() + "datasets: {system: {interval_s: 10}}\ncollection: {spread: 0}\n"
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "netfeed.cli", "-v", "collect", "--config", str(tmp_path),
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stderr is not None
        err: list[str] = []
        try:
            async with asyncio.timeout(30):
                while "first tick at" not in (line := (await proc.stderr.readline()).decode()):
                    assert line, "netfeed collect exited early:\n" + "".join(err)[-3000:]
                    err.append(line)
            tick_ms = int(line.split("first tick at ")[1].split()[0])
            # mid-cycle: the fast device answered long ago, the slow one needs ~2 s more
            await asyncio.sleep(max(0.0, tick_ms / 1000 + 1.0 - time.time()))
            proc.send_signal(signal.SIGTERM)  # the slow device is still being polled
            started = time.monotonic()
            code = await asyncio.wait_for(proc.wait(), grace + 5)
            elapsed = time.monotonic() - started
            rest = (await proc.stderr.read()).decode()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert code == 0, rest[-3000:]
    assert elapsed < grace + 3
    assert "term system: 2/2 ok" in rest, rest[-3000:]
    consumer = make_consumer(
        load_bus_settings(tmp_path), group=None, pattern=r"^netfeed\.term\.system$",
        client_id="t", from_beginning=True,
    )  # fmt: skip
    got: list[Record | CycleComplete] = []
    async with consumer:
        for _ in range(10):
            got += [decode(m.value) for m in await consumer.getmany(timeout_ms=300)]  # type: ignore[misc]
    markers = [m for m in got if isinstance(m, CycleComplete)]
    assert {m.scheduled_unix_ms for m in markers} == {tick_ms}  # a copy per partition
    assert all(m.devices_ok == 2 for m in markers)
    assert {r.device for r in got if isinstance(r, Record)} == {fast, slow}


def test_a_configuration_folder_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    for args in (["app", "run", "store"], ["status"], ["collect", "--once"], ["validate"]):
        where = (
            ["--config", str(tmp_path / "nope")]
            if args[0] != "validate"
            else [str(tmp_path / "nope")]
        )
        r = netfeed(*args, *where, timeout=60)
        assert r.returncode == 1, (args, r.stderr)
        assert f"{tmp_path / 'nope'}: no such configuration folder" in r.stderr, (args, r.stderr)


def _subcommands(parser: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    import argparse

    out = [path]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sp in action.choices.items():
                out += _subcommands(sp, (*path, name))
    return out


def test_every_command_has_help_with_an_example() -> None:
    from netfeed.cli import build_parser

    commands = _subcommands(build_parser())
    assert ("topics", "apply") in commands and ("inventory", "import") in commands
    for cmd in commands:
        r = netfeed(*cmd, "--help", timeout=60)
        assert r.returncode == 0, (cmd, r.stderr)
        assert "example" in r.stdout, f"netfeed {' '.join(cmd)} --help has no example"
