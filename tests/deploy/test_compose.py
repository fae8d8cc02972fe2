"""The deployment files: ``docker-compose.yml`` (and the three-broker
override) against the Compose specification, then every netfeed service's
exact command and environment run as a local process against the real test
broker.  No Docker engine runs here, so this is what can be tested: a wrong
command, flag, config path or environment in the compose file fails here.

Validation is Debian's ``docker-compose`` (``config``: the specification's
schema, interpolation, merges; no engine needed), which ``scripts/setup.sh``
installs.  Services run in compose's order: ``topics`` (must exit 0), the
``simulator``, both collectors at once (sharing the simulator's network
namespace in compose, so one loopback here; each takes a free port of the
metrics range), then each application alone (they all serve metrics on 9464).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP = os.environ.get("NETFEED_KAFKA_BOOTSTRAP")
COMPOSE = shutil.which("docker-compose")
CONFIGS_IN_IMAGE = "/srv/netfeed/configs"

pytestmark = pytest.mark.timeout(300)


def compose_config(folder: Path, *files: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COMPOSE), *(a for f in files for a in ("-f", f)), "config", "-q"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The compose files as a clean clone has them, with secrets.env from its example."""
    if COMPOSE is None:
        pytest.fail("docker-compose is not installed (scripts/setup.sh system installs it)")
    for name in ("docker-compose.yml", "docker-compose.kafka3.yml", "Dockerfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "deploy").mkdir()
    shutil.copy(ROOT / "deploy" / "secrets.env.example", tmp_path / "deploy" / "secrets.env")
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    return tmp_path


def test_the_compose_files_follow_the_compose_specification(project: Path) -> None:
    ok = compose_config(project, "docker-compose.yml")
    assert ok.returncode == 0, ok.stderr
    three = compose_config(project, "docker-compose.yml", "docker-compose.kafka3.yml")
    assert three.returncode == 0, three.stderr
    # the validator refuses what is wrong: a misspelt key, a wrong type
    text = (project / "docker-compose.yml").read_text()
    (project / "docker-compose.yml").write_text(text.replace("    command:", "    comand:", 1))
    bad = compose_config(project, "docker-compose.yml")
    assert bad.returncode != 0 and "comand" in bad.stderr, bad.stderr
    (project / "docker-compose.yml").write_text(text.replace("retries: 12", "retries: often", 1))
    bad = compose_config(project, "docker-compose.yml")
    assert bad.returncode != 0 and "retries" in bad.stderr, bad.stderr


def test_secrets_are_not_in_the_compose_files() -> None:
    example = (ROOT / "deploy" / "secrets.env.example").read_text()
    names = re.findall(r"^([A-Z_]+)=", example, re.M)
    assert "NETFEED_SNMP_COMMUNITY" in names
    for f in ("docker-compose.yml", "docker-compose.kafka3.yml"):
        text = (ROOT / f).read_text()
        assert not any(n in text for n in names), f"{f} names a secret"
    assert "deploy/secrets.env" in (ROOT / ".gitignore").read_text()


def netfeed_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in compose["services"].items()
        if svc.get("image") == "netfeed:local"
    }


def local_argv(svc: dict[str, Any], configs: Path) -> list[str]:
    """The service's entrypoint + command, as a local process (the image's
    ``netfeed`` entry point is ``python -m netfeed.cli``)."""
    entry = svc.get("entrypoint") or ["netfeed"]
    argv = [*entry, *svc.get("command", [])]
    head = {"netfeed": [sys.executable, "-m", "netfeed.cli"], "python": [sys.executable]}
    argv = head.get(argv[0], [argv[0]]) + argv[1:]
    return [a.replace(CONFIGS_IN_IMAGE, str(configs)) for a in argv]


