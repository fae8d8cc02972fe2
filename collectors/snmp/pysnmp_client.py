"""SNMP v1/v2c/v3 through pysnmp 7's asyncio API, one engine per process.

SNMPv3 uses USM with net-snmp's protocol names (see :mod:`collectors.config`).
pysnmp keeps one USM user per user name and engine: two credential sets with
the same user name (say ``netfeed`` with a different key per site) would
overwrite each other in flight, so each further conflicting set gets an engine
of its own (one more UDP socket, ~1 MB); devices sharing credentials share one.
After a v3 timeout the peer's cached engine id is forgotten, so a device
replaced at the same address is rediscovered at the next poll.

MIB lookup is off everywhere (it more than doubles the CPU per varbind) and
OIDs stay numeric.  Columns are walked together: one GETBULK carries every
still-active column, so a 12-column table costs one request per
``max_repetitions`` rows.  ``tooBig`` halves max-repetitions and retries; a
column whose OIDs stop increasing is ended with a problem recorded, keeping
the rows already read.  pysnmp retries a request ``retries`` times, each
after ``timeout_s``; when all fail this raises :class:`SnmpTimeout`.

Malformed datagrams: pysnmp drops what it cannot decode, and some garbage
makes its receive path raise (logged by asyncio as "Exception in callback"
with a traceback).  Each engine's receive path is guarded: nothing a device
sends escapes it, and an undecodable datagram from the device asked is
remembered, so a request that then gets no usable answer fails with
:class:`SnmpError` ("undecodable answer", like the fast client) rather
than :class:`SnmpTimeout`: the device answered, just not usefully.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

from pyasn1.type.univ import Null as _Null
from pyasn1.type.univ import ObjectIdentifier as _Oid
from pysnmp.hlapi.v3arch.asyncio import (
    USM_AUTH_HMAC96_MD5,
    USM_AUTH_HMAC96_SHA,
    USM_AUTH_HMAC128_SHA224,
    USM_AUTH_HMAC192_SHA256,
    USM_AUTH_HMAC256_SHA384,
    USM_AUTH_HMAC384_SHA512,
    USM_PRIV_CBC56_DES,
    USM_PRIV_CFB128_AES,
    USM_PRIV_CFB192_AES,
    USM_PRIV_CFB192_AES_BLUMENTHAL,
    USM_PRIV_CFB256_AES,
    USM_PRIV_CFB256_AES_BLUMENTHAL,
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    bulk_cmd,
    get_cmd,
    next_cmd,
)
from pysnmp.proto import errind, rfc1902, rfc1905

from collectors.snmp import ber
from collectors.snmp.base import SnmpError, SnmpTarget, SnmpTimeout, Value, WalkResult

log = logging.getLogger(__name__)

AUTH_PROTOCOLS: dict[str, Any] = {
    "MD5": USM_AUTH_HMAC96_MD5,
    "SHA": USM_AUTH_HMAC96_SHA,
    "SHA-224": USM_AUTH_HMAC128_SHA224,
    "SHA-256": USM_AUTH_HMAC192_SHA256,
    "SHA-384": USM_AUTH_HMAC256_SHA384,
    "SHA-512": USM_AUTH_HMAC384_SHA512,
}
# net-snmp's AES-192/-256 extend a short localized key as Blumenthal's draft;
# the "-C" (Cisco) variants as Reeder's, which is what pysnmp calls plain AES-192/256.
PRIV_PROTOCOLS: dict[str, Any] = {
    "DES": USM_PRIV_CBC56_DES,
    "AES": USM_PRIV_CFB128_AES,
    "AES-128": USM_PRIV_CFB128_AES,
    "AES-192": USM_PRIV_CFB192_AES_BLUMENTHAL,
    "AES-256": USM_PRIV_CFB256_AES_BLUMENTHAL,
    "AES-192-C": USM_PRIV_CFB192_AES,
    "AES-256-C": USM_PRIV_CFB256_AES,
}
# What a v3 error indication most likely means, in configuration terms.
_V3_HINTS: tuple[tuple[type[errind.ErrorIndication], str], ...] = (
    (errind.WrongDigest, "auth_key or auth_protocol differs from the device's"),
    (errind.AuthenticationFailure, "auth_key or auth_protocol differs from the device's"),
    (errind.DecryptionError, "priv_key or priv_protocol differs from the device's"),
    (errind.UnknownUserName, "the device has no such user (security_name)"),
    (errind.UnsupportedSecurityLevel, "the device's user is not set up for this security_level"),
    (errind.NotInTimeWindow, "engine boots/time out of window (device clock or reboot)"),
)

_TOO_BIG = 1
_AUTHORIZATION_ERROR = 16
_NO_SUCH_NAME = 2
_END = (rfc1905.EndOfMibView, rfc1905.NoSuchObject, rfc1905.NoSuchInstance)
_INTS = (
    rfc1902.Integer32,
    rfc1902.Integer,
    rfc1902.Counter32,
    rfc1902.Gauge32,
    rfc1902.Unsigned32,
    rfc1902.TimeTicks,
    rfc1902.Counter64,
)


def to_value(v: Any) -> Value | None:
    """pysnmp value -> plain Python; None for the end/no-such markers."""
    if isinstance(v, _END):
        return None
    if isinstance(v, _INTS):
        return int(v)
    if isinstance(v, rfc1902.IpAddress):
        return ".".join(str(b) for b in v.asNumbers())
    if isinstance(v, rfc1902.OctetString | rfc1902.Opaque | rfc1902.Bits):
        return bytes(v)
    if isinstance(v, _Oid):
        return ".".join(str(n) for n in v)
    # pyasn1's own Null arrives too (a NULL value in a response varbind)
    if isinstance(v, rfc1902.Null | _Null) or (hasattr(v, "isValue") and not v.isValue):
        return None  # no value on the wire: absent, as base.py promises
    return str(v)


def _who(t: SnmpTarget) -> str:
    """The v3 identity used, for error messages (never the keys)."""
    who = f"SNMPv3 user {t.security_name!r} at {t.security_level}"
    if t.security_level == "authPriv":
        who += f" ({t.auth_protocol}/{t.priv_protocol})"
    elif t.security_level == "authNoPriv":
        who += f" ({t.auth_protocol})"
    return who


def _tuple(oid: str) -> tuple[int, ...]:
    return tuple(int(p) for p in oid.split("."))


class PysnmpClient:
    """:class:`~collectors.snmp.base.SnmpClient` on one shared pysnmp engine.

    ``rcvbuf_bytes`` enlarges the UDP receive buffer: with the kernel default
    (~208 KiB) replies are dropped once ~50 devices answer at once.
    """

    def __init__(self, rcvbuf_bytes: int = 8 << 20) -> None:
        self.engine = SnmpEngine()
        self._engines: list[SnmpEngine] = [self.engine]
        self._users: dict[int, dict[str, tuple[Any, ...]]] = {}  # id(engine) -> user -> creds
        self._v3: dict[tuple[Any, ...], tuple[SnmpEngine, UsmUserData]] = {}
        self._ctx: dict[str, ContextData] = {"": ContextData()}
        self._targets: dict[tuple[str, int, float, int], UdpTransportTarget] = {}
        self._rcvbuf = rcvbuf_bytes
        self._grown: set[int] = set()
        # (host, port) -> (monotonic time, why) of the last undecodable datagram from it
        self._malformed: dict[tuple[str, int], tuple[float, str]] = {}
        self.malformed = 0  # undecodable datagrams seen, all engines
        self._guard(self.engine)

    def _guard(self, engine: SnmpEngine) -> None:
        """Make ``engine``'s receive path drop, and remember, what it cannot decode."""
        md = engine.message_dispatcher
        receive = md.receive_message

        def guarded(snmp_engine: Any, domain: Any, address: Any, whole: Any) -> Any:
            why = _undecodable(bytes(whole))
            try:
                return receive(snmp_engine, domain, address, whole)
            except Exception as exc:  # pysnmp/pyasn1 on garbage: TypeError, PyAsn1Error...
                why = why or f"{type(exc).__name__}: {exc}"
                log.debug("pysnmp could not take a datagram from %s: %r", address, exc)
                return b""
            finally:
                if why is not None:
                    self.malformed += 1
                    try:
                        key = (str(address[0]), int(address[1]))
                    except (TypeError, ValueError, IndexError):
                        key = ("", 0)
                    self._malformed[key] = (time.monotonic(), why)

        md.receive_message = guarded

    def _auth(self, t: SnmpTarget) -> tuple[SnmpEngine, CommunityData | UsmUserData]:
        """The engine to use and its credentials for ``t``."""
        if t.version != "3":
            return self.engine, CommunityData(t.community, mpModel=0 if t.version == "1" else 1)
        auth = t.security_level in ("authNoPriv", "authPriv")
        priv = t.security_level == "authPriv"
        creds = (
            t.security_name,
            t.auth_protocol if auth else None,
            t.auth_key if auth else None,
            t.priv_protocol if priv else None,
            t.priv_key if priv else None,
        )
        found = self._v3.get(creds)
        if found is not None:
            return found
        auth_protocol = AUTH_PROTOCOLS.get(t.auth_protocol or "") if auth else None
        priv_protocol = PRIV_PROTOCOLS.get(t.priv_protocol or "") if priv else None
        if auth and auth_protocol is None:
            raise SnmpError(f"{t.device}: unknown auth_protocol {t.auth_protocol!r}")
        if priv and priv_protocol is None:
            raise SnmpError(f"{t.device}: unknown priv_protocol {t.priv_protocol!r}")
        user = UsmUserData(
            t.security_name,
            authKey=t.auth_key if auth else None,
            privKey=t.priv_key if priv else None,
            authProtocol=auth_protocol,
            privProtocol=priv_protocol,
        )
        for engine in self._engines:
            users = self._users.setdefault(id(engine), {})
            if users.setdefault(t.security_name, creds) == creds:
                break
        else:
            engine = SnmpEngine()
            # Share the first engine's MIB view: each engine otherwise builds its own
            # MIB compiler on first use (~0.5 CPU-s); it only turns numeric OIDs into
            # request varbinds here.
            engine.cache["mibViewController"] = self.engine.cache["mibViewController"]
            self._guard(engine)
            self._engines.append(engine)
            self._users[id(engine)] = {t.security_name: creds}
        self._v3[creds] = engine, user
        return engine, user

    def _context(self, t: SnmpTarget) -> ContextData:
        ctx = self._ctx.get(t.context_name)
        if ctx is None:
            ctx = self._ctx[t.context_name] = ContextData(contextName=t.context_name)
        return ctx

    async def _target(self, t: SnmpTarget) -> UdpTransportTarget:
        key = (t.host, t.port, t.timeout_s, t.retries)
        tgt = self._targets.get(key)
        if tgt is None:
            tgt = await UdpTransportTarget.create(
                (t.host, t.port), timeout=t.timeout_s, retries=t.retries
            )
            self._targets[key] = tgt
        return tgt

    def _grow_rcvbuf(self, engine: SnmpEngine) -> None:
        if id(engine) in self._grown:
            return
        self._grown.add(id(engine))
        disp = engine.transport_dispatcher
        for transport in getattr(disp, "_AbstractTransportDispatcher__transports", {}).values():
            sock = getattr(
                getattr(transport, "transport", None), "get_extra_info", lambda _n: None
            )("socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._rcvbuf)
                except OSError:
                    pass

    def _check(self, t: SnmpTarget, err_ind: Any, err_stat: Any, what: str, since: float) -> None:
        if err_ind:
            if isinstance(err_ind, errind.RequestTimedOut):
                bad = self._malformed_since(t, since)
                if bad is not None:
                    raise SnmpError(
                        f"{t.device} ({t.host}:{t.port}): {what}: undecodable answer ({bad})"
                    )
                if t.version == "3":
                    self._forget_engine_id(t)
                hint = ""
                if t.version == "3" and t.security_level == "authPriv":
                    # net-snmp drops what it cannot decrypt without a report
                    hint = (
                        f" (SNMPv3 user {t.security_name!r} at authPriv: a priv_key or "
                        "priv_protocol that differs from the device's also goes unanswered)"
                    )
                raise SnmpTimeout(
                    f"{t.device} ({t.host}:{t.port}): no answer to {what} after "
                    f"{t.retries + 1} tries of {t.timeout_s:g}s{hint}"
                )
            why = str(err_ind)
            if t.version == "3":
                meaning = next((h for k, h in _V3_HINTS if isinstance(err_ind, k)), None)
                why = f"{why}: {meaning}; {_who(t)}" if meaning else f"{why}; {_who(t)}"
            raise SnmpError(f"{t.device} ({t.host}:{t.port}): {what}: {why}")

    def _malformed_since(self, t: SnmpTarget, since: float) -> str | None:
        """Why the device's last datagram was undecodable, if one came after ``since``."""
        if not self._malformed:
            return None
        tgt = self._targets.get((t.host, t.port, t.timeout_s, t.retries))
        address = tuple(tgt.transport_address)[:2] if tgt is not None else (t.host, t.port)
        hit = self._malformed.get((str(address[0]), int(address[1])))
        return hit[1] if hit is not None and hit[0] >= since else None

    def _forget_engine_id(self, t: SnmpTarget) -> None:
        """Make the next v3 request to ``t`` rediscover its engine id.

        pysnmp caches a peer's engine id per address (for 300 s of dispatcher
        timer ticks, which stop when idle); a device replaced at the same
        address, or an agent that lost its persistent state, then gets requests
        for the old engine id forever and never answers them.  A timeout is when
        that would show, so forget the cached id then: one extra discovery
        round trip for a device that is really down, recovery for one that
        changed.  (A reboot with the same engine id is handled by pysnmp.)
        """
        engine, _auth = self._auth(t)
        mp = engine.message_processing_subsystems.get(3)
        cache = getattr(mp, "_SnmpV3MessageProcessingModel__engineIdCache", None)
        if not isinstance(cache, dict):
            return
        tgt = self._targets.get((t.host, t.port, t.timeout_s, t.retries))
        address = tuple(tgt.transport_address)[:2] if tgt is not None else (t.host, t.port)
        for key in [k for k in cache if tuple(k[1])[:2] == address]:
            del cache[key]

    def _status_error(self, t: SnmpTarget, err_stat: Any, what: str) -> SnmpError:
        why = f"{what} error-status {err_stat.prettyPrint()}"
        if t.version == "3" and int(err_stat) == _AUTHORIZATION_ERROR:
            why += f": the device's access rules refuse {_who(t)}"
            if t.context_name:
                why += f" in context {t.context_name!r}"
        return SnmpError(f"{t.device} ({t.host}:{t.port}): {why}")

    async def get(self, target: SnmpTarget, oids: list[str]) -> dict[str, Value]:
        tgt = await self._target(target)
        engine, auth = self._auth(target)
        since = time.monotonic()
        err_ind, err_stat, _err_idx, vbs = await get_cmd(
            engine,
            auth,
            tgt,
            self._context(target),
            *(ObjectType(ObjectIdentity(o)) for o in oids),
            lookupMib=False,
        )
        self._grow_rcvbuf(engine)
        self._check(target, err_ind, err_stat, "GET", since)
        if int(err_stat) == _NO_SUCH_NAME and target.version == "1" and len(oids) > 1:
            # v1 fails the whole PDU for one missing object: ask one at a time.
            out: dict[str, Value] = {}
            for oid in oids:
                out.update(await self.get(target, [oid]))
            return out
        if int(err_stat):
            if int(err_stat) == _NO_SUCH_NAME:
                return {}
            raise self._status_error(target, err_stat, "GET")
        out = {}
        for name, val in vbs:
            v = to_value(val)
            if v is not None:
                out[str(name)] = v
        return out

    async def walk(self, target: SnmpTarget, columns: list[str]) -> WalkResult:
        tgt = await self._target(target)
        engine, auth = self._auth(target)
        ctx = self._context(target)
        result = WalkResult(columns={c: {} for c in columns})
        prefixes = {c: c + "." for c in columns}
        last = {c: _tuple(c) for c in columns}
        cursor = dict.fromkeys(columns, "")
        active = list(columns)
        reps = target.max_repetitions
        while active:
            request = [ObjectType(ObjectIdentity(cursor[c] or c)) for c in active]
            result.requests += 1
            since = time.monotonic()
            if target.version == "1":
                err_ind, err_stat, err_idx, vbs = await next_cmd(
                    engine, auth, tgt, ctx, *request, lookupMib=False
                )
            else:
                err_ind, err_stat, err_idx, vbs = await bulk_cmd(
                    engine, auth, tgt, ctx, 0, reps, *request, lookupMib=False
                )
            self._grow_rcvbuf(engine)
            self._check(target, err_ind, err_stat, f"walk of {len(active)} column(s)", since)
            status = int(err_stat)
            if status == _TOO_BIG and reps > 1:
                reps = max(1, reps // 2)
                continue
            if status == _NO_SUCH_NAME and target.version == "1":
                # v1 end of view: the errored column is finished; the rest go on.
                idx = int(err_idx) - 1
                done = active[idx] if 0 <= idx < len(active) else None
                active = [c for c in active if c != done] if done else []
                continue
            if status:
                for c in active:
                    result.problems[c] = f"agent error-status {err_stat.prettyPrint()}"
                break
            n = len(active)
            still = set(active)
            ended: list[str] = []  # columns the agent said endOfMibView to
            furthest: tuple[int, ...] = ()  # the highest OID the agent returned a value at
            for i, (name, val) in enumerate(vbs):
                col = active[i % n]
                if not isinstance(val, _END):
                    furthest = max(furthest, tuple(name))
                if col not in still:
                    continue
                oid = str(name)
                if isinstance(val, rfc1905.EndOfMibView):
                    ended.append(col)
                if isinstance(val, _END) or not oid.startswith(prefixes[col]):
                    still.discard(col)
                    continue
                tup = tuple(name)
                if tup <= last[col]:
                    result.problems[col] = f"OID not increasing at {oid}"
                    still.discard(col)
                    continue
                last[col] = tup
                cursor[col] = oid
                v = to_value(val)
                if v is not None:
                    result.columns[col][oid[len(prefixes[col]) :]] = v
            for col in ended:
                # endOfMibView says nothing follows; a value further on proves otherwise
                if furthest > last[col]:
                    result.problems[col] = (
                        f"agent ended the walk early (endOfMibView) after "
                        f"{'.'.join(map(str, last[col]))}"
                    )
            if not vbs:
                break
            active = [c for c in active if c in still]
        return result

    def close(self) -> None:
        for engine in self._engines:
            engine.close_dispatcher()


def _undecodable(data: bytes) -> str | None:
    """Why a v1/v2c datagram does not decode (None if it does, or is SNMPv3: pysnmp's)."""
    try:
        h = ber.decode_header(data)
        ber.decode_varbinds(data, h.varbinds_start, h.varbinds_end)
    except ber.BerError as exc:
        if str(exc) == "unsupported SNMP version field 3":
            return None
        return str(exc)
    return None
