"""A small, fast BER codec for SNMP v1/v2c messages (RFC 1157, RFC 3416).

Why it exists: pysnmp spends ~70 % of its ~100 us per varbind in pyasn1's
generic BER decoder.  SNMP v1/v2c needs a dozen tags, so this module reads and
writes them with byte slicing and ``int.from_bytes``: ~1-2 us per varbind.

Writing: :func:`encode_request` builds GET / GETNEXT / GETBULK requests.

Reading: :func:`decode_header` reads a message up to its varbind list (cheap:
enough to match a reply to its request), :func:`decode_varbinds` reads the
list, :func:`decode_message` does both.  Every PDU with the common layout
(all but the SNMPv1 Trap) decodes; a GETBULK's non-repeaters and
max-repetitions come back in the error-status / error-index positions.

A varbind is a tuple ``(oid, tag, value, raw)``:

* ``oid``: the name as a dotted string, decoded once per varbind;
* ``tag``: the BER identifier of the value (:data:`INTEGER`, :data:`COUNTER64`,
  ... :data:`END_OF_MIB_VIEW`), or :data:`BAD` when the varbind could not be
  decoded (then ``value`` is None and ``oid`` is the name if it was readable);
* ``value``: the same plain Python value as ``pysnmp_client.to_value``:
  ``int`` for INTEGER/Counter32/Gauge32(Unsigned32)/TimeTicks/Counter64,
  ``bytes`` for OCTET STRING and Opaque, dotted ``str`` for OBJECT IDENTIFIER
  and IpAddress, None for NULL and the noSuchObject / noSuchInstance /
  endOfMibView markers (``tag`` tells them apart);
* ``raw``: the OID's encoded content octets.  Two of them compare with
  :func:`oid_lt` in numeric order, and :func:`encode_request` accepts them in
  place of dotted strings, so a walk re-sends the name it got back as-is.

Errors: anything that breaks the framing (tags, lengths, truncation) raises
:class:`BerError` and nothing else, for any input.  Damage *inside* one
well-framed varbind (an impossible value, an unknown tag, a malformed OID)
does not: that varbind comes back with tag :data:`BAD` and the rest of the
list is read, so a caller can keep what came before it.

Where this is stricter or laxer than pyasn1 (which rejects the whole message
on any of these): an unsigned value sent in two's complement as negative
within its width (``41 04 ff ff ff fe``, a known agent bug) reads as the
unsigned number, like net-snmp; INTEGER is not range-checked against
Integer32 (up to 8 octets); an IpAddress that is not 4 octets, an unsigned
value too large for its type, a sub-identifier above 2**32-1, an
indefinite length, and the SNMPv1-only NsapAddress/UInteger32 tags make the
varbind :data:`BAD` (pyasn1: the message fails).  An empty INTEGER reads as 0,
as in pyasn1.  Bytes after the message are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

# -- identifiers --------------------------------------------------------------------
INTEGER, OCTET_STRING, NULL, OBJECT_IDENTIFIER, SEQUENCE = 0x02, 0x04, 0x05, 0x06, 0x30
IP_ADDRESS, COUNTER32, GAUGE32, TIMETICKS, OPAQUE, COUNTER64 = 0x40, 0x41, 0x42, 0x43, 0x44, 0x46
UNSIGNED32 = GAUGE32
NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW = 0x80, 0x81, 0x82
BAD = -1  # tag of a varbind that could not be decoded

GET, GETNEXT, RESPONSE, SET, GETBULK = 0xA0, 0xA1, 0xA2, 0xA3, 0xA5
INFORM, TRAP_V2, REPORT = 0xA6, 0xA7, 0xA8
V1, V2C = 0, 1

ERROR_STATUS = (
    "noError",
    "tooBig",
    "noSuchName",
    "badValue",
    "readOnly",
    "genErr",
    "noAccess",
    "wrongType",
    "wrongLength",
    "wrongEncoding",
    "wrongValue",
    "noCreation",
    "inconsistentValue",
    "resourceUnavailable",
    "commitFailed",
    "undoFailed",
    "authorizationError",
    "notWritable",
    "inconsistentName",
)

Value = int | bytes | str
VarBind = tuple[str, int, Value | None, bytes]

_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF
_PDU_TAGS = frozenset((0xA0, 0xA1, 0xA2, 0xA3, 0xA5, 0xA6, 0xA7, 0xA8))
_DOT = tuple(f".{i}" for i in range(128))
# first octet of an OID (< 128): "X.Y" for X*40+Y
_FIRST = tuple(f"{min(i // 40, 2)}.{i - 40 * min(i // 40, 2)}" for i in range(128))


class BerError(ValueError):
    """The datagram is not a well-framed SNMP v1/v2c message."""


def error_status_name(status: int) -> str:
    """``tooBig`` for 1 etc.; the number itself when outside RFC 3416's list."""
    return ERROR_STATUS[status] if 0 <= status < len(ERROR_STATUS) else str(status)


