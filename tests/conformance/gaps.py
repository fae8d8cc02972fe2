"""The conformance suite's known gaps (``known_gaps.yaml``): where netfeed does
not (yet) give what LibreNMS gives for a recording, each with a written reason.

An entry names a recording, the tests it applies to (test function names; the
test must be parametrized by ``recording``, or ``name`` in
``test_differential.py``) and optionally a ``field`` (for tests parametrized
by ``field``, e.g. ``test_every_emitted_field_is_asserted`` with
``field: sensors.<name>``, where ``recording`` names the recording emitting it).  Every matching test is marked ``xfail(strict=True)``: it
must fail, with an :class:`AssertionError`, for as long as the entry is there;
one that passes is reported as a failure (XPASS strict), so the list can only
shrink.  ``tests/conformance/conftest.py`` applies the entries to the
conformance modules at collection; other modules take their marks from
:func:`params`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

GAPS_FILE = Path(__file__).with_name("known_gaps.yaml")
KEYS = {"recording", "tests", "field", "reason"}


@dataclass(frozen=True)
class Gap:
    recording: str
    tests: tuple[str, ...]
    reason: str
    field: str | None = None

    def mark(self) -> pytest.MarkDecorator:
        where = f"{self.recording}" + (f" {self.field}" if self.field else "")
        return pytest.mark.xfail(
            strict=True, raises=AssertionError, reason=f"known gap ({where}): {self.reason}"
        )


class GapsFileError(ValueError):
    pass


@cache
def known_gaps() -> tuple[Gap, ...]:
    """Every entry of ``known_gaps.yaml``, checked for shape."""
    data: Any = yaml.safe_load(GAPS_FILE.read_text()) or []
    if not isinstance(data, list):
        raise GapsFileError(f"{GAPS_FILE}: expected a list of entries")
    out: list[Gap] = []
    for i, e in enumerate(data):
        where = f"{GAPS_FILE.name} entry {i + 1}"
        if not isinstance(e, dict) or set(e) - KEYS:
            raise GapsFileError(f"{where}: keys must be among {sorted(KEYS)}: {e!r}")
        tests = e.get("tests")
        tests = [tests] if isinstance(tests, str) else tests
        reason = e.get("reason")
        if not (
            isinstance(e.get("recording"), str)
            and isinstance(tests, list)
            and tests
            and all(isinstance(t, str) for t in tests)
            and isinstance(reason, str)
            and reason.strip()
        ):
            raise GapsFileError(f"{where}: needs recording, tests and a written reason: {e!r}")
        out.append(Gap(e["recording"], tuple(tests), " ".join(reason.split()), e.get("field")))
    seen: set[tuple[str, str, str | None]] = set()
    for g in out:
        for t in g.tests:
            key = (g.recording, t, g.field)
            if key in seen:
                raise GapsFileError(f"{GAPS_FILE.name}: {key} is listed twice")
            seen.add(key)
    return tuple(out)


def gap_for(test: str, params: dict[str, Any]) -> Gap | None:
    """The entry for test function ``test`` run with ``params``, if any.

    Tests parametrized by recording match on it (and on ``field`` where the
    entry names one); tests parametrized by ``field`` only (the coverage test)
    match entries naming that field, whose ``recording`` says which recording
    emits it."""
    recording = params.get("recording", params.get("name"))
    field = params.get("field")
    for g in known_gaps():
        if test not in g.tests:
            continue
        if recording is None:
            if field is not None and g.field == field:
                return g
        elif g.recording == recording and (g.field is None or g.field == field):
            return g
    return None


def apply(item: pytest.Item) -> Gap | None:
    """Mark ``item`` as an expected failure if an entry names it."""
    spec = getattr(item, "callspec", None)
    gap = gap_for(getattr(item, "originalname", item.name), spec.params if spec else {})
    if gap is not None:
        item.add_marker(gap.mark())
    return gap


def params(test: str, names: list[str], argname: str = "recording") -> list[Any]:
    """``names`` as ``pytest.param`` values carrying the xfail mark of their gaps,
    for modules outside ``tests/conformance`` (which its conftest does not reach)."""
    out = []
    for n in names:
        gap = gap_for(test, {argname: n})
        out.append(pytest.param(n, marks=gap.mark()) if gap else n)
    return out
