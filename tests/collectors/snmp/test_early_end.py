"""An agent that answers endOfMibView in the middle of the MIB (snmpsim does so
at a record it cannot encode; real agents at a broken row): both clients keep
the rows before it and report the column as ended early, when a value further
on in the same reply proves the MIB did not end."""

from __future__ import annotations

import pytest

from collectors.snmp.base import SnmpTarget
from collectors.snmp.fast_client import FastSnmpClient
from collectors.snmp.pysnmp_client import PysnmpClient
from netfeed.simulator.network import SimulatedNetwork

IF_DESCR, IF_TYPE = "1.3.6.1.2.1.2.2.1.2", "1.3.6.1.2.1.2.2.1.3"


@pytest.mark.parametrize("engine", ["fast", "pysnmp"])
async def test_mid_mib_end_is_reported_and_rows_before_it_kept(engine: str) -> None:
    async with SimulatedNetwork("ee", 1, seed=4, base_port=0, n_interfaces=6) as sim:
        dev = sim.devices[0]
        rows = [oid for oid in dev.oids if oid[:10] == tuple(map(int, IF_DESCR.split(".")))]
        assert len(rows) >= 6
        sim.agents[0].break_walks_at(rows[3])  # the 4th ifDescr row cannot be read
        client = FastSnmpClient() if engine == "fast" else PysnmpClient()
        try:
            target = SnmpTarget(
                "ee", "127.0.0.1", sim.port(dev.device_id), "2c", "public", 2.0, 0, 10
            )
            res = await client.walk(target, [IF_DESCR, IF_TYPE])
            sim.agents[0].break_walks_at(None)
            clean = await client.walk(target, [IF_DESCR, IF_TYPE])
        finally:
            client.close()
    assert "ended the walk early" in res.problems[IF_DESCR], res.problems
    assert IF_TYPE not in res.problems
    assert len(res.columns[IF_DESCR]) == 3
    assert res.columns[IF_TYPE] == clean.columns[IF_TYPE]
    assert all(clean.columns[IF_DESCR][i] == v for i, v in res.columns[IF_DESCR].items())
    assert not clean.problems
