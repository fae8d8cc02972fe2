"""Mutated real replies: the decoder returns a well-formed result or raises
BerError, nothing else, quickly; the client survives whatever comes back.

Seeds are real response datagrams: the simulator's replies to GET / GETNEXT /
GETBULK of every vendor kind (v1 and v2c, tooBig and noSuchName included) and
pysnmp-encoded replies carrying every value type.  Mutations: bit flips, random
bytes, truncation, insertion and deletion, length octets set to boundary
values, splices of two datagrams, pure noise.  Fixed seed, bounded count.
"""

from __future__ import annotations

import asyncio
import random
import time

from pyasn1.codec.ber import decoder
from pysnmp.proto import api, rfc1905
from pysnmp.proto.proxy.rfc2576 import V1_TO_V2_VALUE_MAP

from collectors.snmp import ber
from collectors.snmp.base import SnmpError, SnmpTarget
from collectors.snmp.fast_client import FastSnmpClient
from collectors.snmp.pysnmp_client import to_value
from netfeed.simulator.agent import SnmpAgent
from netfeed.simulator.device import SimulatedDevice
from netfeed.simulator.vendors import VENDORS
from tests.collectors.snmp.wire import ScriptedAgent, pysnmp_response

SEED = 20250101
N_MUTATIONS = 20_000
PER_CALL_S = 0.1  # CPU-s for one decode of a <=64 KiB datagram; typical is ~0.1 ms
TOTAL_S = 60.0
VALUE_TYPES = (int, bytes, str, type(None))
TAGS = {
    ber.INTEGER,
    ber.OCTET_STRING,
    ber.NULL,
    ber.OBJECT_IDENTIFIER,
    ber.IP_ADDRESS,
    ber.COUNTER32,
    ber.GAUGE32,
    ber.TIMETICKS,
    ber.OPAQUE,
    ber.COUNTER64,
    ber.NO_SUCH_OBJECT,
    ber.NO_SUCH_INSTANCE,
    ber.END_OF_MIB_VIEW,
    ber.BAD,
}
BOUNDARY_LENGTHS = [0x00, 0x01, 0x7F, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x89, 0xFF]


def seeds() -> list[bytes]:
    out = []
    for kind in sorted(VENDORS):
        agent = SnmpAgent(SimulatedDevice("fuzz", n_interfaces=6, kind=kind))
        for version in (0, 1):
            reqs = [
                ber.encode_request(version, b"public", ber.GET, 7, ["1.3.6.1.2.1.1.1.0"]),
                ber.encode_request(version, b"public", ber.GET, 8, ["1.3.6.1.2.1.1.1.1"]),
                ber.encode_request(
                    version, b"public", ber.GETNEXT, 9, ["1.3.6.1.2.1.2.2.1.2", "1.3.6.1.9"]
                ),
            ]
            if version == 1:
                reqs.append(
                    ber.encode_request(
                        1,
                        b"public",
                        ber.GETBULK,
                        2**31 - 1,
                        ["1.3.6.1.2.1.31.1.1.1.6", "1.3.6.1.2.1.2.2.1.8", "1.3.6.1.2.1.1"],
                        0,
                        10,
                    )
                )
            for req in reqs:
                reply = agent.handle(req, t=1_700_000_000.0)
                assert reply is not None
                out.append(reply)
    v2c = api.PROTOCOL_MODULES[1]
    out.append(
        pysnmp_response(
            1,
            b"c" * 200,
            -5,
            [
                ("1.3.6.1.2.1.1.2.0", v2c.ObjectIdentifier("1.3.6.1.4.1.268435456.4294967295")),
                ("1.3.6.1.2.1.4.20.1.1.10.0.0.1", v2c.IpAddress("10.0.0.1")),
                ("1.3.6.1.2.1.1.3.0", v2c.TimeTicks(2**32 - 1)),
                ("1.3.6.1.2.1.2.2.1.5.1", v2c.Gauge32(7)),
                ("1.3.6.1.4.1.1.1", v2c.Opaque(b"\x9f\x78\x04\x00")),
                ("1.3.6.1.2.1.31.1.1.1.6.1", v2c.Counter64(2**64 - 1)),
                ("1.3.6.1.2.1.1.7.0", v2c.Integer(-(2**31))),
                ("1.3.6.1.2.1.1.1.0", v2c.OctetString(b"x" * 300)),
                ("1.3.6.1.2.1.99.1", rfc1905.noSuchObject),
                ("1.3.6.1.2.1.99.2", rfc1905.noSuchInstance),
                ("1.3.6.1.2.1.99.3", rfc1905.endOfMibView),
            ],
        )
    )
    return out


def mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    b = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 8))):
        op = rng.randrange(9)
        if not b:
            b = bytearray(rng.randbytes(rng.randint(1, 50)))
        i = rng.randrange(len(b))
        if op == 0:  # bit flip
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1:  # random byte
            b[i] = rng.randrange(256)
        elif op == 2:  # truncation
            del b[rng.randrange(len(b) + 1) :]
        elif op == 3:  # a length octet (the byte after a tag-like byte) at a boundary
            tags = [k + 1 for k in range(len(b) - 1) if b[k] in (0x02, 0x04, 0x06, 0x30, 0xA2)]
            j = rng.choice(tags) if tags else i
            b[j] = rng.choice(BOUNDARY_LENGTHS)
        elif op == 4:  # insert random bytes
            b[i:i] = rng.randbytes(rng.randint(1, 8))
        elif op == 5:  # delete a range
            del b[i : i + rng.randint(1, 16)]
        elif op == 6:  # duplicate a range
            j = rng.randint(i, min(len(b), i + 40))
            b[j:j] = b[i:j]
        elif op == 7:  # splice with another datagram
            other = rng.choice(pool)
            b = b[:i] + other[rng.randrange(len(other)) :]
        else:  # noise
            b = bytearray(rng.randbytes(rng.randint(0, 300)))
    return bytes(b)


def check_message(msg: ber.Message) -> None:
    assert msg.version in (0, 1)
    assert isinstance(msg.community, bytes)
    assert all(isinstance(x, int) for x in msg[2:6])
    for vb in msg.varbinds:
        oid, tag, value, raw = vb
        assert isinstance(oid, str) and isinstance(raw, bytes)
        assert tag in TAGS
        assert isinstance(value, VALUE_TYPES)
        if tag == ber.BAD or tag >= 0x80 or tag == ber.NULL:
            assert value is None
        else:
            assert value is not None
            # a good name is a real OID: it orders and prints
            assert ber.oid_str(raw) == oid
            ber.oid_lt(raw, raw + b"\x01")


def test_decoder_only_returns_or_raises_ber_error():
    rng = random.Random(SEED)
    pool = seeds()
    for s in pool:
        check_message(ber.decode_message(s))  # the seeds themselves decode
    outcomes = {"ok": 0, "ber_error": 0, "bad_varbinds": 0}
    t_start = time.perf_counter()
    for n in range(N_MUTATIONS):
        data = mutate(rng, rng.choice(pool), pool)
        t0 = time.process_time()
        try:
            msg = ber.decode_message(data)
        except ber.BerError:
            outcomes["ber_error"] += 1
        else:
            check_message(msg)
            outcomes["ok"] += 1
            outcomes["bad_varbinds"] += any(t == ber.BAD for _, t, _, _ in msg.varbinds)
        try:
            ber.decode_header(data, allow_truncated=True)
        except ber.BerError:
            pass
        dt = time.process_time() - t0
        assert dt < PER_CALL_S, (n, data.hex())
        assert time.perf_counter() - t_start < TOTAL_S, f"fuzzing too slow after {n} inputs"
    # the mutations reach every outcome, not just the first length check
    assert min(outcomes.values()) > 200, outcomes


