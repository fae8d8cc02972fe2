"""An agent that answers the same OID again: the walk of that column stops at
once ('OID not increasing'), with a small request count, in both engines and
both walk flavours (GETBULK on v2c, GETNEXT on v1).  Accepting an equal OID
(a strict ``<`` in the check) would loop forever: one such build sent 32,533
requests in 3 s to one agent."""

from __future__ import annotations

import asyncio

import pytest

from collectors.snmp.base import SnmpTarget
from collectors.snmp.fast_client import FastSnmpClient
from collectors.snmp.pysnmp_client import PysnmpClient
from netfeed.simulator.network import SimulatedNetwork

IF_DESCR, IF_TYPE = "1.3.6.1.2.1.2.2.1.2", "1.3.6.1.2.1.2.2.1.3"


@pytest.mark.parametrize("version", ["2c", "1"])
@pytest.mark.parametrize("engine", ["fast", "pysnmp"])
async def test_a_repeated_oid_ends_the_walk_at_once(engine: str, version: str) -> None:
    async with SimulatedNetwork("rep", 1, seed=5, base_port=0, n_interfaces=4) as sim:
        dev, agent = sim.devices[0], sim.agents[0]
        agent.set_fault("repeat-oid")
        client = FastSnmpClient() if engine == "fast" else PysnmpClient()
        target = SnmpTarget(
            "rep", "127.0.0.1", sim.port(dev.device_id), version, "public", 1.0, 0, 10
        )
        try:
            res = await asyncio.wait_for(client.walk(target, [IF_DESCR, IF_TYPE]), 10)
        finally:
            client.close()
        sent = agent.stats.received
        first = next(o for o in dev.oids if o[:10] == (1, 3, 6, 1, 2, 1, 2, 2, 1, 2))[10]
    for col in (IF_DESCR, IF_TYPE):
        assert res.problems[col] == f"OID not increasing at {col}.{first}", res.problems
        assert list(res.columns[col]) == [str(first)]  # the first answer is kept
    # GETBULK: one request sees the repeat; GETNEXT: the second
    assert res.requests <= 2 and sent <= 2, (res.requests, sent)
