"""The NETCONF driver against the in-process SSH server: persistent sessions, reconnect
backoff, the handshake cap, every device problem an outcome (never an exception),
partial records, a whole collector cycle, and the network file's ``netconf:`` options."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bus.datasets import validate
from collectors.config import ConfigError, Device, load_network
from collectors.netconf.driver import NetconfDriver
from collectors.netconf.options import NetconfDriverSettings, NetconfOptions
from collectors.registry import registry_from_entry_points
from collectors.service import Collector
from collectors.settings import CollectorSettings
from tests.collectors.test_cycle import ListSink
from tests.support.netconf_server import IETF_IF, RECORDINGS, Blackhole, NetconfServer

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(
        not RECORDINGS.is_dir(),
        reason=f"NETCONF recordings not found at {RECORDINGS} (../shared/recordings/netconf)",
    ),
]
PW_ENV = "NETFEED_TEST_NC_PW"


@pytest.fixture
async def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[NetconfServer]:
    async with NetconfServer(tmp_path / "srv") as srv:
        monkeypatch.setenv(PW_ENV, srv.password)
        yield srv


def device(srv: NetconfServer, ident: str = "r1", **opts: object) -> Device:
    base: dict[str, object] = {
        "port": srv.port,
        "username": srv.username,
        "password": f"env:{PW_ENV}",
        "known_hosts": srv.known_hosts_path,
        "connect_timeout_s": 5,
        "rpc_timeout_s": 2,
        "device_deadline_s": 10,
    }
    base.update(opts)
    return Device(
        network="lab",
        id=ident,
        host="127.0.0.1",
        tags={"site": "lab"},
        options={"netconf": NetconfOptions.model_validate(base)},
    )


def driver(**settings: object) -> NetconfDriver:
    return NetconfDriver(NetconfDriverSettings.model_validate(settings))


def test_registered_as_the_netconf_entry_point() -> None:
    assert registry_from_entry_points().get("netconf") is NetconfDriver


async def test_poll_gives_interface_records(server: NetconfServer) -> None:
    d = driver()
    out = await d.poll(device(server), "interfaces", 1_000, "c1")
    await d.stop()
    assert out.status == "ok", out.error
    assert [r.tags["if_name"] for r in out.records] == ["GigabitEthernet1"]
    r = out.records[0]
    validate(r)
    assert (r.profile, r.dataset, r.cycle_id, r.scheduled_unix_ms) == (
        "ietf",
        "interfaces",
        "c1",
        1000,
    )
    assert r.provenance.protocol == "netconf" and not r.partial
    assert (
        "get interfaces" in r.provenance.sources and "get interfaces-state" in r.provenance.sources
    )
    assert r.fields["admin_status"] == "up" and r.tags["site"] == "lab"
    assert out.values_read > 0
    assert b"<close-session/>" in server.requests[-1]  # stop() closed the session


async def test_key_auth_from_a_file_reference(server: NetconfServer) -> None:
    d = driver()
    dev = device(server, password=None, private_key=f"file:{server.client_key_path}")
    out = await d.poll(dev, "interfaces", 0, "c")
    await d.stop()
    assert out.status == "ok", out.error


async def test_wrong_password_fails_clearly_without_the_secret(
    server: NetconfServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # asyncssh's debug logging included
    monkeypatch.setenv(PW_ENV, "s3cr3t-but-wrong")
    d = driver()
    out = await d.poll(device(server), "interfaces", 0, "c")
    monkeypatch.setenv(PW_ENV, server.password)
    ok = await d.poll(device(server, "r2"), "interfaces", 0, "c")
    await d.stop()
    assert out.status == "failed" and ok.status == "ok"
    assert out.error is not None and "authentication refused" in out.error
    assert "s3cr3t" not in out.error and server.sessions == 1
    assert caplog.records  # something was logged, and no password in it
    assert "s3cr3t" not in caplog.text and server.password not in caplog.text


async def test_unknown_host_key_refused_unless_checking_is_off(server: NetconfServer) -> None:
    d = driver(backoff_base_s=0)
    bad = device(server, known_hosts=server.wrong_known_hosts_path)
    out = await d.poll(bad, "interfaces", 0, "c")
    assert out.status == "failed" and "host key not verifiable" in (out.error or "")
    off = device(server, "r2", known_hosts=server.wrong_known_hosts_path, host_key_check=False)
    out = await d.poll(off, "interfaces", 0, "c")
    await d.stop()
    assert out.status == "ok", out.error


async def test_closed_port_fails_and_backs_off(server: NetconfServer) -> None:
    await server.kill()
    d = driver(backoff_base_s=30)
    out = await d.poll(device(server), "interfaces", 0, "c")
    assert out.status == "failed" and "cannot connect" in (out.error or "")
    t0 = time.monotonic()
    again = await d.poll(device(server), "interfaces", 0, "c")
    assert time.monotonic() - t0 < 0.1  # fails fast while backing off, naming the reason
    assert "reconnecting in" in (again.error or "") and "cannot connect" in (again.error or "")
    assert d.handshakes == 1
    await d.stop()


async def test_one_session_serves_many_polls(server: NetconfServer) -> None:
    d = driver()
    dev = device(server)
    outs = [await d.poll(dev, "interfaces", i, f"c{i}") for i in range(4)]
    await d.stop()
    assert all(o.status == "ok" for o in outs)
    assert server.sessions == 1 and d.handshakes == 1


async def test_changed_options_open_a_new_session(
    server: NetconfServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NETFEED_TEST_NC_PW2", server.password)
    d = driver()
    assert (await d.poll(device(server), "interfaces", 0, "c")).status == "ok"
    assert (await d.poll(device(server), "interfaces", 0, "c")).status == "ok"
    moved = device(server, password="env:NETFEED_TEST_NC_PW2")
    assert (await d.poll(moved, "interfaces", 0, "c")).status == "ok"
    await d.stop()
    assert d.handshakes == 2 and server.sessions == 2


async def test_server_killed_mid_session_then_reestablished_after_backoff(
    server: NetconfServer,
) -> None:
    d = driver(backoff_base_s=0.5, backoff_jitter=0)
    dev = device(server)
    assert (await d.poll(dev, "interfaces", 0, "c")).status == "ok"
    await server.kill()
    lost = await d.poll(dev, "interfaces", 0, "c")
    assert lost.status == "failed", lost
    await server.start()  # back on the same port
    early = await d.poll(dev, "interfaces", 0, "c")
    assert early.status == "failed" and "reconnecting in" in (early.error or "")
    await asyncio.sleep(0.6)
    back = await d.poll(dev, "interfaces", 0, "c")
    await d.stop()
    assert back.status == "ok", back.error
    assert server.sessions == 2 and d.handshakes == 2


async def test_hang_mid_reply_is_timed_out_and_the_session_replaced(server: NetconfServer) -> None:
    d = driver(backoff_base_s=0)
    dev = device(server, rpc_timeout_s=0.5)
    assert (await d.poll(dev, "interfaces", 0, "c")).status == "ok"
    server.fault = "hang"
    t0 = time.monotonic()
    out = await d.poll(dev, "interfaces", 0, "c")
    assert time.monotonic() - t0 < 1.5
    assert out.status == "timed_out" and "abandoned" in (out.error or "")
    assert (await d.poll(dev, "interfaces", 0, "c")).status == "ok"
    await d.stop()
    assert server.sessions == 2


async def test_the_device_deadline_ends_a_poll_and_its_session(server: NetconfServer) -> None:
    d = driver(backoff_base_s=0)
    dev = device(server, rpc_timeout_s=30, device_deadline_s=0.5)
    assert (await d.poll(dev, "interfaces", 0, "c")).status == "ok"
    server.fault = "hang"
    t0 = time.monotonic()
    out = await d.poll(dev, "interfaces", 0, "c")
    assert time.monotonic() - t0 < 1.5
    assert out.status == "timed_out" and "no complete answer within 0.5s" in (out.error or "")
    assert (await d.poll(dev, "interfaces", 0, "c")).status == "ok"  # a new session
    await d.stop()
    assert server.sessions == 2


async def test_rpcs_in_flight_are_capped(server: NetconfServer) -> None:
    server.reply_delay_s = 0.1
    d = driver(max_rpcs_in_flight=2)
    outs = await asyncio.gather(
        *(d.poll(device(server, f"r{i}"), "interfaces", 0, "c") for i in range(5))
    )
    await d.stop()
    assert all(o.status == "ok" for o in outs), [o.error for o in outs]
    assert server.max_answering == 2


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ("garbage", "bad chunk header"),
        ("huge", "over the 100000-octet limit"),
        ("rpc-error", "device answered rpc-error: application/operation-failed: simulated failure"),
    ],
)
async def test_device_problems_are_outcomes(server: NetconfServer, fault: str, words: str) -> None:
    server.fault, server.huge_octets = fault, 300_000
    d = driver()
    out = await d.poll(device(server, max_reply_octets=100_000), "interfaces", 0, "c")
    await d.stop()
    assert out.status == "failed" and words in (out.error or ""), out.error


LAB_PROFILE = """\
name: lab
protocol: netconf
extends: [_ietf-interfaces]
capabilities: ['urn:example:lab']
datasets:
  interfaces:
    requests:
      - get: '<interfaces xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces"/>'
      - rpc: get-lab-extra
        args: {brief: true, slot: 3}
    tables:
      interfaces:
        rows: interfaces/interface
        key: name
        fields: {if_alias: {path: description}}
