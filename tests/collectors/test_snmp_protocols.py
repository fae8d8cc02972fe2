"""SNMP v1, v2c and v3 (USM) against Debian's real net-snmp ``snmpd``.

Every combination polls ``system`` and ``interfaces`` through the collector's
own path (config model -> ``target_of`` -> :class:`PysnmpClient` ->
``poll_device`` / ``run_cycle``) and must give the same records as v2c,
counters aside.  Wrong credentials must fail or time out with a reason that
says what to check, and never carry a secret into errors, logs or records.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bus.datasets import validate
from bus.records import CycleComplete, Record, encode
from collectors.config import Device, load_network
from collectors.cycle import run_cycle
from collectors.driver import PollOutcome
from collectors.profiles import ProfileSet
from collectors.snmp.options import SnmpSettings
from collectors.snmp.poll import poll_device
from collectors.snmp.pysnmp_client import PysnmpClient
from tests.support.fake_snmp import snmp_driver
from tests.support.snmpd import SYS_CONTACT, SYS_LOCATION, SYS_NAME, V3_USERS, Snmpd

pytestmark = pytest.mark.asyncio(loop_scope="module")

DATASETS = ("system", "interfaces")
COMBOS = [("1", None), ("2c", None)] + [("3", u.name) for u in V3_USERS]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client() -> AsyncIterator[PysnmpClient]:
    c = PysnmpClient()
    yield c
    c.close()


@pytest.fixture(scope="module")
def profiles() -> ProfileSet:
    return ProfileSet()


def device(agent: Snmpd, version: str, user: str | None = None, **override: Any) -> Device:
    return Device(
        network="lab",
        id=f"ne-v{version}-{user or 'community'}",
        host=agent.host,
        options={"snmp": SnmpSettings(**agent.snmp(version, user, **override))},
        tags={"site": "test"},
    )


async def collect(
    client: PysnmpClient, profiles: ProfileSet, dev: Device
) -> dict[str, PollOutcome]:
    return {
        ds: await poll_device(client, profiles, dev, ds, 60_000, f"lab:{ds}:60000")
        for ds in DATASETS
    }


def _volatile(name: str) -> bool:
    """Counters and clocks move between two polls; everything else must not."""
    return name.startswith(("in_", "out_")) or name == "uptime_ticks"


def comparable(records: list[Record], version: str = "2c") -> list[tuple[Any, ...]]:
    """What must not differ between versions.  SNMPv1 has no Counter64, so snmpd
    leaves the ifHC* columns out of v1 answers: there the counters are 32-bit."""

    def stable(r: Record) -> dict[str, Any]:
        fields = {k: v for k, v in r.fields.items() if not _volatile(k)}
        if version == "1" and "counter_bits" in fields:
            fields["counter_bits"] = 32
        return fields

    return sorted(
        (
            r.dataset,
            r.profile,
            tuple(sorted(r.tags.items())),
            tuple(sorted(stable(r).items())),
            tuple(sorted(k for k in r.fields if _volatile(k))),
            r.partial,
            tuple(r.missing),
        )
        for r in records
    )


def secrets_of(agent: Snmpd) -> list[str]:
    out = [agent.community]
    for u in agent.users.values():
        out += [u.auth_key, u.priv_key]
    return out


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def reference(snmpd: Snmpd, client: PysnmpClient, profiles: ProfileSet) -> list[Record]:
    """v2c's records: what every other version and security combination must match."""
    outs = await collect(client, profiles, device(snmpd, "2c"))
    assert all(o.status == "ok" for o in outs.values()), outs
    return [r for o in outs.values() for r in o.records]


async def test_reference_is_the_agent_as_configured(reference: list[Record]) -> None:
    system = [r for r in reference if r.dataset == "system"]
    assert len(system) == 1
    f = system[0].fields
    assert (f["sys_location"], f["sys_contact"]) == (SYS_LOCATION, SYS_CONTACT)
    assert system[0].tags.get("sys_name") == SYS_NAME
    ifaces = [r for r in reference if r.dataset == "interfaces"]
    assert ifaces, "snmpd serves at least the loopback interface"
    assert any(r.fields.get("if_descr") == "lo" for r in ifaces)
    for r in reference:
        validate(r)
        assert not r.partial, r.missing


@pytest.mark.parametrize("version, user", COMBOS, ids=[u or f"v{v}" for v, u in COMBOS])
async def test_every_version_and_security_combination_gives_the_same_records(
    snmpd: Snmpd,
    client: PysnmpClient,
    profiles: ProfileSet,
    reference: list[Record],
    version: str,
    user: str | None,
) -> None:
    outs = await collect(client, profiles, device(snmpd, version, user))
    for ds, out in outs.items():
        assert out.status == "ok", f"{ds}: {out.error}"
    records = [r for o in outs.values() for r in o.records]
    for r in records:
        validate(r)
        assert r.provenance.protocol == f"snmpv{version}"
        assert r.device_uptime_ms is not None
    assert comparable(records) == comparable(reference, version)
    payload = b"".join(encode(r) for r in records)
    for secret in secrets_of(snmpd):
        assert secret.encode() not in payload


