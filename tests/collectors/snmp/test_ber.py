"""collectors.snmp.ber against pysnmp/pyasn1: their encodings decoded by ours,
ours decoded by theirs, every value type, and the edge cases of each."""

from __future__ import annotations

import random

import pytest
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api, rfc1902, rfc1905

from collectors.snmp import ber
from collectors.snmp.pysnmp_client import to_value
from tests.collectors.snmp.wire import (
    END,
    V1,
    V2C,
    c32,
    octets,
    pysnmp_response,
    response,
    varbind,
)

v1, v2c = api.PROTOCOL_MODULES[V1], api.PROTOCOL_MODULES[V2C]

LONG_OID = "1.3.6.1.4.1." + ".".join(
    str(x) for x in (2**28, 2**28 + 1, 2**31, 2**32 - 1, 0, 127, 128, 16383, 16384, 2**21)
)
# (name, pysnmp value, expected tag, expected plain value)
V2C_VALUES = [
    ("1.3.6.1.2.1.1.7.0", v2c.Integer(0), ber.INTEGER, 0),
    ("1.3.6.1.2.1.1.7.1", v2c.Integer(-1), ber.INTEGER, -1),
    ("1.3.6.1.2.1.1.7.2", v2c.Integer(-128), ber.INTEGER, -128),
    ("1.3.6.1.2.1.1.7.3", v2c.Integer(-(2**31)), ber.INTEGER, -(2**31)),
    ("1.3.6.1.2.1.1.7.4", v2c.Integer(2**31 - 1), ber.INTEGER, 2**31 - 1),
    ("1.3.6.1.2.1.1.7.5", v2c.Integer(128), ber.INTEGER, 128),
    ("1.3.6.1.2.1.1.1.0", v2c.OctetString(b""), ber.OCTET_STRING, b""),
    ("1.3.6.1.2.1.1.1.1", v2c.OctetString(b"\x00\xff\x80 text"), ber.OCTET_STRING, None),
    ("1.3.6.1.2.1.1.1.2", v2c.OctetString(b"x" * 300), ber.OCTET_STRING, None),
    ("1.3.6.1.2.1.1.1.3", v2c.OctetString(b"y" * 65535), ber.OCTET_STRING, None),
    ("1.3.6.1.2.1.1.2.0", v2c.ObjectIdentifier(LONG_OID), ber.OBJECT_IDENTIFIER, LONG_OID),
    ("1.3.6.1.2.1.1.2.1", v2c.ObjectIdentifier("0.0"), ber.OBJECT_IDENTIFIER, "0.0"),
    ("1.3.6.1.2.1.1.2.2", v2c.ObjectIdentifier("2.999.1"), ber.OBJECT_IDENTIFIER, "2.999.1"),
    ("1.3.6.1.2.1.4.20.1.1.10.0.0.1", v2c.IpAddress("10.0.0.1"), ber.IP_ADDRESS, "10.0.0.1"),
    ("1.3.6.1.2.1.4.20.1.1.255.0.0.1", v2c.IpAddress("255.0.0.1"), ber.IP_ADDRESS, None),
    ("1.3.6.1.2.1.2.2.1.10.1", v2c.Counter32(0), ber.COUNTER32, 0),
    ("1.3.6.1.2.1.2.2.1.10.2", v2c.Counter32(2**32 - 1), ber.COUNTER32, 2**32 - 1),
    ("1.3.6.1.2.1.2.2.1.10.3", v2c.Counter32(2**31), ber.COUNTER32, 2**31),
    ("1.3.6.1.2.1.2.2.1.5.1", v2c.Gauge32(4294967295), ber.GAUGE32, 4294967295),
    ("1.3.6.1.2.1.2.2.1.5.2", v2c.Unsigned32(17), ber.GAUGE32, 17),
    ("1.3.6.1.2.1.1.3.0", v2c.TimeTicks(123456789), ber.TIMETICKS, 123456789),
    ("1.3.6.1.4.1.1.1", v2c.Opaque(b"\x9f\x78\x04\x00\x00\x00\x00"), ber.OPAQUE, None),
    ("1.3.6.1.2.1.31.1.1.1.6.1", v2c.Counter64(0), ber.COUNTER64, 0),
    ("1.3.6.1.2.1.31.1.1.1.6.2", v2c.Counter64(2**64 - 1), ber.COUNTER64, 2**64 - 1),
    ("1.3.6.1.2.1.31.1.1.1.6.3", v2c.Counter64(2**63), ber.COUNTER64, 2**63),
    ("1.3.6.1.2.1.31.1.1.1.6.4", v2c.Counter64(2**32), ber.COUNTER64, 2**32),
    ("1.3.6.1.2.1.99.1", rfc1905.noSuchObject, ber.NO_SUCH_OBJECT, None),
    ("1.3.6.1.2.1.99.2", rfc1905.noSuchInstance, ber.NO_SUCH_INSTANCE, None),
    ("1.3.6.1.2.1.99.3", rfc1905.endOfMibView, ber.END_OF_MIB_VIEW, None),
    ("1.3.6.1.2.1.99.4", v2c.Null(""), ber.NULL, None),
    (LONG_OID, v2c.Integer(7), ber.INTEGER, 7),
    ("1.3." + ".".join(["2147483648"] * 126), v2c.Integer(8), ber.INTEGER, 8),
]
V1_VALUES = [
    ("1.3.6.1.2.1.1.7.0", v1.Integer(-5), ber.INTEGER, -5),
    ("1.3.6.1.2.1.1.1.0", v1.OctetString(b""), ber.OCTET_STRING, b""),
    ("1.3.6.1.2.1.1.2.0", v1.ObjectIdentifier(LONG_OID), ber.OBJECT_IDENTIFIER, LONG_OID),
    ("1.3.6.1.2.1.4.20.1.1.10.0.0.1", v1.IpAddress("10.0.0.1"), ber.IP_ADDRESS, "10.0.0.1"),
    ("1.3.6.1.2.1.2.2.1.10.1", v1.Counter(2**32 - 1), ber.COUNTER32, 2**32 - 1),
    ("1.3.6.1.2.1.2.2.1.5.1", v1.Gauge(10**9), ber.GAUGE32, 10**9),
    ("1.3.6.1.2.1.1.3.0", v1.TimeTicks(0), ber.TIMETICKS, 0),
    ("1.3.6.1.4.1.1.1", v1.Opaque(b"\x01"), ber.OPAQUE, None),
    ("1.3.6.1.2.1.99.4", v1.Null(""), ber.NULL, None),
]


