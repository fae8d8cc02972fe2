"""The NETCONF session over SSH against the in-process server (tests/support/netconf_server.py):
authentication, host keys, hellos and both framings, message-id matching, and
every way a server can misbehave ending the session with a clear error in time."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from collectors.netconf.session import (
    Framer,
    FramingError,
    NetconfAuthError,
    NetconfHostKeyError,
    NetconfSession,
    NetconfSessionError,
    NetconfTimeout,
    SessionParams,
    frame,
)
from tests.support.netconf_server import RECORDINGS, Blackhole, NetconfServer

pytestmark = pytest.mark.timeout(30)
IF_FILTER = '<interfaces xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces"/>'


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[NetconfServer]:
    async with NetconfServer(tmp_path / "srv") as srv:
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


@pytest.mark.parametrize("chunked", [True, False])
async def test_password_session_hello_and_framing(tmp_path: Path, chunked: bool) -> None:
    async with NetconfServer(tmp_path, chunked=chunked) as srv:
        async with NetconfSession(params(srv)) as s:
            assert s.chunked is chunked  # base:1.1 only when both hellos say so
            assert any("ietf-interfaces" in c for c in s.capabilities)
            assert s.session_id == "1"
            reply = await s.rpc("<get-something/>")
            assert b"<echo><get-something/></echo>" in reply
            assert (
                await s.get(xpath="/a[b='<x>']")
                and b"select=\"/a[b='&lt;x&gt;']\"" in (srv.requests[-1])
            )
        assert b"<close-session/>" in srv.requests[-1]  # closed politely


async def test_key_auth(server: NetconfServer) -> None:
    key = server.client_key_path.read_text()
    async with NetconfSession(params(server, password=None, private_key=key)) as s:
        assert b"echo" in await s.rpc("<k/>")


async def test_wrong_password_is_a_clear_failure_without_the_secret(
    server: NetconfServer,
) -> None:
    with pytest.raises(NetconfAuthError) as exc:
        await NetconfSession(params(server, password="hunter2-wrong")).start()
    assert "authentication refused" in str(exc.value)
    assert "hunter2" not in str(exc.value) and "hunter2" not in repr(exc.value)
    assert "hunter2" not in repr(params(server, password="hunter2-wrong"))


async def test_unknown_host_key_refused_by_default_accepted_with_opt_out(
    server: NetconfServer,
) -> None:
    with pytest.raises(NetconfHostKeyError, match="host key not verifiable"):
        await NetconfSession(params(server, known_hosts=server.wrong_known_hosts_path)).start()
    empty = server.folder / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(NetconfHostKeyError):
        await NetconfSession(params(server, known_hosts=empty)).start()
    assert server.sessions == 0
    opt_out = params(server, known_hosts=server.wrong_known_hosts_path, host_key_check=False)
    async with NetconfSession(opt_out) as s:
        assert s.alive


async def test_closed_port_fails_fast() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    p = SessionParams("127.0.0.1", port, "u", password="p", host_key_check=False)
    t0 = time.monotonic()
    with pytest.raises(NetconfSessionError, match="cannot connect"):
        await NetconfSession(p).start()
    assert time.monotonic() - t0 < 2


async def test_a_silent_server_times_out_the_connect(tmp_path: Path) -> None:
    async with NetconfServer(tmp_path, hello_delay_s=5) as srv:
        t0 = time.monotonic()
        with pytest.raises(NetconfTimeout, match=r"no NETCONF session within 0\.5s"):
            await NetconfSession(params(srv, connect_timeout_s=0.5)).start()
        assert time.monotonic() - t0 < 2


async def test_replies_are_matched_by_message_id(server: NetconfServer) -> None:
    """The slow request's reply arrives after the fast one's: each caller gets its own."""
    async with NetconfSession(params(server)) as s:
        slow, fast = await asyncio.gather(s.rpc("<slow-one/>"), s.rpc("<fast-two/>"))
    assert b"<slow-one/>" in slow and b"<fast-two/>" in fast


async def test_a_server_hanging_mid_reply_is_abandoned_within_the_rpc_timeout(
    server: NetconfServer,
) -> None:
    s = NetconfSession(params(server, rpc_timeout_s=0.5))
    await s.start()
    server.fault = "hang"
    t0 = time.monotonic()
    with pytest.raises(NetconfTimeout, match=r"no complete reply within 0\.5s; session abandoned"):
        await s.rpc("<x/>")
    assert time.monotonic() - t0 < 1.5
    assert not s.alive
    with pytest.raises(NetconfSessionError, match="abandoned"):
        await s.rpc("<y/>")  # a dead session is not reused
    await s.close()


async def test_broken_framing_is_a_clear_error(server: NetconfServer) -> None:
    async with NetconfSession(params(server)) as s:
        server.fault = "garbage"
        with pytest.raises(NetconfSessionError, match="bad chunk header"):
            await s.rpc("<x/>")
        assert not s.alive


async def test_a_reply_over_the_limit_is_refused(server: NetconfServer) -> None:
    server.huge_octets = 300_000
    async with NetconfSession(params(server, max_reply_octets=100_000)) as s:
        server.fault = "huge"
        with pytest.raises(NetconfSessionError, match="over the 100000-octet limit"):
            await s.rpc("<x/>")


async def test_connection_closed_mid_reply(server: NetconfServer) -> None:
    async with NetconfSession(params(server)) as s:
        server.fault = "close"
        t0 = time.monotonic()
        with pytest.raises(NetconfSessionError) as exc:
            await s.rpc("<x/>")
        assert time.monotonic() - t0 < 1.5
        assert not isinstance(exc.value, NetconfTimeout)  # noticed, not waited out


@pytest.mark.skipif(not RECORDINGS.is_dir(), reason=f"no recordings at {RECORDINGS}")
async def test_get_returns_the_recorded_reply_with_our_message_id(server: NetconfServer) -> None:
    async with NetconfSession(params(server)) as s:
        await s.rpc("<warm-up/>")
        reply = await s.get(IF_FILTER)
    assert b'message-id="2"' in reply and b"GigabitEthernet1" in reply
    assert b'<filter type="subtree">' in server.requests[-2]


def test_framer_chunked_and_eom() -> None:
    f = Framer(1000, chunked=True)
    data = frame(b"<a/>", True) + b"\n#3\n<b/\n#1\n>\n##\n"
    out: list[bytes] = []
    for i in range(len(data)):  # byte by byte: every split point
        out += f.feed(data[i : i + 1])
    assert out == [b"<a/>", b"<b/>"]
    e = Framer(1000)
    assert e.feed(b"<a/>]]>]]><b") == [b"<a/>"] and e.feed(b"/>]]>]]>") == [b"<b/>"]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\n#0\n", "bad chunk header"),
        (b"\n#-1\nxx", "bad chunk header"),
        (b"<rpc-reply>", "bad chunk header"),
        (b"\n#99999999999\n", "bad chunk header"),
        (b"\n#2000\n", "over the 1000-octet limit"),
        (b"\n##\n", "end-of-chunks marker without any chunk"),
    ],
)
def test_framer_refuses_bad_chunks(data: bytes, words: str) -> None:
    with pytest.raises(FramingError, match=words):
        Framer(1000, chunked=True).feed(data)


@pytest.mark.skipif(not RECORDINGS.is_dir(), reason=f"no recordings at {RECORDINGS}")
def test_framer_reads_the_recorded_netopeer2_transcript() -> None:
    """The chunked reply of a real server (scrapligo's netopeer2 session transcript)."""
    text = (RECORDINGS / "ietf_session-transcript-get_scrapligo-netopeer2.txt").read_bytes()
    text = text.replace(b"\r\n", b"\n")
    start, end = text.find(b"\n#"), text.rfind(b"\n##\n") + 4
    msgs = Framer(1 << 20, chunked=True).feed(text[start:end])
    assert len(msgs) == 2 and len(msgs[0]) > 70_000 and b"<ok/>" in msgs[1]  # get, close
    assert msgs[0].lstrip().startswith(b"<") and msgs[0].rstrip().endswith(b"rpc-reply>")


async def test_key_with_a_passphrase(server: NetconfServer) -> None:
    key = server.client_key.export_private_key("openssh", "open sesame 7").decode()
    p = params(server, password=None, private_key=key, private_key_passphrase="open sesame 7")
    async with NetconfSession(p) as s:
        assert b"echo" in await s.rpc("<k/>")
    assert "open sesame" not in repr(p)


@pytest.mark.parametrize("given", ["wrong-phrase-42", None])
async def test_a_wrong_or_missing_passphrase_is_a_clear_failure(
    server: NetconfServer, given: str | None
) -> None:
    key = server.client_key.export_private_key("openssh", "open sesame 7").decode()
    p = params(server, password=None, private_key=key, private_key_passphrase=given)
    with pytest.raises(NetconfAuthError, match="private_key_passphrase") as exc:
        await NetconfSession(p).start()
    assert "wrong-phrase" not in str(exc.value) and "sesame" not in str(exc.value)
    assert server.sessions == 0


async def test_keepalive_notices_a_silent_peer_between_rpcs(server: NetconfServer) -> None:
    """No RPC in flight: the dead peer is noticed by keepalives alone, in bounded time."""
    async with Blackhole(server.port) as hole:
        p = params(server, port=hole.port, host_key_check=False)
        p = dataclasses.replace(p, keepalive_interval_s=0.2, keepalive_count_max=2)
        async with NetconfSession(p) as s:
            assert b"echo" in await s.rpc("<k/>")
            await asyncio.sleep(0.6)
            assert s.alive  # keepalives answered: an idle session stays up
            hole.freeze()
            t0 = time.monotonic()
            await asyncio.wait_for(s.wait_ended(), 5)
            assert not s.alive
            assert time.monotonic() - t0 < 2
            assert s.failure is not None and "keepalive" in s.failure
            with pytest.raises(NetconfSessionError, match="keepalive"):
                await s.rpc("<k/>")


async def test_keepalive_off(server: NetconfServer) -> None:
    async with Blackhole(server.port) as hole:
        p = params(server, port=hole.port, host_key_check=False)
        async with NetconfSession(dataclasses.replace(p, keepalive_interval_s=0)) as s:
            hole.freeze()
            await asyncio.sleep(0.5)
            assert s.alive  # nobody asks: nothing is noticed