class ListSink:
    def __init__(self) -> None:
        self.records: list[Record] = []
        self.markers: list[CycleComplete] = []

    async def publish(self, records: list[Record]) -> None:
        self.records += records

    async def complete_cycle(self, marker: CycleComplete) -> CycleComplete:
        self.markers.append(marker)
        return marker


def network_yaml(agent: Snmpd, users: list[str]) -> str:
    """A network file with one device per combination, v3 settings in groups."""
    lines = [
        "network: lab",
        "defaults:",
        f"  snmp: {{port: {agent.port}, timeout_s: 1.0, retries: 1,",
        f"         community: file:{agent.secrets}/community}}",
        "  tags: {site: test}",
        "groups:",
        "  v1: {snmp: {version: 1}}",
    ]
    for name in users:
        u = agent.users[name]
        snmp = f"version: 3, security_name: {u.name}, security_level: {u.level}"
        if u.auth:
            snmp += f", auth_protocol: {u.auth}, auth_key: file:{agent.secrets}/{u.name}.auth"
        if u.priv:
            snmp += f", priv_protocol: {u.priv}, priv_key: file:{agent.secrets}/{u.name}.priv"
        lines.append(f"  {name}: {{snmp: {{{snmp}}}}}")
    lines += [
        "devices:",
        f"  - {{id: ne-v2c, host: {agent.host}}}",
        f"  - {{id: ne-v1, host: {agent.host}, groups: [v1]}}",
    ]
    lines += [f"  - {{id: ne-{n}, host: {agent.host}, groups: [{n}]}}" for n in users]
    return "\n".join(lines) + "\n"


async def test_network_file_with_every_combination_through_run_cycle(
    snmpd: Snmpd,
    client: PysnmpClient,
    profiles: ProfileSet,
    reference: list[Record],
    tmp_path: Path,
) -> None:
    """The whole path from YAML: every device of one cycle at once, several USM
    users and both community versions sharing the client concurrently."""
    users = [u.name for u in V3_USERS]
    path = tmp_path / "lab.yaml"
    path.write_text(network_yaml(snmpd, users))
    net = load_network(path)
    assert {d.options["snmp"].version for d in net.devices} == {"1", "2c", "3"}
    for ds in DATASETS:
        sink = ListSink()
        marker = await run_cycle(
            network="lab",
            dataset=ds,
            devices=net.devices,
            driver=snmp_driver(client, profiles),
            sink=sink,
            limits=[asyncio.Semaphore(64)],
            scheduled_unix_ms=120_000,
        )
        assert marker.failures == {}
        assert marker.devices_ok == marker.devices_planned == len(users) + 2
        want = [r for r in reference if r.dataset == ds]
        by_device: dict[str, list[Record]] = {}
        for r in sink.records:
            by_device.setdefault(r.device, []).append(r)
        assert len(by_device) == len(users) + 2
        for dev, recs in by_device.items():
            version = "1" if dev == "ne-v1" else "2c"
            assert comparable(recs) == comparable(want, version), dev


WRONG = "wrong-but-long-enough"


@pytest.fixture(scope="module")
def wrong_key(tmp_path_factory: pytest.TempPathFactory) -> str:
    p = tmp_path_factory.mktemp("wrong") / "key"
    p.write_text(WRONG + "\n")
    return f"file:{p}"


FAST = {"timeout_s": 0.5, "retries": 0}


