"""The ncclient session layer (``client: ncclient``): the same records as the asyncssh
layer from the same replies (the in-process test server and the simulator's Junos,
ietf and OpenConfig devices), and the same clear, timely failures (wrong password,
unknown host key, closed port, a server silent or hanging mid-reply or hanging up)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from pydantic import ValidationError

from bus.records import Record
from collectors.config import Device
from collectors.netconf.driver import NetconfDriver
from collectors.netconf.ncclient_session import NcclientSession, host_lines, rpc_element
from collectors.netconf.options import NetconfDriverSettings, NetconfOptions, NetconfOverrides
from collectors.netconf.session import (
    NetconfAuthError,
    NetconfHostKeyError,
    NetconfSession,
    NetconfSessionError,
    NetconfTimeout,
    SessionParams,
)
from netfeed.simulator.netconf import SimulatedNetconfNetwork
from tests.support.netconf_server import RECORDINGS, NetconfServer

pytestmark = pytest.mark.timeout(60)
PW_ENV = "NETFEED_TEST_NCC_PW"
IF_FILTER = '<interfaces xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces"/>'
needs_recordings = pytest.mark.skipif(
    not RECORDINGS.is_dir(), reason=f"NETCONF recordings not found at {RECORDINGS}"
)


@pytest.fixture
async def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[NetconfServer]:
    async with NetconfServer(tmp_path / "srv") as srv:
        monkeypatch.setenv(PW_ENV, srv.password)
        yield srv


def params(srv: NetconfServer, **kw: object) -> SessionParams:
    base: dict[str, object] = {
        "host": "127.0.0.1",
        "port": srv.port,
        "username": srv.username,
        "password": srv.password,
        "known_hosts": srv.known_hosts_path,
        "connect_timeout_s": 5.0,
        "rpc_timeout_s": 2.0,
    }
    base.update(kw)
    return SessionParams(**base)  # type: ignore[arg-type]


def device(port: int, known_hosts: Path, ident: str = "r1", **opts: object) -> Device:
    base: dict[str, object] = {
        "port": port,
        "username": "netfeed",
        "password": f"env:{PW_ENV}",
        "known_hosts": known_hosts,
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


def comparable(records: list[Record]) -> list[dict[str, object]]:
    """A record without what differs between two reads of the same reply (read times)."""
    out = []
    for r in records:
        d = msgspec.structs.asdict(r)
        for k in ("request_unix_ms", "response_unix_ms"):
            d.pop(k, None)
        out.append(d)
    return out


def ncclient_threads() -> int:
    """ncclient's and paramiko's threads (the executor's workers are not counted)."""
    return sum(
        1 for t in threading.enumerate() if not t.name.startswith(("ncclient", "Main", "asyncio"))
    )


# the session ------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [True, False])
async def test_session_hello_rpc_and_close(tmp_path: Path, chunked: bool) -> None:
    before = ncclient_threads()
    async with NetconfServer(tmp_path, chunked=chunked) as srv:
        async with NcclientSession(params(srv)) as s:
            assert s.alive and s.session_id == "1"
            assert any("ietf-interfaces" in c for c in s.capabilities)
            reply = await s.rpc("<get-something/>")
            assert b"get-something/></echo>" in reply and reply.startswith(b"<rpc-reply")
            assert await s.get(xpath="/a[b='<x>']")
            assert b"select=\"/a[b='&lt;x&gt;']\"" in srv.requests[-1]
        assert not s.alive and s.failure == "session closed"
        assert b"close-session/>" in srv.requests[-1]  # closed politely
    with pytest.raises(NetconfSessionError, match="session closed"):
        await s.rpc("<x/>")
    assert ncclient_threads() == before  # ncclient's and paramiko's threads are gone


async def test_key_auth(server: NetconfServer) -> None:
    key = server.client_key_path.read_text()
    async with NcclientSession(params(server, password=None, private_key=key)) as s:
        assert b"echo" in await s.rpc("<k/>")
    with pytest.raises(NetconfAuthError, match="not a readable key"):
        await NcclientSession(params(server, password=None, private_key="junk")).start()


@needs_recordings
async def test_the_reply_bytes_are_the_servers_as_with_asyncssh(server: NetconfServer) -> None:
    async with NetconfSession(params(server)) as a:
        via_asyncssh = await a.get(IF_FILTER)
    async with NcclientSession(params(server)) as n:
        via_ncclient = await n.get(IF_FILTER)
    assert b"GigabitEthernet1" in via_ncclient
    # the envelope differs in its message-id only
    assert via_ncclient.split(b">", 1)[1] == via_asyncssh.split(b">", 1)[1]
    # ncclient put the body in the base namespace, as the asyncssh layer does
    assert b'<nc:filter type="subtree"><interfaces xmlns=' in server.requests[-2]


async def test_wrong_password_is_a_clear_failure_without_the_secret(
    server: NetconfServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # ncclient's and paramiko's debug logging included
    with pytest.raises(NetconfAuthError) as exc:
        await NcclientSession(params(server, password="hunter2-wrong")).start()
    assert str(exc.value) == f"netfeed@127.0.0.1:{server.port}: authentication refused (password)"
    assert "hunter2" not in repr(exc.value) and "hunter2" not in caplog.text
    assert server.sessions == 0


async def test_key_with_a_passphrase_as_in_the_asyncssh_layer(server: NetconfServer) -> None:
    key = server.client_key.export_private_key("openssh", "open sesame 7").decode()
    good = params(server, password=None, private_key=key, private_key_passphrase="open sesame 7")
    async with NcclientSession(good) as s:
        assert s.alive
    for given, says in (("wrong-42", "wrong passphrase"), (None, "give private_key_passphrase")):
        bad = params(server, password=None, private_key=key, private_key_passphrase=given)
        with pytest.raises(NetconfAuthError, match=says) as exc:
            await NcclientSession(bad).start()
        assert "wrong-42" not in str(exc.value) and "sesame" not in str(exc.value)


async def test_unknown_host_key_refused_by_default_accepted_with_opt_out(
    server: NetconfServer,
) -> None:
    with pytest.raises(NetconfHostKeyError, match="host key not verifiable against"):
        await NcclientSession(params(server, known_hosts=server.wrong_known_hosts_path)).start()
    empty = server.folder / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(NetconfHostKeyError):
        await NcclientSession(params(server, known_hosts=empty)).start()
    with pytest.raises(NetconfHostKeyError, match="does not exist"):
        await NcclientSession(params(server, known_hosts=server.folder / "nope")).start()
    assert server.sessions == 0
    opt_out = params(server, known_hosts=server.wrong_known_hosts_path, host_key_check=False)
    async with NcclientSession(opt_out) as s:
        assert s.alive


async def test_closed_port_fails_fast() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    p = SessionParams("127.0.0.1", port, "u", password="p", host_key_check=False)
    t0 = time.monotonic()
    with pytest.raises(NetconfSessionError, match="cannot connect") as exc:
        await NcclientSession(p).start()
    assert time.monotonic() - t0 < 2
    assert not isinstance(exc.value, NetconfTimeout)


async def test_a_silent_server_times_out_the_connect(tmp_path: Path) -> None:
    async with NetconfServer(tmp_path, hello_delay_s=5) as srv:
        s = NcclientSession(params(srv, connect_timeout_s=0.5))
        t0 = time.monotonic()
        with pytest.raises(NetconfTimeout, match=r"no NETCONF session within 0\.5s"):
            await s.start()
        assert time.monotonic() - t0 < 1.5
        assert not s.alive and s.failure == "connect timed out"


async def test_a_server_hanging_mid_reply_is_abandoned_within_the_rpc_timeout(
    server: NetconfServer,
) -> None:
    before = ncclient_threads()
    s = NcclientSession(params(server, rpc_timeout_s=0.5))
    await s.start()
    assert ncclient_threads() == before + 2  # ncclient's transport thread and paramiko's
    server.fault = "hang"
    t0 = time.monotonic()
    with pytest.raises(NetconfTimeout, match=r"no complete reply within 0\.5s; session abandoned"):
        await s.rpc("<x/>")
    assert time.monotonic() - t0 < 1.5
    assert not s.alive
    with pytest.raises(NetconfSessionError, match="abandoned"):
        await s.rpc("<y/>")  # a dead session is not reused
    assert ncclient_threads() == before  # closed by us: the server still holds it open
    await s.close()


async def test_connection_closed_mid_reply_is_noticed_not_waited_out(
    server: NetconfServer,
) -> None:
    async with NcclientSession(params(server, rpc_timeout_s=5)) as s:
        server.fault = "close"
        t0 = time.monotonic()
        with pytest.raises(NetconfSessionError, match="connection lost") as exc:
            await s.rpc("<x/>")
        assert time.monotonic() - t0 < 1.5
        assert not isinstance(exc.value, NetconfTimeout)
        assert not s.alive and s.failed_at is not None


async def test_a_reply_over_the_limit_is_refused(server: NetconfServer) -> None:
    server.huge_octets = 300_000
    async with NcclientSession(params(server, max_reply_octets=100_000)) as s:
        server.fault = "huge"
        with pytest.raises(NetconfSessionError, match="over the 100000-octet limit"):
            await s.rpc("<x/>")
        assert not s.alive


async def test_replies_are_matched_to_their_rpcs(server: NetconfServer) -> None:
    async with NcclientSession(params(server)) as s:
        slow, fast = await asyncio.gather(s.rpc("<slow-one/>"), s.rpc("<fast-two/>"))
    assert b"slow-one/>" in slow and b"fast-two/>" in fast


def test_rpc_body_in_the_base_namespace() -> None:
    el = rpc_element('<get><filter type="subtree"><a xmlns="urn:x"/></filter></get>')
    assert el.tag == "{urn:ietf:params:xml:ns:netconf:base:1.0}get"
    assert el[0][0].tag == "{urn:x}a"
    with pytest.raises(NetconfSessionError, match="one element"):
        rpc_element("<a/><b/>")


# options and the driver -----------------------------------------------------


def test_options_choose_the_client_and_a_known_device_handler() -> None:
    base = {"username": "u", "password": "env:X"}
    assert NetconfOptions.model_validate(base).client == "asyncssh"
    o = NetconfOptions.model_validate({**base, "client": "ncclient", "ncclient_device": "junos"})
    assert (o.client, o.ncclient_device) == ("ncclient", "junos")
    with pytest.raises(ValidationError, match="unknown ncclient device handler 'junso'"):
        NetconfOptions.model_validate({**base, "client": "ncclient", "ncclient_device": "junso"})
    with pytest.raises(ValidationError):
        NetconfOptions.model_validate({**base, "client": "paramiko"})
    with pytest.raises(ValidationError, match="unknown ncclient device handler"):
        NetconfOverrides.model_validate({"ncclient_device": "cisco"})


@needs_recordings
async def test_driver_poll_gives_the_same_records_with_either_client(
    server: NetconfServer,
) -> None:
    d = NetconfDriver(NetconfDriverSettings())
    port, known = server.port, server.known_hosts_path
    a = await d.poll(device(port, known, "ra"), "interfaces", 1_000, "c1")
    n = await d.poll(device(port, known, "rn", client="ncclient"), "interfaces", 1_000, "c1")
    again = await d.poll(device(port, known, "rn", client="ncclient"), "interfaces", 2_000, "c2")
    assert isinstance(d.sessions["rn"], NcclientSession)
    assert isinstance(d.sessions["ra"], NetconfSession)
    await d.stop()
    assert a.status == n.status == again.status == "ok", (a.error, n.error, again.error)
    assert n.records and [r.tags["if_name"] for r in n.records] == ["GigabitEthernet1"]
    for r in a.records:
        r.device = "rn"
    assert comparable(n.records) == comparable(a.records)
    assert n.values_read == a.values_read
    assert d.handshakes == 2 and server.sessions == 2  # the ncclient session persisted


async def test_driver_ncclient_failures_are_outcomes(
    server: NetconfServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = NetconfDriver(NetconfDriverSettings(backoff_base_s=0))
    port, known = server.port, server.known_hosts_path
    bad_key = await d.poll(
        device(port, server.wrong_known_hosts_path, "k", client="ncclient"), "interfaces", 0, "c"
    )
    assert bad_key.status == "failed" and "host key not verifiable" in (bad_key.error or "")
    dev = device(port, known, "h", client="ncclient", rpc_timeout_s=0.5)
    assert (await d.poll(dev, "interfaces", 0, "c")).status == "ok"
    server.fault = "rpc-error"
    out = await d.poll(dev, "interfaces", 0, "c")
    assert out.status == "failed" and "device answered rpc-error" in (out.error or "")
    server.fault = "hang"
    t0 = time.monotonic()
    out = await d.poll(dev, "interfaces", 0, "c")
    assert time.monotonic() - t0 < 1.5
    assert out.status == "timed_out" and "abandoned" in (out.error or "")
    back = await d.poll(dev, "interfaces", 0, "c")  # a new session
    monkeypatch.setenv(PW_ENV, "wrong")
    wrong = await d.poll(device(port, known, "w", client="ncclient"), "interfaces", 0, "c")
    await d.stop()
    assert back.status == "ok", back.error
    assert wrong.status == "failed" and "authentication refused" in (wrong.error or "")


@pytest.fixture
async def sim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SimulatedNetconfNetwork]:
    net = SimulatedNetconfNetwork(
        "nc",
        3,
        seed=5,
        n_interfaces=6,
        kinds=["juniper-junos", "cisco-ios", "arista-eos"],
        flavours=["junos", "ietf", "openconfig"],
        password="sim pw",
    )
    async with net:
        net.write_known_hosts(tmp_path / "known_hosts")
        monkeypatch.setenv(PW_ENV, net.password)
        for d, agent in zip(net.devices, net.agents, strict=True):
            t = d.boot_time + 86_400.0
            agent.clock = lambda t=t: t  # the same counters for both reads
        yield net


@pytest.mark.parametrize(
    ("i", "profile", "handler"),
    [
        (0, "junos", "junos"),
        (0, "junos", "default"),
        (1, "ietf", "default"),
        (2, "openconfig", "default"),
    ],
)
async def test_simulated_devices_give_the_same_records_through_either_client(
    sim: SimulatedNetconfNetwork, tmp_path: Path, i: int, profile: str, handler: str
) -> None:
    port = sim.port(sim.devices[i].device_id)
    known = tmp_path / "known_hosts"
    d = NetconfDriver(NetconfDriverSettings())
    a = await d.poll(device(port, known, "a"), "interfaces", 1_000, "c1")
    n = await d.poll(
        device(port, known, "n", client="ncclient", ncclient_device=handler),
        "interfaces",
        1_000,
        "c1",
    )
    await d.stop()
    assert a.status == "ok" and n.status == "ok", (a.error, n.error)
    assert len(n.records) == 6 and {r.profile for r in n.records} == {profile}
    for r in a.records:
        r.device = "n"
    assert comparable(n.records) == comparable(a.records)


def test_known_hosts_lines_for_one_host(tmp_path: Path) -> None:
    """ncclient is given only the host's lines (paramiko loads known_hosts quadratically)."""
    salt = b"0123456789abcdefghij"
    digest = hmac.new(salt, b"[10.0.0.9]:830", hashlib.sha1).digest()
    hashed = f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"
    path = tmp_path / "known_hosts"
    path.write_text(
        "# a comment\n"
        "[10.0.0.1]:830 ssh-ed25519 AAAA1\n"
        "[10.0.0.2]:830,other ssh-ed25519 AAAA2\n"
        "10.0.0.2 ssh-ed25519 AAAA3\n"
        f"{hashed} ssh-ed25519 AAAA4\n"
        "@cert-authority * ssh-ed25519 AAAA5\n"
        "[10.0.0.2]:831 ssh-ed25519 AAAA6\n"
    )
    assert host_lines(str(path), "10.0.0.2", 830) == (
        "[10.0.0.2]:830,other ssh-ed25519 AAAA2\n10.0.0.2 ssh-ed25519 AAAA3\n"
    )
    assert host_lines(str(path), "10.0.0.9", 830) == f"{hashed} ssh-ed25519 AAAA4\n"
    assert host_lines(str(path), "10.0.0.2", 22) == "10.0.0.2 ssh-ed25519 AAAA3\n"
    assert host_lines(str(path), "10.0.0.3", 830) == ""