# -- writing ------------------------------------------------------------------------


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    size = (n.bit_length() + 7) // 8
    return bytes((tag, 0x80 | size)) + n.to_bytes(size, "big") + content


def _int(value: int) -> bytes:
    size = (value + (value < 0)).bit_length() // 8 + 1
    return _tlv(INTEGER, value.to_bytes(size, "big", signed=True))


_oid_memo: dict[str, bytes] = {}


def oid_content(oid: str) -> bytes:
    """The content octets of a dotted OID (memoised); ValueError if it is not one."""
    raw = _oid_memo.get(oid)
    if raw is not None:
        return raw
    try:
        arcs = [int(p) for p in oid.strip(".").split(".")]
    except ValueError:
        raise ValueError(f"not a dotted OID: {oid!r}") from None
    if (
        len(arcs) < 2
        or not 0 <= arcs[0] <= 2
        or (arcs[0] < 2 and not 0 <= arcs[1] < 40)
        or min(arcs) < 0
        or max(arcs[2:], default=0) > _M32
        or arcs[0] * 40 + arcs[1] > _M32
    ):
        raise ValueError(f"not a valid OID: {oid!r}")
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
    raw = bytes(out)
    if len(_oid_memo) >= 65536:
        _oid_memo.clear()
    _oid_memo[oid] = raw
    return raw


def encode_request(
    version: int,
    community: bytes,
    pdu_type: int,
    request_id: int,
    oids: Iterable[str | bytes],
    non_repeaters: int = 0,
    max_repetitions: int = 0,
) -> bytes:
    """A GET/GETNEXT/GETBULK (any request PDU) with NULL values.

    ``oids`` are dotted strings or raw OID content octets (the ``raw`` of a
    decoded varbind).  For GETBULK, ``non_repeaters`` and ``max_repetitions``
    take the error-status / error-index positions; other PDUs send 0 there.
    """
    vbs = b"".join(
        _tlv(
            SEQUENCE,
            _tlv(OBJECT_IDENTIFIER, o if isinstance(o, bytes) else oid_content(o)) + b"\x05\x00",
        )
        for o in oids
    )
    if pdu_type == GETBULK:
        a, b = non_repeaters, max_repetitions
    else:
        a = b = 0
    pdu = _tlv(pdu_type, _int(request_id) + _int(a) + _int(b) + _tlv(SEQUENCE, vbs))
    return _tlv(SEQUENCE, _int(version) + _tlv(OCTET_STRING, community) + pdu)


# -- reading ------------------------------------------------------------------------


class Header(NamedTuple):
    """A message up to its varbind list; the list is ``data[varbinds_start:varbinds_end]``."""

    version: int
    community: bytes
    pdu_type: int
    request_id: int
    error_status: int
    error_index: int
    varbinds_start: int
    varbinds_end: int
    truncated: bool = False  # only with ``allow_truncated``


