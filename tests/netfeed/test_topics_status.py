"""``netfeed topics plan|apply`` and ``netfeed status`` as a user runs them,
on the embedded bus and on the real Kafka test broker."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
import yaml

from netfeed.simulator.network import SimulatedNetwork
from tests.netfeed.test_cli import anetfeed, netfeed
from tests.support.collect_proc import closed_udp_port
from tests.support.pipeline import write_network

BOOTSTRAP = os.environ.get("NETFEED_KAFKA_BOOTSTRAP")


def config(tmp: Path, backend: str, **extra: object) -> str:
    prefix = f"tp{uuid.uuid4().hex[:8]}"
    bus: dict[str, object] = {"backend": backend, "topic_prefix": prefix}
    if backend == "kafka":
        if not BOOTSTRAP:
            pytest.skip("NETFEED_KAFKA_BOOTSTRAP not set")
        bus["kafka"] = {"bootstrap_servers": BOOTSTRAP, "partitions": 3}
    else:
        bus["embedded"] = {"path": str(tmp / "bus.db")}
    doc = {"bus": bus, **extra}
    (tmp / "netfeed.yaml").write_text(yaml.safe_dump(doc))
    return prefix


def plan_lines(out: str) -> dict[str, tuple[str, str]]:
    rows = {}
    for line in out.splitlines():
        action, topic, *detail = line.split(maxsplit=2)
        rows[topic] = (action, detail[0] if detail else "")
    return rows


@pytest.mark.parametrize("backend", ["embedded", "kafka"])
def test_topics_plan_then_apply_creates_what_the_configuration_needs(
    tmp_path: Path, backend: str
) -> None:
    prefix = config(
        tmp_path,
        backend,
        applications={"reachability": {"networks": ["*"]}, "threshold-alerts": {"networks": ["*"]}},
    )
    (tmp_path / "alerts.yaml").write_text("rules: []\n")
    cfg = yaml.safe_load((tmp_path / "netfeed.yaml").read_text())
    cfg["applications"]["threshold-alerts"]["rules_file"] = "alerts.yaml"
    (tmp_path / "netfeed.yaml").write_text(yaml.safe_dump(cfg))
    write_network(tmp_path, "tx", [{"id": "d1", "port": 1, "community": "public"}])
    r = netfeed("topics", "plan", "--config", str(tmp_path))
    assert r.returncode == 1, r.stderr
    rows = plan_lines(r.stdout)
    want = {
        f"{prefix}.tx.interfaces",
        f"{prefix}.tx.system",
        f"{prefix}.tx.quarantine",
        f"{prefix}.alerts",
        f"{prefix}.state",
    }
    if backend == "kafka":
        want.add(f"{prefix}.control-tx")
    assert want <= set(rows), r.stdout
    assert all(a == "create" for a, _d in rows.values()), r.stdout
    if backend == "kafka":
        assert rows[f"{prefix}.control-tx"][1] == "16 partitions"  # the shards
    r = netfeed("topics", "apply", "--config", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert all(a == "ok" for a, _d in plan_lines(r.stdout).values()), r.stdout
    r = netfeed("topics", "plan", "--config", str(tmp_path))
    assert r.returncode == 0 and "create" not in r.stdout, r.stdout


def test_topics_on_kafka_alter_retention_and_report_partition_drift(tmp_path: Path) -> None:
    prefix = config(tmp_path, "kafka")
    write_network(tmp_path, "ty", [{"id": "d1", "port": 1, "community": "public"}])
    assert netfeed("topics", "apply", "--config", str(tmp_path)).returncode == 0
    cfg = yaml.safe_load((tmp_path / "netfeed.yaml").read_text())
    cfg["bus"]["kafka"]["retention_hours"] = 2
    cfg["bus"]["kafka"]["partitions"] = 5
    (tmp_path / "netfeed.yaml").write_text(yaml.safe_dump(cfg))
    (tmp_path / "networks" / "ty.yaml").write_text(
        (tmp_path / "networks" / "ty.yaml").read_text()
        + "datasets: {interfaces: {interval_s: 60}}\n"
    )
    r = netfeed("topics", "plan", "--config", str(tmp_path))
    rows = plan_lines(r.stdout)
    assert r.returncode == 1
    assert rows[f"{prefix}.ty.interfaces"] == (
        "drift",
        "3 partitions, the configuration says 5",
    ), r.stdout
    cfg["bus"]["kafka"]["partitions"] = 3
    (tmp_path / "netfeed.yaml").write_text(yaml.safe_dump(cfg))
    r = netfeed("topics", "plan", "--config", str(tmp_path))
    rows = plan_lines(r.stdout)
    assert rows[f"{prefix}.ty.interfaces"] == ("alter", "retention.ms 604800000 -> 7200000"), (
        r.stdout
    )
    r = netfeed("topics", "apply", "--config", str(tmp_path))
    assert r.returncode == 0, r.stdout
    assert plan_lines(r.stdout)[f"{prefix}.ty.interfaces"][0] == "ok"


@pytest.mark.parametrize("backend", ["embedded", "kafka"])
async def test_status_shows_cycles_failing_devices_and_application_lag(
    tmp_path: Path, backend: str
) -> None:
    prefix = config(
        tmp_path,
        backend,
        applications={"reachability": {"networks": ["*"], "datasets": ["interfaces"]}},
    )
    if backend == "kafka":
        cfg = yaml.safe_load((tmp_path / "netfeed.yaml").read_text())
        cfg["bus"]["spool"] = {"path": "spool"}
        (tmp_path / "netfeed.yaml").write_text(yaml.safe_dump(cfg))
    async with SimulatedNetwork("st", 2, seed=9, base_port=0, n_interfaces=2) as sim:
        devices: list[dict[str, object]] = [
            {"id": d.device_id, "port": sim.port(d.device_id), "community": "public"}
            for d in sim.devices
        ]
        devices.append({"id": "st-dead", "port": closed_udp_port(), "community": "public"})
        net = write_network(tmp_path, "st", devices, timeout_s=0.3, retries=0, deadline_s=1)
        net.write_text(net.read_text() + "datasets: {interfaces: {interval_s: 60}}\n")
        code, _o, err = await anetfeed("collect", "--config", str(tmp_path), "--once")
        assert code == 0, err
    group = f"reach-{prefix}"  # the broker is shared: a group of this test's own
    code, _o, err = await anetfeed(
        "app", "run", "reachability", "--config", str(tmp_path), "--duration", "8", "--group", group
    )
    assert code == 0, err
    code, out, err = await anetfeed("status", "--config", str(tmp_path), "--json")
    assert code == 0, err
    data = json.loads(out)
    (cycle,) = data["networks"]["st"]["interfaces"]["cycles"]
    assert (cycle["devices_planned"], cycle["devices_ok"], cycle["records"]) == (3, 2, 4)
    assert set(data["networks"]["st"]["interfaces"]["failing"]) == {"st-dead"}
    # a shared broker holds other deployments' groups: only this prefix's show
    assert all(
        p["topic"].startswith(f"{prefix}.") for g in data["applications"] for p in g["partitions"]
    ), data["applications"]
    apps = [g for g in data["applications"] if g["group"] == group]
    assert len(apps) == 1, data["applications"]
    app = apps[0]
    assert {(r["network"], r["dataset"]) for r in app["lag_by_network"]} >= {("st", "interfaces")}
    assert all(r["lag"] == 0 for r in app["lag_by_network"])  # it read and committed all
    code, text, err = await anetfeed("status", "--config", str(tmp_path))
    assert code == 0, err
    assert "2/3 ok" in text and "failing st-dead:" in text and f"application {group}" in text
