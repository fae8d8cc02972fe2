"""Prometheus metrics (netfeed/metrics.py) and JSON logs (netfeed/logs.py):
the collector's hooks on their own, then real ``netfeed collect`` and
``netfeed app run`` processes scraped over HTTP on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
import urllib.request
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from collectors.driver import PollOutcome
from netfeed.metrics import CollectorMetrics
from netfeed.simulator.network import SimulatedNetwork
from tests.support import messages
from tests.support.collect_proc import closed_udp_port
from tests.support.pipeline import write_network

ROOT = Path(__file__).resolve().parents[2]


def test_a_cycles_outcomes_and_marker_become_the_right_series() -> None:
    reg = CollectorRegistry()
    m = CollectorMetrics(reg)
    m.outcome("n", "interfaces", PollOutcome("d1", "ok", values_read=40))
    m.outcome("n", "interfaces", PollOutcome("d2", "timed_out", error="no answer"))
    marker = messages.marker(5, 12, devices=3)
    marker.devices_ok, marker.devices_timed_out, marker.devices_skipped = 1, 1, 1
    marker.duration_ms = 2500
    m.marker(marker)
    m.marker(messages.marker(6, 0))  # a second cycle
    skipped = messages.marker(7, 0)
    skipped.tick_skipped = "previous cycle still running"
    m.marker(skipped)

    def value(name: str, **labels: str) -> float | None:
        return reg.get_sample_value(name, {"network": "n", "dataset": "interfaces", **labels})

    assert value("netfeed_collector_device_polls_total", status="ok") == 1
    assert value("netfeed_collector_device_polls_total", status="timed_out") == 1
    assert value("netfeed_collector_device_polls_total", status="skipped") == 1
    assert value("netfeed_collector_values_read_total") == 40
    assert value("netfeed_collector_records_total") == 12
    assert value("netfeed_collector_cycles_total") == 2
    assert value("netfeed_collector_ticks_skipped_total") == 1
    assert value("netfeed_collector_cycle_duration_seconds_sum") == 2.5 + 0.001
    assert value("netfeed_collector_cycle_devices", status="ok") == 4  # the latest cycle's
    seen = reg.get_sample_value(
        "netfeed_collector_device_last_success_timestamp_seconds", {"network": "n", "device": "d1"}
    )
    assert seen is not None and abs(seen - time.time()) < 60
    assert (
        reg.get_sample_value(
            "netfeed_collector_device_last_success_timestamp_seconds",
            {"network": "n", "device": "d2"},
        )
        is None
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def scrape(
    port: int, want: str, timeout_s: float = 30
) -> dict[str, list[tuple[dict[str, str], float]]]:
    """The samples on ``/metrics`` once ``want`` has a sample above 0 (fails after ``timeout_s``)."""
    end = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < end:
        try:
            last = await asyncio.to_thread(
                lambda: (
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)
                    .read()
                    .decode()
                )
            )
        except OSError:
            await asyncio.sleep(0.3)
            continue
        out: dict[str, list[tuple[dict[str, str], float]]] = {}
        for fam in text_string_to_metric_families(last):
            for s in fam.samples:
                out.setdefault(s.name, []).append((s.labels, s.value))
        if any(v > 0 for _l, v in out.get(want, [])):
            return out
        await asyncio.sleep(0.3)
    raise AssertionError(f"{want} not above 0 within {timeout_s} s:\n{last[-3000:]}")


async def start(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "netfeed.cli",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_a_running_collector_serves_its_metrics_and_logs_json(tmp_path: Path) -> None:
    (tmp_path / "netfeed.yaml").write_text(
        yaml.safe_dump(
            {
                "bus": {"backend": "embedded", "embedded": {"path": str(tmp_path / "bus.db")}},
                "logging": {"format": "json"},
            }
        )
    )
    port = free_port()
    async with SimulatedNetwork("mx", 2, seed=3, base_port=0, n_interfaces=2) as sim:
        devices: list[dict[str, object]] = [
            {"id": d.device_id, "port": sim.port(d.device_id), "community": "public"}
            for d in sim.devices
        ]
        devices.append({"id": "mx-dead", "port": closed_udp_port(), "community": "public"})
        net = write_network(tmp_path, "mx", devices, timeout_s=0.3, retries=0, deadline_s=1)
        net.write_text(net.read_text() + "datasets: {interfaces: {interval_s: 2}}\n")
        proc = await start(
            "collect", "--config", str(tmp_path), "--duration", "12", "--metrics-port", str(port)
        )
        try:
            got = await scrape(port, "netfeed_collector_cycles_total")
        finally:
            _out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()[-3000:]

    def one(name: str, **labels: str) -> float:
        (v,) = [v for lab, v in got[name] if all(lab.get(k) == x for k, x in labels.items())]
        return v

    assert one("netfeed_collector_cycle_devices", network="mx", status="ok") == 2
    assert (
        one("netfeed_collector_cycle_devices", network="mx", status="failed")
        + one("netfeed_collector_cycle_devices", network="mx", status="timed_out")
        == 1
    )
    # 2 devices x 2 interfaces in every cycle
    assert one("netfeed_collector_records_total", network="mx") == 4 * one(
        "netfeed_collector_cycles_total", network="mx"
    )
    assert one("netfeed_collector_values_read_total", network="mx") > 0
    assert one("netfeed_collector_publish_seconds_count", network="mx") >= 2
    last = {
        lab["device"] for lab, _v in got["netfeed_collector_device_last_success_timestamp_seconds"]
    }
    assert last == {d.device_id for d in sim.devices}

    lines = [json.loads(x) for x in err.decode().splitlines() if x.startswith("{")]
    assert lines, err.decode()[-2000:]
    dead = [x for x in lines if x.get("device") == "mx-dead"]
    assert dead and all(x["network"] == "mx" and x["dataset"] == "interfaces" for x in dead)
    assert {"ts", "level", "logger", "message"} <= set(dead[0])


async def test_an_application_serves_its_counters_and_its_groups_lag(tmp_path: Path) -> None:
    (tmp_path / "netfeed.yaml").write_text(
        yaml.safe_dump(
            {
                "bus": {"backend": "embedded", "embedded": {"path": str(tmp_path / "bus.db")}},
                "metrics": {"lag_interval_s": 1},
                "applications": {
                    "interface-utilisation": {
                        "networks": ["*"],
                        "output": str(tmp_path / "u.csv"),
                    }
                },
            }
        )
    )
    async with SimulatedNetwork("ap", 2, seed=4, base_port=0, n_interfaces=2) as sim:
        devices: list[dict[str, object]] = [
            {"id": d.device_id, "port": sim.port(d.device_id), "community": "public"}
            for d in sim.devices
        ]
        write_network(tmp_path, "ap", devices)
        collect = await start("collect", "--config", str(tmp_path), "--once")
        _o, err = await asyncio.wait_for(collect.communicate(), 60)
        assert collect.returncode == 0, err.decode()
    port = free_port()
    proc = await start(
        "app",
        "run",
        "interface-utilisation",
        "--config",
        str(tmp_path),
        "--duration",
        "10",
        "--metrics-port",
        str(port),
    )
    try:
        got = await scrape(port, "netfeed_app_messages_total")
        for _ in range(40):  # the lag is read from the bus every second
            if "netfeed_app_lag_messages" in got:
                break
            await asyncio.sleep(0.3)
            got = await scrape(port, "netfeed_app_messages_total")
    finally:
        _out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()[-3000:]
    ((labels, handled),) = got["netfeed_app_messages_total"]
    assert labels == {"app": "interface-utilisation"} and handled >= 4
    lags = {(lab["network"], lab["dataset"]) for lab, _v in got["netfeed_app_lag_messages"]}
    assert ("ap", "interfaces") in lags


def test_replicas_sharing_a_namespace_take_the_next_free_port_of_the_range() -> None:
    import pytest

    from netfeed.metrics import MetricsError, port_range, serve

    assert port_range("9464") == (9464, 9464) and port_range("9464-9479") == (9464, 9479)
    with pytest.raises(ValueError):
        port_range("9479-9464")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = int(taken.getsockname()[1])
        reg = CollectorRegistry()
        server = None
        for nxt in range(busy + 1, busy + 50):  # a free neighbour
            try:
                server = serve(reg, "127.0.0.1", (busy, nxt))
                break
            except MetricsError:
                continue
        assert server is not None and server.server_port != busy
        server.shutdown()
        server.server_close()
        with pytest.raises(MetricsError, match=f"no free port in {busy}-{busy}"):
            serve(reg, "127.0.0.1", (busy, busy))