def expected_value(v: object, plain: object) -> object:
    """What our decoder gives: pysnmp_client.to_value, except where to_value falls
    through to ``str(v)``: Opaque is bytes (as base.py promises)."""
    if plain is not None:
        return plain
    if isinstance(v, rfc1902.Opaque | v1.Opaque):
        return bytes(v)  # type: ignore[call-overload]
    return to_value(v)


def test_the_reference_client_leaves_every_null_out() -> None:
    """A NULL value is no value (base.py), whichever class pysnmp decodes it to."""
    from pyasn1.type import univ

    for null in (v2c.Null(""), v1.Null(""), univ.Null("")):
        assert to_value(null) is None, type(null)


@pytest.mark.parametrize(
    ("version", "values"), [(V1, V1_VALUES), (V2C, V2C_VALUES)], ids=["v1", "v2c"]
)
@pytest.mark.parametrize("request_id", [0, 1, 127, 128, 2**31 - 1, -1, -(2**31)])
def test_pysnmp_encoded_responses_decode_to_the_same_values(version, values, request_id):
    wire = pysnmp_response(version, b"pub\x00lic", request_id, [(o, v) for o, v, _t, _p in values])
    msg = ber.decode_message(wire)
    assert msg.version == version
    assert msg.community == b"pub\x00lic"
    assert msg.pdu_type == ber.RESPONSE
    assert (msg.request_id, msg.error_status, msg.error_index) == (request_id, 0, 0)
    assert len(msg.varbinds) == len(values)
    for (oid, tag, value, raw), (name, v, want_tag, plain) in zip(
        msg.varbinds, values, strict=True
    ):
        assert oid == name
        assert tag == want_tag
        assert value == expected_value(v, plain)
        assert type(value) is type(expected_value(v, plain))
        assert raw == ber.oid_content(name)


@pytest.mark.parametrize("version", [V1, V2C])
@pytest.mark.parametrize(("status", "index"), [(1, 0), (2, 3), (5, 1), (18, 200)])
def test_error_status_and_index(version, status, index):
    wire = pysnmp_response(version, b"c", 9, [("1.3.6.1.2.1.1.1.0", v2c.Null(""))], status, index)
    msg = ber.decode_message(wire)
    assert (msg.error_status, msg.error_index) == (status, index)
    # PysnmpClient names error-statuses as SNMPv2 does, v1 replies included
    # (pysnmp turns them into v2c PDUs): the name must match that one
    v2wire = pysnmp_response(V2C, b"c", 9, [], status, index)
    ref = v2c.apiMessage.get_pdu(decoder.decode(v2wire, asn1Spec=v2c.Message())[0])
    assert ber.error_status_name(status) == v2c.apiPDU.get_error_status(ref).prettyPrint()