async def test_wrong_auth_key_fails_with_a_reason_and_no_secret(
    snmpd: Snmpd,
    client: PysnmpClient,
    profiles: ProfileSet,
    wrong_key: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    right = device(snmpd, "3", "v3-sha256-aes")
    bad = device(snmpd, "3", "v3-sha256-aes", auth_key=wrong_key, **FAST)
    bad = bad.model_copy(update={"id": "ne-bad-auth"})
    sink = ListSink()
    caplog.set_level(logging.DEBUG)
    marker = await run_cycle(
        network="lab",
        dataset="system",
        devices=[right, bad],
        driver=snmp_driver(client, profiles),
        sink=sink,
        limits=[asyncio.Semaphore(8)],
        scheduled_unix_ms=180_000,
    )
    # the same user name with two keys at once: the right one still works
    assert (marker.devices_ok, marker.devices_failed) == (1, 1), marker.failures
    reason = marker.failures["ne-bad-auth"]
    assert reason.startswith("failed: ne-bad-auth")
    assert "auth_key or auth_protocol" in reason and "'v3-sha256-aes'" in reason
    assert [r.device for r in sink.records] == [right.id]
    user = snmpd.users["v3-sha256-aes"]
    text = caplog.text + repr(marker) + "".join(repr(r) for r in sink.records)
    text += b"".join(encode(r) for r in sink.records).decode()
    for secret in (WRONG, user.auth_key, user.priv_key):
        assert secret not in text


@pytest.mark.parametrize(
    "user, override, status, words",
    [
        ("v3-sha256-aes", {"priv_key": "WRONG"}, "timed_out", ["priv_key or priv_protocol"]),
        ("v3-sha256-aes", {"priv_protocol": "DES"}, "timed_out", ["priv_key or priv_protocol"]),
        ("v3-sha256-aes", {"auth_protocol": "SHA-512"}, "failed", ["auth_key or auth_protocol"]),
        ("v3-sha256-aes", {"security_name": "nobody"}, "failed", ["no such user", "'nobody'"]),
        ("v3-md5-des", {"auth_protocol": "SHA"}, "failed", ["auth_key or auth_protocol"]),
        # the user exists at authNoPriv only; asking with privacy is refused
        (
            "v3-sha256",
            {"security_level": "authPriv", "priv_protocol": "AES", "priv_key": "WRONG"},
            "failed",
            ["not set up for this security_level"],
        ),
        # the user's access rule needs privacy; asking without it is refused by VACM
        (
            "v3-sha256-aes",
            {"security_level": "authNoPriv"},
            "failed",
            ["authorizationError", "access rules"],
        ),
        # Blumenthal and Reeder key extension really differ (SHA-1 is too short for AES-256)
        ("v3-sha-aes256", {"priv_protocol": "AES-256-C"}, "timed_out", ["priv_protocol"]),
        ("v3-sha-aes256c", {"priv_protocol": "AES-256"}, "timed_out", ["priv_protocol"]),
        ("v3-sha-aes192", {"priv_protocol": "AES-192-C"}, "timed_out", ["priv_protocol"]),
    ],
    ids=[
        "wrong-priv-key",
        "wrong-priv-protocol",
        "wrong-auth-protocol",
        "unknown-user",
        "md5-user-asked-with-sha",
        "level-above-the-users",
        "level-below-the-access-rule",
        "aes256-blumenthal-vs-reeder",
        "aes256-reeder-vs-blumenthal",
        "aes192-blumenthal-vs-reeder",
    ],
)
async def test_v3_mismatches_fail_or_time_out_with_a_clear_reason(
    snmpd: Snmpd,
    client: PysnmpClient,
    profiles: ProfileSet,
    wrong_key: str,
    user: str,
    override: dict[str, str],
    status: str,
    words: list[str],
) -> None:
    override = {k: (wrong_key if v == "WRONG" else v) for k, v in override.items()}
    dev = device(snmpd, "3", user, **override, **FAST)
    out = await poll_device(client, profiles, dev, "system", 0, "lab:system:0")
    assert out.status == status, out.error
    assert not out.records
    assert out.error is not None and dev.id in out.error
    for w in words:
        assert w in out.error, out.error
    u = snmpd.users[user]
    for secret in (WRONG, u.auth_key, u.priv_key):
        assert secret not in out.error


@pytest.mark.parametrize("version", ["1", "2c"])
async def test_wrong_community_times_out(
    snmpd: Snmpd, client: PysnmpClient, profiles: ProfileSet, wrong_key: str, version: str
) -> None:
    dev = device(snmpd, version, community=wrong_key, **FAST)
    out = await poll_device(client, profiles, dev, "system", 0, "lab:system:0")
    assert out.status == "timed_out" and not out.records
    assert out.error is not None and "no answer" in out.error and WRONG not in out.error
    assert snmpd.community not in out.error


async def test_v3_devices_come_back_after_a_reboot_and_after_a_new_engine_id(
    tmp_path: Path, client: PysnmpClient, profiles: ProfileSet
) -> None:
    """A reboot (same engine id, boots + 1, time from 0) is transparent; a new
    engine id at the same address (replaced device, lost state) costs at most
    one timed-out poll: pysnmp would otherwise keep the old id and never recover."""
    names = ("v3-noauth", "v3-sha256", "v3-sha256-aes")
    agent = Snmpd(tmp_path / "agent", users=tuple(u for u in V3_USERS if u.name in names))
    await asyncio.to_thread(agent.start)
    try:
        devs = [device(agent, "3", n, **FAST) for n in names]

        async def poll_all() -> list[PollOutcome]:
            return [await poll_device(client, profiles, d, "system", 0, "c") for d in devs]

        assert all(o.status == "ok" for o in await poll_all())
        await asyncio.to_thread(agent.reboot)
        after_reboot = await poll_all()
        assert [o.status for o in after_reboot] == ["ok"] * 3, [o.error for o in after_reboot]

        await asyncio.to_thread(agent.reboot, new_engine_id=True)
        first, second = await poll_all(), await poll_all()
        assert all(o.status in ("ok", "timed_out") for o in first), [o.error for o in first]
        assert [o.status for o in second] == ["ok"] * 3, [o.error for o in second]
    finally:
        agent.stop()
