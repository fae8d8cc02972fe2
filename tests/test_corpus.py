"""Inputs that broke (or nearly broke) a reader once, kept as regular tests.

``tests/corpus/network/<case>/``: a network file ``lab.yaml`` (and its
``inv.csv``): :func:`load_network` raises :class:`ConfigError`, nothing else.
``tests/corpus/snmp-reply/*.bin``: a reply datagram: the codec decodes it or
raises ``BerError``; both engines answered with it raise :class:`SnmpError`
and log no error (pysnmp's receive path raised TypeError on the first two).
``tests/corpus/netconf-xml/*``: a reply (``.json``: a JSON string, for text
no file can hold): the parsers raise :class:`NetconfError`, nothing else.
Add a case by dropping a file in; the fuzz tests (``test_fuzz_*.py``) find them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from collectors.config import ConfigError, load_network
from collectors.netconf.xml import NetconfError, hello_capabilities, parse, parse_data
from collectors.snmp import ber
from collectors.snmp.base import SnmpError, SnmpTarget
from collectors.snmp.fast_client import FastSnmpClient
from collectors.snmp.pysnmp_client import PysnmpClient
from tests.collectors.snmp.wire import ScriptedAgent

CORPUS = Path(__file__).parent / "corpus"
NETWORKS = sorted((CORPUS / "network").iterdir())
REPLIES = sorted((CORPUS / "snmp-reply").glob("*.bin"))
XML = sorted((CORPUS / "netconf-xml").iterdir())


def test_the_corpus_is_there() -> None:
    assert NETWORKS and REPLIES and XML


@pytest.mark.parametrize("case", NETWORKS, ids=[p.name for p in NETWORKS])
def test_network_case_is_a_config_error(case: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_network(case / "lab.yaml")
    assert err.value.problems and all(str(case) in p for p in err.value.problems), err.value


@pytest.mark.parametrize("case", REPLIES, ids=[p.name for p in REPLIES])
def test_snmp_reply_case_decodes_or_is_a_ber_error(case: Path) -> None:
    try:
        ber.decode_message(case.read_bytes())
    except ber.BerError:
        pass


@pytest.mark.parametrize("engine", ["fast", "pysnmp"])
async def test_snmp_reply_cases_are_per_device_errors(
    engine: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="asyncio")
    current: list[bytes] = []
    client = FastSnmpClient() if engine == "fast" else PysnmpClient()
    async with ScriptedAgent(lambda msg, addr: [(current[0], "self")]) as agent:
        target = SnmpTarget("corpus", "127.0.0.1", agent.port, "2c", "public", 0.1, 0, 10)
        try:
            for case in REPLIES:
                current[:] = [case.read_bytes()]
                with pytest.raises(SnmpError):
                    await client.get(target, ["1.3.6.1.2.1.1.1.0"])
        finally:
            client.close()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors[:3]


@pytest.mark.parametrize("case", XML, ids=[p.name for p in XML])
def test_netconf_case_is_a_netconf_error(case: Path) -> None:
    reply: str | bytes = (
        json.loads(case.read_text()) if case.suffix == ".json" else case.read_bytes()
    )
    for fn in (parse, parse_data, hello_capabilities):
        with pytest.raises(NetconfError):
            fn(reply)
