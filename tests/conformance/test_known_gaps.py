"""``known_gaps.yaml`` itself: every entry names a recording of the folder and
tests that exist and take that recording (or field), so no entry is dormant
by a typo.  (An entry whose tests pass fails them: xfail strict.)"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from tests.conformance.gaps import known_gaps
from tests.support.librenms import recording_names

HERE = Path(__file__).parent
MODULES = [f"tests.conformance.{p.stem}" for p in sorted(HERE.glob("test_*.py"))]
MODULES.append("tests.collectors.snmp.test_differential")


def parametrized_by(fn: Any) -> set[str]:
    names: set[str] = set()
    for mark in getattr(fn, "pytestmark", []):
        if mark.name == "parametrize":
            args = mark.args[0]
            names |= {a.strip() for a in (args.split(",") if isinstance(args, str) else args)}
    return names


def test_known_gaps_name_recordings_and_tests_that_exist(recordings: Path) -> None:
    tests: dict[str, set[str]] = {}
    for name in MODULES:
        module = importlib.import_module(name)
        for attr, fn in vars(module).items():
            if attr.startswith("test_") and callable(fn):
                tests[attr] = parametrized_by(fn)
    present = set(recording_names())
    problems = []
    for g in known_gaps():
        if g.recording not in present:
            problems.append(f"{g.recording}: not in {recordings} (remove its entries)")
        for t in g.tests:
            if t not in tests:
                problems.append(f"{g.recording}: no test {t}")
            elif g.field is not None and "field" not in tests[t]:
                problems.append(f"{g.recording}: {t} is not parametrized by field")
            elif g.field is None and not tests[t] & {"recording", "name"}:
                problems.append(f"{g.recording}: {t} is not parametrized by recording")
    assert not problems, problems
