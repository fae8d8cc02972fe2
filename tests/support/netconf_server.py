"""An in-process NETCONF-over-SSH server (asyncssh) for the session and driver tests.

Loopback only, a random free port, a host key generated in a temporary
folder; password and public-key authentication; base:1.0 (``]]>]]>``) or
base:1.1 (chunked) framing as the hellos decide.  Replies are canned: a
request picks a recording of ``../shared/recordings/netconf`` (see
:meth:`NetconfServer.reply_for`), re-enveloped with the request's
``message-id``.  ``fault`` makes the next data RPC (whose body contains ``fault_match``,
when set) misbehave:

- ``hang``: half the reply, then nothing (the connection stays open);
- ``garbage``: a malformed chunk header;
- ``close``: half the reply, then the connection is closed;
- ``rpc-error``: an ``<rpc-error>`` reply;
- ``huge``: a reply of ``huge_octets`` octets.

Requests whose body contains ``slow`` are answered after ``slow_s`` (the
others at once), so replies can overtake each other; an unknown RPC is
answered ``<echo>`` of its body.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path
from xml.sax.saxutils import escape

import asyncssh

RECORDINGS = Path(__file__).resolve().parents[3] / "shared" / "recordings" / "netconf"
NC_BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
BASE_10 = "urn:ietf:params:netconf:base:1.0"
BASE_11 = "urn:ietf:params:netconf:base:1.1"
IETF_IF = "urn:ietf:params:xml:ns:yang:ietf-interfaces?module=ietf-interfaces&revision=2014-05-08"
EOM = b"]]>]]>"
_MID = re.compile(rb"""message-id\s*=\s*["']([^"']*)["']""")
_RPC_BODY = re.compile(rb"<(?:[\w.-]+:)?rpc\b[^>]*>(.*)</(?:[\w.-]+:)?rpc>\s*$", re.S)


def _recording(name: str) -> bytes:
    return (RECORDINGS / name).read_bytes()


def envelope(payload: bytes, mid: bytes) -> bytes:
    """``payload`` (a whole recorded ``<rpc-reply>``, a ``<data>`` or a bare
    payload) as an ``<rpc-reply>`` carrying ``mid``."""
    payload = re.sub(rb"^\s*<\?xml[^>]*\?>\s*", b"", payload)
    if re.match(rb"\s*<(?:[\w.-]+:)?rpc-reply\b", payload):
        head, sep, rest = payload.partition(b">")
        head = re.sub(rb"""\s+message-id\s*=\s*["'][^"']*["']""", b"", head)
        return head + b' message-id="' + mid + b'"' + sep + rest
    return (
        b'<rpc-reply message-id="'
        + mid
        + b'" xmlns="'
        + NC_BASE.encode()
        + b'">'
        + payload
        + b"</rpc-reply>"
    )


class _Deframer:
    def __init__(self) -> None:
        self.buf = bytearray()
        self.chunked = False

    def feed(self, data: bytes) -> list[bytes]:
        self.buf += data
        out = []
        while True:
            if not self.chunked:
                end = self.buf.find(EOM)
                if end < 0:
                    return out
                out.append(bytes(self.buf[:end]))
                del self.buf[: end + len(EOM)]
                continue
            msg, pos = [], 0
            while True:
                m = re.match(rb"\n#(\d+)\n|\n##\n", self.buf[pos:])
                if m is None:
                    return out
                if m.group(1) is None:
                    pos += m.end()
                    break
                size = int(m.group(1))
                start = pos + m.end()
                if len(self.buf) < start + size:
                    return out
                msg.append(bytes(self.buf[start : start + size]))
                pos = start + size
            out.append(b"".join(msg))
            del self.buf[:pos]


class NetconfServer:
    """``await start()``/``await stop()``; ``kill()`` drops every connection and the
    listener (``start()`` again listens on the same port)."""

    def __init__(
        self,
        folder: Path,
        *,
        username: str = "netfeed",
        password: str = "correct horse",
        chunked: bool = True,
        capabilities: list[str] | None = None,
        hello_delay_s: float = 0.0,
        slow_s: float = 0.3,
    ) -> None:
        self.folder = folder
        self.username = username
        self.password = password
        self.chunked = chunked
        self.capabilities = capabilities if capabilities is not None else [IETF_IF]
        self.hello_delay_s = hello_delay_s
        self.slow_s = slow_s
        self.fault: str | None = None
        self.fault_match: bytes | None = None  # only a request whose body contains it
        self.huge_octets = 4 * 1024 * 1024
        self.port = 0
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key = asyncssh.generate_private_key("ssh-ed25519")
        folder.mkdir(parents=True, exist_ok=True)
        self.client_key_path = folder / "client_key"
        self.client_key.write_private_key(str(self.client_key_path))
        self.known_hosts_path = folder / "known_hosts"
        self.wrong_known_hosts_path = folder / "known_hosts.other"
        self.requests: list[bytes] = []
        self.reply_delay_s = 0.0  # before every data reply
        self.answering = 0
        self.max_answering = 0
        self.sessions = 0  # hellos exchanged
        self.handshaking = 0
        self.max_handshaking = 0
        self._listener: asyncssh.SSHAcceptor | None = None
        self._conns: set[asyncssh.SSHServerConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        server = self

        class _Server(asyncssh.SSHServer):
            def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
                server._conns.add(conn)
                server.handshaking += 1
                server.max_handshaking = max(server.max_handshaking, server.handshaking)
                self.conn = conn
                self.counted = True

            def connection_lost(self, exc: Exception | None) -> None:
                server._conns.discard(self.conn)
                if self.counted:
                    server.handshaking -= 1

            def begin_auth(self, username: str) -> bool:
                return True

            def password_auth_supported(self) -> bool:
                return True

            def validate_password(self, username: str, password: str) -> bool:
                return username == server.username and password == server.password

            def public_key_auth_supported(self) -> bool:
                return True

            def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
                return (
                    username == server.username and key.public_data == server.client_key.public_data
                )

        async def handle(process: asyncssh.SSHServerProcess[bytes]) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._tasks.add(task)
            try:
                await self._session(process)
            except (asyncssh.Error, OSError, asyncio.CancelledError):
                pass
            finally:
                self._tasks.discard(task)
                with contextlib.suppress(Exception):
                    process.exit(0)

        self._listener = await asyncssh.listen(
            "127.0.0.1",
            self.port,
            server_host_keys=[self.host_key],
            server_factory=_Server,
            process_factory=handle,
            encoding=None,
            reuse_address=True,
        )
        self.port = self._listener.sockets[0].getsockname()[1]
        pub = self.host_key.export_public_key("openssh").decode().split()
        self.known_hosts_path.write_text(f"[127.0.0.1]:{self.port} {pub[0]} {pub[1]}\n")
        other = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode()
        self.wrong_known_hosts_path.write_text(
            f"[127.0.0.1]:{self.port} {' '.join(other.split()[:2])}\n"
        )

    async def kill(self) -> None:
        """Drop every connection and stop listening (a dead server)."""
        if self._listener is not None:
            self._listener.close()
            await self._listener.wait_closed()
            self._listener = None
        for conn in list(self._conns):
            conn.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.sleep(0.05)

    async def stop(self) -> None:
        await self.kill()

    async def __aenter__(self) -> NetconfServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # the session ------------------------------------------------------------

    async def _session(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        if process.subsystem != "netconf":
            process.exit(1)
            return
        conn = process.get_extra_info("connection")
        if self.hello_delay_s:
            await asyncio.sleep(self.hello_delay_s)
        caps = [BASE_10, *([BASE_11] if self.chunked else []), *self.capabilities]
        hello = (
            f'<?xml version="1.0" encoding="UTF-8"?><hello xmlns="{NC_BASE}"><capabilities>'
            + "".join(f"<capability>{escape(c)}</capability>" for c in caps)
            + f"</capabilities><session-id>{self.sessions + 1}</session-id></hello>"
        ).encode()
        process.stdout.write(hello + EOM)
        deframer = _Deframer()
        got_hello = False
        while True:
            data = await process.stdin.read(65536)
            if not data:
                return
            for msg in deframer.feed(data):
                if not got_hello:
                    got_hello = True
                    deframer.chunked = self.chunked and BASE_11.encode() in msg
                    self.sessions += 1
                    self.handshaking -= 1
                    srv = conn.get_owner()
                    srv.counted = False
                    continue
                self._spawn(self._answer(process, conn, msg, deframer.chunked))

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _frame(self, msg: bytes, chunked: bool) -> bytes:
        return b"\n#%d\n%s\n##\n" % (len(msg), msg) if chunked else msg + EOM

    async def _answer(
        self,
        process: asyncssh.SSHServerProcess[bytes],
        conn: asyncssh.SSHServerConnection,
        msg: bytes,
        chunked: bool,
    ) -> None:
        self.requests.append(msg)
        m = _MID.search(msg[:512])
        mid = m.group(1) if m else b"?"
        body_m = _RPC_BODY.search(msg)
        body = body_m.group(1) if body_m else msg
        if b"<close-session" in body:
            process.stdout.write(self._frame(envelope(b"<ok/>", mid), chunked))
            await asyncio.sleep(0.05)
            conn.close()
            return
        self.answering += 1
        self.max_answering = max(self.max_answering, self.answering)
        try:
            if b"slow" in body:
                await asyncio.sleep(self.slow_s)
            await asyncio.sleep(self.reply_delay_s)
        finally:
            self.answering -= 1
        reply = envelope(self.reply_for(body), mid)
        fault = None
        if self.fault and (self.fault_match is None or self.fault_match in body):
            fault, self.fault = self.fault, None
        if fault == "rpc-error":
            reply = envelope(
                b"<rpc-error><error-type>application</error-type><error-tag>"
                b"operation-failed</error-tag><error-severity>error</error-severity>"
                b"<error-message>simulated failure</error-message></rpc-error>",
                mid,
            )
        elif fault == "huge":
            filler = b"<x>" + b"y" * 1000 + b"</x>"
            reply = envelope(
                b"<data>" + filler * (self.huge_octets // len(filler)) + b"</data>", mid
            )
        framed = self._frame(reply, chunked)
        if fault == "hang":
            process.stdout.write(framed[: len(framed) // 2])
            await asyncio.sleep(3600)
        elif fault == "close":
            process.stdout.write(framed[: len(framed) // 2])
            await asyncio.sleep(0.05)
            conn.abort()
        elif fault == "garbage":
            process.stdout.write(b"\n#12x4\n<rpc-reply/>\n##\n")
        else:
            process.stdout.write(framed)

    def reply_for(self, body: bytes) -> bytes:
        """The canned payload for a request body."""
        if b"interfaces-state" in body:
            return b"<data/>"
        if b"ietf-interfaces" in body or b"<get-config" in body:
            return _recording("iosxe_ietf-interfaces_scrapli-csr1000v.xml")
        if b"get-interface-information" in body:
            return _recording("junos_get-interface-information-terse_jsnapy-mx.xml")
        return b"<echo>" + body + b"</echo>"


class Blackhole:
    """A loopback TCP relay to ``port`` that can go silent: after :meth:`freeze`
    it reads and drops everything in both directions (a peer that died without
    closing its connection, or a firewall that started dropping packets).
    ``await start()``/``await stop()``; ``port`` is where clients connect."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.frozen = False
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def freeze(self) -> None:
        self.frozen = True

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers += [writer, up_w]

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    if not self.frozen:
                        dst.write(data)

        for coro in (pump(reader, up_w), pump(up_r, writer)):
            task = asyncio.ensure_future(coro)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        for w in self._writers:
            w.close()
        await asyncio.sleep(0)

    async def __aenter__(self) -> Blackhole:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
