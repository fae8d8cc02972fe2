"""The simulated SNMP network, checked through real clients (pysnmp 7 hlapi, net-snmp tools)."""

from __future__ import annotations

import asyncio
import csv
import math
import shutil
import signal
import socket
import sys
import time

import pytest
from pyasn1.codec.ber import decoder, encoder
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    bulk_cmd,
    bulk_walk_cmd,
    get_cmd,
    walk_cmd,
)
from pysnmp.proto import api
from pysnmp.proto.rfc1905 import EndOfMibView, NoSuchInstance, NoSuchObject

from netfeed.simulator import VENDORS, SimulatedDevice, SimulatedNetwork, SnmpAgent
from netfeed.simulator.device import IF_ENTRY, IFX_ENTRY

KINDS = sorted(VENDORS)
SYS_DESCR, SYS_OID, SYS_UPTIME = "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.3.0"
IF_TABLE = "1.3.6.1.2.1.2.2"
P2 = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]


def dotted(oid: tuple[int, ...]) -> str:
    return ".".join(map(str, oid))


@pytest.fixture
async def net():
    # One device of each vendor kind, on free ports so tests can run in parallel.
    async with SimulatedNetwork("t", len(KINDS), seed=7, base_port=0, kinds=KINDS) as n:
        yield n


@pytest.fixture
def engine():
    eng = SnmpEngine()
    yield eng
    eng.close_dispatcher()


async def target(port: int, wait_s: float = 1.0):
    return await UdpTransportTarget.create(("127.0.0.1", port), timeout=wait_s, retries=0)


async def get(engine, port, *oids, community="public", mp_model=1, wait_s=1.0):
    return await get_cmd(
        engine,
        CommunityData(community, mpModel=mp_model),
        await target(port, wait_s),
        ContextData(),
        *(ObjectType(ObjectIdentity(o)) for o in oids),
        lookupMib=False,
    )


def raw_request(pdu_cls, oids, community=b"public", **bulk) -> bytes:
    """Encode a v2c request with pysnmp's protocol API (for Agent.handle and raw sockets)."""
    pdu = pdu_cls()
    papi = P2.apiBulkPDU if bulk else P2.apiPDU
    papi.set_defaults(pdu)
    if bulk:
        papi.set_non_repeaters(pdu, bulk.get("non_repeaters", 0))
        papi.set_max_repetitions(pdu, bulk["max_repetitions"])
    papi.set_varbinds(pdu, [(o, P2.null) for o in oids])
    msg = P2.Message()
    P2.apiMessage.set_defaults(msg)
    P2.apiMessage.set_community(msg, community)
    P2.apiMessage.set_pdu(msg, pdu)
    return encoder.encode(msg)


def decode_reply(wire: bytes):
    msg, rest = decoder.decode(wire, asn1Spec=P2.Message())
    assert rest == b""
    return P2.apiMessage.get_pdu(msg)


# -- device model ------------------------------------------------------------------------


def test_device_is_deterministic_per_seed_and_id():
    a = SimulatedDevice("r1", seed=3, now=1e9)
    b = SimulatedDevice("r1", seed=3, now=1e9)
    assert a.kind == b.kind and a.sys_descr == b.sys_descr
    assert [i.spec for i in a.interfaces] == [i.spec for i in b.interfaces]
    t = 1e9 + 123.4
    assert a.snmprec(t) == b.snmprec(t)
    kinds = {SimulatedDevice(f"r{i}", seed=3, now=1e9).kind for i in range(40)}
    assert kinds == set(VENDORS)  # the seed spreads devices over every vendor kind


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_plausible_interfaces(kind):
    dev = SimulatedDevice("r1", kind=kind, n_interfaces=8)
    assert len(dev.interfaces) == 8
    names = [i.spec.name for i in dev.interfaces]
    assert len(set(names)) == 8
    assert any(i.oper_up and i.in_bps > 1e6 for i in dev.interfaces)  # some real traffic
    for iface in dev.interfaces:
        peak = max(iface.in_bps, iface.out_bps) * (1 + iface.swing)
        assert peak <= iface.spec.speed_bps  # never above line rate
        if iface.ethernet:
            assert len(iface.mac) == 6 and iface.mac[:3] == dev.profile.oui


