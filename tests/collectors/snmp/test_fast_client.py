"""FastSnmpClient against the project's simulator and against scripted agents.

The simulator gives real GET/GETNEXT/GETBULK behaviour (v1 and v2c) and its
fault modes; the scripted agents (tests/collectors/snmp/wire.py) give what a
simulator will not: replies from the wrong port, wrong community, duplicate
answers, a column that goes backwards, an undecodable value.  Where pysnmp can
decode what the agent sends, PysnmpClient must give the same result.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

import netfeed.simulator.agent as sim_agent
from collectors.snmp import ber
from collectors.snmp.base import SnmpError, SnmpTarget, SnmpTimeout, WalkResult
from collectors.snmp.fast_client import FastSnmpClient
from collectors.snmp.pysnmp_client import PysnmpClient
from netfeed.simulator.device import SimulatedDevice
from netfeed.simulator.network import SimulatedNetwork
from tests.collectors.snmp.wire import (
    END,
    ScriptedAgent,
    c32,
    octets,
    oid_tlv,
    response,
    varbind,
)

KINDS = ["cisco-ios", "juniper-junos", "net-snmp-linux", "arista-eos", "huawei-vrp"]
SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME, SYS_NAME = (f"1.3.6.1.2.1.1.{i}.0" for i in (1, 2, 3, 5))
IF = "1.3.6.1.2.1.2.2.1."
IFX = "1.3.6.1.2.1.31.1.1.1."
STATIC_COLUMNS = [IF + c for c in ("1", "2", "3", "4", "5", "6", "7")] + [
    IFX + c for c in ("1", "15", "18")
]
COUNTER_COLUMNS = [IF + "10", IF + "16", IFX + "6", IFX + "10"]  # 32- and 64-bit


@pytest.fixture
async def net() -> AsyncIterator[SimulatedNetwork]:
    n = SimulatedNetwork("fc", len(KINDS), base_port=0, n_interfaces=12, kinds=KINDS)
    await n.start()
    yield n
    await n.stop()


@pytest.fixture
def client() -> Iterator[FastSnmpClient]:
    c = FastSnmpClient()
    yield c
    c.close()


def target(
    net: SimulatedNetwork,
    i: int = 0,
    version: str = "2c",
    *,
    timeout: float = 1.0,
    retries: int = 1,
    reps: int = 20,
    community: str = "public",
) -> SnmpTarget:
    dev = net.devices[i].device_id
    return SnmpTarget(dev, "127.0.0.1", net.port(dev), version, community, timeout, retries, reps)


def plain(tag: int, value: object) -> object:
    """A simulator (tag, value) as the client returns it."""
    if isinstance(value, str):
        return value.encode("latin-1")
    if isinstance(value, tuple):
        return ".".join(map(str, value))
    return value


def expected_columns(dev: SimulatedDevice, columns: list[str], v1: bool = False) -> dict:
    out: dict[str, dict[str, object]] = {}
    for col in columns:
        prefix = tuple(int(p) for p in col.split("."))
        rows = {}
        for oid, (tag, value) in dev.walk(prefix=prefix):
            if len(oid) > len(prefix) and not (v1 and tag == 70):  # v1 skips Counter64
                rows[".".join(map(str, oid[len(prefix) :]))] = plain(tag, value)
        out[col] = rows
    return out


# -- GET -------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2c"])
async def test_get_scalars_missing_objects_are_absent(net, client, version):
    for i, dev in enumerate(net.devices):
        got = await client.get(
            target(net, i, version),
            [SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME, SYS_NAME, "1.3.6.1.2.1.1.99.0"],
        )
        assert got[SYS_DESCR] == dev.sys_descr.encode()
        assert got[SYS_OBJECT_ID] == ".".join(map(str, dev.profile.sys_object_id))
        assert got[SYS_NAME] == dev.sys_name.encode()
        assert isinstance(got[SYS_UPTIME], int)
        assert set(got) == {SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME, SYS_NAME}


async def test_get_counter64_is_absent_in_v1_and_present_in_v2c(net, client):
    oid = IFX + "6." + str(net.devices[0].interfaces[0].if_index)
    assert await client.get(target(net, 0, "1"), [oid, SYS_NAME]) == {
        SYS_NAME: net.devices[0].sys_name.encode()
    }
    assert isinstance((await client.get(target(net, 0, "2c"), [oid]))[oid], int)


async def test_get_agrees_with_pysnmp(net, client):
    ref = PysnmpClient()
    try:
        for version in ("1", "2c"):
            for i in range(len(net.devices)):
                oids = [SYS_DESCR, SYS_OBJECT_ID, SYS_NAME, "1.3.6.1.2.1.1.99.0", IF + "2.1"]
                t = target(net, i, version)
                assert await client.get(t, oids) == await ref.get(t, oids)
    finally:
        ref.close()


# -- walks -----------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2c"])
@pytest.mark.parametrize("reps", [1, 7, 50])
async def test_walk_returns_every_row_of_every_column(net, client, version, reps):
    for i, dev in enumerate(net.devices):
        res = await client.walk(target(net, i, version, reps=reps), STATIC_COLUMNS)
        assert res.problems == {}
        assert res.columns == expected_columns(dev, STATIC_COLUMNS)
        counters = await client.walk(target(net, i, version, reps=reps), COUNTER_COLUMNS)
        want = expected_columns(dev, COUNTER_COLUMNS, v1=version == "1")
        assert {c: set(r) for c, r in counters.columns.items()} == {
            c: set(r) for c, r in want.items()
        }
        assert all(isinstance(v, int) for r in counters.columns.values() for v in r.values())


@pytest.mark.parametrize("version", ["1", "2c"])
async def test_walk_agrees_with_pysnmp_to_the_end_of_the_mib(net, client, version):
    # whole subtrees, a column past the last object (v1: noSuchName; v2c: endOfMibView)
    # and one with nothing under it
    columns = ["1.3.6.1.2.1.1", "1.3.6.1.2.1.2", "1.3.6.1.2.1.31", "1.3.6.1.2.1.99", "1.3.6.2"]
    ref = PysnmpClient()
    try:
        for i in range(len(net.devices)):
            t = target(net, i, version, reps=9)
            ours, theirs = await client.walk(t, columns), await ref.walk(t, columns)
            assert ours.problems == theirs.problems
            assert ours.requests == theirs.requests
            for col in columns:
                assert set(ours.columns[col]) == set(theirs.columns[col]), col
            static = "1.3.6.1.2.1.1"
            assert {k: v for k, v in ours.columns[static].items() if k != "3.0"} == {
                k: v for k, v in theirs.columns[static].items() if k != "3.0"
            }
    finally:
        ref.close()


async def test_too_big_halves_max_repetitions(net, client, monkeypatch):
    t = target(net, 1, reps=64)
    small = await client.walk(target(net, 1, reps=3), STATIC_COLUMNS)
    monkeypatch.setattr(sim_agent, "MAX_DATAGRAM", 1400)  # the agent says tooBig above this
    res = await client.walk(t, STATIC_COLUMNS)
    assert res.problems == {}
    assert res.columns == small.columns
    assert res.requests > 2  # at least one tooBig, then the halved requests


async def test_too_big_at_one_repetition_is_a_problem_of_every_column(net, client, monkeypatch):
    monkeypatch.setattr(sim_agent, "MAX_DATAGRAM", 60)
    t = target(net, 0, reps=4)
    res = await client.walk(t, STATIC_COLUMNS[:3])
    assert res.columns == {c: {} for c in STATIC_COLUMNS[:3]}
    assert res.problems == dict.fromkeys(STATIC_COLUMNS[:3], "agent error-status tooBig")
    ref = PysnmpClient()
    try:
        theirs = await ref.walk(t, STATIC_COLUMNS[:3])
    finally:
        ref.close()
    assert (theirs.columns, theirs.problems, theirs.requests) == (
        res.columns,
        res.problems,
        res.requests,
    )


async def test_many_devices_at_once_share_one_socket(client):
    n = SimulatedNetwork("many", 30, base_port=0, n_interfaces=20, seed=3)
    await n.start()
    try:
        results = await asyncio.gather(
            *(client.walk(target(n, i, reps=10), STATIC_COLUMNS) for i in range(30))
        )
        for dev, res in zip(n.devices, results, strict=True):
            assert res.columns == expected_columns(dev, STATIC_COLUMNS)
        assert len(client._socks) == 1
        assert client.stats.timeouts == client.stats.retries == 0
    finally:
        await n.stop()


# -- timeouts, retries and faults ---------------------------------------------------------


async def test_slow_device_beyond_the_timeout_times_out_after_the_retries(net, client):
    net.set_fault(net.devices[0].device_id, "slow", delay_ms=700)
    t = target(net, 0, timeout=0.25, retries=1)
    t0 = time.monotonic()
    with pytest.raises(SnmpTimeout, match=r"no answer to GET after 2 tries of 0\.25s"):
        await client.get(t, [SYS_NAME])
    assert 0.45 < time.monotonic() - t0 < 0.65
    assert (client.stats.retries, client.stats.timeouts, client.stats.sent) == (1, 1, 2)
    assert client._pending == {}


async def test_late_answer_to_the_first_try_counts_because_retries_keep_the_request_id(net, client):
    net.set_fault(net.devices[0].device_id, "slow", delay_ms=500)
    t = target(net, 0, timeout=0.35, retries=1)
    t0 = time.monotonic()
    got = await client.get(t, [SYS_NAME])
    assert got == {SYS_NAME: net.devices[0].sys_name.encode()}
    assert 0.45 < time.monotonic() - t0 < 0.7  # the first try's answer, not the retry's
    assert client.stats.retries == 1
    await asyncio.sleep(0.5)  # the retry's own answer arrives late: counted, ignored
    assert client.stats.unknown_request_id == 1


async def test_slow_device_within_the_timeout_answers(net, client):
    net.set_fault(net.devices[0].device_id, "slow", delay_ms=150)
    res = await client.walk(target(net, 0, timeout=1.0, retries=0), STATIC_COLUMNS)
    assert res.columns == expected_columns(net.devices[0], STATIC_COLUMNS)
    assert client.stats.retries == 0


async def test_silent_device_and_wrong_community_time_out(net, client):
    net.set_fault(net.devices[0].device_id, "silent")
    with pytest.raises(SnmpTimeout):
        await client.walk(target(net, 0, timeout=0.2, retries=1), STATIC_COLUMNS)
    with pytest.raises(SnmpTimeout):
        await client.get(target(net, 1, timeout=0.2, retries=0, community="wrong"), [SYS_NAME])


async def test_garbage_gives_an_error_never_a_hang(net, client):
    dev = net.devices[0].device_id
    net.set_fault(dev, "garbage")
    t = target(net, 0, timeout=0.15, retries=1)
    for _ in range(12):  # every flavour: noise, truncated reply, overlong length
        t0 = time.monotonic()
        with pytest.raises(SnmpError):
            await client.walk(t, STATIC_COLUMNS)
        assert time.monotonic() - t0 < 0.3 + 0.25
    assert client.stats.malformed >= 12
    assert client.stats.errors == 0
    net.set_fault(dev, None)
    res = await client.walk(t, STATIC_COLUMNS)  # the same client works on
    assert res.columns == expected_columns(net.devices[0], STATIC_COLUMNS)


async def test_truncated_reply_with_a_readable_header_is_an_error_not_a_timeout(client):
    def handler(msg, addr):
        good = response(msg.request_id, [varbind(SYS_NAME, octets(b"x" * 50))])
        return [(good[:-10], "self")]

    async with ScriptedAgent(handler) as agent:
        t = SnmpTarget("trunc", "127.0.0.1", agent.port, "2c", "public", 0.1, 1)
        with pytest.raises(SnmpError, match=r"undecodable answer \(truncated") as info:
            await client.get(t, [SYS_NAME])
        assert not isinstance(info.value, SnmpTimeout)
        assert len(agent.requests) == 2


async def test_only_the_right_answer_from_the_right_place_counts(client):
    """Wrong port, wrong community, wrong version, unknown request-id, not a
    Response, garbage, a duplicate: all ignored and counted; the good one counts."""

    def handler(msg, addr):
        rid = msg.request_id
        vb = [varbind(SYS_NAME, octets(b"ok"))]
        good = response(rid, vb)
        return [
            (good, "other"),
            (response(rid, vb, community=b"nope"), "self"),
            (response(rid, vb, version=0), "self"),
            (response(rid + 1, vb), "self"),
            (good.replace(b"\xa2", b"\xa0", 1), "self"),  # a GET request, not a response
            (b"\x30\x03\x02\x01", "self"),
            (good, "self"),
            (good, "self"),
        ]

    async with ScriptedAgent(handler) as agent:
        t = SnmpTarget("scripted", "127.0.0.1", agent.port, "2c", "public", 1.0, 0)
        assert await client.get(t, [SYS_NAME]) == {SYS_NAME: b"ok"}
        await asyncio.sleep(0.1)
    s = client.stats
    assert (s.wrong_source, s.wrong_community, s.not_response, s.malformed) == (1, 2, 1, 1)
    assert s.unknown_request_id == 2  # rid + 1, and the duplicate
    assert (s.answered, s.errors) == (1, 0)


async def test_v3_targets_are_refused(client):
    t = SnmpTarget("v3", "127.0.0.1", 161, "3", "")
    with pytest.raises(SnmpError, match="v1/v2c only"):
        await client.get(t, [SYS_NAME])


async def test_hostnames_resolve(net, client):
    dev = net.devices[0].device_id
    t = SnmpTarget(dev, "localhost", net.port(dev), "2c", "public", 1.0, 0)
    assert await client.get(t, [SYS_NAME]) == {SYS_NAME: dev.encode()}
    with pytest.raises(SnmpError, match="cannot resolve"):
        await client.get(
            SnmpTarget("x", "no-such-host.invalid", 161, "2c", "public", 0.5, 0), [SYS_NAME]
        )


async def test_cancelled_requests_leave_nothing_behind_and_close_fails_pending_ones(net, client):
    net.set_fault(net.devices[0].device_id, "silent")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(client.walk(target(net, 0, timeout=5.0), STATIC_COLUMNS), 0.1)
    assert client._pending == {}
    task = asyncio.ensure_future(client.get(target(net, 0, timeout=5.0), [SYS_NAME]))
    await asyncio.sleep(0.05)
    client.close()
    with pytest.raises(SnmpError, match="closed"):
        await task
    # usable again: a new socket
    assert await client.get(target(net, 1), [SYS_NAME]) == {
        SYS_NAME: net.devices[1].sys_name.encode()
    }


def _rcvbuf_cap() -> int:
    """The largest SO_RCVBUF Linux reports to this process (it reports double the
    granted size; unprivileged, the grant is capped at net.core.rmem_max)."""
    if os.geteuid() == 0:  # SO_RCVBUFFORCE passes the cap
        return 1 << 62
    return 2 * int(Path("/proc/sys/net/core/rmem_max").read_text())


async def test_receive_buffer_is_enlarged_and_settable(net):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as plain:
        default = plain.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    got = {}
    for size in (8 << 20, 1 << 20):
        c = FastSnmpClient(rcvbuf_bytes=size)
        try:
            await c.get(target(net, 0), [SYS_NAME])
            assert c.rcvbuf_effective is not None
            got[size] = c.rcvbuf_effective
        finally:
            c.close()
        # what was asked for, as far as the kernel lets this process have it
        assert got[size] >= min(2 * size, _rcvbuf_cap()), (size, got[size])
        assert got[size] > default, (size, got[size], default)  # enlarged, not the default
    assert got[8 << 20] >= got[1 << 20]


# -- walks over scripted agents: what a simulator will not do ------------------------------


COL_A, COL_B, COL_C = "1.3.6.1.4.1.99.1", "1.3.6.1.4.1.99.2", "1.3.6.1.4.1.99.3"


def list_agent(entries: list[tuple[str, bytes]]):
    """An agent whose MIB is ``entries`` *in list order* (so it can go backwards):
    GETNEXT of an OID in the list is the entry after it, else the first entry
    greater than it.  Answers GETBULK (v2c) with endOfMibView past the end."""

    def tup(o: str) -> tuple[int, ...]:
        return tuple(int(p) for p in o.split("."))

    def next_index(oid: str) -> int | None:
        for i, (o, _v) in enumerate(entries):
            if o == oid:
                return i + 1 if i + 1 < len(entries) else None
        for i, (o, _v) in enumerate(entries):
            if tup(o) > tup(oid):
                return i
        return None

    def handler(msg: ber.Message, addr: tuple[str, int]) -> list[tuple[bytes, str]]:
        cols = [o for o, *_ in msg.varbinds]
        out = []
        for _ in range(max(msg.error_index, 1)):
            for j, c in enumerate(cols):
                i = next_index(c)
                if i is None:
                    out.append(varbind(c, END))
                else:
                    o, v = entries[i]
                    out.append(varbind(o, v))
                    cols[j] = o
        return [(response(msg.request_id, out), "self")]

    return handler


async def walk_both(agent: ScriptedAgent, columns: list[str], reps: int = 2):
    t = SnmpTarget("scripted", "127.0.0.1", agent.port, "2c", "public", 1.0, 0, reps)
    fast = FastSnmpClient()
    ref = PysnmpClient()
    try:
        return await fast.walk(t, columns), await ref.walk(t, columns)
    finally:
        fast.close()
        ref.close()


def same(a: WalkResult, b: WalkResult) -> None:
    assert (a.columns, a.problems, a.requests) == (b.columns, b.problems, b.requests)


async def test_column_that_goes_backwards_ends_with_a_problem_keeping_its_rows():
    entries = [
        (f"{COL_A}.1", c32(1)),
        (f"{COL_A}.2", c32(2)),
        (f"{COL_A}.3", c32(3)),
        (f"{COL_B}.5", c32(5)),
        (f"{COL_B}.130", c32(130)),
        (f"{COL_B}.7", c32(7)),  # backwards (and 7 is one octet, 130 two)
        (f"{COL_B}.8", c32(8)),
        (f"{COL_C}.16384", c32(1)),
        (f"{COL_C}.16383", c32(2)),  # backwards, multi-octet both
        (f"{COL_C}.16385", c32(3)),
        ("1.3.6.1.4.1.99.4.1.2.3", c32(4)),
    ]
    async with ScriptedAgent(list_agent(entries)) as agent:
        ours, theirs = await walk_both(agent, [COL_A, COL_B, COL_C])
    assert ours.columns == {
        COL_A: {"1": 1, "2": 2, "3": 3},
        COL_B: {"5": 5, "130": 130},
        COL_C: {"16384": 1},
    }
    assert ours.problems == {
        COL_B: f"OID not increasing at {COL_B}.7",
        COL_C: f"OID not increasing at {COL_C}.16383",
    }
    same(ours, theirs)


async def test_multi_part_indexes_compare_numerically():
    entries = [
        (f"{COL_A}.1.200.3", c32(1)),
        (f"{COL_A}.1.200.300", c32(2)),
        (f"{COL_A}.2.5", c32(3)),
        (f"{COL_A}.10.1", c32(4)),
        (f"{COL_A}.10.0", c32(5)),  # backwards in the second part
    ]
    async with ScriptedAgent(list_agent(entries)) as agent:
        ours, theirs = await walk_both(agent, [COL_A], reps=3)
    assert ours.columns == {COL_A: {"1.200.3": 1, "1.200.300": 2, "2.5": 3, "10.1": 4}}
    assert ours.problems == {COL_A: f"OID not increasing at {COL_A}.10.0"}
    same(ours, theirs)


async def test_agent_error_status_is_a_problem_of_every_active_column():
    def handler(msg, addr):
        return [(response(msg.request_id, [], error_status=5, error_index=1), "self")]

    async with ScriptedAgent(handler) as agent:
        ours, theirs = await walk_both(agent, [COL_A, COL_B])
    assert ours.problems == {COL_A: "agent error-status genErr", COL_B: "agent error-status genErr"}
    same(ours, theirs)


async def test_empty_response_is_an_error_like_pysnmp():
    async with ScriptedAgent(lambda msg, addr: [(response(msg.request_id, []), "self")]) as agent:
        t = SnmpTarget("scripted", "127.0.0.1", agent.port, "2c", "public", 1.0, 0)
        fast, ref = FastSnmpClient(), PysnmpClient()
        try:
            with pytest.raises(SnmpError, match="Empty SNMP response message") as a:
                await fast.walk(t, [COL_A])
            with pytest.raises(SnmpError, match="Empty SNMP response message") as b:
                await ref.walk(t, [COL_A])
            assert str(a.value) == str(b.value)
        finally:
            fast.close()
            ref.close()


async def test_undecodable_value_ends_only_its_column(client):
    entries = [
        (f"{COL_A}.1", c32(1)),
        (f"{COL_A}.2", c32(2)),
        (f"{COL_A}.3", c32(3)),
        (f"{COL_B}.1", octets(b"one")),
        (f"{COL_B}.2", b"\x40\x03\x0a\x00\x01"),  # an IpAddress of 3 octets
        (f"{COL_B}.3", octets(b"three")),
        (f"{COL_C}.1", c32(1)),
        (f"{COL_C}.2", b"\x41\x05\x01\x00\x00\x00\x00"),  # Counter32 above 2**32-1
    ]
    async with ScriptedAgent(list_agent(entries)) as agent:
        t = SnmpTarget("scripted", "127.0.0.1", agent.port, "2c", "public", 1.0, 0, 2)
        res = await client.walk(t, [COL_A, COL_B, COL_C])
    assert res.columns == {
        COL_A: {"1": 1, "2": 2, "3": 3},
        COL_B: {"1": b"one"},
        COL_C: {"1": 1},
    }
    assert res.problems == {
        COL_B: f"bad encoding at {COL_B}.2",
        COL_C: f"bad encoding at {COL_C}.2",
    }
    assert client.stats.bad_values == 2


async def test_undecodable_name_ends_its_column_and_says_where(client):
    bad_name = b"\x06\x03\x2b\x06\x81"  # ends inside a sub-identifier

    def handler(msg, addr):
        (oid, *_), *_ = msg.varbinds
        if oid == COL_A:
            vbs = [varbind(f"{COL_A}.1", c32(1))]
        else:
            vbs = [varbind(bad_name, c32(2))]
        return [(response(msg.request_id, vbs), "self")]

    async with ScriptedAgent(handler) as agent:
        t = SnmpTarget("scripted", "127.0.0.1", agent.port, "2c", "public", 1.0, 0, 1)
        res = await client.walk(t, [COL_A])
    assert res.columns == {COL_A: {"1": 1}}
    assert res.problems == {COL_A: "bad encoding at <bad OID 2b0681>"}


async def test_undecodable_value_in_get_is_left_out(client):
    def handler(msg, addr):
        vbs = [varbind(SYS_NAME, octets(b"n")), varbind(SYS_DESCR, b"\x40\x01\x00")]
        return [(response(msg.request_id, vbs), "self")]

    async with ScriptedAgent(handler) as agent:
        t = SnmpTarget("scripted", "127.0.0.1", agent.port, "2c", "public", 1.0, 0)
        assert await client.get(t, [SYS_NAME, SYS_DESCR]) == {SYS_NAME: b"n"}
    assert client.stats.bad_values == 1


def test_oid_tlv_helper_matches_the_codec():
    assert oid_tlv("1.3.6.1.2.1") == b"\x06\x05" + ber.oid_content("1.3.6.1.2.1")


async def test_a_target_we_cannot_send_to_is_an_error_saying_so(client):
    # broadcast without SO_BROADCAST: the kernel refuses every sendto (EACCES)
    t = SnmpTarget("bcast", "255.255.255.255", 161, "2c", "public", 0.05, 1)
    with pytest.raises(SnmpError, match="cannot send") as info:
        await client.get(t, [SYS_NAME])
    assert not isinstance(info.value, SnmpTimeout)
    assert client.stats.send_errors == 2


async def test_get_error_status_is_an_error_like_pysnmp():
    def handler(msg, addr):
        return [(response(msg.request_id, [], error_status=5, error_index=1), "self")]

    async with ScriptedAgent(handler) as agent:
        t = SnmpTarget("scripted", "127.0.0.1", agent.port, "2c", "public", 1.0, 0)
        fast, ref = FastSnmpClient(), PysnmpClient()
        try:
            with pytest.raises(SnmpError, match="GET error-status genErr") as a:
                await fast.get(t, [SYS_NAME])
            with pytest.raises(SnmpError) as b:
                await ref.get(t, [SYS_NAME])
            assert str(a.value) == str(b.value)
        finally:
            fast.close()
            ref.close()
