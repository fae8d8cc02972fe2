"""The session and driver against a real NETCONF server: Debian's netconfd (yuma123)
behind a loopback sshd (tests/support/netconfd.py); skipped where they are not installed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bus.datasets import validate
from collectors.config import Device
from collectors.netconf.driver import NetconfDriver
from collectors.netconf.options import NetconfOptions
from collectors.netconf.session import NetconfSession, SessionParams
from tests.support.netconfd import RealServer, missing, netconfd_over_sshd

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(missing() is not None, reason=f"no real NETCONF server: {missing()}"),
]
IF_FILTER = '<interfaces xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces"/>'


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    with netconfd_over_sshd(tmp_path_factory.mktemp("netconfd")) as srv:
        yield srv


async def test_session_with_netconfd(real: RealServer) -> None:
    """Hello then wait for the server's (netconfd drops a request read with the
    client hello), base:1.1 chunked framing, get-config and get with filters."""
    p = SessionParams(
        "127.0.0.1",
        real.port,
        real.username,
        private_key=real.client_key_path.read_text(),
        known_hosts=real.known_hosts_path,
        connect_timeout_s=10,
        rpc_timeout_s=10,
    )
    async with NetconfSession(p) as s:
        assert s.chunked  # netconfd says base:1.1
        assert any(
            c.startswith("urn:ietf:params:xml:ns:yang:ietf-interfaces") for c in s.capabilities
        )
        config = await s.get_config(subtree=IF_FILTER)
        assert b"<name>eth0</name>" in config and b'message-id="1"' in config
        got = await s.get(IF_FILTER)
        assert b"<name>eth1</name>" in got and b'message-id="2"' in got
        empty = await s.get(xpath="/interfaces-state")
        assert b"<data" in empty


async def test_driver_reads_interfaces_from_netconfd(real: RealServer) -> None:
    opts = NetconfOptions(
        port=real.port,
        username=real.username,
        private_key=f"file:{real.client_key_path}",  # type: ignore[arg-type]
        known_hosts=real.known_hosts_path,
        rpc_timeout_s=10,
    )
    dev = Device(network="lab", id="yuma", host="127.0.0.1", options={"netconf": opts})
    d = NetconfDriver()
    first = await d.poll(dev, "interfaces", 0, "c1")
    second = await d.poll(dev, "interfaces", 0, "c2")
    await d.stop()
    assert first.status == "ok" and second.status == "ok", (first.error, second.error)
    assert d.handshakes == 1
    by_name = {r.tags["if_name"]: r for r in first.records}
    assert set(by_name) == {"eth0", "eth1"}
    for r in first.records:
        validate(r)
        assert r.profile == "ietf" and r.provenance.protocol == "netconf"
    assert by_name["eth0"].fields["admin_status"] == "up"
    assert by_name["eth1"].fields["admin_status"] == "down"
    assert by_name["eth0"].fields["if_alias"] == "uplink"


async def test_ncclient_layer_reads_the_same_records_from_netconfd(real: RealServer) -> None:
    """The ncclient session layer against a real server: the same records as asyncssh."""
    base = {
        "port": real.port,
        "username": real.username,
        "private_key": f"file:{real.client_key_path}",
        "known_hosts": real.known_hosts_path,
        "rpc_timeout_s": 10,
    }
    devs = [
        Device(
            network="lab",
            id="yuma",
            host="127.0.0.1",
            options={"netconf": NetconfOptions.model_validate({**base, "client": client})},
        )
        for client in ("asyncssh", "ncclient")
    ]
    outs = []
    for dev in devs:
        d = NetconfDriver()
        outs.append(await d.poll(dev, "interfaces", 0, "c1"))
        assert type(d.sessions["yuma"]).__name__ == (
            "NcclientSession" if dev.options["netconf"].client == "ncclient" else "NetconfSession"
        )
        await d.stop()
    a, n = outs
    assert a.status == "ok" and n.status == "ok", (a.error, n.error)
    assert {r.tags["if_name"] for r in n.records} == {"eth0", "eth1"}
    for ra, rn in zip(a.records, n.records, strict=True):
        assert (ra.tags, ra.fields, ra.profile) == (rn.tags, rn.fields, rn.profile)