def test_32bit_counter_wraps_and_64bit_keeps_counting():
    dev = SimulatedDevice("r1", kind="arista-eos", now=1e9)
    uplink = max(dev.interfaces, key=lambda i: i.in_bps)
    in32 = (*IF_ENTRY, 10, uplink.if_index)
    in64 = (*IFX_ENTRY, 6, uplink.if_index)
    far = 1e9 + 10 * 365 * 86400  # ten years on
    hc = uplink.in_octets(far)
    assert hc > 2**40
    assert dev.get(in64, far) == (70, hc)
    assert dev.get(in32, far) == (65, hc % 2**32)
    # A multi-gigabit link wraps the 32-bit counter within seconds; modular
    # differences still give the true delta as long as polls are closer than a wrap.
    wrapped = False
    for step in range(1, 200):
        t1, t2 = far + step * 0.5, far + step * 0.5 + 0.5
        c1, c2 = dev.get(in32, t1)[1], dev.get(in32, t2)[1]
        h1, h2 = dev.get(in64, t1)[1], dev.get(in64, t2)[1]
        assert (c2 - c1) % 2**32 == h2 - h1
        wrapped |= c2 < c1
    assert wrapped


def test_counters_are_monotonic_and_follow_the_modelled_rate():
    dev = SimulatedDevice("r1", kind="cisco-ios", now=1e9)
    iface = max(dev.interfaces, key=lambda i: i.in_bps)
    t0 = 1e9 + 5000
    prev = iface.in_octets(t0)
    for k in range(1, 600):
        t = t0 + k * 7.3
        cur = iface.in_octets(t)
        assert cur >= prev
        mean = (cur - prev) * 8 / 7.3
        mid = iface.in_rate_bps(t - 3.65)
        assert math.isclose(mean, mid, rel_tol=0.01)
        prev = cur


def test_reboot_resets_uptime_and_counters_and_link_flap_freezes_counters():
    dev = SimulatedDevice("r1", kind="juniper-junos", now=1e9)
    iface = max(dev.interfaces, key=lambda i: i.in_bps)
    assert dev.uptime_ticks(1e9) > 86400 * 100
    dev.reboot(at=1e9 + 10)
    assert dev.uptime_ticks(1e9 + 12.5) == 250
    assert 0 < iface.in_octets(1e9 + 11) < iface.in_bps / 8 * 1.5
    assert dev.get((*IF_ENTRY, 9, iface.if_index), 1e9 + 20) == (67, 0)  # ifLastChange
    dev.set_oper_status(iface.if_index, False, at=1e9 + 20)
    frozen = iface.in_octets(1e9 + 20)
    assert iface.in_octets(1e9 + 30) == frozen
    assert dev.get((*IF_ENTRY, 8, iface.if_index), 1e9 + 30) == (2, 2)  # ifOperStatus down
    assert dev.get((*IF_ENTRY, 9, iface.if_index), 1e9 + 30) == (67, 1000)
    dev.set_oper_status(iface.if_index, True, at=1e9 + 40)
    assert iface.in_octets(1e9 + 40) == frozen
    assert iface.in_octets(1e9 + 41) > frozen


def test_snmprec_export_parses_with_snmpsim():
    record = pytest.importorskip("snmpsim.record.snmprec").SnmprecRecord()
    dev = SimulatedDevice("r1", kind="cisco-ios", now=1e9)
    t = 1e9 + 60
    lines = dev.snmprec(t).splitlines()
    assert len(lines) == len(dev.oids)
    for line, oid in zip(lines, dev.oids, strict=True):
        parsed_oid, value = record.evaluate(line.encode("iso-8859-1"))
        assert tuple(parsed_oid) == oid
        tag, expected = dev.get(oid, t)
        if tag == 4:
            expected = expected.encode() if isinstance(expected, str) else expected
            assert value.asOctets() == expected
        elif tag == 6:
            assert tuple(value) == expected
        else:
            assert int(value) == expected


# -- the agent through pysnmp --------------------------------------------------------------


