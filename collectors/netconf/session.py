"""One NETCONF session over SSH (asyncssh): hello, framing, RPCs matched by message-id.

Lifecycle: :meth:`NetconfSession.start` connects (``connect_timeout_s`` for
TCP, SSH, authentication, the ``netconf`` subsystem and the server's hello),
sends our hello (base:1.0 and base:1.1) and waits for the server's before the
first RPC (netconfd drops a request that arrives in the same read as the
client hello).  Framing is RFC 6242 chunked (``\\n#<len>\\n...\\n##\\n``) when
both hellos say base:1.1, else ``]]>]]>`` end-of-message.  One reader task
splits the byte stream into messages and hands each ``<rpc-reply>`` to the
RPC waiting for its ``message-id``.

Failure is final for a session: a reply over ``max_reply_octets``, broken
framing, the connection lost, an RPC without its reply within
``rpc_timeout_s`` (a server that hangs mid-reply) or cancelled by its caller
(a device deadline) closes the session and fails
every RPC in flight with :class:`NetconfSessionError`; the caller opens a new
session.  Secrets (password, private key) are given revealed by the caller
and never appear in messages: errors name the user, host and port only.
Host keys are checked against ``known_hosts`` unless ``host_key_check`` is
false.  An encrypted private key is decrypted with ``private_key_passphrase``.
SSH keepalives (``keepalive_interval_s``, 0: off; ``keepalive_count_max``
unanswered ones) end a session whose peer went silent even while no RPC is in
flight: ``alive`` turns False and ``failure`` says "not responding to keepalive".
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from xml.sax.saxutils import quoteattr

import asyncssh

from collectors.netconf.xml import NC_BASE, NetconfError, hello_capabilities

BASE_10 = "urn:ietf:params:netconf:base:1.0"
BASE_11 = "urn:ietf:params:netconf:base:1.1"
EOM = b"]]>]]>"
MAX_HELLO = 4 * 1024 * 1024  # some servers advertise hundreds of modules
_CHUNK_HEADER = re.compile(rb"\n#([1-9][0-9]{0,9})\n")
_MESSAGE_ID = re.compile(rb"""<(?:[\w.-]+:)?rpc-reply\b[^>]*?\bmessage-id\s*=\s*["']([^"']*)["']""")
_REPLY_TAG = re.compile(rb"<(?:[\w.-]+:)?rpc-reply\b")


class NetconfSessionError(Exception):
    """The session could not be opened or was lost; the message says why, plainly."""


class NetconfTimeout(NetconfSessionError):
    """No (complete) answer in time."""


class NetconfAuthError(NetconfSessionError):
    """The server refused our credentials."""


class NetconfHostKeyError(NetconfSessionError):
    """The server's host key is not the one known for it."""


class FramingError(NetconfSessionError):
    """The server's byte stream is not valid NETCONF framing (or a message is too big)."""


