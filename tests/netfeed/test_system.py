"""One place builds the running system from a configuration folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from netfeed.cli import main
from netfeed.demo import write_config
from netfeed.system import ConfigProblems, load_system

ROOT = Path(__file__).resolve().parents[2]

SITE_PROFILE = """\
name: {name}
extends: [linux]
sysobjectid: [1.3.6.1.4.1.99999.1]
datasets:
  {dataset}:
    tables:
      extra:
        index_tag: if_index
        fields:
          {field}: {{oid: 1.3.6.1.4.1.99999.2.1}}
"""


@pytest.fixture
def configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped configs/, with one site profile."""
    cfg = tmp_path / "configs"
    shutil.copytree(ROOT / "configs", cfg)
    (cfg / "profiles" / "acme_box.yaml").write_text(
        SITE_PROFILE.format(name="acme_box", dataset="interfaces", field="in_octets")
    )
    monkeypatch.setenv("NETFEED_SNMP_COMMUNITY", "public")
    monkeypatch.delenv("NETFEED_BUS_PATH", raising=False)
    monkeypatch.delenv("NETFEED_BUS", raising=False)
    return cfg


def test_a_site_profile_validates_and_reaches_the_driver(
    configs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(configs)]) == 0, capsys.readouterr().err
    system = load_system(configs)
    assert system.profile_dirs == [configs / "profiles"]
    snmp = system.make_drivers()["snmp"]
    assert "acme_box" in snmp.profiles.profiles  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("dataset", "field", "key"),
    [
        ("interfaces", "in_octetz", "datasets.interfaces.tables.extra.fields.in_octetz"),
        ("widgets", "in_octets", "datasets.widgets: unknown dataset 'widgets'"),
    ],
)
def test_a_profile_off_the_record_contract_is_refused(
    configs: Path, capsys: pytest.CaptureFixture[str], dataset: str, field: str, key: str
) -> None:
    bad = configs / "profiles" / "acme_box.yaml"
    bad.write_text(SITE_PROFILE.format(name="acme_box", dataset=dataset, field=field))
    assert main(["validate", str(configs)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}: {key}" in err


def test_relative_paths_are_taken_from_the_config_folder(
    configs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    system = load_system(Path(os.path.relpath(configs, elsewhere)))
    base = Path(os.path.relpath(configs, elsewhere))
    assert system.bus.embedded.path == base.parent / "var" / "netfeed-bus.sqlite3"
    assert system.collector.profiles_dir == base / "profiles"
    assert system.profile_dirs  # found from another working directory
    app = system.make_app("interface-utilisation")
    assert app.cfg.output == base.parent / "var" / "interface-utilisation.csv"  # type: ignore[attr-defined]


def test_every_problem_of_every_file_is_reported_at_once(configs: Path) -> None:
    (configs / "netfeed.yaml").write_text(
        "collector: {max_in_flight: 0, drivers: {snmp: {engine: warp}, gnmi: {}}}\n"
        "bus: {kafka: {partitions: 0}}\n"
    )
    (configs / "networks" / "lab-east.yaml").write_text("network: lab-east\nprotocol: telnet\n")
    with pytest.raises(ConfigProblems) as exc:
        load_system(configs, check_all=True)
    text = "\n".join(exc.value.problems)
    for words in (
        "collector.max_in_flight",
        "bus.kafka.partitions",
        "lab-east.yaml:2: protocol: unknown protocol 'telnet'",
    ):
        assert words in text, (words, text)


def test_driver_settings_are_checked_by_the_driver(configs: Path) -> None:
    (configs / "netfeed.yaml").write_text(
        "collector: {drivers: {snmp: {engine: warp}, gnmi: {}}}\n"
    )
    with pytest.raises(ConfigProblems) as exc:
        load_system(configs)
    text = "\n".join(exc.value.problems)
    assert "collector.drivers.snmp.engine" in text
    assert "collector.drivers.gnmi: no such protocol driver; installed: netconf, snmp" in text


def test_the_demo_uses_the_operators_site_profiles(configs: Path, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "demo", [], 5.0, configs / "profiles")
    (cfg / "networks" / "x.yaml").write_text(
        "network: x\ndevices: [{id: a, host: 127.0.0.1, snmp: {community: env:X}}]\n"
    )
    system = load_system(cfg)
    assert "acme_box" in system.make_drivers()["snmp"].profiles.profiles  # type: ignore[attr-defined]
    assert system.bus.embedded.path == tmp_path / "demo" / "bus.sqlite3"


def test_collect_publishes_through_the_quality_gate(configs: Path) -> None:
    from collectors.publish import DryRunPublisher, Publisher
    from collectors.quality import BusQuarantine, DryRunQuarantine, QualityGate

    system = load_system(configs)
    dry = system.make_sink(None)
    assert isinstance(dry, QualityGate)
    assert isinstance(dry.sink, DryRunPublisher) and isinstance(dry.quarantine, DryRunQuarantine)
    real = system.make_sink(object())  # type: ignore[arg-type]
    assert isinstance(real.sink, Publisher) and isinstance(real.quarantine, BusQuarantine)
    assert real.settings == system.collector.quality


def test_a_deployment_sets_replication_through_the_environment(
    configs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NETFEED_KAFKA_REPLICATION_FACTOR", "3")
    assert load_system(configs).bus.kafka.replication_factor == 3
    monkeypatch.setenv("NETFEED_KAFKA_REPLICATION_FACTOR", "three")
    assert main(["validate", str(configs)]) == 1
    err = capsys.readouterr().err
    assert "environment NETFEED_KAFKA_REPLICATION_FACTOR: bus.kafka.replication_factor" in err