def pysnmp_view(data: bytes) -> tuple[int, list[tuple[str, object]]] | None:
    """(request-id, [(oid, plain value)]) as PysnmpClient would see ``data``, or
    None where pysnmp cannot decode it (it then drops the datagram)."""
    try:
        version = int(api.decodeMessageVersion(data))
        pmod = api.PROTOCOL_MODULES[version]
        msg, rest = decoder.decode(data, asn1Spec=pmod.Message())
        pdu = pmod.apiMessage.get_pdu(msg)
        rid = int(pmod.apiPDU.get_request_id(pdu))
        vbs = pmod.apiPDU.get_varbinds(pdu)
    except Exception:
        return None
    if rest:
        return None
    out: list[tuple[str, object]] = []
    for name, v in vbs:
        if version == 0:  # pysnmp hands v1 values to the application as SMIv2 ones
            v = V1_TO_V2_VALUE_MAP[v.tagSet].clone(v)
        kind = type(v).__name__
        # our documented choices where to_value falls through to str(v)
        plain = bytes(v) if kind == "Opaque" else None if kind == "Null" else to_value(v)
        out.append((str(name), plain))
    return rid, out


def test_where_pysnmp_decodes_a_mutant_we_decode_the_same():
    """The strong oracle: on every mutated datagram pyasn1 accepts, our decoder
    must agree on the request-id, every name and every value (types included)."""
    rng = random.Random(SEED + 2)
    pool = seeds()
    compared = 0
    for _ in range(3000):
        data = mutate(rng, rng.choice(pool), pool)
        ref = pysnmp_view(data)
        if ref is None:
            continue
        msg = ber.decode_message(data)  # must not raise where pyasn1 did not
        assert msg.request_id == ref[0]
        ours = [(o, None if t == ber.BAD else v) for o, t, v, _ in msg.varbinds]
        assert all(t != ber.BAD for _, t, _, _ in msg.varbinds), data.hex()
        assert ours == ref[1], data.hex()
        assert [type(v) for _, v in ours] == [type(v) for _, v in ref[1]]
        compared += len(ours)
    assert compared > 500


async def test_client_survives_mutated_replies():
    """A responder that answers every request with a mutated version of the right
    reply (request-id usually intact): walks finish with a result or SnmpError."""
    rng = random.Random(SEED + 1)
    device = SimulatedDevice("fuzz", n_interfaces=12, kind="cisco-ios")
    agent = SnmpAgent(device)
    pool = seeds()

    def handler(msg, addr):
        reply = agent.handle(
            ber.encode_request(
                msg.version,
                msg.community,
                msg.pdu_type,
                msg.request_id,
                [raw for *_, raw in msg.varbinds],
                msg.error_status,
                msg.error_index,
            ),
            t=1_700_000_000.0,
        )
        assert reply is not None
        if rng.random() < 0.3:
            return [(reply, "self")]
        # keep the header (so the reply matches its request) and mutate the rest
        cut = min(len(reply), 20)
        return [(reply[:cut] + mutate(rng, reply, pool)[cut:], "self")]

    client = FastSnmpClient()
    outcomes = {"ok": 0, "error": 0}
    columns = ["1.3.6.1.2.1.2.2.1.2", "1.3.6.1.2.1.31.1.1.1.6", "1.3.6.1.2.1.2.2.1.8"]
    try:
        async with ScriptedAgent(handler) as scripted:
            t = SnmpTarget("fuzz", "127.0.0.1", scripted.port, "2c", "public", 0.05, 1, 5)
            for _ in range(100):
                try:
                    async with asyncio.timeout(2.0):
                        res = await client.walk(t, columns)
                except SnmpError:
                    outcomes["error"] += 1
                else:
                    outcomes["ok"] += 1
                    for col, rows in res.columns.items():
                        assert all(isinstance(v, int | bytes | str) for v in rows.values()), col
    finally:
        client.close()
    assert client.stats.errors == 0
    assert client.stats.malformed > 0
    assert outcomes["ok"] > 10 and outcomes["error"] > 10, outcomes
    assert client._pending == {}
