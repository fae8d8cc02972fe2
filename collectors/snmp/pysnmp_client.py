"""SNMP v1/v2c through pysnmp 7's asyncio API, one engine per process.

MIB lookup is off everywhere (it more than doubles the CPU per varbind) and
OIDs stay numeric.  Columns are walked together: one GETBULK carries every
still-active column, so a 12-column table costs one request per
``max_repetitions`` rows.  ``tooBig`` halves max-repetitions and retries; a
column whose OIDs stop increasing is ended with a problem recorded, keeping
the rows already read.  pysnmp retries a request ``retries`` times, each
after ``timeout_s``; when all fail this raises :class:`SnmpTimeout`.
"""

from __future__ import annotations

import socket
from typing import Any

from pyasn1.type.univ import ObjectIdentifier as _Oid
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    bulk_cmd,
    get_cmd,
    next_cmd,
)
from pysnmp.proto import errind, rfc1902, rfc1905

from collectors.snmp.base import SnmpError, SnmpTarget, SnmpTimeout, Value, WalkResult

_TOO_BIG = 1
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
    if isinstance(v, rfc1902.OctetString):  # also Opaque, Bits
        return bytes(v)
    if isinstance(v, _Oid):
        return ".".join(str(n) for n in v)
    if hasattr(v, "isValue") and not v.isValue:
        return None
    return str(v)


def _tuple(oid: str) -> tuple[int, ...]:
    return tuple(int(p) for p in oid.split("."))


class PysnmpClient:
    """:class:`~collectors.snmp.base.SnmpClient` on one shared pysnmp engine.

    ``rcvbuf_bytes`` enlarges the UDP receive buffer: with the kernel default
    (~208 KiB) replies are dropped once ~50 devices answer at once.
    """

    def __init__(self, rcvbuf_bytes: int = 8 << 20) -> None:
        self.engine = SnmpEngine()
        self._ctx = ContextData()
        self._targets: dict[tuple[str, int, float, int], UdpTransportTarget] = {}
        self._rcvbuf = rcvbuf_bytes
        self._rcvbuf_done = False

    def _auth(self, t: SnmpTarget) -> CommunityData:
        return CommunityData(t.community, mpModel=0 if t.version == "1" else 1)

    async def _target(self, t: SnmpTarget) -> UdpTransportTarget:
        key = (t.host, t.port, t.timeout_s, t.retries)
        tgt = self._targets.get(key)
        if tgt is None:
            tgt = await UdpTransportTarget.create(
                (t.host, t.port), timeout=t.timeout_s, retries=t.retries
            )
            self._targets[key] = tgt
        return tgt

    def _grow_rcvbuf(self) -> None:
        if self._rcvbuf_done:
            return
        self._rcvbuf_done = True
        disp = self.engine.transport_dispatcher
        for transport in getattr(disp, "_AbstractTransportDispatcher__transports", {}).values():
            sock = getattr(
                getattr(transport, "transport", None), "get_extra_info", lambda _n: None
            )("socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._rcvbuf)
                except OSError:
                    pass

    def _check(self, t: SnmpTarget, err_ind: Any, err_stat: Any, what: str) -> None:
        if err_ind:
            if isinstance(err_ind, errind.RequestTimedOut):
                raise SnmpTimeout(
                    f"{t.device} ({t.host}:{t.port}): no answer to {what} after "
                    f"{t.retries + 1} tries of {t.timeout_s:g}s"
                )
            raise SnmpError(f"{t.device} ({t.host}:{t.port}): {what}: {err_ind}")

    async def get(self, target: SnmpTarget, oids: list[str]) -> dict[str, Value]:
        tgt = await self._target(target)
        err_ind, err_stat, _err_idx, vbs = await get_cmd(
            self.engine,
            self._auth(target),
            tgt,
            self._ctx,
            *(ObjectType(ObjectIdentity(o)) for o in oids),
            lookupMib=False,
        )
        self._grow_rcvbuf()
        self._check(target, err_ind, err_stat, "GET")
        if int(err_stat) == _NO_SUCH_NAME and target.version == "1" and len(oids) > 1:
            # v1 fails the whole PDU for one missing object: ask one at a time.
            out: dict[str, Value] = {}
            for oid in oids:
                out.update(await self.get(target, [oid]))
            return out
        if int(err_stat):
            if int(err_stat) == _NO_SUCH_NAME:
                return {}
            raise SnmpError(f"{target.device}: GET error-status {err_stat.prettyPrint()}")
        out = {}
        for name, val in vbs:
            v = to_value(val)
            if v is not None:
                out[str(name)] = v
        return out

    async def walk(self, target: SnmpTarget, columns: list[str]) -> WalkResult:
        tgt = await self._target(target)
        auth = self._auth(target)
        result = WalkResult(columns={c: {} for c in columns})
        prefixes = {c: c + "." for c in columns}
        last = {c: _tuple(c) for c in columns}
        cursor = dict.fromkeys(columns, "")
        active = list(columns)
        reps = target.max_repetitions
        while active:
            request = [ObjectType(ObjectIdentity(cursor[c] or c)) for c in active]
            result.requests += 1
            if target.version == "1":
                err_ind, err_stat, err_idx, vbs = await next_cmd(
                    self.engine, auth, tgt, self._ctx, *request, lookupMib=False
                )
            else:
                err_ind, err_stat, err_idx, vbs = await bulk_cmd(
                    self.engine, auth, tgt, self._ctx, 0, reps, *request, lookupMib=False
                )
            self._grow_rcvbuf()
            self._check(target, err_ind, err_stat, f"walk of {len(active)} column(s)")
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
            for i, (name, val) in enumerate(vbs):
                col = active[i % n]
                if col not in still:
                    continue
                oid = str(name)
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
            if not vbs:
                break
            active = [c for c in active if c in still]
        return result

    def close(self) -> None:
        self.engine.close_dispatcher()
