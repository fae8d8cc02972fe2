"""The conformance suite: every profile over every shared recording.

The collector's real path (profile matching, SNMP walks through snmpsim,
normalisation) runs once per session over every recording and every dataset;
each test module then compares one dataset with LibreNMS's results for the
same recording (``tests/support/librenms.py``), with written tolerances.

Every field a profile emits must be asserted somewhere: tests call
:func:`covered` with the fields they checked, and ``test_zz_coverage.py``
fails on any emitted field nobody claimed.

The suite runs over whatever the recordings folder holds.  Expectations come
from LibreNMS's results and generic rules only; where netfeed does not (yet)
give what LibreNMS gives, the recording and test are listed with a written
reason in ``known_gaps.yaml``, and :func:`pytest_collection_modifyitems`
marks them ``xfail(strict=True)`` (see ``gaps.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

import bus.datasets
from bus.records import Record
from collectors.config import Device
from collectors.driver import PollOutcome
from collectors.profiles import ProfileSet, load_profiles
from collectors.snmp.driver import SnmpDriver
from collectors.snmp.options import SnmpSettings
from collectors.snmp.pysnmp_client import PysnmpClient
from tests.conformance import gaps
from tests.support.librenms import recording_names

DATASETS = tuple(bus.datasets.DATASETS)  # the record contract says which datasets exist
_COVERED: dict[str, set[str]] = {}
HERE = Path(__file__).parent
# The session's two collections (sanitized, raw) run in the setup of whichever
# test needs them first: minutes over 50 recordings, so more than pyproject's
# per-test timeout.
COLLECTION_TIMEOUT_S = 1800


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Known gaps (``known_gaps.yaml``) become strict expected failures."""
    for item in items:
        if HERE in item.path.parents:
            gaps.apply(item)
            item.add_marker(pytest.mark.timeout(COLLECTION_TIMEOUT_S))


def covered(dataset: str, *fields: str) -> None:
    """Declare that a test asserted these fields/tags of ``dataset``."""
    _COVERED.setdefault(dataset, set()).update(fields)


def covered_fields() -> dict[str, set[str]]:
    return _COVERED


def profile_for(recording: str) -> str:
    """One name everywhere: recording ``<profile>_<variant>`` belongs to ``<profile>``;
    a recording of a vendor no shipped profile is named after is read with ``generic``."""
    names = set(load_profiles().profiles)  # cached: tests call this per record
    if recording in names:
        return recording
    head = recording.split("_", 1)[0]
    return head if head in names else "generic"


async def _collect(addr: tuple[str, int], names: list[str]) -> dict[str, dict[str, PollOutcome]]:
    client = PysnmpClient()
    driver = SnmpDriver(client=client, profiles=ProfileSet())  # the collector's real path
    out: dict[str, dict[str, PollOutcome]] = {}
    try:
        for name in names:
            dev = Device(
                network="conformance",
                id=name,
                host=addr[0],
                options={
                    "snmp": SnmpSettings(
                        community=f"env:NF_CONF_{name}",
                        port=addr[1],
                        timeout_s=3,
                        retries=2,
                        max_repetitions=10,
                        device_deadline_s=300,
                    )
                },
            )
            out[name] = {}
            for ds in DATASETS:
                out[name][ds] = await driver.poll(dev, ds, 0, f"c:{ds}:0")
    finally:
        client.close()
    return out


def _collect_all(addr: tuple[str, int]) -> Iterator[dict[str, dict[str, PollOutcome]]]:
    names = recording_names()
    mp = pytest.MonkeyPatch()
    for n in names:  # communities by reference, as in production
        mp.setenv(f"NF_CONF_{n}", n)
    try:
        yield asyncio.run(_collect(addr, names))
    finally:
        mp.undo()


@pytest.fixture(scope="session")
def collected(snmpsim_sanitized: tuple[str, int]) -> Iterator[dict[str, dict[str, PollOutcome]]]:
    """``collected[recording][dataset]``: the poll outcome of each recording (sanitized)."""
    yield from _collect_all(snmpsim_sanitized)


@pytest.fixture(scope="session")
def collected_raw(snmpsim: tuple[str, int]) -> Iterator[dict[str, dict[str, PollOutcome]]]:
    """The same over the raw recordings, device quirks included."""
    yield from _collect_all(snmpsim)


def records(
    collected: dict[str, dict[str, PollOutcome]], recording: str, dataset: str
) -> list[Record]:
    return collected[recording][dataset].records


def recordings_dir() -> Path:
    from tests.support.librenms import LIBRENMS

    return LIBRENMS