def test_error_status_names():
    assert ber.error_status_name(1) == "tooBig"
    assert ber.error_status_name(2) == "noSuchName"
    assert ber.error_status_name(5) == "genErr"
    assert ber.error_status_name(99) == "99"


REQUEST_OIDS = ["1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.2.2.1.10", LONG_OID, "0.0", "2.999.16384"]


@pytest.mark.parametrize(
    ("version", "pdu_type"),
    [(V1, ber.GET), (V1, ber.GETNEXT), (V2C, ber.GET), (V2C, ber.GETNEXT), (V2C, ber.GETBULK)],
)
@pytest.mark.parametrize("request_id", [1, 127, 128, 65536, 2**31 - 1])
def test_our_requests_decode_with_pysnmp_and_match_its_encoding(version, pdu_type, request_id):
    wire = ber.encode_request(version, b"public", pdu_type, request_id, REQUEST_OIDS, 0, 25)
    pmod = api.PROTOCOL_MODULES[version]
    msg, rest = decoder.decode(wire, asn1Spec=pmod.Message())
    assert rest == b""
    assert int(pmod.apiMessage.get_version(msg)) == version
    assert bytes(pmod.apiMessage.get_community(msg)) == b"public"
    pdu = pmod.apiMessage.get_pdu(msg)
    want = {
        ber.GET: pmod.GetRequestPDU,
        ber.GETNEXT: pmod.GetNextRequestPDU,
        ber.GETBULK: getattr(pmod, "GetBulkRequestPDU", None),
    }[pdu_type]
    assert pdu.tagSet == want.tagSet
    assert int(pmod.apiPDU.get_request_id(pdu)) == request_id
    if pdu_type == ber.GETBULK:
        assert int(pmod.apiBulkPDU.get_non_repeaters(pdu)) == 0
        assert int(pmod.apiBulkPDU.get_max_repetitions(pdu)) == 25
    else:
        assert int(pmod.apiPDU.get_error_status(pdu)) == 0
    vbs = pmod.apiPDU.get_varbinds(pdu)
    assert [str(o) for o, _ in vbs] == REQUEST_OIDS
    assert all(v.tagSet == pmod.Null.tagSet for _, v in vbs)

    # byte for byte what pysnmp itself would send
    ref = want()
    api_ = pmod.apiBulkPDU if pdu_type == ber.GETBULK else pmod.apiPDU
    api_.set_defaults(ref)
    api_.set_request_id(ref, request_id)
    if pdu_type == ber.GETBULK:
        api_.set_max_repetitions(ref, 25)
    api_.set_varbinds(ref, [(pmod.ObjectIdentifier(o), pmod.Null("")) for o in REQUEST_OIDS])
    rmsg = pmod.Message()
    pmod.apiMessage.set_defaults(rmsg)
    pmod.apiMessage.set_community(rmsg, b"public")
    pmod.apiMessage.set_pdu(rmsg, ref)
    assert wire == encoder.encode(rmsg)

    # and our decoder reads our requests back
    back = ber.decode_message(wire)
    assert (back.version, back.pdu_type, back.request_id) == (version, pdu_type, request_id)
    assert [o for o, *_ in back.varbinds] == REQUEST_OIDS
    assert {t for _, t, _, _ in back.varbinds} == {ber.NULL}


def test_raw_oids_are_sent_as_they_came():
    raw = ber.oid_content(LONG_OID)
    a = ber.encode_request(1, b"p", ber.GETBULK, 5, [raw], 0, 10)
    b = ber.encode_request(1, b"p", ber.GETBULK, 5, [LONG_OID], 0, 10)
    assert a == b


@pytest.mark.parametrize("bad", ["", "1", "3.1", "1.40", "1.3.-1", "1.3.x", "1.3." + str(2**32)])
def test_invalid_request_oids_are_refused(bad):
    with pytest.raises(ValueError):
        ber.oid_content(bad)


def random_oid(rng: random.Random) -> tuple[int, ...]:
    picks = [0, 1, 2, 5, 39, 127, 128, 129, 255, 16383, 16384, 2**21 - 1, 2**21, 2**28, 2**32 - 1]
    first = rng.choice(
        [(0, rng.randrange(40)), (1, rng.randrange(40)), (2, rng.choice(picks[:-1]))]
    )
    return first + tuple(
        rng.choice(picks) if rng.random() < 0.6 else rng.randrange(2**32)
        for _ in range(rng.randrange(0, 10))
    )