async def test_get_system_group_of_every_vendor(net, engine):
    for dev_id, host, port, community, vendor in net.inventory_rows():
        assert host == "127.0.0.1" and port > 0 and community == "public"
        dev = net.device(dev_id)
        assert dev.vendor == vendor
        err, status, _, vbs = await get(engine, port, SYS_DESCR, SYS_OID, SYS_UPTIME)
        assert err is None and int(status) == 0
        assert str(vbs[0][1]) == dev.sys_descr
        assert tuple(vbs[1][1]) == dev.profile.sys_object_id
        assert abs(int(vbs[2][1]) - dev.uptime_ticks(time.time())) < 200


async def test_bulk_walk_of_iftable_is_complete_ordered_and_ends(net, engine):
    for dev in net.devices:
        seen = []
        async for err, status, _, vbs in bulk_walk_cmd(
            engine,
            CommunityData("public"),
            await target(net.port(dev.device_id)),
            ContextData(),
            0,
            7,  # not a divisor of the row count: replies straddle column boundaries
            ObjectType(ObjectIdentity(IF_TABLE)),
            lexicographicMode=False,
            lookupMib=False,
        ):
            assert err is None and int(status) == 0
            seen += [tuple(oid) for oid, _ in vbs]
        expected = [o for o in dev.oids if o[: len(IF_ENTRY)] == IF_ENTRY]
        assert seen == expected == sorted(expected)
        assert len(seen) == 20 * len(dev.interfaces)


async def test_getbulk_past_the_end_gives_end_of_mib_view(net, engine):
    dev = net.devices[0]
    last = dotted(dev.oids[-1])
    err, status, _, vbs = await bulk_cmd(
        engine,
        CommunityData("public"),
        await target(net.port(dev.device_id)),
        ContextData(),
        1,
        3,
        ObjectType(ObjectIdentity(SYS_DESCR)),
        ObjectType(ObjectIdentity(dotted(dev.oids[-2]))),
        lookupMib=False,
    )
    assert err is None and int(status) == 0
    # non-repeater, then the last OID, then endOfMibView, and the agent stops early.
    assert str(vbs[0][0]) == "1.3.6.1.2.1.1.2.0"
    assert str(vbs[1][0]) == last
    assert isinstance(vbs[2][1], EndOfMibView) and str(vbs[2][0]) == last
    assert len(vbs) == 3


async def test_missing_objects_v2c_and_v1(net, engine):
    port = net.port(net.devices[0].device_id)
    err, status, _, vbs = await get(engine, port, "1.3.6.1.2.1.2.2.1.10.999999", "1.3.6.1.2.1.99.0")
    assert err is None and int(status) == 0
    assert isinstance(vbs[0][1], NoSuchInstance) and isinstance(vbs[1][1], NoSuchObject)
    # SNMPv1: noSuchName, and Counter64 objects do not exist.
    dev = net.devices[0]
    hc = dotted((*IFX_ENTRY, 6, dev.interfaces[0].if_index))
    err, status, index, _ = await get(engine, port, SYS_DESCR, hc, mp_model=0)
    assert err is None and status.prettyPrint() == "noSuchName" and int(index) == 2


async def test_v1_walk_skips_counter64(net, engine):
    dev = net.devices[0]
    seen = []
    async for err, status, _, vbs in walk_cmd(
        engine,
        CommunityData("public", mpModel=0),
        await target(net.port(dev.device_id)),
        ContextData(),
        ObjectType(ObjectIdentity("1.3.6.1.2.1.31")),
        lexicographicMode=False,
        lookupMib=False,
    ):
        assert err is None and int(status) == 0
        seen += [tuple(oid) for oid, _ in vbs]
    columns = {o[len(IFX_ENTRY)] for o in seen}
    assert columns == {1, 2, 3, 4, 5, 15, 18}


async def test_counters_advance_at_the_modelled_rate(net, engine):
    dev = net.device(net.devices[0].device_id)
    iface = max(dev.interfaces, key=lambda i: i.in_bps)
    port = net.port(dev.device_id)
    oids = (
        SYS_UPTIME,
        dotted((*IFX_ENTRY, 6, iface.if_index)),
        dotted((*IF_ENTRY, 10, iface.if_index)),
    )
    _, _, _, first = await get(engine, port, *oids)
    await asyncio.sleep(1.0)
    _, _, _, second = await get(engine, port, *oids)
    # sysUpTime comes from the same instant as the counters in each reply.
    dt = (int(second[0][1]) - int(first[0][1])) / 100
    assert 0.9 < dt < 2.0
    delta = int(second[1][1]) - int(first[1][1])
    rate = delta * 8 / dt
    assert math.isclose(rate, iface.in_rate_bps(time.time()), rel_tol=0.05)
    assert (int(second[2][1]) - int(first[2][1])) % 2**32 == delta % 2**32