class Framer:
    """Splits a NETCONF byte stream into messages (``feed`` bytes, get whole messages).

    ``chunked``: RFC 6242 chunked framing, else ``]]>]]>`` end-of-message.
    A message (or a chunk) over ``max_octets`` and a malformed chunk header
    raise :class:`FramingError`."""

    def __init__(self, max_octets: int, chunked: bool = False) -> None:
        self.max_octets = max_octets
        self.chunked = chunked
        self._buf = bytearray()
        self._chunks: list[bytes] = []
        self._size = 0  # octets of the message being assembled (chunked)

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        return self._chunked() if self.chunked else self._eom()

    def _eom(self) -> list[bytes]:
        out: list[bytes] = []
        while True:
            end = self._buf.find(EOM)
            if end < 0:
                if len(self._buf) > self.max_octets + len(EOM):
                    raise FramingError(
                        f"reply over the {self.max_octets}-octet limit (max_reply_octets); refused"
                    )
                return out
            if end > self.max_octets:
                raise FramingError(
                    f"reply of {end} octets over the {self.max_octets}-octet limit "
                    "(max_reply_octets); refused"
                )
            out.append(bytes(self._buf[:end]))
            del self._buf[: end + len(EOM)]

    def _chunked(self) -> list[bytes]:
        out: list[bytes] = []
        buf = self._buf
        while buf:
            if len(buf) < 4:
                if not b"\n#"[: len(buf)].startswith(bytes(buf[:2])):
                    raise FramingError(f"bad chunk header {bytes(buf[:16])!r}")
                return out
            if buf[:4] == b"\n##\n":
                if not self._chunks:
                    raise FramingError("end-of-chunks marker without any chunk")
                out.append(b"".join(self._chunks))
                self._chunks, self._size = [], 0
                del buf[:4]
                continue
            if buf[:2] != b"\n#":
                raise FramingError(f"bad chunk header {bytes(buf[:16])!r}")
            nl = buf.find(b"\n", 2, 14)
            if nl < 0:
                if len(buf) >= 14:
                    raise FramingError(f"bad chunk header {bytes(buf[:16])!r}")
                return out
            m = _CHUNK_HEADER.fullmatch(bytes(buf[: nl + 1]))
            if m is None:
                raise FramingError(f"bad chunk header {bytes(buf[: nl + 1])!r}")
            size = int(m.group(1))
            if size > 4294967295:
                raise FramingError(f"chunk size {size} over RFC 6242's maximum")
            if self._size + size > self.max_octets:
                raise FramingError(
                    f"reply over the {self.max_octets}-octet limit (max_reply_octets; "
                    f"a chunk of {size} octets); refused"
                )
            if len(buf) < nl + 1 + size:
                return out
            self._chunks.append(bytes(buf[nl + 1 : nl + 1 + size]))
            self._size += size
            del buf[: nl + 1 + size]
        return out


def frame(message: bytes, chunked: bool) -> bytes:
    if chunked:
        return b"\n#%d\n" % len(message) + message + b"\n##\n"
    return message + EOM


def hello_message() -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><hello xmlns="{NC_BASE}"><capabilities>'
        f"<capability>{BASE_10}</capability><capability>{BASE_11}</capability>"
        "</capabilities></hello>"
    ).encode()


@dataclass(frozen=True)
class SessionParams:
    """How to reach one device.  ``password`` and ``private_key`` are revealed
    secrets (never logged); ``secret_names`` names their references for messages."""

    host: str
    port: int = 830
    username: str = ""
    password: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)
    known_hosts: Path | None = None  # None: ~/.ssh/known_hosts
    host_key_check: bool = True
    connect_timeout_s: float = 10.0
    rpc_timeout_s: float = 30.0
    max_reply_octets: int = 64 * 1024 * 1024
    private_key_passphrase: str | None = field(default=None, repr=False)
    keepalive_interval_s: float = 30.0  # 0: no SSH keepalives
    keepalive_count_max: int = 3

    @property
    def where(self) -> str:
        return f"{self.username}@{self.host}:{self.port}"


def subtree_get(filter_xml: str | None = None) -> str:
    if filter_xml is None:
        return "<get/>"
    return f'<get><filter type="subtree">{filter_xml}</filter></get>'


def xpath_get(select: str) -> str:
    return f'<get><filter type="xpath" select={quoteattr(select)}/></get>'


def get_config(source: str = "running", filter_xml: str | None = None) -> str:
    filt = f'<filter type="subtree">{filter_xml}</filter>' if filter_xml else ""
    return f"<get-config><source><{source}/></source>{filt}</get-config>"


def _known_hosts(p: SessionParams) -> str | None:
    """The known_hosts file to check the host key against (None: no check)."""
    if not p.host_key_check:
        return None
    path = p.known_hosts or Path("~/.ssh/known_hosts").expanduser()
    if not path.is_file():
        raise NetconfHostKeyError(
            f"{p.where}: host key check on, but the known_hosts file {path} does not "
            "exist (give known_hosts, or host_key_check: false)"
        )
    return str(path)