class Message(NamedTuple):
    version: int
    community: bytes
    pdu_type: int
    request_id: int
    error_status: int
    error_index: int
    varbinds: list[VarBind]


def _length(data: bytes, p: int, limit: int, clamp: bool = False) -> tuple[int, int]:
    """Read the length octets at ``p``: (content start, content end <= limit).

    ``clamp``: a content end past ``limit`` is returned as is (the caller
    clamps it) instead of raising; for containers cut short by truncation.
    """
    n = data[p]
    if n < 0x80:
        start = p + 1
        end = start + n
    else:
        k = n & 0x7F
        if k == 0:
            raise BerError(f"indefinite length at offset {p}")
        if k > 4:
            raise BerError(f"length of {k} octets at offset {p}")
        start = p + 1 + k
        if start > limit:
            raise BerError(f"truncated length at offset {p}")
        end = start + int.from_bytes(data[p + 1 : start], "big")
    if end > limit and not clamp:
        raise BerError(f"length at offset {p} runs past its container ({end} > {limit})")
    return start, end


def _header_int(data: bytes, p: int, limit: int, what: str) -> tuple[int, int]:
    """An INTEGER at ``p`` -> (value, next offset)."""
    if data[p] != INTEGER:
        raise BerError(f"{what}: expected INTEGER, got tag 0x{data[p]:02x}")
    a, b = _length(data, p + 1, limit)
    if b - a > 8:
        raise BerError(f"{what}: INTEGER of {b - a} octets")
    return int.from_bytes(data[a:b], "big", signed=True), b


def decode_header(data: bytes, *, allow_truncated: bool = False) -> Header:
    """Version, community, PDU type, request-id, error-status/index and where the
    varbinds are.  Raises :class:`BerError` (only) when the framing is broken.

    ``allow_truncated``: a message whose SEQUENCE / PDU / varbind list claim
    more octets than the datagram has still gives its header (with
    ``truncated`` set, and the varbind list cut at the end of the datagram), as
    long as the header fields themselves are complete.  So a reply an agent
    cut short can be told apart from noise: it names its request.
    """
    truncated = False
    size = len(data)
    try:
        if size < 2 or data[0] != SEQUENCE:
            raise BerError("not a SEQUENCE")
        p, end = _length(data, 1, size, allow_truncated)
        if end > size:
            truncated, end = True, size
        version, p = _header_int(data, p, end, "version")
        if version not in (V1, V2C):
            raise BerError(f"unsupported SNMP version field {version}")
        if data[p] != OCTET_STRING:
            raise BerError(f"community: expected OCTET STRING, got tag 0x{data[p]:02x}")
        a, p = _length(data, p + 1, end)
        community = data[a:p]
        pdu_type = data[p]
        if pdu_type not in _PDU_TAGS:
            raise BerError(f"unsupported PDU tag 0x{pdu_type:02x}")
        p, pend = _length(data, p + 1, end, allow_truncated)
        if pend > end:
            truncated, pend = True, end
        request_id, p = _header_int(data, p, pend, "request-id")
        error_status, p = _header_int(data, p, pend, "error-status")
        error_index, p = _header_int(data, p, pend, "error-index")
        if data[p] != SEQUENCE:
            raise BerError(f"varbind list: expected SEQUENCE, got tag 0x{data[p]:02x}")
        a, b = _length(data, p + 1, pend, allow_truncated)
        if b > pend:
            truncated, b = True, pend
    except IndexError:
        raise BerError("truncated message") from None
    return Header(
        version, community, pdu_type, request_id, error_status, error_index, a, b, truncated
    )