async def test_wrong_community_gets_no_answer(net, engine):
    dev_id = net.devices[0].device_id
    err, *_ = await get(engine, net.port(dev_id), SYS_DESCR, community="private", wait_s=0.5)
    assert err is not None and "timeout" in str(err).lower()
    assert net.agent(dev_id).stats.bad_community == 1


async def test_fault_modes(net, engine):
    silent, garbage, slow, ok = (d.device_id for d in net.devices[:4])
    net.set_fault(silent, "silent")
    net.set_fault(garbage, "garbage")
    net.set_fault(slow, "slow", delay_ms=300)
    started = time.monotonic()
    results = await asyncio.wait_for(
        asyncio.gather(
            get(engine, net.port(silent), SYS_DESCR, wait_s=0.5),
            *(get(engine, net.port(garbage), SYS_DESCR, wait_s=0.5) for _ in range(3)),
            get(engine, net.port(slow), SYS_DESCR, wait_s=2),
            get(engine, net.port(ok), SYS_DESCR, wait_s=2),
        ),
        timeout=10,  # "an error, not a hang"
    )
    assert time.monotonic() - started < 5
    assert results[0][0] is not None  # silent: timeout
    assert all(r[0] is not None for r in results[1:4])  # garbage: error each time
    assert net.agent(garbage).stats.answered == 3  # it did answer, with junk
    assert results[4][0] is None and str(results[4][3][0][1]).startswith(
        net.device(slow).sys_descr[:10]
    )
    assert results[5][0] is None
    net.set_fault(silent, None)
    err, *_ = await get(engine, net.port(silent), SYS_DESCR)
    assert err is None


async def test_server_survives_malformed_datagrams(net, engine):
    dev_id = net.devices[1].device_id
    port = net.port(dev_id)
    good = raw_request(P2.GetRequestPDU, [(1, 3, 6, 1, 2, 1, 1, 5, 0)])
    junk = [
        b"",
        b"\x00",
        b"\x30\x84\xff\xff\xff\xff",
        good[:-3],
        good + b"trailing",
        b"\x30\x03\x02\x01\x03",  # SNMPv3 header, cut short
        bytes(range(256)) * 4,
        raw_request(P2.GetRequestPDU, [(1, 3, 6, 1, 2, 1, 1, 5, 0)], community=b"nope"),
    ]
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    try:
        for data in junk:
            sock.sendto(data, ("127.0.0.1", port))
        sock.sendto(good, ("127.0.0.1", port))
        # The only reply is the one to the good request.
        reply = await asyncio.wait_for(loop.sock_recv(sock, 65535), timeout=2)
        pdu = decode_reply(reply)
        assert str(P2.apiPDU.get_varbinds(pdu)[0][1]) == dev_id
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(loop.sock_recv(sock, 65535), timeout=0.3)
    finally:
        sock.close()
    stats = net.agent(dev_id).stats
    assert stats.errors == 0 and stats.malformed + stats.unsupported + stats.bad_community == 8
    err, *_ = await get(engine, port, SYS_DESCR)
    assert err is None


# -- the agent without sockets ---------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_replies_are_canonical_ber(kind):
    # Our BER writer must produce exactly what pyasn1 produces for the same message.
    agent = SnmpAgent(SimulatedDevice("r1", kind=kind))
    for wire in (
        raw_request(P2.GetBulkRequestPDU, [(1, 3), (1, 3, 6, 1, 2, 1, 31)], max_repetitions=400),
        raw_request(P2.GetRequestPDU, [(1, 3, 6, 1, 2, 1, 1, 1, 0), (1, 3, 6, 1, 2, 1, 1, 9)]),
        raw_request(P2.GetNextRequestPDU, [(1, 3, 6, 1, 2, 1, 99)]),
        raw_request(P2.SetRequestPDU, [(1, 3, 6, 1, 2, 1, 1, 5, 0)]),
    ):
        reply = agent.handle(wire)
        msg, _ = decoder.decode(reply, asn1Spec=P2.Message())
        assert encoder.encode(msg) == reply