def test_oid_order_and_text_match_numeric_tuples():
    rng = random.Random(20240601)
    for _ in range(20_000):
        a = random_oid(rng)
        b = random_oid(rng) if rng.random() < 0.5 else a[: rng.randrange(2, len(a) + 1)]
        if rng.random() < 0.5:
            b = b + random_oid(rng)[2:]
        ra = ber.oid_content(".".join(map(str, a)))
        rb = ber.oid_content(".".join(map(str, b)))
        assert ber.oid_lt(ra, rb) == (a < b), (a, b)
        assert ber.oid_str(ra) == ".".join(map(str, a))
        assert ber.oid_arcs(ra) == a


def decode_one(value_tlv: bytes, name: str = "1.3.6.1.2.1.1.1.0") -> ber.VarBind:
    msg = ber.decode_message(response(1, [varbind(name, value_tlv)]))
    assert len(msg.varbinds) == 1
    return msg.varbinds[0]


@pytest.mark.parametrize(
    ("tlv", "tag", "value"),
    [
        (b"\x02\x00", ber.INTEGER, 0),  # empty INTEGER reads as 0, like pyasn1
        (b"\x41\x00", ber.COUNTER32, 0),
        (b"\x41\x04\xff\xff\xff\xfe", ber.COUNTER32, 2**32 - 2),  # negative within 32 bits
        (b"\x41\x06\x00\x00\x00\x00\x00\x05", ber.COUNTER32, 5),  # non-minimal
        (b"\x46\x08\xff\xff\xff\xff\xff\xff\xff\xff", ber.COUNTER64, 2**64 - 1),
        (b"\x02\x05\x00\xff\xff\xff\xff", ber.INTEGER, 2**32 - 1),  # beyond Integer32
        (b"\x04\x81\x03abc", ber.OCTET_STRING, b"abc"),  # long-form length
        (b"\x82\x00", ber.END_OF_MIB_VIEW, None),
    ],
)
def test_lenient_values(tlv, tag, value):
    _oid, t, v, _raw = decode_one(tlv)
    assert (t, v) == (tag, value)


@pytest.mark.parametrize(
    "tlv",
    [
        b"\x40\x03\x01\x02\x03",  # IpAddress of 3 octets
        b"\x40\x05\x01\x02\x03\x04\x05",
        b"\x41\x05\x01\x00\x00\x00\x00",  # Counter32 > 2**32-1
        b"\x43\x09\x01\x00\x00\x00\x00\x00\x00\x00\x00",
        b"\x46\x09\x01\x00\x00\x00\x00\x00\x00\x00\x00",  # Counter64 > 2**64-1
        b"\x02\x09\x01\x00\x00\x00\x00\x00\x00\x00\x00",  # INTEGER of 9 octets
        b"\x45\x01\x00",  # NsapAddress
        b"\x47\x01\x00",  # UInteger32 (SMIv1 draft)
        b"\x30\x00",  # a SEQUENCE as a value
        b"\x24\x03\x04\x01a",  # constructed OCTET STRING
        b"\x06\x00",  # empty OID
        b"\x06\x02\x2b\x80",  # OID ending inside a sub-identifier
        b"\x06\x03\x2b\x80\x01",  # non-minimal sub-identifier
        b"\x06\x07\x2b\x90\x80\x80\x80\x00\x01",  # sub-identifier > 2**32-1
        b"\x05\x01\x00",  # NULL with content
        b"\x04\x05abc",  # length past the varbind
        b"\x04\x01abc",  # bytes after the value
        b"\x04\x80abc\x00\x00",  # indefinite length
        b"\x04",  # no length at all
        b"",  # no value at all
    ],
)
def test_undecodable_value_gives_a_bad_varbind_and_the_rest_is_read(tlv):
    wire = response(
        1,
        [
            varbind("1.3.6.1.2.1.2.2.1.10.1", c32(1)),
            varbind("1.3.6.1.2.1.2.2.1.10.2", tlv),
            varbind("1.3.6.1.2.1.2.2.1.10.3", c32(3)),
        ],
    )
    vbs = ber.decode_message(wire).varbinds
    assert vbs[0][:3] == ("1.3.6.1.2.1.2.2.1.10.1", ber.COUNTER32, 1)
    assert vbs[1][:3] == ("1.3.6.1.2.1.2.2.1.10.2", ber.BAD, None)
    assert vbs[2][:3] == ("1.3.6.1.2.1.2.2.1.10.3", ber.COUNTER32, 3)