def decode_varbinds(data: bytes, start: int, end: int) -> list[VarBind]:
    """The varbinds in ``data[start:end]`` (see the module docstring).

    Raises :class:`BerError` (only) when a varbind's own framing is broken;
    damage inside a well-framed varbind gives a :data:`BAD` varbind instead.
    """
    out: list[VarBind] = []
    append = out.append
    from_bytes = int.from_bytes
    memo_get = _prefix_memo.get
    dots = _DOT
    p = start
    try:
        while p < end:
            # VarBind ::= SEQUENCE { name OBJECT IDENTIFIER, value ObjectSyntax }
            if data[p] != SEQUENCE:
                raise BerError(f"varbind at offset {p}: expected SEQUENCE, got 0x{data[p]:02x}")
            n = data[p + 1]
            if n < 0x80:
                q = p + 2
                e = q + n
                if e > end:
                    raise BerError(f"varbind at offset {p} runs past the list")
            else:
                q, e = _length(data, p + 1, end)
            p = e
            # name
            if e - q < 2 or data[q] != OBJECT_IDENTIFIER:
                append(("", BAD, None, b""))
                continue
            n = data[q + 1]
            if n < 0x80:
                a = q + 2
                b = a + n
                if b > e:
                    append(("", BAD, None, b""))
                    continue
            else:
                try:
                    a, b = _length(data, q + 1, e)
                except BerError:
                    append(("", BAD, None, b""))
                    continue
            raw = data[a:b]
            # Fast paths: the last sub-identifier is one or two octets and the
            # rest is memoised (``_oid_str`` does the same, and everything else).
            c = data[b - 1]
            d = data[b - 2] if b - a > 2 else 0x80
            if c & 0x80 or d == 0x80:
                oid = _oid_str(raw)
            elif d < 0x80:
                oid = memo_get(raw[:-1])
                oid = _oid_str(raw) if oid is None else oid + dots[c]
            elif data[b - 3] < 0x80:
                oid = memo_get(raw[:-2])
                oid = _oid_str(raw) if oid is None else f"{oid}.{((d & 0x7F) << 7) | c}"
            else:
                oid = _oid_str(raw)
            if oid is None:
                append((f"<bad OID {raw.hex()}>", BAD, None, raw))
                continue
            # value
            if b + 2 > e:
                append((oid, BAD, None, raw))
                continue
            tag = data[b]
            n = data[b + 1]
            if n < 0x80:
                a = b + 2
                b = a + n
            else:
                try:
                    a, b = _length(data, b + 1, e)
                except BerError:
                    append((oid, BAD, None, raw))
                    continue
            if b != e:
                append((oid, BAD, None, raw))
                continue
            if tag == COUNTER64:
                v = from_bytes(data[a:b], "big")
                if v > _M64:
                    append((oid, BAD, None, raw))
                    continue
                append((oid, tag, v, raw))
            elif tag == COUNTER32 or tag == GAUGE32 or tag == TIMETICKS:
                v = from_bytes(data[a:b], "big")
                if v > _M32:
                    append((oid, BAD, None, raw))
                    continue
                append((oid, tag, v, raw))
            elif tag == INTEGER:
                if b - a > 8:
                    append((oid, BAD, None, raw))
                    continue
                append((oid, tag, from_bytes(data[a:b], "big", signed=True), raw))
            elif tag == OCTET_STRING or tag == OPAQUE:
                append((oid, tag, data[a:b], raw))
            elif tag == OBJECT_IDENTIFIER:
                s = _oid_str(data[a:b])
                if s is None:
                    append((oid, BAD, None, raw))
                    continue
                append((oid, tag, s, raw))
            elif tag == IP_ADDRESS:
                if b - a != 4:
                    append((oid, BAD, None, raw))
                    continue
                append((oid, tag, f"{data[a]}.{data[a + 1]}.{data[a + 2]}.{data[a + 3]}", raw))
            elif tag == END_OF_MIB_VIEW or tag == NO_SUCH_INSTANCE or tag == NO_SUCH_OBJECT:
                append((oid, tag, None, raw))
            elif tag == NULL and a == b:
                append((oid, tag, None, raw))
            else:
                append((oid, BAD, None, raw))
    except IndexError:
        raise BerError("truncated varbind list") from None
    return out


