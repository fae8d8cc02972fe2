"""The raw recordings, quirks included (OIDs that do not increase, early
end-of-MIB): the collector survives, publishes what it could read, and says
what it could not — never a silently different result."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.support.librenms import LIBRENMS, recording_names

# how a walk says why a column ended early (collectors/snmp/*_client.py)
CAUSES = re.compile(r"not increasing|ended the walk early|bad encoding|error-status|no answer")


def _key(r):  # type: ignore[no-untyped-def]
    return tuple(sorted(r.tags.items()))


@pytest.mark.parametrize("recording", recording_names())
def test_raw_recording_gives_the_sanitized_result_or_says_what_is_missing(
    collected: Any, collected_raw: Any, recording: str
) -> None:
    for ds, clean in collected[recording].items():
        raw = collected_raw[recording][ds]
        assert raw.status == clean.status, (recording, ds, raw.error, clean.error)
        clean_recs = {_key(r): r.fields for r in clean.records}
        raw_recs = {_key(r): r.fields for r in raw.records}
        assert set(raw_recs) <= set(clean_recs), (recording, ds, "rows the clean walk lacks")
        if raw_recs == clean_recs:
            continue
        # different: every raw record must be marked partial and name the cause
        assert all(r.partial and r.missing for r in raw.records), (recording, ds)
        assert any(CAUSES.search(m) for r in raw.records for m in r.missing), (recording, ds)


def _arcs(oid: str) -> tuple[int, ...]:
    return tuple(int(a) for a in oid.split("."))


@cache
def out_of_order(recording: str) -> tuple[str, ...]:
    """Where the raw file puts an OID before one it follows (a new OID smaller
    than the one before it; a repeated OID or a second copy of the file is not
    that): the longest prefix the two share, a subtree whose walk meets it."""
    out: list[str] = []
    prev: tuple[int, ...] | None = None
    seen: set[str] = set()
    text = (LIBRENMS / "snmprec" / f"{recording}.snmprec").read_text(errors="replace")
    for line in text.splitlines():
        if not line.strip():
            continue
        oid = line.split("|", 1)[0]
        arcs = _arcs(oid)
        if prev is not None and arcs < prev and oid not in seen:
            common = next(i for i, (a, b) in enumerate(zip(arcs, prev, strict=False)) if a != b)
            out.append(".".join(map(str, arcs[:common])))
        seen.add(oid)
        prev = arcs
    return tuple(dict.fromkeys(out))


@pytest.mark.parametrize("recording", [n for n in recording_names() if out_of_order(n)])
async def test_out_of_order_oids_end_the_column_with_a_problem(
    snmpsim: tuple[str, int], snmpsim_sanitized: tuple[str, int], recording: str
) -> None:
    """A raw file with OIDs that do not increase (as real SR OS does): a walk
    of the subtree around them keeps what it read and names the OID where it
    stopped; the sanitized file walks it whole."""
    from collectors.snmp.base import SnmpTarget
    from collectors.snmp.pysnmp_client import PysnmpClient

    client = PysnmpClient()
    try:
        for col in out_of_order(recording):
            got = {}
            for label, (host, port) in (("raw", snmpsim), ("clean", snmpsim_sanitized)):
                t = SnmpTarget(recording, host, port, "2c", recording, 3.0, 1, 10)
                got[label] = await client.walk(t, [col])
            assert not got["clean"].problems, (recording, col)
            assert "not increasing" in got["raw"].problems[col], (recording, col)
            raw_rows, clean_rows = got["raw"].columns[col], got["clean"].columns[col]
            assert 0 < len(raw_rows) < len(clean_rows), (recording, col)
            assert all(clean_rows[i] == v for i, v in raw_rows.items()), (recording, col)
    finally:
        client.close()


def _values(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        oid, _, rest = line.partition("|")
        if rest and oid not in out:
            out[oid] = rest
    return out


@cache
def repaired(recording: str) -> tuple[tuple[str, str], ...]:
    """The columns (an OID less its last arc) holding a value the sanitized file
    repaired (same OID, another value), each with the column of the first OID
    after every such value: a raw walk of the two together meets the value while
    the agent still has OIDs beyond it (how a walk tells an early end from the end
    of the MIB)."""
    raw = _values(LIBRENMS / "snmprec" / f"{recording}.snmprec")
    clean = _values(LIBRENMS / "snmprec-sanitized" / f"{recording}.snmprec")
    bad = sorted((o for o, v in raw.items() if o in clean and clean[o] != v), key=_arcs)
    if not bad:
        return ()
    last = _arcs(bad[-1])
    cols = list(dict.fromkeys(o.rsplit(".", 1)[0] for o in bad))
    after = next(
        (
            o
            for o in sorted(clean, key=_arcs)
            if _arcs(o) > last and not any(o.startswith(c + ".") for c in cols)
        ),
        "",
    )
    return tuple((col, after.rsplit(".", 1)[0]) for col in cols[:3])


@pytest.mark.parametrize("recording", [n for n in recording_names() if repaired(n)])
async def test_a_value_snmpsim_cannot_serve_ends_the_walk_with_a_named_cause(
    snmpsim: tuple[str, int], snmpsim_sanitized: tuple[str, int], recording: str
) -> None:
    """A raw value snmpsim cannot encode (an invalid hex string, an IpAddress
    ``*.*.*.*``, an OID of one arc) stops a walk of its column: the client keeps
    what it read and names the cause in words ``CAUSES`` knows (so the branch of
    the test above that looks for them is checked against real output), or, where
    snmpsim sends nothing at all, says there was no answer."""
    from collectors.snmp.base import SnmpTarget, SnmpTimeout
    from collectors.snmp.pysnmp_client import PysnmpClient

    client = PysnmpClient()
    try:
        for col, after in repaired(recording):
            assert after, (recording, col, "nothing follows the column in the file")
            (host, port), (chost, cport) = snmpsim, snmpsim_sanitized
            clean = await client.walk(
                SnmpTarget(recording, chost, cport, "2c", recording, 3.0, 1, 10), [col, after]
            )
            assert not clean.problems and clean.columns[col], (recording, col)
            try:
                raw = await client.walk(
                    SnmpTarget(recording, host, port, "2c", recording, 1.0, 0, 10), [col, after]
                )
            except SnmpTimeout as exc:
                assert CAUSES.search(str(exc)), (recording, col, str(exc))
                continue
            why = raw.problems.get(col, "")
            assert CAUSES.search(why), (recording, col, why)
            assert len(raw.columns.get(col, {})) < len(clean.columns[col]), (recording, col)
    finally:
        client.close()