def test_getbulk_reply_is_capped():
    agent = SnmpAgent(SimulatedDevice("big", kind="arista-eos", n_interfaces=96))
    wire = raw_request(P2.GetBulkRequestPDU, [(1, 3), (1, 3, 6, 1, 2, 1, 2)], max_repetitions=5000)
    reply = agent.handle(wire)
    assert len(reply) < 65507
    vbs = P2.apiPDU.get_varbinds(decode_reply(reply))
    assert len(vbs) <= 1500 and len(vbs) % 2 == 0  # whole repetitions only
    small = SnmpAgent(agent.device, max_bulk_bytes=2000)
    reply = small.handle(wire)
    vbs = P2.apiPDU.get_varbinds(decode_reply(reply))
    assert len(vbs) >= 2 and len(vbs) % 2 == 0
    assert len(reply) < 2000 + 300  # the budget may be passed by one repetition


def test_one_reply_is_one_instant():
    dev = SimulatedDevice("r1", kind="cisco-ios")
    agent = SnmpAgent(dev)
    iface = max(dev.interfaces, key=lambda i: i.in_bps)
    oid = (*IFX_ENTRY, 6, iface.if_index)
    wire = raw_request(P2.GetRequestPDU, [oid, oid])
    vbs = P2.apiPDU.get_varbinds(decode_reply(agent.handle(wire, t=2e9)))
    assert int(vbs[0][1]) == int(vbs[1][1]) == iface.in_octets(2e9)


# -- inventory, CLI, net-snmp ----------------------------------------------------------------


def test_inventory_rows_and_csv(tmp_path):
    net = SimulatedNetwork("lab-east", 3, seed=1, base_port=16100)
    rows = net.inventory_rows()
    assert [r[0] for r in rows] == ["lab-east-001", "lab-east-002", "lab-east-003"]
    assert [r[2] for r in rows] == [16100, 16101, 16102]
    path = tmp_path / "inv.csv"
    net.write_inventory_csv(path, community_ref="env:SIM_COMMUNITY")
    with path.open() as handle:
        got = list(csv.DictReader(handle))
    assert got[0] == {
        "id": "lab-east-001",
        "host": "127.0.0.1",
        "port": "16100",
        "community": "env:SIM_COMMUNITY",
        "tag:vendor": rows[0][4],
    }


async def test_cli_prints_inventory_and_stops_on_ctrl_c():
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "netfeed.simulator", "--devices", "2", "--port", "0",
        "--network", "cli",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        lines = [
            (await asyncio.wait_for(proc.stdout.readline(), timeout=20)).decode().strip()
            for _ in range(3)
        ]
        assert lines[0] == "id,host,port,community,vendor"
        assert lines[1].startswith("cli-001,127.0.0.1,") and lines[2].startswith("cli-002,")
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), timeout=10)
    assert proc.returncode == 0, err.decode()
    assert b"cli-001: received=0" in err


@pytest.mark.skipif(shutil.which("snmpbulkwalk") is None, reason="net-snmp tools not installed")
async def test_net_snmp_tools_walk_the_whole_mib(net):
    for dev in net.devices:
        # A subprocess, so the event loop keeps serving the simulator meanwhile.
        proc = await asyncio.create_subprocess_exec(
            "snmpbulkwalk", "-v2c", "-c", "public", "-On", "-t", "2", "-r", "0",
            f"127.0.0.1:{net.port(dev.device_id)}", ".1",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
        assert proc.returncode == 0, err.decode()
        lines = [ln for ln in out.decode().splitlines() if " = " in ln]
        assert "No more variables" in lines[-1]  # net-snmp shows the endOfMibView it got
        oids = [line.split(" = ")[0] for line in lines[:-1]]
        assert oids == ["." + dotted(o) for o in dev.oids]
        proc = await asyncio.create_subprocess_exec(
            "snmpwalk", "-v1", "-c", "public", "-On", "-t", "2", "-r", "0",
            f"127.0.0.1:{net.port(dev.device_id)}", ".1.3.6.1.2.1.2.2.1.2",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
        assert proc.returncode == 0, err.decode()
        assert out.decode().count("STRING:") == len(dev.interfaces)