"""


async def test_records_read_before_a_failure_are_kept_partial(tmp_path: Path) -> None:
    site = tmp_path / "profiles"
    site.mkdir()
    (site / "lab.yaml").write_text(LAB_PROFILE)
    async with NetconfServer(tmp_path / "srv", capabilities=[IETF_IF, "urn:example:lab"]) as srv:
        srv.fault, srv.fault_match = "rpc-error", b"get-lab-extra"
        d = NetconfDriver(NetconfDriverSettings(), [site])
        out = await d.poll(
            device(srv, password=None, private_key=f"file:{srv.client_key_path}"),
            "interfaces",
            0,
            "c",
        )
        await d.stop()
    assert out.status == "failed" and "simulated failure" in (out.error or "")
    assert b"<get-lab-extra><brief/><slot>3</slot></get-lab-extra>" in srv.requests[1]
    assert [r.profile for r in out.records] == ["lab"]
    r = out.records[0]
    assert r.partial and any("simulated failure" in m for m in r.missing)
    assert r.provenance.sources[-1] == "get interfaces"  # what was read, not what failed


async def test_no_matching_profile_names_capabilities(tmp_path: Path) -> None:
    async with NetconfServer(tmp_path, capabilities=["urn:example:odd-model"]) as srv:
        d = driver()
        out = await d.poll(
            device(srv, password=None, private_key=f"file:{srv.client_key_path}"),
            "interfaces",
            0,
            "c",
        )
        await d.stop()
    assert out.status == "failed"
    assert "no NETCONF profile matches" in (out.error or "") and "urn:example:odd-model" in (
        out.error or ""
    )


async def test_handshakes_are_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with NetconfServer(tmp_path, hello_delay_s=0.2) as srv:
        monkeypatch.setenv(PW_ENV, srv.password)
        d = driver(max_handshakes=2)
        devs = [device(srv, f"r{i}") for i in range(6)]
        outs = await asyncio.gather(*(d.poll(x, "interfaces", 0, "c") for x in devs))
        await d.stop()
    assert all(o.status == "ok" for o in outs), [o.error for o in outs]
    assert srv.sessions == 6
    assert srv.max_handshaking == 2  # seen by the server: never more, and the cap is used
    assert d.max_handshakes_seen == 2


NETWORK = """\
network: lab
protocol: netconf
defaults:
  netconf:
    port: {port}
    username: netfeed
    password: env:{env}
    known_hosts: {known}
    rpc_timeout_s: 5
  tags: {{site: lab}}
