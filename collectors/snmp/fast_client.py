"""SNMP v1/v2c on :mod:`collectors.snmp.ber` and one UDP socket per process.

:class:`FastSnmpClient` implements :class:`~collectors.snmp.base.SnmpClient`
with the exact semantics of :class:`~collectors.snmp.pysnmp_client.PysnmpClient`
(same results, same problems, same exceptions) at a fraction of its CPU; the
pysnmp client stays as the reference and for SNMPv3.

Transport:

* One non-blocking UDP socket per address family, made on first use in the
  running event loop, with ``SO_RCVBUF`` enlarged (8 MiB by default: with the
  kernel default of ~208 KiB replies are dropped once ~50 devices answer at
  once).  Its reader drains up to :data:`DRAIN` datagrams per wake-up.
* Replies are matched to requests by request-id (random start, then
  sequential); a reply counts only if it also comes from the address and port
  asked, with the same version and community, as a Response PDU.  Anything
  else is ignored and counted in :attr:`FastSnmpClient.stats`.
* A request is sent again with the *same* request-id after each
  ``timeout_s`` without an answer, ``retries`` times, so a late answer to an
  earlier try still counts; then :class:`SnmpTimeout`.  Before giving up or
  resending, the socket is drained: an answer that already arrived but waited
  behind this process's own work is not mistaken for a timeout.
* A datagram that does not parse is counted and ignored; one that matches a
  pending request by its header but whose varbinds are broken is remembered,
  and if no good answer follows the request fails with :class:`SnmpError`
  (not :class:`SnmpTimeout`: the device answered, just not usefully).
  Nothing a device sends can raise out of the reader or hang a request.

Walks: every still-active column goes into one GETBULK (GETNEXT on v1); a
column ends at endOfMibView (or noSuchObject/Instance), on leaving its prefix,
when its OIDs stop increasing (``problems[col]``, rows kept), or at a value
that cannot be decoded (``problems[col] = "bad encoding at <oid>"``).  tooBig
halves max-repetitions; other error-statuses end every active column with a
problem; v1 noSuchName ends the column it names.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields

from collectors.snmp import ber
from collectors.snmp.base import SnmpError, SnmpTarget, SnmpTimeout, Value, WalkResult

log = logging.getLogger(__name__)

DRAIN = 256  # datagrams read per reader wake-up at most
_TOO_BIG = 1
_NO_SUCH_NAME = 2
_BAD = ber.BAD
_RESOLVE_TTL_S = 300.0


@dataclass(slots=True)
class ClientStats:
    """What the client saw; ignored datagrams are counted, never raised."""

    requests: int = 0  # requests made (a retry is not a new request)
    sent: int = 0  # datagrams sent, retries included
    retries: int = 0
    timeouts: int = 0  # requests that got no usable answer
    received: int = 0  # datagrams read
    answered: int = 0  # datagrams that completed a request
    malformed: int = 0  # datagrams that do not parse (header or varbinds)
    unknown_request_id: int = 0  # no pending request: late, duplicate or stray
    wrong_source: int = 0  # right request-id, from another address or port
    wrong_community: int = 0  # right request-id and source, other version/community
    not_response: int = 0  # right request-id and source, not a Response PDU
    bad_values: int = 0  # varbinds that could not be decoded
    send_errors: int = 0  # sendto failed (the retry timer covers it)
    errors: int = 0  # unexpected exceptions in the reader, logged

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class _Pending:
    __slots__ = (
        "addr",
        "community",
        "fut",
        "message",
        "problem",
        "sock",
        "timeout",
        "timer",
        "tries_left",
        "version",
    )

    def __init__(
        self,
        fut: asyncio.Future[tuple[int, int, list[ber.VarBind]]],
        sock: socket.socket,
        addr: tuple[str, int],
        version: int,
        community: bytes,
        message: bytes,
        timeout: float,
        tries_left: int,
    ) -> None:
        self.fut = fut
        self.sock = sock
        self.addr = addr
        self.version = version
        self.community = community
        self.message = message
        self.timeout = timeout
        self.tries_left = tries_left
        self.timer: asyncio.TimerHandle | None = None
        # why the device's answers were unusable, or sending failed (if they were)
        self.problem: str | None = None


class FastSnmpClient:
    """:class:`~collectors.snmp.base.SnmpClient` for SNMP v1/v2c on :mod:`.ber`.

    ``rcvbuf_bytes`` is the requested ``SO_RCVBUF`` (the kernel may cap it at
    ``net.core.rmem_max``; :attr:`rcvbuf_effective` says what it granted).
    """

    def __init__(self, rcvbuf_bytes: int = 8 << 20) -> None:
        self.rcvbuf_bytes = rcvbuf_bytes
        self.rcvbuf_effective: int | None = None
        self.stats = ClientStats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._socks: dict[int, socket.socket] = {}
        self._pending: dict[int, _Pending] = {}
        self._rid = random.randrange(1, 1 << 30)
        self._addrs: dict[tuple[str, int], tuple[tuple[str, int], int, float]] = {}

    # -- public API --------------------------------------------------------------------

    async def get(self, target: SnmpTarget, oids: list[str]) -> dict[str, Value]:
        status, _idx, vbs = await self._request(target, ber.GET, oids, "GET")
        if status == _NO_SUCH_NAME and target.version == "1" and len(oids) > 1:
            # v1 fails the whole PDU for one missing object: ask one at a time.
            out: dict[str, Value] = {}
            for oid in oids:
                out.update(await self.get(target, [oid]))
            return out
        if status:
            if status == _NO_SUCH_NAME:
                return {}
            raise SnmpError(
                f"{target.device} ({target.host}:{target.port}): GET error-status "
                f"{ber.error_status_name(status)}"
            )
        out = {}
        for oid, tag, val, _raw in vbs:
            if val is not None:
                out[oid] = val
            elif tag == _BAD:
                self.stats.bad_values += 1
                log.warning("%s: GET: bad encoding at %s: left out", target.device, oid)
        return out

    async def walk(self, target: SnmpTarget, columns: list[str]) -> WalkResult:
        result = WalkResult(columns={c: {} for c in columns})
        problems = result.problems
        # per column: the last OID read (raw octets), also where the next request starts
        last: dict[str, bytes] = {c: ber.oid_content(c) for c in columns}
        simple_last = dict.fromkeys(columns, True)
        active = list(columns)
        reps = target.max_repetitions
        v1 = target.version == "1"
        pdu = ber.GETNEXT if v1 else ber.GETBULK
        oid_lt = ber.oid_lt
        while active:
            result.requests += 1
            status, err_idx, vbs = await self._request(
                target, pdu, [last[c] for c in active], f"walk of {len(active)} column(s)", reps
            )
            if status == _TOO_BIG and reps > 1:
                reps = max(1, reps // 2)
                continue
            if status == _NO_SUCH_NAME and v1:
                # v1 end of view: the errored column is finished; the rest go on.
                idx = err_idx - 1
                done = active[idx] if 0 <= idx < len(active) else None
                active = [c for c in active if c != done] if done else []
                continue
            if status:
                for c in active:
                    problems[c] = f"agent error-status {ber.error_status_name(status)}"
                break
            if not vbs:
                # pysnmp's command generator makes this an error indication
                raise SnmpError(
                    f"{target.device} ({target.host}:{target.port}): walk of "
                    f"{len(active)} column(s): Empty SNMP response message"
                )
            # Varbind i belongs to column i % n: take each column's share in turn.
            n = len(active)
            going = []
            ended: list[str] = []  # columns the agent said endOfMibView to
            for k, col in enumerate(active):
                prefix = col + "."
                cut = len(prefix)
                rows = result.columns[col]
                prev = last[col]
                # True while ``prev`` is the column or the column + one sub-identifier:
                # then a one-sub-identifier index compares by (length, octets).
                simple = simple_last[col]
                for oid, tag, val, raw in vbs[k::n] if n > 1 else vbs:
                    if tag < 0:  # BAD
                        self.stats.bad_values += 1
                        problems[col] = f"bad encoding at {oid or _after(prev)}"
                        break
                    if tag >= 0x80 or not oid.startswith(prefix):  # end markers, left prefix
                        if tag == ber.END_OF_MIB_VIEW:
                            ended.append(col)
                        break
                    index = oid[cut:]
                    if simple and "." not in index:
                        if len(raw) < len(prev) or (len(raw) == len(prev) and raw <= prev):
                            problems[col] = f"OID not increasing at {oid}"
                            break
                    else:
                        if not (
                            raw > prev if raw.isascii() and prev.isascii() else oid_lt(prev, raw)
                        ):
                            problems[col] = f"OID not increasing at {oid}"
                            break
                        simple = "." not in index
                    prev = raw
                    if val is not None:
                        rows[index] = val
                else:
                    going.append(col)
                last[col] = prev
                simple_last[col] = simple
            if ended:
                # endOfMibView says nothing follows; a value further on proves otherwise
                furthest: bytes | None = None
                for _o, t, _v, r in vbs:
                    if 0 <= t < 0x80 and (furthest is None or oid_lt(furthest, r)):
                        furthest = r
                for col in ended:
                    if furthest is not None and oid_lt(last[col], furthest):
                        problems[col] = (
                            "agent ended the walk early (endOfMibView) after "
                            f"{ber.oid_str(last[col])}"
                        )
            active = going
        return result

    def close(self) -> None:
        """Close the sockets; pending requests fail with :class:`SnmpError`."""
        for entry in list(self._pending.values()):
            if entry.timer is not None:
                entry.timer.cancel()
            if not entry.fut.done():
                try:
                    entry.fut.set_exception(SnmpError("SNMP client closed"))
                except RuntimeError:  # its event loop is already closed
                    pass
        self._pending.clear()
        loop = self._loop
        for sock in self._socks.values():
            if loop is not None and not loop.is_closed():
                try:
                    loop.remove_reader(sock.fileno())
                except (ValueError, OSError, RuntimeError):
                    pass
            sock.close()
        self._socks.clear()
        self._loop = None

    # -- requests ------------------------------------------------------------------------

    async def _request(
        self,
        target: SnmpTarget,
        pdu_type: int,
        oids: Sequence[str | bytes],
        what: str,
        max_repetitions: int = 0,
    ) -> tuple[int, int, list[ber.VarBind]]:
        """Send one request, wait for its answer: (error-status, error-index, varbinds)."""
        if target.version == "1":
            version = ber.V1
        elif target.version == "2c":
            version = ber.V2C
        else:
            raise SnmpError(
                f"{target.device}: SNMP version {target.version!r} is not supported by "
                "the fast client (v1/v2c only)"
            )
        loop = asyncio.get_running_loop()
        addr, family = await self._resolve(target)
        try:
            sock = self._socket(loop, family)
        except OSError as exc:
            raise SnmpError(f"{target.device}: cannot open a UDP socket: {exc}") from None
        rid = self._next_rid()
        community = target.community.encode()
        message = ber.encode_request(version, community, pdu_type, rid, oids, 0, max_repetitions)
        fut: asyncio.Future[tuple[int, int, list[ber.VarBind]]] = loop.create_future()
        entry = _Pending(
            fut, sock, addr, version, community, message, target.timeout_s, target.retries
        )
        self._pending[rid] = entry
        self.stats.requests += 1
        self._send(entry)
        entry.timer = loop.call_later(target.timeout_s, self._expire, rid)
        try:
            return await fut
        except SnmpTimeout:
            raise SnmpTimeout(
                f"{target.device} ({target.host}:{target.port}): no answer to {what} after "
                f"{target.retries + 1} tries of {target.timeout_s:g}s"
            ) from None
        except _Failed as exc:
            raise SnmpError(
                f"{target.device} ({target.host}:{target.port}): {what}: {exc}"
            ) from None
        finally:
            if entry.timer is not None:
                entry.timer.cancel()
            if self._pending.get(rid) is entry:
                del self._pending[rid]

    def _next_rid(self) -> int:
        rid = self._rid
        while True:
            rid = rid + 1 if rid < 0x7FFFFFFF else 1
            if rid not in self._pending:
                self._rid = rid
                return rid

    def _send(self, entry: _Pending) -> None:
        try:
            entry.sock.sendto(entry.message, entry.addr)
            self.stats.sent += 1
        except OSError as exc:  # EAGAIN, ENOBUFS, unreachable: like a lost datagram
            self.stats.send_errors += 1
            if entry.problem is None:
                entry.problem = f"cannot send: {exc}"
            log.debug("sendto %s failed: %s", entry.addr, exc)

    def _expire(self, rid: int) -> None:
        entry = self._pending.get(rid)
        if entry is None or entry.fut.done():
            return
        # An answer may be queued behind our own work: read it before deciding.
        self._on_readable(entry.sock, limit=16 * DRAIN)
        if entry.fut.done():
            return
        if entry.tries_left > 0:
            entry.tries_left -= 1
            self.stats.retries += 1
            self._send(entry)
            loop = self._loop
            if loop is not None:
                entry.timer = loop.call_later(entry.timeout, self._expire, rid)
                return
        self.stats.timeouts += 1
        del self._pending[rid]
        if entry.problem is not None:
            entry.fut.set_exception(_Failed(entry.problem))
        else:
            entry.fut.set_exception(SnmpTimeout())

    # -- transport -----------------------------------------------------------------------

    async def _resolve(self, target: SnmpTarget) -> tuple[tuple[str, int], int]:
        key = (target.host, target.port)
        hit = self._addrs.get(key)
        if hit is not None and hit[2] > time.monotonic():
            return hit[0], hit[1]
        try:
            ip = ipaddress.ip_address(target.host)
            host, family, ttl = (
                ip.compressed,
                (socket.AF_INET if ip.version == 4 else socket.AF_INET6),
                float("inf"),
            )
        except ValueError:
            loop = asyncio.get_running_loop()
            try:
                infos = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_DGRAM)
            except OSError as exc:
                raise SnmpError(f"{target.device}: cannot resolve {target.host}: {exc}") from None
            infos.sort(key=lambda i: i[0] != socket.AF_INET)  # IPv4 first, like pysnmp
            family, _t, _p, _c, sockaddr = infos[0]
            host, ttl = str(sockaddr[0]), _RESOLVE_TTL_S
        addr = (host, target.port)
        self._addrs[key] = (addr, family, time.monotonic() + ttl)
        return addr, family

    def _socket(self, loop: asyncio.AbstractEventLoop, family: int) -> socket.socket:
        if self._loop is not loop:
            if self._loop is not None:
                self.close()  # a new event loop: the old one's sockets are unusable
            self._loop = loop
        sock = self._socks.get(family)
        if sock is None:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            self.rcvbuf_effective = _grow_rcvbuf(sock, self.rcvbuf_bytes)
            sock.bind(("0.0.0.0", 0) if family == socket.AF_INET else ("::", 0))
            loop.add_reader(sock.fileno(), self._on_readable, sock, DRAIN)
            self._socks[family] = sock
        return sock

    def _on_readable(self, sock: socket.socket, limit: int = DRAIN) -> None:
        recv = sock.recvfrom
        for _ in range(limit):
            try:
                data, addr = recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ICMP errors queued on the socket
                log.debug("recvfrom failed: %s", exc)
                return
            self.stats.received += 1
            try:
                self._on_datagram(data, addr)
            except Exception:
                self.stats.errors += 1
                log.exception("SNMP client: unexpected error handling a datagram from %s", addr)

    def _on_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        stats = self.stats
        try:
            h = ber.decode_header(data, allow_truncated=True)
        except ber.BerError:
            stats.malformed += 1
            return
        entry = self._pending.get(h.request_id)
        if entry is None or entry.fut.done():
            stats.unknown_request_id += 1
            return
        if addr[1] != entry.addr[1] or addr[0] != entry.addr[0]:
            stats.wrong_source += 1
            return
        if h.community != entry.community or h.version != entry.version:
            stats.wrong_community += 1
            return
        if h.pdu_type != ber.RESPONSE:
            stats.not_response += 1
            return
        if h.truncated:
            stats.malformed += 1
            entry.problem = f"undecodable answer (truncated reply of {len(data)} octets)"
            return
        try:
            vbs = ber.decode_varbinds(data, h.varbinds_start, h.varbinds_end)
        except ber.BerError as exc:
            stats.malformed += 1
            entry.problem = f"undecodable answer ({exc})"
            return
        stats.answered += 1
        if entry.timer is not None:
            entry.timer.cancel()
        del self._pending[h.request_id]
        entry.fut.set_result((h.error_status, h.error_index, vbs))


_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33 if sys.platform == "linux" else None)


def _grow_rcvbuf(sock: socket.socket, size: int) -> int:
    """Ask for a ``size`` receive buffer; returns what the kernel reports.

    Linux caps ``SO_RCVBUF`` at ``net.core.rmem_max`` (and reports double the
    granted size); with CAP_NET_ADMIN ``SO_RCVBUFFORCE`` goes past the cap.
    """
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    except OSError as exc:
        log.warning("SO_RCVBUF %d refused: %s", size, exc)
    got = int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
    if sys.platform == "linux" and got < 2 * size and _SO_RCVBUFFORCE is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, size)
            got = int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
        except OSError:  # not privileged
            log.warning(
                "UDP receive buffer capped at %d bytes (asked %d): raise net.core.rmem_max "
                "or replies may be dropped under load",
                got // 2,
                size,
            )
    return got


def _after(raw: bytes) -> str:
    return f"the varbind after {ber.oid_str(raw)}"


class _Failed(Exception):
    """Internal: no usable answer, and not for want of one (see ``_Pending.problem``)."""
