"""The conformance score: per recording and dataset, how many of the values
compared with LibreNMS's results match (``scripts/score``).

Every recording of ``../shared/recordings/snmp/librenms`` is read through the
collector's real driver, profiles and normalisation (in process: no agent,
:mod:`tests.conformance.recording_client`), and each dataset is compared by the
same ``compare_*`` functions the conformance tests assert, so the table and
the tests cannot disagree on what matches.  A cell is ``matched/compared``;
``-`` where nothing is compared (LibreNMS has no result for it); ``*`` marks
a cell with differences, ``!`` one where a check the tests make against the
recording rather than LibreNMS failed (``--diff --other`` lists them).  Bounded time:
one in-process pass per recording, well under a second each (about 10 s for
all 50 on one core).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from bus.records import Record
from collectors.config import Device
from collectors.driver import PollOutcome
from collectors.profiles import ProfileSet
from collectors.snmp.driver import SnmpDriver
from collectors.snmp.options import SnmpSettings
from tests.conformance.recording_client import Recording, RecordingClient
from tests.conformance.tally import Tally
from tests.conformance.test_bgp import compare_bgp
from tests.conformance.test_health import compare_mempools, compare_processors
from tests.conformance.test_interfaces import compare_interfaces
from tests.conformance.test_inventory import compare_inventory
from tests.conformance.test_sensors import compare_sensors
from tests.conformance.test_system import compare_system
from tests.support.librenms import LIBRENMS, recording_names

Polls = Callable[[str], PollOutcome]  # dataset -> outcome of one recording
# column of the table -> (dataset polled, comparison)
COMPARISONS: dict[str, tuple[str, Callable[[PollOutcome, str], Tally]]] = {
    "interfaces": ("interfaces", lambda out, name: compare_interfaces(out, name, _raw(name))),
    "system": ("system", compare_system),
    "processors": ("health", compare_processors),
    "memory pools": ("health", compare_mempools),
    "sensors": ("sensors", compare_sensors),
    "bgp peers": ("bgp", compare_bgp),
    "inventory": ("inventory", compare_inventory),
}
_SHORT = {"memory pools": "mempools", "bgp peers": "bgp", "interfaces": "ifaces"}


@dataclass
class Cell:
    tally: Tally | None = None
    error: str | None = None  # the comparison itself failed (not a mismatch)


@dataclass
class Score:
    cells: dict[str, dict[str, Cell]] = field(default_factory=dict)  # recording -> column -> cell

    def totals(self) -> dict[str, tuple[int, int]]:
        out = {c: (0, 0) for c in COMPARISONS}
        for row in self.cells.values():
            for col, cell in row.items():
                if cell.tally is not None:
                    m, n = out[col]
                    out[col] = (m + cell.tally.matched, n + cell.tally.compared)
        return out


_PROFILES: ProfileSet | None = None


def _driver(recordings: dict[str, Recording]) -> SnmpDriver:
    global _PROFILES
    _PROFILES = _PROFILES or ProfileSet()
    return SnmpDriver(client=RecordingClient(recordings), profiles=_PROFILES)  # type: ignore[arg-type]


def _device(name: str) -> Device:
    os.environ.setdefault("NF_SCORE_COMMUNITY", "public")  # the client ignores it
    return Device(
        network="score",
        id=name,
        host="127.0.0.1",
        options={"snmp": SnmpSettings(community="env:NF_SCORE_COMMUNITY")},  # type: ignore[arg-type]
    )


def poll(path_dir: str, name: str, datasets: Sequence[str]) -> dict[str, PollOutcome]:
    """Each dataset of one recording (``snmprec-sanitized`` or ``snmprec``)."""
    rec = Recording(LIBRENMS / path_dir / f"{name}.snmprec")
    driver = _driver({name: rec})

    async def run() -> dict[str, PollOutcome]:
        return {ds: await driver.poll(_device(name), ds, 0, f"s:{ds}:0") for ds in datasets}

    return asyncio.run(run())


def _raw(name: str) -> Callable[[], list[Record]]:
    """The interfaces of the raw recording (quirks included), polled when asked."""
    return lambda: list(poll("snmprec", name, ["interfaces"])["interfaces"].records)


def score(names: Sequence[str], progress: TextIO | None = None) -> Score:
    out = Score()
    datasets = sorted({ds for ds, _ in COMPARISONS.values()})
    for name in names:
        t0 = time.monotonic()
        polled = poll("snmprec-sanitized", name, datasets)
        row: dict[str, Cell] = {}
        for col, (ds, compare) in COMPARISONS.items():
            try:
                tally = compare(polled[ds], name)
                row[col] = Cell(tally=None if tally.not_compared else tally)
            except Exception as e:  # a comparison that breaks on this recording
                row[col] = Cell(error=f"{type(e).__name__}: {e}"[:200])
        out.cells[name] = row
        if progress is not None:
            progress.write(f"{name}: {time.monotonic() - t0:.1f} s\n")
    return out


def _pct(m: int, n: int) -> str:
    return "-" if not n else f"{100 * m / n:.1f} %"


def format_table(s: Score) -> Iterator[str]:
    cols = list(COMPARISONS)
    width = max([len(n) for n in s.cells] + [9])
    yield f"{'recording':<{width}} " + " ".join(f"{_SHORT.get(c, c):>13}" for c in cols)
    for name, row in s.cells.items():
        cells = []
        for c in cols:
            cell = row[c]
            if cell.error:
                text = "error"
            elif cell.tally is None:
                text = "-"
            else:
                mark = "" if cell.tally.matched == cell.tally.compared else "*"
                mark += "!" if cell.tally.other else ""
                text = f"{mark}{cell.tally.matched}/{cell.tally.compared}"
            cells.append(f"{text:>13}")
        yield f"{name:<{width}} " + " ".join(cells)
    yield ""
    yield f"| dataset ({len(s.cells)} recordings) | matched | compared | % |"
    yield "|---|---|---|---|"
    for c, (m, n) in s.totals().items():
        yield f"| {c} | {m} | {n} | {_pct(m, n)} |"


def format_diffs(s: Score, other: bool) -> Iterator[str]:
    for row in s.cells.values():
        for cell in row.values():
            if cell.error:
                yield f"error: {cell.error}"
            if cell.tally is not None:
                yield from (str(d) for d in cell.tally.diffs)
                if other:
                    yield from (f"(not LibreNMS) {d}" for d in cell.tally.other)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/score", description=__doc__.split("\n\n")[0])
    ap.add_argument("recordings", nargs="*", help="recording names (default: every one)")
    ap.add_argument("-k", metavar="TEXT", help="only recordings whose name contains TEXT")
    ap.add_argument("--diff", action="store_true", help="list every value that differs")
    ap.add_argument(
        "--other", action="store_true", help="with --diff: also failed checks not against LibreNMS"
    )
    args = ap.parse_args(argv)
    if not (LIBRENMS / "snmprec").is_dir():
        print(
            f"scripts/score: no recordings at {LIBRENMS} (set NETFEED_RECORDINGS)", file=sys.stderr
        )
        return 2
    known = recording_names()
    unknown = sorted(set(args.recordings) - set(known))
    if unknown:
        print(f"scripts/score: no such recording: {', '.join(unknown)}", file=sys.stderr)
        return 2
    names = [n for n in (args.recordings or known) if not args.k or args.k in n]
    logging.disable(logging.WARNING)  # the collector's per-device notes are not the table
    s = score(names, progress=sys.stderr)
    for line in format_table(s):
        print(line)
    if args.diff:
        print()
        for line in format_diffs(s, args.other):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