groups:
  lenient: {{netconf: {{host_key_check: false, known_hosts: /nonexistent}}}}
devices:
  - {{id: r1, host: 127.0.0.1}}
  - {{id: r2, host: 127.0.0.1, groups: [lenient]}}
  - {{id: r3, host: 127.0.0.1, netconf: {{private_key: 'file:{key}'}}}}
datasets:
  interfaces: {{interval_s: 60}}
"""


def network_file(tmp_path: Path, srv: NetconfServer) -> Path:
    path = tmp_path / "lab.yaml"
    path.write_text(
        NETWORK.format(
            port=srv.port, env=PW_ENV, known=srv.known_hosts_path, key=srv.client_key_path
        )
    )
    return path


async def test_network_file_options_load(server: NetconfServer, tmp_path: Path) -> None:
    net = load_network(network_file(tmp_path, server))
    assert net.datasets["interfaces"].protocol == "netconf"
    o1, o2, o3 = (dv.options["netconf"] for dv in net.devices)
    assert isinstance(o1, NetconfOptions) and o1.host_key_check and o1.port == server.port
    assert o1.known_hosts == server.known_hosts_path and o1.password == f"env:{PW_ENV}"
    assert o2.host_key_check is False
    assert o3.private_key == f"file:{server.client_key_path}"
    bad = tmp_path / "bad.yaml"
    bad.write_text(network_file(tmp_path, server).read_text().replace(f"env:{PW_ENV}", "hunter2"))
    with pytest.raises(ConfigError) as exc:
        load_network(bad)
    assert any(
        "password" in p and "inline secrets are not accepted" in p for p in exc.value.problems
    )
    assert "hunter2" not in str(exc.value)


async def test_a_collector_cycle_over_three_devices(server: NetconfServer, tmp_path: Path) -> None:
    net = load_network(network_file(tmp_path, server))
    sink = ListSink()
    d = NetconfDriver()
    async with Collector([net], CollectorSettings(instance_id="t"), sink, {"netconf": d}) as c:
        (marker,) = await c.run_once()
        (again,) = await c.run_once()
    assert marker.devices_ok == 3 and again.devices_ok == 3, (marker.failures, again.failures)
    assert sorted(r.device for r in sink.records) == ["r1", "r1", "r2", "r2", "r3", "r3"]
    for r in sink.records:
        validate(r)
        assert r.dataset == "interfaces" and r.provenance.protocol == "netconf"
    assert server.sessions == 3  # two cycles, one session per device
    assert not d.sessions  # the collector stopped the driver, which closed them


async def test_key_passphrase_from_an_env_reference(
    server: NetconfServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = server.folder / "client_key.encrypted"
    key.write_bytes(server.client_key.export_private_key("openssh", "tr0ub4dor&3"))
    monkeypatch.setenv("NETFEED_TEST_NC_PHRASE", "tr0ub4dor&3")
    d = driver(backoff_base_s=0)
    opts = {"password": None, "private_key": f"file:{key}"}
    ok = await d.poll(
        device(server, private_key_passphrase="env:NETFEED_TEST_NC_PHRASE", **opts),
        "interfaces",
        0,
        "c",
    )
    assert ok.status == "ok", ok.error
    monkeypatch.setenv("NETFEED_TEST_NC_PHRASE", "correct-staple-wrong")
    bad = await d.poll(
        device(server, "r2", private_key_passphrase="env:NETFEED_TEST_NC_PHRASE", **opts),
        "interfaces",
        0,
        "c",
    )
    missing = await d.poll(device(server, "r3", **opts), "interfaces", 0, "c")
    await d.stop()
    assert bad.status == "failed" and "private_key_passphrase" in (bad.error or "")
    assert "wrong passphrase" in (bad.error or "") and "Traceback" not in (bad.error or "")
    assert missing.status == "failed" and "give private_key_passphrase" in (missing.error or "")
    for secret in ("tr0ub4dor", "correct-staple"):
        assert secret not in (bad.error or "") and secret not in caplog.text
    unset = device(server, "r4", private_key_passphrase="env:NETFEED_TEST_NC_UNSET", **opts)
    out = await driver().poll(unset, "interfaces", 0, "c")
    assert out.status == "failed" and "netconf.private_key_passphrase" in (out.error or "")


def test_passphrase_needs_a_private_key() -> None:
    with pytest.raises(ValueError, match="private_key_passphrase is given without private_key"):
        NetconfOptions.model_validate(
            {"username": "u", "password": "env:X", "private_key_passphrase": "env:Y"}
        )
    assert (
        NetconfOptions.model_validate({"username": "u", "password": "env:X"}).keepalive_interval_s
        == 30
    )


async def test_keepalive_marks_a_silent_device_dead_between_cycles(server: NetconfServer) -> None:
    d = driver(backoff_base_s=30)
    async with Blackhole(server.port) as hole:
        dev = device(
            server,
            port=hole.port,
            host_key_check=False,
            keepalive_interval_s=0.2,
            keepalive_count_max=2,
        )
        assert (await d.poll(dev, "interfaces", 0, "c")).status == "ok"
        hole.freeze()
        t0 = time.monotonic()
        await asyncio.wait_for(d.sessions["r1"].wait_ended(), 5)
        assert time.monotonic() - t0 < 2  # noticed with no poll running
        out = await d.poll(dev, "interfaces", 0, "c")
        assert out.status == "failed" and "not responding to keepalive" in (out.error or "")
        await d.stop()


async def test_retain_closes_the_sessions_of_devices_no_longer_configured(
    server: NetconfServer,
) -> None:
    d = driver(backoff_base_s=30)
    r1, r2 = device(server, "r1"), device(server, "r2")
    for dev in (r1, r2):
        assert (await d.poll(dev, "interfaces", 0, "c")).status == "ok"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    gone = device(server, "gone", port=closed_port)
    assert (await d.poll(gone, "interfaces", 0, "c")).status == "failed"  # backing off now
    assert "gone" in d._backoff
    gone = device(server, "gone")
    s1, s2 = d.sessions["r1"], d.sessions["r2"]
    await d.retain({"r1"})
    assert set(d.sessions) == {"r1"} and s1.alive
    assert not s2.alive and b"<close-session/>" in server.requests[-1]  # closed politely
    for table in (d._locks, d._backoff, d._opened_with):
        assert set(table) <= {"r1"}
    # a device configured again starts afresh: no stale backoff
    assert (await d.poll(gone, "interfaces", 0, "c")).status == "ok"
    await d.retain(set())
    assert d.sessions == {} and not s1.alive
    await d.stop()


async def test_retain_waits_for_a_session_being_opened(tmp_path: Path) -> None:
    async with NetconfServer(tmp_path, hello_delay_s=0.3) as srv:
        d = driver()
        dev = device(srv, "slow", password=None, private_key=f"file:{srv.client_key_path}")
        poll = asyncio.create_task(d.poll(dev, "interfaces", 0, "c"))
        await asyncio.sleep(0.1)  # handshaking
        await d.retain(set())
        await poll
        assert d.sessions == {} and d._locks == {}
        await d.stop()


async def test_the_base_driver_retain_is_a_no_op() -> None:
    from collectors.driver import Driver

    class Plain(Driver):
        name = "plain"

    await Plain().retain({"x"})
