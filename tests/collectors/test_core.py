"""The collector core is protocol-neutral: drivers plug in, limits nest, nothing names SNMP."""

from __future__ import annotations

import subprocess
import sys
import time
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from bus.datasets import validate
from collectors.config import load_network
from collectors.registry import DriverRegistry, RegistryError, registry_from_entry_points
from collectors.service import Collector
from collectors.settings import CollectorSettings
from collectors.snmp.driver import SnmpDriver
from tests.collectors.test_cycle import ListSink
from tests.support.echo_driver import EchoDriver

CORE = [
    "collectors",
    "collectors.backoff",
    "collectors.config",
    "collectors.cycle",
    "collectors.driver",
    "collectors.inventory",
    "collectors.profiles",
    "collectors.profiles.compiled",
    "collectors.publish",
    "collectors.registry",
    "collectors.service",
    "collectors.settings",
    "collectors.values",
]


def test_core_import_graph_names_no_protocol() -> None:
    """Importing every core module loads no SNMP code (nor pysnmp/pyasn1)."""
    code = (
        "import importlib, sys\n"
        f"for m in {CORE!r}: importlib.import_module(m)\n"
        "print('\\n'.join(sorted(m for m in sys.modules if 'snmp' in m or m.startswith('pyasn1'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert out == [], f"core modules pull in protocol code: {out}"


def registry() -> DriverRegistry:
    reg = DriverRegistry()
    reg.register(SnmpDriver)
    reg.register(EchoDriver)
    return reg


def test_registry_refuses_a_second_driver_with_the_same_name() -> None:
    reg = registry()
    reg.register(EchoDriver)  # the same class again is no conflict
    clone = type("OtherEcho", (EchoDriver,), {})
    with pytest.raises(RegistryError, match="protocol 'echo' registered twice"):
        reg.register(clone)
    with pytest.raises(RegistryError, match=r"not a subclass of collectors\.driver\.Driver"):
        reg.register(object)  # type: ignore[arg-type]
    with pytest.raises(RegistryError, match="no protocol 'gnmi'; installed: echo, snmp"):
        reg.get("gnmi")


def test_installed_entry_points_give_the_snmp_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    assert registry_from_entry_points().get("snmp") is SnmpDriver
    bad = EntryPoint("telnet", "tests.support.echo_driver:EchoDriver", "netfeed.collectors")
    monkeypatch.setattr("bus.plugins.entry_points", lambda group: [bad])
    with pytest.raises(RegistryError, match="protocol says name 'echo'"):
        registry_from_entry_points()


NETWORK = """\
network: {name}
protocol: echo
defaults: {{echo: {{answer: from-defaults, delay_s: {delay}}}, tags: {{site: lab}}}}
groups:
  loud: {{echo: {{answer: from-group}}}}
devices:
{devices}
datasets:
  system: {{interval_s: 2}}
  interfaces: {{interval_s: 2, protocol: echo}}
collection: {{max_in_flight: {net_limit}, spread: 0.5}}
"""


def echo_network(tmp_path: Path, name: str, n: int, delay: float = 0.0, net_limit: int = 8) -> Path:
    devs = "\n".join(
        f"  - {{id: {name}-{i}, host: 127.0.0.1{', groups: [loud]' if i == 0 else ''}}}"
        for i in range(n)
    )
    path = tmp_path / f"{name}.yaml"
    path.write_text(NETWORK.format(name=name, devices=devs, delay=delay, net_limit=net_limit))
    return path


async def test_a_new_protocol_plugs_in_without_touching_the_core(tmp_path: Path) -> None:
    reg = registry()
    net = load_network(echo_network(tmp_path, "e", 3), reg)
    assert {s.protocol for s in net.datasets.values()} == {"echo"}
    d0 = net.devices[0]
    assert d0.options["echo"].answer == "from-group" and "snmp" not in d0.options
    driver = EchoDriver()
    sink = ListSink()
    async with Collector([net], CollectorSettings(instance_id="t"), sink, {"echo": driver}) as c:
        assert driver.running  # the collector starts the drivers it is given ...
        markers = await c.run_once()
    assert not driver.running  # ... and stops them
    assert sorted(m.dataset for m in markers) == ["interfaces", "system"]
    assert all(m.devices_ok == 3 for m in markers)
    system = [r for r in sink.records if r.dataset == "system"]
    for r in system:
        validate(r)
    answers = {r.device: r.fields["sys_descr"] for r in system}
    assert answers == {"e-0": "from-group", "e-1": "from-defaults", "e-2": "from-defaults"}


async def test_limits_nest_process_then_network_shared_by_its_datasets(tmp_path: Path) -> None:
    """Process limit 10, network limit 8, 3 networks x 2 datasets x 8 devices."""
    reg = registry()
    nets = [load_network(echo_network(tmp_path, f"n{i}", 8, 0.1, 8), reg) for i in range(3)]
    driver = EchoDriver()
    coll = Collector(
        nets, CollectorSettings(instance_id="t", max_in_flight=10), ListSink(), {"echo": driver}
    )
    markers = await coll.run_once()
    await coll.stop()
    assert len(markers) == 6 and all(m.devices_ok == 8 for m in markers)
    assert driver.max_total == 10  # the process limit holds, and is used
    assert max(driver.max_in_flight.values()) <= 8  # each network's two datasets share 8


async def test_network_limit_is_shared_by_its_datasets(tmp_path: Path) -> None:
    reg = registry()
    net = load_network(echo_network(tmp_path, "one", 6, 0.1, 4), reg)
    driver = EchoDriver()
    coll = Collector([net], CollectorSettings(instance_id="t"), ListSink(), {"echo": driver})
    await coll.run_once()
    await coll.stop()
    assert driver.max_in_flight["one"] == 4  # not 4 per dataset


async def test_run_once_does_not_change_the_spread_of_later_cycles(tmp_path: Path) -> None:
    reg = registry()
    net = load_network(echo_network(tmp_path, "s", 12), reg)
    driver = EchoDriver()
    coll = Collector([net], CollectorSettings(instance_id="t"), ListSink(), {"echo": driver})
    t0 = time.monotonic()
    await coll.run_once(["system"])
    once = [t - t0 for (_d, ds), t in driver.started.items() if ds == "system"]
    assert max(once) < 0.3  # one-shot: no spreading
    assert coll.networks["s"].collection.spread == 0.5
    t1 = time.monotonic()
    await coll.cycle("s", "interfaces")  # a scheduled cycle: spread over 0.5 x 2 s
    later = [t - t1 for (_d, ds), t in driver.started.items() if ds == "interfaces"]
    await coll.stop()
    assert max(later) > 0.4, later


def test_a_dataset_with_an_unknown_protocol_is_refused(tmp_path: Path) -> None:
    from collectors.config import ConfigError

    path = echo_network(tmp_path, "u", 1)
    path.write_text(path.read_text().replace("protocol: echo}", "protocol: gnmi}"))
    with pytest.raises(ConfigError) as exc:
        load_network(path, registry())
    assert exc.value.problems == [
        f"{path}:10: datasets.interfaces.protocol: unknown protocol 'gnmi'; installed: echo, snmp"
    ]


def test_options_of_another_protocol_are_validated_by_its_driver(tmp_path: Path) -> None:
    from collectors.config import ConfigError

    path = echo_network(tmp_path, "v", 1)
    path.write_text(path.read_text().replace("answer: from-defaults, ", "answr: typo, "))
    with pytest.raises(ConfigError) as exc:
        load_network(path, registry())
    assert any(
        "defaults.echo.answr: Extra inputs are not permitted" in p for p in exc.value.problems
    )


class BrokenDriver(EchoDriver):
    """Echo, except that it raises on devices whose id ends in -1."""

    async def poll(self, device, dataset, scheduled_unix_ms, cycle_id):  # type: ignore[no-untyped-def]
        if device.id.endswith("-1"):
            raise KeyError("a driver bug")
        return await super().poll(device, dataset, scheduled_unix_ms, cycle_id)


async def test_a_driver_that_raises_fails_that_device_only(tmp_path: Path) -> None:
    net = load_network(echo_network(tmp_path, "b", 3), registry())
    sink = ListSink()
    coll = Collector([net], CollectorSettings(instance_id="t"), sink, {"echo": BrokenDriver()})
    (marker, *_) = await coll.run_once(["system"])
    await coll.stop()
    assert (marker.devices_ok, marker.devices_failed) == (2, 1)
    assert marker.failures == {"b-1": "failed: KeyError: 'a driver bug'"}
    assert sorted(r.device for r in sink.records) == ["b-0", "b-2"]