@pytest.mark.parametrize(
    ("name", "oid"),
    [
        (b"\x04\x03abc", ""),  # not an OID
        (b"\x06\x00", "<bad OID >"),
        (b"\x06\x03\x2b\x06\x81", "<bad OID 2b0681>"),
        (b"\x06\x03\x2b\x80\x01", "<bad OID 2b8001>"),
    ],
)
def test_undecodable_name_gives_a_bad_varbind(name, oid):
    wire = response(1, [varbind(name + b"\x05\x00", b""), varbind("1.3.6.1", c32(3))])
    vbs = ber.decode_message(wire).varbinds
    assert vbs[0][:3] == (oid, ber.BAD, None)
    assert vbs[1][:3] == ("1.3.6.1", ber.COUNTER32, 3)


GOOD = response(77, [varbind("1.3.6.1.2.1.1.1.0", octets(b"hello")), varbind("1.3.6.1.2", END)])


@pytest.mark.parametrize(
    "wire",
    [
        b"",
        b"\x30",
        b"\x30\x00",
        b"\x31" + GOOD[1:],  # not a SEQUENCE
        b"\x30\x80" + GOOD[2:] + b"\x00\x00",  # indefinite length
        b"\x30\x85\x00\x00\x00\x00\x10" + GOOD[2:],  # 5 length octets
        b"\x30\x84\x7f\xff\xff\xff" + GOOD[2:40],  # the simulator's "garbage" flavour
        GOOD[: len(GOOD) // 2],  # truncated
        GOOD[:-1],
        GOOD.replace(b"\x02\x01\x01\x04\x06public", b"\x02\x01\x03\x04\x06public"),  # v3
        GOOD.replace(b"\x04\x06public", b"\x05\x06public"),  # community not OCTET STRING
        GOOD.replace(b"\xa2", b"\xa4", 1),  # v1 Trap
        GOOD.replace(b"\xa2", b"\xbf", 1),
    ],
)
def test_broken_framing_raises_ber_error_only(wire):
    with pytest.raises(ber.BerError):
        ber.decode_message(wire)


def test_varbind_list_errors_are_ber_errors_but_the_header_still_reads():
    wire = bytearray(GOOD)
    # break the second varbind's SEQUENCE tag: the header is fine, the list is not
    pos = wire.index(bytes(varbind("1.3.6.1.2", END)))
    wire[pos] = 0x31
    h = ber.decode_header(bytes(wire))
    assert h.request_id == 77
    with pytest.raises(ber.BerError):
        ber.decode_varbinds(bytes(wire), h.varbinds_start, h.varbinds_end)


def test_trailing_bytes_after_the_message_are_ignored():
    assert ber.decode_message(GOOD + b"\x00\x01").request_id == 77


def test_simulator_replies_decode_like_pysnmp():
    """The project's own BER writer (simulator) and pysnmp agree with us on a whole walk."""
    from netfeed.simulator.agent import SnmpAgent
    from netfeed.simulator.device import SimulatedDevice
    from netfeed.simulator.vendors import VENDORS

    for kind in sorted(VENDORS):
        agent = SnmpAgent(SimulatedDevice("d", n_interfaces=20, kind=kind))
        cursor = ["1.3.6.1"]
        for _ in range(30):
            req = ber.encode_request(1, b"public", ber.GETBULK, 42, cursor, 0, 25)
            wire = agent.handle(req, t=1_700_000_000.0)
            assert wire is not None
            ours = ber.decode_message(wire).varbinds
            ref, _ = decoder.decode(wire, asn1Spec=v2c.Message())
            theirs = v2c.apiPDU.get_varbinds(v2c.apiMessage.get_pdu(ref))
            assert [(o, v) for o, _t, v, _r in ours] == [(str(n), to_value(v)) for n, v in theirs]
            if ours[-1][1] == ber.END_OF_MIB_VIEW:
                break
            cursor = [ours[-1][0]]


def test_random_names_and_oid_values_round_trip_through_pysnmp():
    """Every decode path for names (one-, two- and many-octet last sub-identifier,
    memoised prefixes or not) against pysnmp's encoder, with random OIDs."""
    rng = random.Random(7)
    for _ in range(40):
        # a few shared prefixes (so the memoised paths run) with random last parts
        prefixes = [random_oid(rng) for _ in range(3)]
        batch = [
            ".".join(map(str, rng.choice(prefixes) + random_oid(rng)[2 : rng.randrange(2, 5)]))
            for _ in range(50)
        ]
        wire = pysnmp_response(V2C, b"public", 1, [(o, v2c.ObjectIdentifier(o)) for o in batch])
        vbs = ber.decode_message(wire).varbinds
        assert [(o, t, v) for o, t, v, _ in vbs] == [(o, ber.OBJECT_IDENTIFIER, o) for o in batch]
        assert [raw for *_, raw in vbs] == [ber.oid_content(o) for o in batch]