class NetconfSession:
    """A NETCONF client session; ``start``/``close`` or ``async with``."""

    def __init__(self, params: SessionParams) -> None:
        self.params = params
        self.capabilities: list[str] = []
        self.chunked = False
        self.session_id: str | None = None
        self.failure: str | None = None  # why the session ended, once it did
        self.failed_at: float | None = None  # time.monotonic() of that
        self._conn: asyncssh.SSHClientConnection | None = None
        self._writer: asyncssh.SSHWriter[bytes] | None = None
        self._reader: asyncssh.SSHReader[bytes] | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[bytes]] = {}
        self._ids = itertools.count(1)
        self._framer = Framer(params.max_reply_octets)
        self._closing = False

    @property
    def alive(self) -> bool:
        return self._task is not None and self.failure is None and not self._closing

    async def __aenter__(self) -> NetconfSession:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Connect, authenticate, open the subsystem and exchange hellos, within
        ``connect_timeout_s``; raises :class:`NetconfSessionError` (subclasses)."""
        p = self.params
        try:
            await asyncio.wait_for(self._open(), p.connect_timeout_s)
        except TimeoutError:
            await self._abort("connect timed out")
            raise NetconfTimeout(
                f"{p.where}: no NETCONF session within {p.connect_timeout_s:g}s "
                "(connect, SSH, authentication, hello)"
            ) from None
        except NetconfSessionError as exc:
            await self._abort(str(exc))
            raise
        except BaseException:
            await self._abort("start cancelled")
            raise

    async def _open(self) -> None:
        p = self.params
        keys: list[asyncssh.SSHKey] = []
        if p.private_key is not None:
            try:
                keys = [asyncssh.import_private_key(p.private_key, p.private_key_passphrase)]
            except asyncssh.KeyEncryptionError:
                raise NetconfAuthError(
                    f"{p.where}: the private key could not be decrypted with "
                    "private_key_passphrase (wrong passphrase?)"
                ) from None
            except (asyncssh.KeyImportError, ValueError) as exc:
                if "Passphrase must be specified" in str(exc):
                    raise NetconfAuthError(
                        f"{p.where}: the private key is encrypted; give private_key_passphrase"
                    ) from None
                raise NetconfAuthError(
                    f"{p.where}: the private key is not a readable key"
                ) from None
        known = _known_hosts(p)
        try:
            self._conn = await asyncssh.connect(
                p.host,
                p.port,
                username=p.username,
                password=p.password,
                client_keys=keys,
                known_hosts=known,  # type: ignore[arg-type]
                agent_path=None,
                config=None,
                preferred_auth=("publickey", "password", "keyboard-interactive")
                if keys
                else ("password", "keyboard-interactive"),
                connect_timeout=p.connect_timeout_s,
                keepalive_interval=p.keepalive_interval_s,
                keepalive_count_max=p.keepalive_count_max,
            )
        except asyncssh.PermissionDenied:
            raise NetconfAuthError(
                f"{p.where}: authentication refused "
                f"({'key' if keys else 'password'}{' and password' if keys and p.password else ''})"
            ) from None
        except asyncssh.HostKeyNotVerifiable:
            raise NetconfHostKeyError(
                f"{p.where}: host key not verifiable against {known} "
                "(add it there, or set host_key_check: false)"
            ) from None
        except asyncssh.Error as exc:
            raise NetconfSessionError(f"{p.where}: SSH: {exc.reason}") from None
        except OSError as exc:
            raise NetconfSessionError(
                f"{p.where}: cannot connect: {exc.strerror or exc.__class__.__name__}"
            ) from None
        try:
            writer, reader, _err = await self._conn.open_session(subsystem="netconf", encoding=None)
        except asyncssh.Error as exc:
            raise NetconfSessionError(
                f"{p.where}: the netconf subsystem was refused: {exc.reason}"
            ) from None
        self._writer, self._reader = writer, reader
        writer.write(frame(hello_message(), chunked=False))
        hello = await self._read_hello(reader)
        try:
            self.capabilities = hello_capabilities(hello, max_bytes=MAX_HELLO)
        except NetconfError as exc:
            raise NetconfSessionError(f"{p.where}: bad server hello: {exc}") from None
        m = re.search(rb"<(?:[\w.-]+:)?session-id>\s*([^<\s]+)", hello)
        self.session_id = m.group(1).decode("ascii", "replace") if m else None
        self.chunked = BASE_11 in self.capabilities
        self._framer.chunked = self.chunked
        self._task = asyncio.create_task(self._read_loop(reader))

    async def _read_hello(self, reader: asyncssh.SSHReader[bytes]) -> bytes:
        hello_framer = Framer(MAX_HELLO)
        while True:
            data = await reader.read(65536)
            if not data:
                raise NetconfSessionError(f"{self.params.where}: closed before its hello")
            try:
                got = hello_framer.feed(data)
            except FramingError as exc:
                raise NetconfSessionError(f"{self.params.where}: hello: {exc}") from None
            if got:
                # the server may already have sent more; RPCs start after its hello
                rest = bytes(hello_framer._buf)
                if rest.strip():
                    raise NetconfSessionError(f"{self.params.where}: data after the hello")
                return got[0]

    async def _read_loop(self, reader: asyncssh.SSHReader[bytes]) -> None:
        try:
            while True:
                data = await reader.read(262144)
                if not data:
                    self._fail("the server closed the session")
                    return
                for msg in self._framer.feed(data):
                    self._deliver(msg)
        except FramingError as exc:
            self._fail(str(exc))
        except (asyncssh.Error, OSError) as exc:
            self._fail(f"connection lost: {exc}")
        except asyncio.CancelledError:
            self._fail("session closed")
            raise
        finally:
            if self.failure is not None and self._conn is not None:
                self._conn.abort()

    def _deliver(self, msg: bytes) -> None:
        head = msg[:4096]
        if not _REPLY_TAG.search(head):
            return  # a notification or something we did not ask for
        m = _MESSAGE_ID.search(head)
        if m is None:
            # RFC 6241 allows a reply without message-id only to a malformed rpc:
            # it answers the oldest request
            if not self._pending:
                return
            key = next(iter(self._pending))
        else:
            key = m.group(1).decode("ascii", "replace")
        fut = self._pending.pop(key, None)
        if fut is not None and not fut.done():
            fut.set_result(msg)

    def _fail(self, reason: str) -> None:
        if self.failure is None:
            self.failure = reason
            self.failed_at = time.monotonic()
        err = NetconfSessionError(f"{self.params.where}: {self.failure}")
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(err)
        self._pending.clear()

    async def rpc(self, body: str) -> bytes:
        """Send ``<rpc>body</rpc>`` and return the raw ``<rpc-reply>`` bytes.

        Raises :class:`NetconfTimeout` after ``rpc_timeout_s`` (the session is
        closed: a server that hangs mid-reply is abandoned) and
        :class:`NetconfSessionError` when the session is or gets lost."""
        p = self.params
        if not self.alive or self._writer is None:
            raise NetconfSessionError(f"{p.where}: {self.failure or 'session not open'}")
        mid = str(next(self._ids))
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[mid] = fut
        msg = f'<rpc message-id="{mid}" xmlns="{NC_BASE}">{body}</rpc>'.encode()
        try:
            self._writer.write(frame(msg, self.chunked))
            return await asyncio.wait_for(fut, p.rpc_timeout_s)
        except TimeoutError:
            self._fail(f"no complete reply within {p.rpc_timeout_s:g}s; session abandoned")
            await self._abort(self.failure or "")
            raise NetconfTimeout(f"{p.where}: {self.failure}") from None
        except (asyncssh.Error, OSError) as exc:
            self._fail(f"connection lost: {exc}")
            await self._abort(self.failure or "")
            raise NetconfSessionError(f"{p.where}: {self.failure}") from None
        except asyncio.CancelledError:
            # the caller gave up (its deadline): the reply may be half read, so
            # the stream is in an unknown state; the session is not reused
            self._fail("an RPC was cancelled before its reply; session abandoned")
            if self._conn is not None:
                self._conn.abort()
            raise
        finally:
            self._pending.pop(mid, None)

    async def wait_ended(self) -> None:
        """Return once the session has ended (failed, lost or closed)."""
        if self._task is not None:
            with contextlib.suppress(BaseException):
                await asyncio.shield(self._task)

    async def get(self, subtree: str | None = None, *, xpath: str | None = None) -> bytes:
        return await self.rpc(xpath_get(xpath) if xpath is not None else subtree_get(subtree))

    async def get_config(self, source: str = "running", subtree: str | None = None) -> bytes:
        return await self.rpc(get_config(source, subtree))

    async def _abort(self, reason: str) -> None:
        if self.failure is None:
            self._fail(reason)
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self._conn is not None:
            self._conn.abort()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._conn.wait_closed(), 1.0)

    async def close(self) -> None:
        """End the session: ``<close-session/>`` (briefly awaited) when it is
        healthy, then close the connection.  Safe to call twice."""
        if self._closing:
            return
        if self.alive:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.rpc("<close-session/>"), 1.0)
        self._closing = True
        await self._abort("session closed")
