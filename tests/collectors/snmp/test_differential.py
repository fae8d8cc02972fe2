"""FastSnmpClient == PysnmpClient on every shared recording, served raw (quirks
included) by snmpsim: the IF-MIB tables the collector walks, and whole subtrees
(mib-2 and enterprises) walked as columns, so every value type and every quirk
of every recording goes through both clients.  Columns, rows, values (types
included), problems and even the number of requests must be identical; where
the walk cannot finish, so must the exception be.

snmpsim quirk (recordings README): a raw file with an OBJECT IDENTIFIER value
of one arc (vrp_s5328c-ei's entPhysicalVendorType ``0``) is one snmpsim cannot
encode, and it then sends no answer at all: a whole-subtree walk of such a
recording times out, in both clients alike.  Differences that are defects are
known gaps (``tests/conformance/known_gaps.yaml``), applied by
:func:`tests.conformance.gaps.params`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.snmp.base import SnmpClient, SnmpError, SnmpTarget, SnmpTimeout, WalkResult
from collectors.snmp.fast_client import FastSnmpClient
from collectors.snmp.pysnmp_client import PysnmpClient
from tests.conformance.gaps import params
from tests.support.librenms import LIBRENMS, recording_names

pytestmark = [pytest.mark.snmpsim, pytest.mark.recordings]

NAMES = recording_names() or ["(no recordings)"]
IF_TABLE = [f"1.3.6.1.2.1.2.2.1.{c}" for c in range(1, 23)]
IFX_TABLE = [f"1.3.6.1.2.1.31.1.1.1.{c}" for c in range(1, 20)]
SUBTREES = ["1.3.6.1.2.1", "1.3.6.1.4.1"]
SCALARS = [f"1.3.6.1.2.1.1.{i}.0" for i in range(1, 10)] + ["1.3.6.1.2.1.2.1.0"]


async def both(t: SnmpTarget, columns: list[str]) -> tuple[WalkResult, WalkResult, FastSnmpClient]:
    fast = FastSnmpClient()
    ref = PysnmpClient()
    try:
        return await fast.walk(t, columns), await ref.walk(t, columns), fast
    finally:
        fast.close()
        ref.close()


async def outcome(client: SnmpClient, t: SnmpTarget, columns: list[str]) -> WalkResult | SnmpError:
    try:
        return await client.walk(t, columns)
    except SnmpError as exc:
        return exc
    finally:
        client.close()


def unencodable_by_snmpsim(name: str) -> bool:
    """Does the raw file hold an OBJECT IDENTIFIER value of one arc (snmpsim then
    does not answer)?"""
    text = (LIBRENMS / "snmprec" / f"{name}.snmprec").read_text(errors="replace")
    return any(
        kind == "6" and "." not in value.strip()
        for kind, value in (line.split("|", 2)[1:] for line in text.splitlines() if "|" in line)
    )


def assert_same(ours: WalkResult, theirs: WalkResult) -> None:
    assert ours.problems == theirs.problems
    assert ours.columns.keys() == theirs.columns.keys()
    for col in theirs.columns:
        a, b = ours.columns[col], theirs.columns[col]
        assert a.keys() == b.keys(), col
        diff = {k: (a[k], b[k]) for k in b if a[k] != b[k] or type(a[k]) is not type(b[k])}
        assert not diff, (col, dict(list(diff.items())[:5]))
    assert ours.requests == theirs.requests


def target(snmpsim: tuple[str, int], name: str, version: str = "2c", reps: int = 25) -> SnmpTarget:
    host, port = snmpsim
    return SnmpTarget(name, host, port, version, name, 10.0, 1, reps)


@pytest.mark.parametrize("name", NAMES)
async def test_if_mib_tables(recordings: Path, snmpsim: tuple[str, int], name: str) -> None:
    # v2c only: snmpsim 1.2.2 spins (tens of CPU-seconds, answering nobody) on an
    # SNMPv1 GETNEXT whose path meets a Counter64; v1 walks are compared with
    # pysnmp on the project's simulator instead (test_fast_client.py).
    for columns, reps in ((IF_TABLE, 25), (IFX_TABLE, 7)):
        ours, theirs, fast = await both(target(snmpsim, name, "2c", reps), columns)
        assert_same(ours, theirs)
        assert fast.stats.bad_values == fast.stats.malformed == fast.stats.errors == 0


@pytest.mark.parametrize("name", params("test_whole_subtrees", NAMES, "name"))
async def test_whole_subtrees(recordings: Path, snmpsim: tuple[str, int], name: str) -> None:
    fast = FastSnmpClient()
    t = target(snmpsim, name)
    ours, theirs = await outcome(fast, t, SUBTREES), await outcome(PysnmpClient(), t, SUBTREES)
    if isinstance(ours, SnmpError) or isinstance(theirs, SnmpError):
        # the same exception from both; a timeout only where snmpsim cannot answer
        assert (type(ours), str(ours)) == (type(theirs), str(theirs))
        assert isinstance(ours, SnmpTimeout) and unencodable_by_snmpsim(name), ours
        return
    assert_same(ours, theirs)
    assert sum(map(len, ours.columns.values())) > 0
    assert fast.stats.errors == 0


@pytest.mark.parametrize("name", NAMES)
async def test_scalars(recordings: Path, snmpsim: tuple[str, int], name: str) -> None:
    for version in ("1", "2c"):  # GETs of the system group meet no Counter64
        t = target(snmpsim, name, version)
        fast: SnmpClient = FastSnmpClient()
        ref: SnmpClient = PysnmpClient()
        try:
            assert await fast.get(t, SCALARS) == await ref.get(t, SCALARS)
        finally:
            fast.close()
            ref.close()
