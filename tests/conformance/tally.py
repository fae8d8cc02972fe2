"""Counting the conformance comparisons: what the tests assert and what
``scripts/score`` prints are the same checks.

Each dataset's comparison with LibreNMS (``compare_*`` in the test modules)
records every value it compares in a :class:`Tally`: one check per field of
each row LibreNMS lists (a row we do not publish counts all of its fields as
unmatched), plus one per problem that is not a field (a poll that failed, a
row we publish that LibreNMS does not list and no rule explains).  A test
asserts :meth:`Tally.assert_clean`; the score counts ``matched / compared``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ROW = "(row)"  # the field of a check about a whole row (missing or extra)


@dataclass(frozen=True)
class Diff:
    recording: str
    dataset: str
    row: str
    field: str
    ours: Any
    theirs: Any

    def __str__(self) -> str:
        return (
            f"{self.recording} {self.dataset} {self.row} {self.field}: "
            f"ours {self.ours!r}, LibreNMS {self.theirs!r}"
        )


@dataclass
class Tally:
    recording: str
    dataset: str
    compared: int = 0
    matched: int = 0
    diffs: list[Diff] = field(default_factory=list)
    other: list[Diff] = field(default_factory=list)  # failed checks not against LibreNMS
    not_compared: str | None = None  # why nothing was compared (e.g. no LibreNMS result)

    def check(self, ok: bool, row: Any, field: str, ours: Any = None, theirs: Any = None) -> bool:
        """Count one compared value; keep it as a difference unless ``ok``."""
        self.compared += 1
        if ok:
            self.matched += 1
        else:
            self.diffs.append(Diff(self.recording, self.dataset, str(row), field, ours, theirs))
        return ok

    def expect(self, ok: bool, row: Any, what: str, ours: Any = None, want: Any = None) -> bool:
        """A check the test asserts that is not a comparison with LibreNMS (e.g.
        against the recording): not counted in the score, kept if it fails."""
        if not ok:
            self.other.append(Diff(self.recording, self.dataset, str(row), what, ours, want))
        return ok

    def missing(self, row: Any, fields: list[str], theirs: dict[str, Any] | None = None) -> None:
        """A row LibreNMS lists that we do not publish: every field unmatched."""
        for f in fields:
            self.check(False, row, f, None, (theirs or {}).get(f, ROW))

    def skip(self, why: str) -> None:
        self.not_compared = why

    def assert_clean(self, limit: int = 10) -> None:
        assert not self.diffs and not self.other, "\n".join(
            [f"{len(self.diffs)} of {self.compared} compared values differ:"]
            + [str(d) for d in self.diffs[:limit]]
            + ["other checks failed:" if self.other else ""]
            + [str(d) for d in self.other[:limit]]
        )
