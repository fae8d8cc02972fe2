"""An in-process SNMP client that answers from ``.snmprec`` files: the
collector's real driver, profiles and normalisation over a recording, with no
agent in between (for ``scripts/score``; the conformance tests poll snmpsim).

Values are what the real clients return for what snmpsim serves
(:func:`tests.conformance.snmprec.parse`).  Over a *raw* recording a walked
column ends before a value that snmpsim cannot serve (an invalid hex string,
an IpAddress that is not IPv4, an OBJECT IDENTIFIER of one arc), and the
column is reported cut short, as the collector reports such a walk.
"""

from __future__ import annotations

import bisect
from pathlib import Path

from collectors.snmp.base import SnmpTarget, SnmpTimeout, Value, WalkResult
from tests.conformance.snmprec import parse


def _key(oid: str) -> tuple[int, ...]:
    return tuple(int(x) for x in oid.split(".") if x)


class Recording:
    """One recording: its values by OID, in OID order, and the OIDs snmpsim
    cannot serve."""

    def __init__(self, path: Path) -> None:
        self.values, self.bad = parse(path, served=True)
        self.keys = sorted((_key(o), o) for o in (*self.values, *self.bad))

    def column(self, col: str) -> tuple[dict[str, Value], str | None]:
        """``index -> value`` of one column, and why it ended early (if it did)."""
        pre, ck = col + ".", _key(col)
        rows: dict[str, Value] = {}
        for k, oid in self.keys[bisect.bisect_left(self.keys, (ck,)) :]:
            if k[: len(ck)] != ck:
                break
            if len(k) == len(ck):
                continue  # the column's own OID is not one of its rows
            if oid in self.bad:
                return rows, f"bad encoding at {oid}"
            rows[oid[len(pre) :]] = self.values[oid]
        return rows, None


class RecordingClient:
    """``SnmpClient`` over recordings: the target's ``device`` names one."""

    def __init__(self, recordings: dict[str, Recording]) -> None:
        self.recordings = recordings

    def _rec(self, target: SnmpTarget) -> Recording:
        rec = self.recordings.get(target.device)
        if rec is None:
            raise SnmpTimeout(f"{target.device}: no recording")
        return rec

    async def get(self, target: SnmpTarget, oids: list[str]) -> dict[str, Value]:
        rec = self._rec(target)
        return {o: rec.values[o] for o in oids if o in rec.values}

    async def walk(self, target: SnmpTarget, columns: list[str]) -> WalkResult:
        rec = self._rec(target)
        res = WalkResult(columns={})
        for c in columns:
            rows, problem = rec.column(c)
            res.columns[c] = rows
            if problem:
                res.problems[c] = problem
        res.requests = 1
        return res

    def close(self) -> None:
        pass
