"""Fuzzing SNMP replies with hypothesis, through the codec and both engines.

* :mod:`collectors.snmp.ber` decodes any datagram to a message or raises
  :class:`~collectors.snmp.ber.BerError`, nothing else;
* each engine, answered with random or mutated replies carrying the request's
  id, returns values or raises :class:`SnmpError` (a per-device error), never
  hangs, and nothing is logged as "Exception in callback" (pysnmp's receive
  path raised on some garbage: it is guarded now);
* an agent that answers only garbage makes a request fail ("undecodable
  answer"), not time out, in the pysnmp engine too.

Cases found are kept in ``tests/corpus/snmp-reply`` (``tests/test_corpus.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.snmp import ber
from collectors.snmp.base import SnmpError, SnmpTarget, SnmpTimeout
from collectors.snmp.fast_client import FastSnmpClient
from collectors.snmp.pysnmp_client import PysnmpClient
from netfeed.simulator.network import SimulatedNetwork
from tests.collectors.snmp.wire import END, ScriptedAgent, c32, c64, octets, response, varbind

FUZZ = settings(
    max_examples=120,
    deadline=None,  # a timed-out request takes timeout_s; bounded by the count
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
SYS_DESCR = "1.3.6.1.2.1.1.1.0"


def good_reply(rid: int, version: int = 1) -> bytes:
    return response(
        rid,
        [
            varbind(SYS_DESCR, octets(b"router")),
            varbind("1.3.6.1.2.1.2.2.1.10.1", c32(7)),
            varbind("1.3.6.1.2.1.31.1.1.1.6.1", c64(2**64 - 1)),
            varbind("1.3.6.1.2.1.2.2.1.2.9", END),
        ],
        version=version,
    )


# edits applied to a good reply: (where, as a share of its length; new bytes; cut to)
EDITS = st.lists(
    st.tuples(st.floats(0, 1), st.binary(min_size=0, max_size=3), st.integers(0, 3)),
    min_size=1,
    max_size=4,
)
BOUNDARY = st.sampled_from([0x00, 0x7F, 0x80, 0x81, 0x82, 0x84, 0x85, 0xFF])


def apply(data: bytes, edits: list[tuple[float, bytes, int]], truncate: float | None) -> bytes:
    b = bytearray(data)
    for where, new, cut in edits:
        i = min(int(where * len(b)), len(b))
        b[i : i + cut] = new
    if truncate is not None:
        b = b[: int(truncate * len(b))]
    return bytes(b)


REPLY = st.one_of(
    st.tuples(st.just("noise"), st.binary(max_size=120), st.none(), st.none()),
    st.tuples(st.just("mutant"), EDITS, st.none() | st.floats(0, 1), st.sampled_from([0, 1])),
)


def make_datagram(spec: tuple, rid: int) -> bytes:
    kind, a, b, version = spec
    if kind == "noise":
        return bytes(a)
    return apply(good_reply(rid, version), a, b)


@settings(max_examples=1000, deadline=2000, database=None)
@given(REPLY, st.integers(0, 2**31 - 1))
def test_codec_decodes_or_raises_ber_error(spec: tuple, rid: int) -> None:
    data = make_datagram(spec, rid)
    try:
        msg = ber.decode_message(data)
    except ber.BerError:
        pass
    else:
        assert isinstance(msg.request_id, int)
        for oid, tag, _val, raw in msg.varbinds:
            assert isinstance(oid, str) and isinstance(tag, int) and isinstance(raw, bytes)
    try:
        ber.decode_header(data, allow_truncated=True)
    except ber.BerError:
        pass


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    lp = asyncio.new_event_loop()
    yield lp
    lp.close()


@pytest.mark.parametrize("engine", ["fast", "pysnmp"])
def test_engines_take_any_reply_as_a_per_device_error(
    engine: str, loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="asyncio")
    current: list[tuple] = []

    def handler(msg: ber.Message, addr: tuple[str, int]) -> list[tuple[bytes, str]]:
        return [(make_datagram(current[0], msg.request_id), "self")]

    async def setup() -> tuple[ScriptedAgent, FastSnmpClient | PysnmpClient]:
        agent = await ScriptedAgent(handler).__aenter__()
        return agent, FastSnmpClient() if engine == "fast" else PysnmpClient()

    agent, client = loop.run_until_complete(setup())
    target = SnmpTarget("fz", "127.0.0.1", agent.port, "2c", "public", 0.05, 0, 10)

    @FUZZ
    @given(REPLY, st.booleans())
    def one(spec: tuple, walk: bool) -> None:
        current[:] = [spec]
        call = client.walk(target, [SYS_DESCR[:-2]]) if walk else client.get(target, [SYS_DESCR])
        try:
            loop.run_until_complete(asyncio.wait_for(call, 5))
        except SnmpError:
            pass

    try:
        one()
    finally:
        client.close()
        loop.run_until_complete(agent.__aexit__(None, None, None))
    bad = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not bad, bad[:3]
    if isinstance(client, FastSnmpClient):
        assert client.stats.errors == 0


async def test_pysnmp_reports_a_garbage_answer_as_failed_not_timed_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with SimulatedNetwork("gb", 1, seed=5, base_port=0, n_interfaces=2) as sim:
        sim.agents[0].set_fault("garbage")
        client = PysnmpClient()
        target = SnmpTarget(
            "gb", "127.0.0.1", sim.port(sim.devices[0].device_id), "2c", "public", 0.2, 1, 10
        )
        errors = []
        try:
            for _ in range(6):
                with pytest.raises(SnmpError) as exc:
                    await client.get(target, [SYS_DESCR])
                errors.append(exc.value)
        finally:
            client.close()
    assert not any(isinstance(e, SnmpTimeout) for e in errors), errors
    assert all("undecodable answer" in str(e) for e in errors), errors
    assert "Exception in callback" not in caplog.text
