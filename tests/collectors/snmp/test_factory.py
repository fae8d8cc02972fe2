"""make_client, RoutingClient, and the collector's choice of client."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from collectors.snmp.base import SnmpTarget
from collectors.snmp.driver import SnmpDriver
from collectors.snmp.factory import RoutingClient, make_client
from collectors.snmp.fast_client import FastSnmpClient
from collectors.snmp.options import SnmpDriverSettings
from collectors.snmp.pysnmp_client import PysnmpClient
from tests.support.fake_snmp import FakeClient, shipped_profiles


def test_make_client():
    fast = make_client("fast", 1 << 20)
    assert isinstance(fast, FastSnmpClient) and fast.rcvbuf_bytes == 1 << 20
    ref = make_client("pysnmp", 1 << 20)
    assert isinstance(ref, PysnmpClient)
    ref.close()
    with pytest.raises(ValueError, match="unknown SNMP engine"):
        make_client("netsnmp", 1 << 20)


async def test_routing_sends_v3_to_pysnmp_and_the_rest_to_the_fast_client():
    name = "1.3.6.1.2.1.1.5.0"
    routing = RoutingClient(FakeClient({"d": {name: b"fast"}}))
    routing._v3 = FakeClient({"d": {name: b"v3"}})  # stands in for the lazy pysnmp client
    for version, answer in (("1", b"fast"), ("2c", b"fast"), ("3", b"v3")):
        t = SnmpTarget("d", "127.0.0.1", 161, version, "c")
        assert await routing.get(t, [name]) == {name: answer}
        walked = await routing.walk(t, ["1.3.6.1.2.1.1"])
        assert walked.columns == {"1.3.6.1.2.1.1": {"5.0": answer}}


def test_routing_makes_pysnmp_only_when_a_v3_target_comes():
    routing = RoutingClient(FastSnmpClient(), rcvbuf_bytes=1 << 20)
    assert routing._v3 is None
    assert isinstance(routing.v3, PysnmpClient)
    routing.close()
    assert routing._v3 is None


async def test_driver_uses_routing_fast_by_default_and_pysnmp_on_request() -> None:
    default = SnmpDriver(profiles=shipped_profiles())
    client = default.client
    assert isinstance(client, RoutingClient) and isinstance(client.fast, FastSnmpClient)
    assert client.fast.rcvbuf_bytes == SnmpDriverSettings().udp_rcvbuf_bytes
    await default.stop()
    assert default._client is None  # its own client is closed with it
    ref = SnmpDriver(SnmpDriverSettings(engine="pysnmp"), profiles=shipped_profiles())
    assert isinstance(ref.client, PysnmpClient)
    await ref.stop()
    with pytest.raises(ValidationError):
        SnmpDriverSettings(engine="netsnmp")  # type: ignore[arg-type]
