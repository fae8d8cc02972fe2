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

import asyncssh

from netfeed.simulator.netconf import NetconfListener, frame, message_id, rpc_reply

RECORDINGS = Path(__file__).resolve().parents[3] / "shared" / "recordings" / "netconf"
IETF_IF = "urn:ietf:params:xml:ns:yang:ietf-interfaces?module=ietf-interfaces&revision=2014-05-08"
_RPC_BODY = re.compile(rb"<(?:[\w.-]+:)?rpc\b[^>]*>(.*)</(?:[\w.-]+:)?rpc>\s*$", re.S)


def _recording(name: str) -> bytes:
    return (RECORDINGS / name).read_bytes()


def envelope(payload: bytes, mid: str) -> bytes:
    """``payload`` (a whole recorded ``<rpc-reply>``, a ``<data>`` or a bare
    payload) as an ``<rpc-reply>`` carrying ``mid``."""
    payload = re.sub(rb"^\s*<\?xml[^>]*\?>\s*", b"", payload)
    if re.match(rb"\s*<(?:[\w.-]+:)?rpc-reply\b", payload):
        head, sep, rest = payload.partition(b">")
        head = re.sub(rb"""\s+message-id\s*=\s*["'][^"']*["']""", b"", head)
        return head + b' message-id="' + mid.encode() + b'"' + sep + rest
    return rpc_reply(mid, payload)


class NetconfServer(NetconfListener):
    """``await start()``/``await stop()``; ``kill()`` drops every connection and the
    listener (``start()`` again listens on the same port).  The SSH side (host
    key, authentication, hellos, framing) is the simulator's
    :class:`~netfeed.simulator.netconf.NetconfListener`; this adds public-key
    authentication with ``client_key``, recorded replies, faults, and counts
    of what it saw."""

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
        self.client_key = asyncssh.generate_private_key("ssh-ed25519")
        super().__init__(
            username=username,
            password=password,
            chunked=chunked,
            authorized_key=self.client_key,
        )
        self.folder = folder
        self.models = capabilities if capabilities is not None else [IETF_IF]
        self.hello_delay_s = hello_delay_s
        self.slow_s = slow_s
        self.fault: str | None = None
        self.fault_match: bytes | None = None  # only a request whose body contains it
        self.huge_octets = 4 * 1024 * 1024
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        folder.mkdir(parents=True, exist_ok=True)
        self.client_key_path = folder / "client_key"
        self.client_key.write_private_key(str(self.client_key_path))
        self.known_hosts_path = folder / "known_hosts"
        self.wrong_known_hosts_path = folder / "known_hosts.other"
        self.requests: list[bytes] = []
        self.reply_delay_s = 0.0  # before every data reply
        self.answering = 0
        self.max_answering = 0
        self.handshaking = 0  # connections before their client hello
        self.max_handshaking = 0
        self._before_hello: set[asyncssh.SSHServerConnection] = set()

    @property
    def capabilities(self) -> list[str]:
        return [*super().capabilities, *self.models]

    def _connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        super()._connection_made(conn)
        self._before_hello.add(conn)
        self.handshaking = len(self._before_hello)
        self.max_handshaking = max(self.max_handshaking, self.handshaking)

    def _hello_received(self, conn: asyncssh.SSHServerConnection) -> None:
        super()._hello_received(conn)
        self._before_hello.discard(conn)
        self.handshaking = len(self._before_hello)

    def _connection_lost(self, conn: asyncssh.SSHServerConnection) -> None:
        super()._connection_lost(conn)
        self._before_hello.discard(conn)
        self.handshaking = len(self._before_hello)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        await super().start(host, port or self.port)
        pub = self.known_hosts_line()
        self.known_hosts_path.write_text(pub + "\n")
        other = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode()
        self.wrong_known_hosts_path.write_text(
            f"[127.0.0.1]:{self.port} {' '.join(other.split()[:2])}\n"
        )

    async def kill(self) -> None:
        """Drop every connection and stop listening (a dead server)."""
        await self.stop()
        await asyncio.sleep(0.05)

    # the session ------------------------------------------------------------

    def _close_requested(self, msg: bytes) -> None:
        self.requests.append(msg)

    async def answer(
        self, process: asyncssh.SSHServerProcess[bytes], msg: bytes, chunked: bool
    ) -> bool:
        """Answer in a task of its own: replies may overtake each other."""
        self._track(asyncio.ensure_future(self._answer(process, msg, chunked)))
        return True

    async def _answer(
        self, process: asyncssh.SSHServerProcess[bytes], msg: bytes, chunked: bool
    ) -> None:
        self.requests.append(msg)
        mid = message_id(msg)
        body_m = _RPC_BODY.search(msg)
        body = body_m.group(1) if body_m else msg
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
        framed = frame(reply, chunked)
        if fault == "hang":
            process.stdout.write(framed[: len(framed) // 2])
            await asyncio.sleep(3600)
        elif fault == "close":
            process.stdout.write(framed[: len(framed) // 2])
            await asyncio.sleep(0.05)
            process.get_extra_info("connection").abort()
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
