"""A minimal BER writer for SNMP v1/v2c Response messages.

Why it exists: building and encoding a reply through pyasn1 objects costs about
70 us per varbind, most of the simulator's CPU.  Writing the bytes directly is
roughly ten times cheaper.  Requests are still *decoded* by pysnmp/pyasn1, the
side that meets untrusted input.

Guarantee: definite minimal lengths and minimal two's-complement integers.  For
what the agent sends (non-negative integers) that is exactly the bytes pyasn1's
BER encoder produces for the same pysnmp Response message; the tests check it
by decoding and re-encoding with pyasn1.  (For some negative integers, such as
-128, pyasn1 emits one redundant leading byte; both forms decode the same.)

Value tags are the BER identifier octets, which are also the snmprec type
codes: 2 INTEGER, 4 OCTET STRING, 5 NULL, 6 OBJECT IDENTIFIER, 0x41 Counter32,
0x42 Gauge32, 0x43 TimeTicks, 0x46 Counter64, and the SNMPv2 exceptions 0x80
noSuchObject, 0x81 noSuchInstance, 0x82 endOfMibView.
"""

from __future__ import annotations

NULL, NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW = 5, 0x80, 0x81, 0x82
SEQUENCE, RESPONSE_PDU = 0x30, 0xA2


def tlv(tag: int, content: bytes) -> bytes:
    """One tag-length-value with a definite, minimal length."""
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    size = (n.bit_length() + 7) // 8
    return bytes((tag, 0x80 | size)) + n.to_bytes(size, "big") + content


def integer(tag: int, value: int) -> bytes:
    """INTEGER-shaped value (also Counter/Gauge/TimeTicks) in minimal two's complement."""
    size = (value + (value < 0)).bit_length() // 8 + 1
    return tlv(tag, value.to_bytes(size, "big", signed=True))


def oid(arcs: tuple[int, ...]) -> bytes:
    """OBJECT IDENTIFIER TLV; ``arcs`` has at least two arcs (checked by the decoder)."""
    out = bytearray()
    for arc in (arcs[0] * 40 + arcs[1], *arcs[2:]):
        if arc < 0x80:
            out.append(arc)
            continue
        chunk = []
        while arc:
            chunk.append((arc & 0x7F) | 0x80)
            arc >>= 7
        chunk[0] &= 0x7F
        out += bytes(reversed(chunk))
    return tlv(6, bytes(out))


def value(tag: int, val: object) -> bytes:
    """The TLV of one varbind value given its tag (see the module docstring)."""
    if tag == 4:
        return tlv(4, val.encode("latin-1") if isinstance(val, str) else val)  # type: ignore[arg-type]
    if tag == 6:
        return oid(val)  # type: ignore[arg-type]
    if tag >= NO_SUCH_OBJECT or tag == NULL:
        return bytes((tag, 0))
    return integer(tag, val)  # type: ignore[arg-type]


def response(
    version: int,
    community: bytes,
    request_id: int,
    error_status: int,
    error_index: int,
    varbinds: list[bytes],
) -> bytes:
    """A whole Response message; ``varbinds`` are already-encoded VarBind SEQUENCEs."""
    pdu = tlv(
        RESPONSE_PDU,
        integer(2, request_id)
        + integer(2, error_status)
        + integer(2, error_index)
        + tlv(SEQUENCE, b"".join(varbinds)),
    )
    return tlv(SEQUENCE, integer(2, version) + tlv(4, community) + pdu)
