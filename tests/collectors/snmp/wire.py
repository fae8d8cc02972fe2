"""Helpers for the SNMP codec/client tests: messages built by pysnmp or by hand,
and a scripted UDP agent whose answers a test writes itself."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from pyasn1.codec.ber import encoder
from pysnmp.proto import api

from collectors.snmp import ber
from netfeed.simulator import ber as sim_ber

V1, V2C = api.SNMP_VERSION_1, api.SNMP_VERSION_2C


def pysnmp_response(
    version: int,
    community: bytes,
    request_id: int,
    varbinds: Sequence[tuple[str, Any]],
    error_status: int = 0,
    error_index: int = 0,
) -> bytes:
    """A Response message encoded by pysnmp/pyasn1 (the reference encoder)."""
    pmod = api.PROTOCOL_MODULES[version]
    pdu = pmod.GetResponsePDU()
    pmod.apiPDU.set_defaults(pdu)
    pmod.apiPDU.set_request_id(pdu, request_id)
    pmod.apiPDU.set_error_status(pdu, error_status)
    pmod.apiPDU.set_error_index(pdu, error_index)
    pmod.apiPDU.set_varbinds(pdu, [(pmod.ObjectIdentifier(o), v) for o, v in varbinds])
    msg = pmod.Message()
    pmod.apiMessage.set_defaults(msg)
    pmod.apiMessage.set_community(msg, community)
    pmod.apiMessage.set_pdu(msg, pdu)
    return bytes(encoder.encode(msg))


def oid_tlv(oid: str) -> bytes:
    return sim_ber.oid(tuple(int(p) for p in oid.split(".")))


def varbind(oid: str | bytes, value_tlv: bytes) -> bytes:
    """One encoded VarBind; ``oid`` dotted, or an already encoded name TLV."""
    name = oid if isinstance(oid, bytes) else oid_tlv(oid)
    return sim_ber.tlv(0x30, name + value_tlv)


def response(
    request_id: int,
    varbinds: Sequence[bytes],
    *,
    version: int = V2C,
    community: bytes = b"public",
    error_status: int = 0,
    error_index: int = 0,
) -> bytes:
    """A Response written by hand from encoded varbinds (see :func:`varbind`)."""
    return sim_ber.response(
        version, community, request_id, error_status, error_index, list(varbinds)
    )


def c32(v: int) -> bytes:
    return sim_ber.integer(0x41, v)


def c64(v: int) -> bytes:
    return sim_ber.integer(0x46, v)


def octets(v: bytes) -> bytes:
    return sim_ber.tlv(0x04, v)


END = bytes((0x82, 0))

# handler(request, source address) -> datagrams to send: (bytes, "self" | "other")
Handler = Callable[[ber.Message, tuple[str, int]], list[tuple[bytes, str]]]


class _Proto(asyncio.DatagramProtocol):
    def __init__(self, agent: ScriptedAgent) -> None:
        self.agent = agent

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.agent._on(data, addr)


class ScriptedAgent:
    """A UDP "agent" on loopback that answers as ``handler`` says; ``other`` is a
    second socket, to answer from a wrong port."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[ber.Message] = []
        self.main: asyncio.DatagramTransport | None = None
        self.other: asyncio.DatagramTransport | None = None

    async def __aenter__(self) -> ScriptedAgent:
        loop = asyncio.get_running_loop()
        self.main, _ = await loop.create_datagram_endpoint(
            lambda: _Proto(self), local_addr=("127.0.0.1", 0)
        )
        self.other, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        for t in (self.main, self.other):
            if t is not None:
                t.close()

    @property
    def port(self) -> int:
        assert self.main is not None
        return int(self.main.get_extra_info("sockname")[1])

    def _on(self, data: bytes, addr: tuple[str, int]) -> None:
        msg = ber.decode_message(data)
        self.requests.append(msg)
        for reply, via in self.handler(msg, addr):
            transport = self.main if via == "self" else self.other
            assert transport is not None
            transport.sendto(reply, addr)