def local_env(svc: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETFEED_")}
    secrets = (ROOT / "deploy" / "secrets.env.example").read_text()
    env.update(re.findall(r"^([A-Z_]+)=(.*)$", secrets, re.M))
    for k, v in (svc.get("environment") or {}).items():
        env[k] = str(v)
    assert env["NETFEED_KAFKA_BOOTSTRAP"].startswith("kafka:")  # compose's service name
    assert BOOTSTRAP is not None
    env["NETFEED_KAFKA_BOOTSTRAP"] = BOOTSTRAP
    return env


async def start(svc: dict[str, Any], configs: Path, log: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *local_argv(svc, configs),
        cwd=configs.parent,
        env=local_env(svc),
        stdout=log.open("wb"),
        stderr=asyncio.subprocess.STDOUT,
    )


def metrics_text(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as r:
            body: bytes = r.read()
            return body.decode()
    except OSError:
        return ""


async def wait_metric(
    ports: range,
    pattern: str,
    timeout_s: float,
    procs: list[tuple[asyncio.subprocess.Process, Path]],
) -> str:
    """Until a port of ``ports`` serves a line matching ``pattern``; fails at once
    when one of ``procs`` ended (its log in the message)."""
    end = time.monotonic() + timeout_s
    why = procs[0][1]
    while time.monotonic() < end:
        for proc, log in procs:
            if proc.returncode is not None:
                raise AssertionError(
                    f"{log.stem} exited {proc.returncode}:\n{log.read_text()[-3000:]}"
                )
        for port in ports:
            text = await asyncio.to_thread(metrics_text, port)
            if re.search(pattern, text, re.M):
                return text
        await asyncio.sleep(0.5)
    raise AssertionError(f"{pattern!r} not served within {timeout_s} s:\n{why.read_text()[-3000:]}")


async def stop(proc: asyncio.subprocess.Process, log: Path) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    rc = await asyncio.wait_for(proc.wait(), 60)
    text = log.read_text()
    assert rc == 0, text[-3000:]
    assert "Traceback" not in text and "usage:" not in text, text[-3000:]


@pytest.mark.skipif(not BOOTSTRAP, reason="NETFEED_KAFKA_BOOTSTRAP not set")
async def test_every_netfeed_service_runs_as_written(tmp_path: Path) -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = netfeed_services(compose)
    assert {"topics", "simulator", "collector-lab-east", "collector-lab-west"} <= set(services)
    apps = ["interface-utilisation", "store", "threshold-alerts", "reachability"]
    assert set(apps) <= set(services)
    srv = tmp_path / "srv"
    shutil.copytree(ROOT / "configs", srv / "configs")
    (srv / "var").mkdir()
    configs = srv / "configs"
    for name, svc in services.items():  # configs read-only, var a volume: as in the image
        mounts = svc.get("volumes", [])
        assert f"./configs:{CONFIGS_IN_IMAGE}:ro" in mounts, name
        assert "netfeed-var:/srv/netfeed/var" in mounts, name

    log = tmp_path / "topics.log"
    topics = await start(services["topics"], configs, log)
    assert await asyncio.wait_for(topics.wait(), 120) == 0, log.read_text()[-3000:]

    sim_log = tmp_path / "simulator.log"
    sim = await start(services["simulator"], configs, sim_log)
    running: list[tuple[asyncio.subprocess.Process, Path]] = []
    try:
        await asyncio.sleep(1.0)
        assert sim.returncode is None, sim_log.read_text()
        for name in ("collector-lab-east", "collector-lab-west"):
            clog = tmp_path / f"{name}.log"
            running.append((await start(services[name], configs, clog), clog))
        # each joined its network's shard group and holds every shard (one instance each)
        metrics_range = range(9464, 9480)
        for net in ("lab-east", "lab-west"):
            await wait_metric(
                metrics_range,
                rf'^netfeed_collector_shards_held\{{network="{net}"\}} 16\.0$',
                90,
                running,
            )
        for proc, clog in running:
            await stop(proc, clog)
        running.clear()
        for name in apps:
            alog = tmp_path / f"{name}.log"
            proc = await start(services[name], configs, alog)
            running.append((proc, alog))
            await wait_metric(range(9464, 9465), r'^netfeed_app_messages_total\{app="', 60, running)
            await stop(proc, alog)
            running.clear()
    finally:
        for proc, _log in running:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        if sim.returncode is None:
            sim.send_signal(signal.SIGTERM)
            await asyncio.wait_for(sim.wait(), 30)


def test_the_dockerfile_copies_what_the_wheel_needs_and_runs_netfeed() -> None:
    """No engine builds it here: check what the image's build and the compose
    test rely on (every COPY source exists; the packages the wheel holds are
    copied; the entry point the local runs stand in for is ``netfeed``)."""
    text = (ROOT / "Dockerfile").read_text()
    copies = re.findall(r"^COPY (?!--from)(\S+)(?: \S+)* \S+$", text, re.M)
    sources = [
        s for line in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M) for s in line.split()
    ]
    assert copies and all((ROOT / s).exists() for s in sources), sources
    pyproject = (ROOT / "pyproject.toml").read_text()
    packages = re.search(r"include = \[(.*?)\]", pyproject)
    assert packages is not None
    for pkg in re.findall(r'"(\w+)\*"', packages.group(1)):
        assert pkg in sources, f"the image's wheel would lack {pkg}/"
    assert 'ENTRYPOINT ["netfeed"]' in text and "USER netfeed" in text
    assert "-c requirements.lock" in text and "--no-index" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert not set(sources) & set(ignored)
