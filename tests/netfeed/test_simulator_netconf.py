"""The simulated NETCONF devices read through the real NetconfDriver: profiles match by
hello, records are schema-valid, counters advance with time (real rates), both framings,
host keys verified through the written known_hosts, fault modes are device problems."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest

from bus.datasets import validate
from collectors.config import Device
from collectors.netconf.driver import NetconfDriver
from collectors.netconf.options import NetconfDriverSettings, NetconfOptions
from netfeed.simulator.interfaces import M64
from netfeed.simulator.netconf import NetconfAgent, SimulatedNetconfNetwork, junos_interfaces

pytestmark = pytest.mark.timeout(60)
PW_ENV = "NETFEED_TEST_NCSIM_PW"
NC = "urn:ietf:params:xml:ns:netconf:base:1.0"


class Clock:
    """A settable read time for the agents (so counter deltas are exact)."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
async def net(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> AsyncIterator[SimulatedNetconfNetwork]:
    chunked = getattr(request, "param", True)
    sim = SimulatedNetconfNetwork(
        "nc",
        3,
        seed=3,
        n_interfaces=4,
        kinds=["juniper-junos", "cisco-ios", "arista-eos"],
        flavours=["junos", "ietf", "openconfig"],
        chunked=chunked,
        password="s3cret pw",
    )
    async with sim:
        sim.write_known_hosts(tmp_path / "known_hosts")
        monkeypatch.setenv(PW_ENV, sim.password)
        yield sim


def device(sim: SimulatedNetconfNetwork, i: int, known_hosts: Path, **opts: object) -> Device:
    d = sim.devices[i]
    base: dict[str, object] = {
        "port": sim.port(d.device_id),
        "username": sim.username,
        "password": f"env:{PW_ENV}",
        "known_hosts": known_hosts,
        "connect_timeout_s": 5,
        "rpc_timeout_s": 2,
        "device_deadline_s": 10,
    }
    base.update(opts)
    return Device(
        network="nc",
        id=d.device_id,
        host="127.0.0.1",
        tags={},
        options={"netconf": NetconfOptions.model_validate(base)},
    )


def driver() -> NetconfDriver:
    return NetconfDriver(NetconfDriverSettings())


def by_name(records: list) -> dict[str, dict]:  # type: ignore[type-arg]
    return {r.tags["if_name"]: r.fields for r in records}


@pytest.mark.parametrize("net", [True, False], ids=["chunked", "eom"], indirect=True)
@pytest.mark.parametrize("i,profile", [(0, "junos"), (1, "ietf"), (2, "openconfig")])
async def test_counters_advance_between_two_polls_through_the_driver(
    net: SimulatedNetconfNetwork, tmp_path: Path, i: int, profile: str
) -> None:
    clock = Clock(net.devices[i].boot_time + 86400.0)
    agent = net.agents[i]
    agent.clock = clock
    dev = device(net, i, tmp_path / "known_hosts")
    drv = driver()
    try:
        first = await drv.poll(dev, "interfaces", 1_000, "c1")
        clock.t += 60.0
        second = await drv.poll(dev, "interfaces", 61_000, "c2")
    finally:
        await drv.stop()
    assert first.status == "ok" and second.status == "ok", (first.error, second.error)
    assert agent.sessions == 1  # one persistent session, both framings
    sim_dev = net.devices[i]
    names = [iface.spec.name for iface in sim_dev.interfaces]
    assert sorted(by_name(first.records)) == sorted(names)
    for rec in first.records + second.records:
        validate(rec)
        assert rec.profile == profile and rec.provenance.protocol == "netconf"
    a, b = by_name(first.records), by_name(second.records)
    moved = 0
    for iface in sim_dev.interfaces:
        f0, f1 = a[iface.spec.name], b[iface.spec.name]
        assert f0["speed_bps"] == iface.spec.speed_bps
        assert f0["oper_status"] == ("up" if iface.oper_up else "down")
        # exactly the simulator's counters: the rate over the minute is the modelled one
        assert f0["in_octets"] == iface.in_octets(clock.t - 60.0)
        assert f1["in_octets"] == iface.in_octets(clock.t)
        assert f1["out_octets"] >= f0["out_octets"]
        if iface.oper_up:
            assert f1["in_octets"] > f0["in_octets"]
            moved += 1
    assert moved >= 1


async def test_counters_wrap_at_64_bits(net: SimulatedNetconfNetwork) -> None:
    dev = net.devices[0]
    iface = max(dev.interfaces, key=lambda i: i.in_bps if i.oper_up else 0.0)
    t = dev.boot_time + 1000.0
    iface.acc_in = 0.0
    iface.acc_in = float(M64 - 2**20) - iface.in_octets_total(t)  # 1 MiB before the wrap
    before = iface.in_octets(t)
    after = iface.in_octets(t + 600.0)
    assert before > M64 - 2**21 and after < before  # wrapped, like a real counter64
    assert f"<input-bytes>{after}</input-bytes>" in junos_interfaces(dev, t + 600.0)


async def test_junos_system_dataset(net: SimulatedNetconfNetwork, tmp_path: Path) -> None:
    drv = driver()
    try:
        out = await drv.poll(device(net, 0, tmp_path / "known_hosts"), "system", 1_000, "c1")
    finally:
        await drv.stop()
    assert out.status == "ok", out.error
    (rec,) = out.records
    validate(rec)
    assert rec.tags["sys_name"] == "nc-001" and rec.fields["os_name"] == "Junos"
    assert rec.fields["uptime_ticks"] > 0


@pytest.mark.parametrize("i", [0, 1, 2])
async def test_every_dataset_of_every_flavour_polls_ok(
    net: SimulatedNetconfNetwork, tmp_path: Path, i: int
) -> None:
    """No dataset of a matched profile makes a simulated device fail (BGP: no peers)."""
    drv = driver()
    got = {}
    try:
        for ds in ("system", "interfaces", "bgp", "health"):
            out = await drv.poll(device(net, i, tmp_path / "known_hosts"), ds, 1_000, "c1")
            assert out.status == "ok", (ds, out.error)
            for rec in out.records:
                validate(rec)
            got[ds] = len(out.records)
    finally:
        await drv.stop()
    assert got["interfaces"] == 4 and got["bgp"] == 0
    if net.agents[i].flavour == "junos":
        assert got["system"] == 1 and got["health"] == 2  # RE CPU and memory


async def test_wrong_password_and_wrong_host_key_are_refused(
    net: SimulatedNetconfNetwork, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other_known_hosts"
    stranger = NetconfAgent(net.devices[0])
    async with stranger:
        other.write_text(
            stranger.known_hosts_line().replace(str(stranger.port), str(net.agents[0].port)) + "\n"
        )
    drv = driver()
    try:
        bad_key = await drv.poll(device(net, 0, other), "interfaces", 1_000, "c1")
    finally:
        await drv.stop()
    assert bad_key.status != "ok"
    monkeypatch.setenv(PW_ENV, "wrong")
    drv = driver()
    try:
        bad_pw = await drv.poll(device(net, 1, tmp_path / "known_hosts"), "interfaces", 1_000, "c1")
    finally:
        await drv.stop()
    assert bad_pw.status != "ok" and "wrong" not in (bad_pw.error or "")


@pytest.mark.parametrize("fault", ["rpc-error", "garbage", "hang"])
async def test_fault_modes_are_device_problems(
    net: SimulatedNetconfNetwork, tmp_path: Path, fault: str
) -> None:
    dev = device(net, 1, tmp_path / "known_hosts", rpc_timeout_s=1, device_deadline_s=3)
    net.set_fault(dev.id, fault)
    drv = driver()
    try:
        out = await asyncio.wait_for(drv.poll(dev, "interfaces", 1_000, "c1"), 20)
    finally:
        await drv.stop()
    assert out.status != "ok" and not out.records
    net.set_fault(dev.id, None)
    drv = driver()
    try:
        healed = await drv.poll(dev, "interfaces", 2_000, "c2")
    finally:
        await drv.stop()
    assert healed.status == "ok", healed.error


@pytest.mark.parametrize("client_11", [True, False], ids=["chunked", "eom"])
async def test_requests_sent_with_the_client_hello_are_answered(
    net: SimulatedNetconfNetwork, tmp_path: Path, client_11: bool
) -> None:
    """A client hello and its first request in one write: the request is framed as the
    hellos decide (a client that does not wait must not be left hanging)."""
    agent = net.agents[1]
    caps = "<capability>urn:ietf:params:netconf:base:1.0</capability>" + (
        "<capability>urn:ietf:params:netconf:base:1.1</capability>" if client_11 else ""
    )
    hello = f'<hello xmlns="{NC}"><capabilities>{caps}</capabilities></hello>'.encode()
    rpc = (
        f'<rpc message-id="7" xmlns="{NC}"><get><filter type="subtree">'
        '<interfaces xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces"/></filter></get></rpc>'
    ).encode()
    framed = b"\n#%d\n%s\n##\n" % (len(rpc), rpc) if client_11 else rpc + b"]]>]]>"
    async with asyncssh.connect(
        "127.0.0.1",
        agent.port,
        username=net.username,
        password=net.password,
        known_hosts=str(tmp_path / "known_hosts"),
    ) as conn:
        proc = await conn.create_process(subsystem="netconf", encoding=None)
        got = b""
        async with asyncio.timeout(10):
            while b"]]>]]>" not in got:
                got += await proc.stdout.read(65536)
            proc.stdin.write(hello + b"]]>]]>" + framed)
            while b"</rpc-reply>" not in got:
                got += await proc.stdout.read(65536)
    assert b'message-id="7"' in got and b"<in-octets>" in got
    assert (b"\n##\n" in got) == client_11


async def test_cli_serves_netconf_until_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    known_hosts = tmp_path / "known_hosts"
    monkeypatch.setenv("NETFEED_SIM_NETCONF_PASSWORD", "cli pw")
    monkeypatch.setenv(PW_ENV, "cli pw")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "netfeed.simulator", "--netconf", "--devices", "2",
        "--port", "0", "--network", "clinc", "--interfaces", "2",
        "--flavours", "ietf,junos", "--known-hosts", str(known_hosts),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    try:
        async with asyncio.timeout(30):
            header = await proc.stdout.readline()
            rows = [(await proc.stdout.readline()).decode().strip().split(",") for _ in range(2)]
        assert header.decode().strip() == "id,host,port,vendor,flavour"
        assert [(r[0], r[4]) for r in rows] == [("clinc-001", "ietf"), ("clinc-002", "junos")]
        opts = {"port": int(rows[1][2]), "username": "netfeed", "password": f"env:{PW_ENV}"}
        dev = Device(
            network="clinc",
            id="clinc-002",
            host="127.0.0.1",
            tags={},
            options={
                "netconf": NetconfOptions.model_validate({**opts, "known_hosts": known_hosts})
            },
        )
        drv = driver()
        try:
            out = await drv.poll(dev, "interfaces", 1_000, "c1")
        finally:
            await drv.stop()
        assert out.status == "ok", out.error
        assert {r.profile for r in out.records} == {"junos"} and len(out.records) == 2
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            code = await proc.wait()
        err = (await proc.stderr.read()).decode()
        assert code == 0, err
        assert "clinc-002: sessions=1 requests=1" in err
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
