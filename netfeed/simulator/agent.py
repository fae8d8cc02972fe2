"""An SNMP v1/v2c read-only agent for one :class:`SimulatedDevice`, on an asyncio UDP socket.

Guarantees:

* Requests are decoded with pysnmp's protocol API and pyasn1; replies are
  written by :mod:`.ber` (same bytes as pyasn1 would produce, ~10x cheaper).
* GET, GETNEXT and (v2c) GETBULK per RFC 3416: noSuchObject / noSuchInstance /
  endOfMibView exceptions in v2c; error-status noSuchName with error-index in v1,
  where Counter64 objects are invisible (RFC 3584: GET gives noSuchName, GETNEXT
  skips them).  SET is refused (noAccess in v2c, noSuchName in v1).
* A wrong community gets no answer, like a real agent.
* Any datagram that does not decode is dropped and counted in ``stats``; no
  input makes the server raise.  Unexpected handler errors are logged and counted.
* GETBULK replies stop at whole repetitions once ``max_bulk_varbinds`` varbinds
  or ``max_bulk_bytes`` of encoded varbinds are reached (at least one repetition
  is always sent); any reply that still does not fit a UDP datagram becomes tooBig.
* Every value in one reply is computed for the same instant.

Fault modes (:meth:`SnmpAgent.set_fault`): ``"silent"`` never answers,
``"garbage"`` answers with random bytes or malformed BER, ``"slow"`` answers
after ``delay_ms``, ``"repeat-oid"`` answers a GETNEXT/GETBULK step from an
existing object with that same object again (a broken agent: a walk that
trusted it would never end).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

from pyasn1.codec.ber import decoder
from pysnmp.proto import api

from netfeed.simulator import ber
from netfeed.simulator.device import Oid, SimulatedDevice

log = logging.getLogger("netfeed.simulator")

V1, V2C = api.SNMP_VERSION_1, api.SNMP_VERSION_2C

# error-status values (RFC 1157 / RFC 3416)
TOO_BIG, NO_SUCH_NAME, NO_ACCESS = 1, 2, 6
MAX_DATAGRAM = 65507
FAULT_MODES = ("silent", "garbage", "slow", "repeat-oid")


@dataclass(slots=True)
class AgentStats:
    """Counters of what the agent saw; tests and the CLI read them."""

    received: int = 0
    answered: int = 0
    malformed: int = 0  # undecodable datagrams, dropped
    bad_community: int = 0  # dropped without answer
    unsupported: int = 0  # SNMPv3, response/trap PDUs: dropped
    errors: int = 0  # handler bugs, logged and dropped


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, agent: SnmpAgent) -> None:
        self.agent = agent

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.agent._on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP port-unreachable from a client that went away: nothing to do.
        log.debug("simulator socket error: %s", exc)


class SnmpAgent:
    """Serves one device on one UDP port.  :meth:`handle` is usable without a socket."""

    def __init__(
        self,
        device: SimulatedDevice,
        community: str = "public",
        *,
        max_bulk_varbinds: int = 1500,
        max_bulk_bytes: int = 60_000,
    ) -> None:
        self.device = device
        self.community = community
        self._community = community.encode()
        self.max_bulk_varbinds = max_bulk_varbinds
        self.max_bulk_bytes = max_bulk_bytes
        self.stats = AgentStats()
        self.fault: str | None = None
        self.delay_ms = 0.0
        self._rng = random.Random(device.device_id)
        self._transport: asyncio.DatagramTransport | None = None
        self._pending: set[asyncio.TimerHandle] = set()
        # Encoded OID TLVs of the device's OIDs, made on first use.
        self._oid_tlvs: list[bytes | None] = [None] * len(device.oids)

    # -- lifecycle -------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Bind and serve; returns the bound port (``port=0`` picks a free one)."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), local_addr=(host, port)
        )
        self._transport = transport  # type: ignore[assignment]
        return self.port

    async def stop(self) -> None:
        """Close the socket and drop replies still waiting in ``slow`` mode."""
        for handle in self._pending:
            handle.cancel()
        self._pending.clear()
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    @property
    def port(self) -> int:
        """The bound UDP port, or 0 when not started."""
        if self._transport is None:
            return 0
        return self._transport.get_extra_info("sockname")[1]

    def set_fault(self, mode: str | None, delay_ms: float = 1500.0) -> None:
        """Set a fault mode (``silent``, ``garbage``, ``slow``, ``repeat-oid``) or clear it
        with None."""
        if mode is not None and mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}; known: {', '.join(FAULT_MODES)}")
        self.fault = mode
        self.delay_ms = delay_ms

    # -- datagrams -------------------------------------------------------------------

    def _on_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        self.stats.received += 1
        if self.fault == "silent":
            return
        reply = self.handle(data)
        if reply is None:
            return
        if self.fault == "garbage":
            reply = self._garble(reply)
        if self.fault == "slow":
            loop = asyncio.get_running_loop()

            def fire() -> None:
                self._pending.discard(handle)
                self._send(reply, addr)

            handle = loop.call_later(self.delay_ms / 1000, fire)
            self._pending.add(handle)
            return
        self._send(reply, addr)

    def _send(self, reply: bytes, addr: tuple[str, int]) -> None:
        if self._transport is not None:
            self._transport.sendto(reply, addr)
            self.stats.answered += 1

    def _garble(self, reply: bytes) -> bytes:
        # Three flavours a collector must survive: noise, a truncated reply,
        # and a SEQUENCE whose length runs past the end of the datagram.
        choice = self._rng.randrange(3)
        if choice == 0:
            return self._rng.randbytes(self._rng.randint(1, 200))
        if choice == 1:
            return reply[: max(1, len(reply) // 2)]
        return b"\x30\x84\x7f\xff\xff\xff" + reply[2:40]

    # -- SNMP ------------------------------------------------------------------------

    def handle(self, data: bytes, t: float | None = None) -> bytes | None:
        """Answer one request datagram as of time ``t``; None means send nothing."""
        try:
            version = int(api.decodeMessageVersion(data))
            pmod = api.PROTOCOL_MODULES[version]
            msg, rest = decoder.decode(data, asn1Spec=pmod.Message())
            if rest:
                raise ValueError("trailing bytes")
        except KeyError:
            self.stats.unsupported += 1  # e.g. SNMPv3
            return None
        except Exception:
            self.stats.malformed += 1
            return None
        if bytes(pmod.apiMessage.get_community(msg)) != self._community:
            self.stats.bad_community += 1
            return None
        try:
            return self._respond(version, pmod, msg, time.time() if t is None else t)
        except Exception:
            self.stats.errors += 1
            log.exception("simulator %s: failed to answer a request", self.device.device_id)
            return None

    def _respond(self, version: int, pmod: Any, msg: Any, t: float) -> bytes | None:
        req = pmod.apiMessage.get_pdu(msg)
        tag = req.tagSet
        reqs = [tuple(oid) for oid, _ in pmod.apiPDU.get_varbinds(req)]
        if any(len(oid) < 2 for oid in reqs):
            self.stats.malformed += 1
            return None
        error: tuple[int, int] | None = None
        if tag == pmod.GetRequestPDU.tagSet:
            out, error = self._get(version, reqs, t)
        elif tag == pmod.GetNextRequestPDU.tagSet:
            out, error = self._next(version, reqs, t)
        elif version == V2C and tag == pmod.GetBulkRequestPDU.tagSet:
            n = int(pmod.apiBulkPDU.get_non_repeaters(req))
            m = int(pmod.apiBulkPDU.get_max_repetitions(req))
            out = self._bulk(reqs, n, m, t)
        elif tag == pmod.SetRequestPDU.tagSet:
            out, error = [], (NO_SUCH_NAME if version == V1 else NO_ACCESS, 1)
        else:
            self.stats.unsupported += 1
            return None
        request_id = int(pmod.apiPDU.get_request_id(req))
        # An error reply echoes the request's varbinds (RFC 1157 4.1, RFC 3416 4.2).
        echo = [_vb(ber.oid(oid), _NULL) for oid in reqs]
        if error is not None:
            return ber.response(version, self._community, request_id, *error, echo)
        wire = ber.response(version, self._community, request_id, 0, 0, out)
        if len(wire) > MAX_DATAGRAM:
            # v2c sends an empty list; v1 echoes the request (RFC 1157 4.1.2).
            echo = [] if version == V2C else echo
            wire = ber.response(version, self._community, request_id, TOO_BIG, 0, echo)
        return wire

    def _bind(self, pos: int, t: float) -> bytes:
        """The encoded VarBind of the device's OID at ``pos``, valued at ``t``."""
        oid_tlv = self._oid_tlvs[pos]
        if oid_tlv is None:
            oid_tlv = self._oid_tlvs[pos] = ber.oid(self.device.oids[pos])
        return _vb(oid_tlv, ber.value(*self.device.value_at(pos, t)))

    def break_walks_at(self, oid: Oid | None) -> None:
        """Answer endOfMibView to any GETNEXT/GETBULK step that would cross ``oid``,
        while steps starting past it go on: what an agent does with a record it
        cannot encode (snmpsim does this with a bad value).  None repairs it."""
        self.broken_at = oid

    def _next_pos(self, version: int, oid: Oid) -> int | None:
        dev = self.device
        if self.fault == "repeat-oid":
            same = dev.position(oid)
            if same is not None:
                return same
        pos = dev.next_position(oid)
        broken = getattr(self, "broken_at", None)
        if broken is not None and pos is not None and oid < broken <= dev.oids[pos]:
            return None
        if version == V1:
            # SNMPv1 cannot carry Counter64: skip those objects (RFC 3584 4.2.2.1).
            while pos is not None and dev.is_counter64[pos]:
                pos = pos + 1 if pos + 1 < len(dev.oids) else None
        return pos

    def _get(self, version: int, reqs: list[Oid], t: float):
        dev, out = self.device, []
        for k, oid in enumerate(reqs, start=1):
            pos = dev.position(oid)
            if pos is None or (version == V1 and dev.is_counter64[pos]):
                if version == V1:
                    return [], (NO_SUCH_NAME, k)
                exc = ber.NO_SUCH_INSTANCE if dev.is_known_object(oid) else ber.NO_SUCH_OBJECT
                out.append(_vb(ber.oid(oid), bytes((exc, 0))))
            else:
                out.append(self._bind(pos, t))
        return out, None

    def _next(self, version: int, reqs: list[Oid], t: float):
        out = []
        for k, oid in enumerate(reqs, start=1):
            pos = self._next_pos(version, oid)
            if pos is None:
                if version == V1:
                    return [], (NO_SUCH_NAME, k)
                out.append(_vb(ber.oid(oid), _END))
            else:
                out.append(self._bind(pos, t))
        return out, None

    def _bulk(self, reqs: list[Oid], non_rep: int, max_rep: int, t: float) -> list[bytes]:
        n = min(max(non_rep, 0), len(reqs))
        out, _ = self._next(V2C, reqs[:n], t)
        # Per repeater: the OID to continue from, or None once it hit endOfMibView.
        cols: list[Oid | None] = list(reqs[n:])
        last = list(reqs[n:])
        used = sum(map(len, out))
        for rep in range(max(max_rep, 0)):
            full = len(out) + len(cols) > self.max_bulk_varbinds or used > self.max_bulk_bytes
            if rep and full:
                break
            for j, oid in enumerate(cols):
                pos = None if oid is None else self._next_pos(V2C, oid)
                if pos is None:
                    cols[j] = None
                    vb = _vb(ber.oid(last[j]), _END)
                else:
                    cols[j] = last[j] = self.device.oids[pos]
                    vb = self._bind(pos, t)
                out.append(vb)
                used += len(vb)
            if all(oid is None for oid in cols):
                break  # RFC 3416 4.2.3: may stop once every repeater is at endOfMibView
        return out


_NULL = bytes((ber.NULL, 0))
_END = bytes((ber.END_OF_MIB_VIEW, 0))


def _vb(oid_tlv: bytes, value_tlv: bytes) -> bytes:
    return ber.tlv(ber.SEQUENCE, oid_tlv + value_tlv)
