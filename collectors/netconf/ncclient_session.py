"""One NETCONF session through ncclient (``client: ncclient``), for devices whose
quirks need ncclient's device handlers (``ncclient_device``: junos, iosxr, nexus...).

The same interface the driver uses from :class:`~collectors.netconf.session.NetconfSession`
(``start``/``rpc``/``close``, ``alive``, ``capabilities``, ``failure``,
``failed_at``, the same :class:`NetconfSessionError` family and messages), so
the driver picks one or the other per device and nothing else changes: the
reply bytes go through the same parser (:mod:`collectors.netconf.xml`) and
give the same records.

How it runs: ncclient is blocking and threaded (each session has its
transport thread and paramiko's, both waking every 0.1 s).
``manager.connect`` runs in a worker thread of a bounded executor, under
``connect_timeout_s`` for the whole of it (TCP, SSH, authentication, hello):
a connect given up on is closed by its thread when it finishes.  An RPC
holds no thread: ncclient's own RPC class (``Dispatch``) sends it in
asynchronous mode and its reply (or the session's error) is handed to the
event loop by ncclient's transport thread; ``rpc_timeout_s`` is enforced
here.  The raw ``<rpc-reply>`` text is returned, not ncclient's parsed or
transformed reply, so rpc-errors are reported by our parser as for the
other layer.  Closing (``<close-session/>``, then the transport, which
joins ncclient's threads) also runs in the executor.

Failure is final, as for the asyncssh layer: no reply within
``rpc_timeout_s``, a cancelled RPC, a lost connection or a reply over
``max_reply_octets`` (checked once ncclient has read it: ncclient has no
such cap while reading) closes the session.

Secrets: the password goes to paramiko only; a private key is written for
the connect to a file readable by us only, in a private temporary folder
that is removed as soon as the connect ends (ncclient reads keys from files
only).  The ``known_hosts`` file is given to ncclient through a temporary
ssh_config (``UserKnownHostsFile``), so only that file is trusted, as with
the asyncssh layer; ``host_key_check: false`` is ncclient's
``hostkey_verify=False``.  Errors name the user, host and port only.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import hashlib
import hmac
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from lxml import etree

from collectors.netconf.session import (
    NetconfAuthError,
    NetconfHostKeyError,
    NetconfSessionError,
    NetconfTimeout,
    SessionParams,
    _known_hosts,
    client_key,
    get_config,
    subtree_get,
    xpath_get,
)
from collectors.netconf.xml import NC_BASE

# ncclient's blocking connects and closes; RPCs hold no thread.  A connect
# given up on (connect_timeout_s) may hold its worker until paramiko's own
# timeouts end it, so the pool is larger than the driver's handshake cap.
MAX_WORKERS = 64
_executor: concurrent.futures.ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def executor() -> concurrent.futures.ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = concurrent.futures.ThreadPoolExecutor(
                MAX_WORKERS, thread_name_prefix="ncclient"
            )
        return _executor


def rpc_element(body: str) -> etree._Element:
    """The ``<rpc>`` content as one element in the NETCONF base namespace, as the
    asyncssh layer sends it (``<rpc xmlns=base>body</rpc>``)."""
    try:
        rpc = etree.fromstring(f'<rpc xmlns="{NC_BASE}">{body}</rpc>'.encode())
    except etree.XMLSyntaxError as exc:
        raise NetconfSessionError(f"the request is not XML: {exc.msg}") from None
    children = [c for c in rpc if isinstance(c.tag, str)]
    if len(children) != 1:
        raise NetconfSessionError(f"an RPC body must be one element, not {len(children)}")
    return children[0]


def _host_matches(pattern: str, names: tuple[str, ...]) -> bool:
    if pattern.startswith("|1|"):  # hashed: |1|base64(salt)|base64(hmac-sha1(salt, name))
        try:
            _, _, salt, digest = pattern.split("|")
            key, want = base64.b64decode(salt), base64.b64decode(digest)
        except ValueError:
            return False
        return any(
            hmac.compare_digest(hmac.new(key, n.encode(), hashlib.sha1).digest(), want)
            for n in names
        )
    return any(p in names for p in pattern.split(","))


def host_lines(path: str, host: str, port: int) -> str:
    """The lines of a ``known_hosts`` file that name ``host`` (port 22) or
    ``[host]:port``, plainly or hashed (OpenSSH's forms; markers and wildcard
    patterns, which paramiko does not read either, are left out)."""
    names = (host, f"[{host}]:{port}") if port != 22 else (host,)
    out = []
    for line in Path(path).read_text(errors="replace").splitlines():
        fields = line.split()
        if len(fields) < 3 or fields[0].startswith(("#", "@")):
            continue
        if _host_matches(fields[0], names):
            out.append(line + "\n")
    return "".join(out)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0][:200] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


_dispatch_cls: type | None = None


def _dispatch() -> type:
    """ncclient's ``Dispatch`` RPC, telling us (from ncclient's transport thread)
    when its reply or the session's error arrives."""
    global _dispatch_cls
    if _dispatch_cls is None:
        from ncclient.operations.retrieve import Dispatch

        class _Dispatch(Dispatch):  # type: ignore[misc]
            on_done: Any = None

            def deliver_reply(self, raw: Any) -> None:
                super().deliver_reply(raw)
                if self.on_done is not None:
                    self.on_done(raw, None)

            def deliver_error(self, err: Any) -> None:
                super().deliver_error(err)
                if self.on_done is not None:
                    self.on_done(None, err)

        _dispatch_cls = _Dispatch
    return _dispatch_cls