def decode_message(data: bytes) -> Message:
    """A whole message: header and varbinds.  Raises :class:`BerError` only."""
    h = decode_header(data)
    vbs = decode_varbinds(data, h.varbinds_start, h.varbinds_end)
    return Message(
        h.version, h.community, h.pdu_type, h.request_id, h.error_status, h.error_index, vbs
    )


# -- OIDs -----------------------------------------------------------------------------

_prefix_memo: dict[bytes, str] = {}


def _oid_str(raw: bytes) -> str | None:
    """Dotted string of OID content octets; None if they are not a valid OID.

    The OID splits into its last sub-identifier and the rest; the rest (a
    table column, mostly) is memoised, so a walk converts each column prefix
    once and then only the index per varbind.
    """
    n = len(raw)
    if n == 0 or raw[n - 1] & 0x80:
        return None
    j = n - 1
    while j and raw[j - 1] & 0x80:
        j -= 1
    if j == 0:  # one (first) sub-identifier only
        return _oid_slow(raw)
    pre = raw[:j]
    head = _prefix_memo.get(pre)
    if head is None:
        head = _oid_slow(pre)
        if head is None:
            return None
        if len(_prefix_memo) >= 16384:
            _prefix_memo.clear()
        _prefix_memo[pre] = head
    t = n - j
    if t == 1:
        return head + _DOT[raw[j]]
    c = raw[j]
    if c == 0x80:
        return None  # non-minimal sub-identifier
    if t == 2:
        return f"{head}.{((c & 0x7F) << 7) | raw[j + 1]}"
    if t == 3:
        return f"{head}.{((c & 0x7F) << 14) | ((raw[j + 1] & 0x7F) << 7) | raw[j + 2]}"
    if t > 5:
        return None
    v = 0
    for c in raw[j:]:
        v = (v << 7) | (c & 0x7F)
    if v > _M32:
        return None
    return f"{head}.{v}"


def oid_str(raw: bytes) -> str:
    """Dotted string of OID content octets (``<bad OID ...>`` if malformed)."""
    s = _oid_str(raw)
    return f"<bad OID {raw.hex()}>" if s is None else s


def _oid_slow(raw: bytes) -> str | None:
    if raw.isascii():
        return _FIRST[raw[0]] + "".join([_DOT[c] for c in raw[1:]])
    arcs = oid_arcs(raw)
    if arcs is None:
        return None
    return ".".join(map(str, arcs))


def oid_arcs(raw: bytes) -> tuple[int, ...] | None:
    """The sub-identifiers of OID content octets; None if malformed."""
    if not raw or raw[-1] & 0x80:
        return None
    arcs: list[int] = []
    v = 0
    start = True
    for c in raw:
        if start and c == 0x80:
            return None  # non-minimal sub-identifier
        v = (v << 7) | (c & 0x7F)
        if c & 0x80:
            start = False
            continue
        if v > _M32:
            return None
        if not arcs:
            x = min(v // 40, 2)
            arcs += (x, v - 40 * x)
        else:
            arcs.append(v)
        v = 0
        start = True
    return tuple(arcs)


def oid_lt(a: bytes, b: bytes) -> bool:
    """``a < b`` in OID order, for the raw content octets of two valid OIDs.

    Octet order is OID order up to the first octet where they differ, unless
    the sub-identifier there has a different number of octets in each (the
    one with fewer is smaller, encodings being minimal).
    """
    if a.isascii() and b.isascii():
        return a < b  # one octet per sub-identifier: octet order is OID order
    n = min(len(a), len(b))
    x = int.from_bytes(a[:n], "big") ^ int.from_bytes(b[:n], "big")
    if not x:
        return len(a) < len(b)  # one is a prefix of the other
    k = n - 1 - (x.bit_length() - 1) // 8  # first differing octet
    ea = eb = k
    try:
        while a[ea] & 0x80:
            ea += 1
        while b[eb] & 0x80:
            eb += 1
    except IndexError:  # not a valid OID (last octet has bit 8 set)
        return a < b
    if ea != eb:
        return ea < eb
    return a[k] < b[k]
