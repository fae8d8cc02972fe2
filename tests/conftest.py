"""Shared fixtures: real parts (snmpsim serving the shared recordings, Kafka from
the environment) and the two bus backends side by side."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bus.settings import BusSettings, EmbeddedSettings, KafkaSettings
from tests.support.librenms import LIBRENMS
from tests.support.snmpd import SNMPD, Snmpd

KAFKA_ENV = "NETFEED_KAFKA_BOOTSTRAP"


@pytest.fixture(autouse=True)
def _unconfined_secrets() -> Iterator[None]:
    """load_system confines ``file:`` secrets process-wide; no test leaks that to the next."""
    from bus.secrets import set_secret_dirs

    yield
    set_secret_dirs(None)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def recordings() -> Path:
    """The shared LibreNMS recordings; tests skip with this reason when absent
    (a user's fresh clone has no ../shared), and run whenever present (CI)."""
    if not (LIBRENMS / "snmprec").is_dir():
        pytest.skip(f"shared recordings not found at {LIBRENMS} (set NETFEED_RECORDINGS)")
    return LIBRENMS


def _snmpsim_answers(port: int, *communities: str, timeout_s: float = 1.0) -> bool:
    """Whether snmpsim answers a GET for every community, asked one at a time."""
    from collectors.snmp.base import SnmpTarget
    from collectors.snmp.pysnmp_client import PysnmpClient

    async def probe() -> bool:
        c = PysnmpClient()
        try:
            for community in communities:
                r = await c.get(
                    SnmpTarget("probe", "127.0.0.1", port, "2c", community, timeout_s, 0),
                    ["1.3.6.1.2.1.1.2.0"],
                )
                if not r:
                    return False
            return True
        except Exception:
            return False
        finally:
            c.close()

    return asyncio.run(probe())


@contextlib.contextmanager
def serve_snmpsim(data_dir: Path, log: Path) -> Iterator[tuple[str, int]]:
    """Run snmpsim on ``data_dir`` on a free loopback port until the context ends."""
    # The venv running the tests has it next to its python, on PATH or not
    # (scripts/test runs .venv/bin/python); then anything on PATH.
    beside = Path(sys.executable).parent / "snmpsim-command-responder"
    exe = str(beside) if os.access(beside, os.X_OK) else shutil.which("snmpsim-command-responder")
    if exe is None:
        pytest.fail("snmpsim-command-responder not installed: pip install -e '.[test]'")
    port = free_udp_port()
    cache = (
        Path(os.environ.get("NETFEED_RUN", "/tmp/netfeed-run")) / "snmpsim-cache" / data_dir.name
    )
    cache.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            exe,
            f"--data-dir={data_dir}",
            f"--cache-dir={cache}",
            f"--agent-udpv4-endpoint=127.0.0.1:{port}",
        ],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "SNMPSIM_ALLOW_ROOT": "true"},
    )
    try:
        deadline = time.monotonic() + 120
        while not _snmpsim_answers(port, "linux_powermon"):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"snmpsim did not start: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        # snmpsim indexes a recording on its first request, and answers nobody
        # meanwhile: visit each once, one at a time, so tests that poll many
        # recordings at once measure the collector, not that first indexing.
        names = sorted(p.stem for p in data_dir.glob("*.snmprec"))
        if not _snmpsim_answers(port, *names, timeout_s=60.0):
            pytest.fail(f"snmpsim did not answer for every recording: {log.read_text()[-2000:]}")
        yield "127.0.0.1", port
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
def snmpsim(
    recordings: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, int]]:
    """snmpsim serving ``snmprec/`` (raw, quirks included) on a loopback port.

    Reuses ``NETFEED_SNMPSIM=host:port`` when set, else starts its own for the session."""
    if env := os.environ.get("NETFEED_SNMPSIM"):
        host, _, port = env.rpartition(":")
        yield host, int(port)
        return
    with serve_snmpsim(recordings / "snmprec", tmp_path_factory.mktemp("snmpsim") / "log") as addr:
        yield addr


@pytest.fixture(scope="session")
def snmpsim_sanitized(
    recordings: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, int]]:
    """snmpsim serving ``snmprec-sanitized/`` (the same data, faults repaired)."""
    with serve_snmpsim(
        recordings / "snmprec-sanitized", tmp_path_factory.mktemp("snmpsim-san") / "log"
    ) as addr:
        yield addr


def kafka_bootstrap() -> str:
    boot = os.environ.get(KAFKA_ENV)
    if not boot:
        pytest.skip(
            f"{KAFKA_ENV} not set: Kafka tests need `scripts/kafka.sh start` (scripts/test does it)"
        )
    return boot


def bus_for(backend: str, tmp_path: Path, **kafka: object) -> BusSettings:
    """Fresh bus settings: a new SQLite file, or a unique topic prefix on the real broker."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    if backend == "embedded":
        return BusSettings(
            backend="embedded",
            topic_prefix=prefix,
            embedded=EmbeddedSettings(
                path=tmp_path / "bus.sqlite3",
                partitions=3,
                session_timeout_ms=3000,
                heartbeat_interval_ms=300,
                poll_interval_ms=20,
            ),
        )
    opts: dict[str, object] = dict(
        bootstrap_servers=kafka_bootstrap(),
        partitions=3,
        metadata_max_age_ms=500,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
        linger_ms=5,
    )
    opts.update(kafka)
    return BusSettings(backend="kafka", topic_prefix=prefix, kafka=KafkaSettings(**opts))  # type: ignore[arg-type]


@pytest.fixture(params=["embedded", "kafka"])
def any_bus(request: pytest.FixtureRequest, tmp_path: Path) -> BusSettings:
    return bus_for(request.param, tmp_path)


PYTHON = sys.executable


@pytest.fixture(scope="session")
def snmpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpd]:
    """Debian's net-snmp ``snmpd`` on a loopback port for the session, configured by
    :mod:`tests.support.snmpd`: v1/v2c community plus one USM user per v3
    combination tested.  Skips, saying how to install it, where it is absent."""
    if not os.path.exists(SNMPD):
        pytest.skip(f"{SNMPD} not installed (scripts/setup.sh system, or apt-get install snmpd)")
    agent = Snmpd(tmp_path_factory.mktemp("snmpd"))
    agent.start()
    try:
        yield agent
    finally:
        agent.stop()