def _settle(fut: asyncio.Future[str], raw: str | None, err: BaseException | None) -> None:
    if fut.done():
        return
    if err is not None:
        fut.set_exception(err)
    else:
        fut.set_result(raw or "")


class NcclientSession:
    """A NETCONF client session over ncclient; ``start``/``close`` or ``async with``.
    ``device``: ncclient's device handler name (``device_params={"name": device}``)."""

    def __init__(self, params: SessionParams, device: str = "default") -> None:
        self.params = params
        self.device = device
        self.capabilities: list[str] = []
        self.session_id: str | None = None
        self.failure: str | None = None  # why the session ended, once it did
        self.failed_at: float | None = None  # time.monotonic() of that
        self._manager: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: set[asyncio.Future[str]] = set()
        self._closing = False
        self._ending = False  # close-session sent: the server's hang-up is expected

    @property
    def alive(self) -> bool:
        m = self._manager
        if m is None or self.failure is not None or self._closing:
            return False
        if not m.connected:  # ncclient noticed the loss before its error reached us
            self._fail("the server closed the session")
            return False
        return True

    async def __aenter__(self) -> NcclientSession:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # opening ------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, authenticate, open the subsystem and exchange hellos, within
        ``connect_timeout_s``; raises :class:`NetconfSessionError` (subclasses)."""
        p = self.params
        self._loop = asyncio.get_running_loop()
        lock = threading.Lock()
        state: dict[str, Any] = {"abandoned": False, "manager": None}

        def connect() -> Any:
            m = self._connect_blocking()
            with lock:
                if not state["abandoned"]:
                    state["manager"] = m
                    return m
            _close_quietly(m)  # given up on meanwhile
            return None

        cf = executor().submit(connect)
        try:
            m = await asyncio.wait_for(asyncio.wrap_future(cf), p.connect_timeout_s)
        except TimeoutError:
            self._abandon(lock, state)
            self._fail("connect timed out")
            raise NetconfTimeout(
                f"{p.where}: no NETCONF session within {p.connect_timeout_s:g}s "
                "(connect, SSH, authentication, hello)"
            ) from None
        except NetconfSessionError as exc:
            self._fail(str(exc))
            raise
        except BaseException:
            self._abandon(lock, state)
            self._fail("start cancelled")
            raise
        self._manager = m
        self.capabilities = list(m.server_capabilities)
        sid = m.session_id
        self.session_id = str(sid) if sid is not None else None
        m._session.add_listener(_listener(self, self._loop))

    def _abandon(self, lock: threading.Lock, state: dict[str, Any]) -> None:
        with lock:
            state["abandoned"] = True
            m, state["manager"] = state["manager"], None
        if m is not None:  # it finished just as we gave up
            executor().submit(_close_quietly, m)

    def _connect_blocking(self) -> Any:
        """``manager.connect`` in a worker thread; ncclient's errors become ours."""
        from ncclient import manager
        from ncclient.operations.errors import TimeoutExpiredError
        from ncclient.transport.errors import (
            AuthenticationError,
            SessionCloseError,
            SSHError,
            SSHUnknownHostError,
        )

        p = self.params
        where = p.where
        known = _known_hosts(p)  # NetconfHostKeyError when the file is missing
        folder = Path(tempfile.mkdtemp(prefix="netfeed-ncclient-"))  # 0700
        try:
            kw: dict[str, Any] = {
                "host": p.host,
                "port": p.port,
                "username": p.username,
                "password": p.password,
                "timeout": p.connect_timeout_s,  # TCP connect and the server's hello
                "allow_agent": False,
                "look_for_keys": False,
                "hostkey_verify": p.host_key_check,
                "device_params": {"name": self.device},
                "manager_params": {"timeout": p.rpc_timeout_s},
            }
            if known is not None:
                # only this file is trusted (ncclient would read ~/.ssh/known_hosts),
                # and only its lines for this host: paramiko's loading is quadratic
                (folder / "known_hosts").write_text(host_lines(known, p.host, p.port))
                config = folder / "ssh_config"
                config.write_text(f"Host *\n    UserKnownHostsFile {folder / 'known_hosts'}\n")
                kw["ssh_config"] = str(config)
            if p.private_key is not None:
                kw["key_filename"] = _write_key(folder, p)
            m = manager.connect(**kw)
            transport = getattr(getattr(m, "_session", None), "_transport", None)
            if p.keepalive_interval_s > 0 and transport is not None:
                # paramiko sends keepalives but counts no missed answers: a dead peer
                # is found when the send fails or the next RPC times out
                transport.set_keepalive(max(1, round(p.keepalive_interval_s)))
            return m
        except NetconfSessionError:
            raise
        except AuthenticationError:
            keys = p.private_key is not None
            what = (
                f"{'key' if keys else 'password'}{' and password' if keys and p.password else ''}"
            )
            raise NetconfAuthError(f"{where}: authentication refused ({what})") from None
        except SSHUnknownHostError:
            raise NetconfHostKeyError(
                f"{where}: host key not verifiable against {known} "
                "(add it there, or set host_key_check: false)"
            ) from None
        except SSHError as exc:
            if "open socket" in str(exc):
                raise NetconfSessionError(
                    f"{where}: cannot connect (no TCP connection within "
                    f"{p.connect_timeout_s:g}s, or refused)"
                ) from None
            raise NetconfSessionError(f"{where}: SSH: {_describe(exc)}") from None
        except SessionCloseError:
            raise NetconfSessionError(f"{where}: closed before its hello") from None
        except (TimeoutError, TimeoutExpiredError):
            raise NetconfTimeout(
                f"{where}: no NETCONF session within {p.connect_timeout_s:g}s"
            ) from None
        except ImportError:
            raise NetconfSessionError(
                f"{where}: ncclient has no device handler {self.device!r}"
            ) from None
        except OSError as exc:
            raise NetconfSessionError(
                f"{where}: cannot connect: {exc.strerror or type(exc).__name__}"
            ) from None
        except Exception as exc:  # ncclient's SessionError ('Capability exchange timed out')...
            if "timed out" in str(exc):
                raise NetconfTimeout(
                    f"{where}: no NETCONF session within {p.connect_timeout_s:g}s (no hello)"
                ) from None
            raise NetconfSessionError(f"{where}: ncclient: {_describe(exc)}") from None
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    # RPCs ---------------------------------------------------------------------

    def _fail(self, reason: str) -> None:
        if self.failure is None:
            self.failure = reason
            self.failed_at = time.monotonic()
        err = NetconfSessionError(f"{self.params.where}: {self.failure}")
        for fut in list(self._pending):
            if not fut.done():
                fut.set_exception(err)
        self._pending.clear()

    def _lost(self, exc: BaseException) -> None:
        """ncclient's transport ended (called in the event loop)."""
        if not (self._closing or self._ending):
            self._fail(f"connection lost ({_describe(exc)})")

    async def rpc(self, body: str) -> bytes:
        """Send ``<rpc>body</rpc>`` and return the raw ``<rpc-reply>`` bytes.

        Raises :class:`NetconfTimeout` after ``rpc_timeout_s`` (the session is
        closed) and :class:`NetconfSessionError` when the session is or gets lost."""
        p = self.params
        if not self.alive:
            raise NetconfSessionError(f"{p.where}: {self.failure or 'session not open'}")
        element = rpc_element(body)
        m = self._manager
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[str] = loop.create_future()

        def done(raw: str | None, err: BaseException | None) -> None:  # transport thread
            with contextlib.suppress(RuntimeError):  # the loop is gone
                loop.call_soon_threadsafe(_settle, fut, raw, err)

        op = _dispatch()(m._session, m._device_handler, async_mode=True, timeout=p.rpc_timeout_s)
        op.on_done = done
        self._pending.add(fut)
        try:
            op.request(element)  # queued for ncclient's transport thread
            raw = await asyncio.wait_for(fut, p.rpc_timeout_s)
        except TimeoutError:
            self._fail(f"no complete reply within {p.rpc_timeout_s:g}s; session abandoned")
            await self._abort()
            raise NetconfTimeout(f"{p.where}: {self.failure}") from None
        except NetconfSessionError:
            await self._abort()
            raise
        except asyncio.CancelledError:
            self._fail("an RPC was cancelled before its reply; session abandoned")
            executor().submit(_close_quietly, m)
            raise
        except Exception as exc:  # ncclient's error for this RPC (transport lost...)
            self._fail(f"connection lost ({_describe(exc)})")
            await self._abort()
            raise NetconfSessionError(f"{p.where}: {self.failure}") from None
        finally:
            self._pending.discard(fut)
        reply = raw.encode("utf-8")
        if len(reply) > p.max_reply_octets:
            self._fail(
                f"reply of {len(reply)} octets over the {p.max_reply_octets}-octet limit "
                "(max_reply_octets); refused"
            )
            await self._abort()
            raise NetconfSessionError(f"{p.where}: {self.failure}")
        return reply

    async def get(self, subtree: str | None = None, *, xpath: str | None = None) -> bytes:
        return await self.rpc(xpath_get(xpath) if xpath is not None else subtree_get(subtree))

    async def get_config(self, source: str = "running", subtree: str | None = None) -> bytes:
        return await self.rpc(get_config(source, subtree))

    # closing ------------------------------------------------------------------

    async def _abort(self) -> None:
        m = self._manager
        if m is None:
            return
        cf = executor().submit(_close_quietly, m)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.wrap_future(cf), 2.0)

    async def close(self) -> None:
        """End the session: ``<close-session/>`` (briefly awaited) when it is
        healthy, then close ncclient's transport.  Safe to call twice."""
        if self._closing:
            return
        if self.alive:
            self._ending = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.rpc("<close-session/>"), 1.0)
        self._closing = True
        if self.failure is None:
            self._fail("session closed")
        await self._abort()


def _write_key(folder: Path, p: SessionParams) -> str:
    """The private key as a file for ncclient (readable by us only): read and
    decrypted first as the asyncssh layer does (same errors), written out
    unencrypted, since ncclient cannot be given a passphrase of its own."""
    key = client_key(p)
    path = folder / "key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.export_private_key("openssh"))
    return str(path)


def _close_quietly(m: Any) -> None:
    """Close ncclient's session (it joins its transport thread) and wait briefly
    for paramiko's thread, which ``Transport.close`` does not join."""
    with contextlib.suppress(Exception):
        m._session.close()
    with contextlib.suppress(Exception):
        transport = m._session.transport
        if transport is not None and transport is not threading.current_thread():
            transport.join(1.0)


def _listener(sess: NcclientSession, loop: asyncio.AbstractEventLoop) -> Any:
    """An ncclient session listener that reports the transport's end to the loop."""
    from ncclient.transport.session import SessionListener

    class _Listener(SessionListener):  # type: ignore[misc]
        def callback(self, root: Any, raw: Any) -> None:
            pass

        def errback(self, ex: Exception) -> None:  # ncclient's transport thread
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(sess._lost, ex)

    return _Listener()
