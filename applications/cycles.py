"""Poll cycles assembled from records and cycle-complete markers, per topic.

A collector publishes a cycle's records, then its :class:`CycleComplete`
marker once to every partition of the dataset topic.  Each partition is read
in order, so the marker on a partition follows every record of that cycle on
it.  :class:`CycleAssembler` holds a cycle's records until every partition
this instance owns of that topic has either delivered the cycle's marker or
has nothing more of it to give (it delivered this cycle's marker for a slice
handed over earlier, or the marker of a later cycle: e.g. a partition taken
over after its previous owner handed the cycle on), then hands the cycle
over.  So after a rebalance one cycle may reach ``on_cycle`` in slices, each
record in one of them; and a partition gained in a rebalance whose previous
owner already handed the cycle on holds the cycle back until it shows its
next marker (the next cycle's: one interval later).

When several collector instances share a network (:mod:`bus.shards`), each
publishes its own marker of a cycle, naming its shards, to every partition;
a partition has delivered a cycle once the markers read on it cover every
shard, and the cycle handed over carries one marker, the parts merged
(:func:`bus.records.merge_markers`), ``complete`` only if they cover every
shard (an instance that died mid-cycle leaves its part missing: the cycle is
released, ``complete`` False, once a later cycle is whole on the partition).

Guarantees:

- a cycle is handed over once per assembler, in the order its first message
  arrived; records keep bus order per partition;
- state is bounded: at most ``max_open`` open cycles per topic; past it the
  oldest is handed over with ``complete`` False (its markers never came: a
  collector killed without a journal, or partitions read from a position past
  the marker);
- :meth:`hold` tells the runner, per partition, the first offset still held
  in an open cycle: the runner never commits past it, so a crash loses
  nothing that was not handed over (it is read again);
- :meth:`drop_partitions` forgets what came from partitions this instance no
  longer owns: their new owner reads them again from the committed position.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from bus.records import CycleComplete, Record, covers_all, merge_markers

log = logging.getLogger(__name__)


@dataclass
class OpenCycle:
    """One cycle of one topic being assembled."""

    topic: str
    cycle_id: str
    records: dict[int, list[Record]] = field(default_factory=dict)  # partition -> records
    # partition -> markers read there (one per collector instance sharing the network)
    markers: dict[int, list[CycleComplete]] = field(default_factory=dict)
    first_offset: dict[int, int] = field(default_factory=dict)  # partition -> first held
    scheduled_unix_ms: int | None = None

    @property
    def marker(self) -> CycleComplete | None:
        """The cycle's marker: the instances' parts merged (:func:`merge_markers`)."""
        every = [m for ms in self.markers.values() for m in ms]
        return merge_markers(every) if every else None

    def covered(self, partition: int) -> bool:
        """Whether the markers read on ``partition`` cover every shard."""
        return covers_all(self.markers.get(partition, []))

    def all_records(self) -> list[Record]:
        if len(self.records) == 1:
            return next(iter(self.records.values()))
        return [r for part in sorted(self.records) for r in self.records[part]]


@dataclass
class ReadyCycle:
    """A cycle handed over: its records, a marker, the partitions covered."""

    topic: str
    cycle_id: str
    records: list[Record]
    marker: CycleComplete | None
    partitions: list[int]
    complete: bool
    first_offset: dict[int, int]  # partition -> first offset of the cycle read there


class CycleAssembler:
    def __init__(self, owned: Callable[[str], set[int]], max_open: int = 16) -> None:
        self._owned = owned
        self._max_open = max_open
        self._open: dict[str, dict[str, OpenCycle]] = {}  # topic -> cycle id -> cycle
        # topic -> partition -> latest scheduled time of a cycle whose markers
        # read there covered every shard
        self._covered: dict[str, dict[int, int]] = {}

    def add_record(self, topic: str, partition: int, offset: int, rec: Record) -> None:
        c = self._cycle(topic, rec.cycle_id)
        if c.scheduled_unix_ms is None:
            c.scheduled_unix_ms = rec.scheduled_unix_ms
        c.first_offset.setdefault(partition, offset)
        c.records.setdefault(partition, []).append(rec)

    def add_marker(self, topic: str, partition: int, offset: int, m: CycleComplete) -> None:
        c = self._cycle(topic, m.cycle_id)
        c.scheduled_unix_ms = m.scheduled_unix_ms
        c.first_offset.setdefault(partition, offset)
        c.markers.setdefault(partition, []).append(m)
        at = m.scheduled_unix_ms
        if c.covered(partition):
            covered = self._covered.setdefault(topic, {})
            covered[partition] = max(covered.get(partition, at), at)

    def _cycle(self, topic: str, cycle_id: str) -> OpenCycle:
        cycles = self._open.setdefault(topic, {})
        c = cycles.get(cycle_id)
        if c is None:
            c = cycles[cycle_id] = OpenCycle(topic, cycle_id)
        return c

    def ready(self) -> list[ReadyCycle]:
        """Cycles that are whole for the partitions owned now (and the oldest
        ones past the bound), removed from the open set, oldest first."""
        out: list[ReadyCycle] = []
        for topic, cycles in list(self._open.items()):
            owned = self._owned(topic)
            covered = self._covered.get(topic, {})
            for cid, c in list(cycles.items()):
                if self._whole(c, owned, covered):
                    del cycles[cid]
                    out.append(self._hand(c, complete=None))
            while len(cycles) > self._max_open:
                cid = next(iter(cycles))
                c = cycles.pop(cid)
                log.warning(
                    "%s: cycle %s handed over incomplete: markers from partitions %s only "
                    "(more than %d cycles open)",
                    topic,
                    cid,
                    sorted(c.markers) or "none",
                    self._max_open,
                )
                out.append(self._hand(c, complete=False))
            if not cycles:
                del self._open[topic]
        return out

    @staticmethod
    def _whole(c: OpenCycle, owned: set[int], covered: dict[int, int]) -> bool:
        if not c.markers:
            return False
        first = next(iter(c.markers.values()))[0]
        at = first.scheduled_unix_ms
        if sum(1 for p in c.markers if c.covered(p)) >= first.partitions:
            return True
        if not owned:
            return False
        # A partition has nothing more of this cycle to give when its markers of
        # it cover every shard, or when it already showed a whole cycle this old
        # or newer: this one, handed over in an earlier slice, or a later one (it
        # moved past: an instance that died mid-cycle never sends its part).  A
        # later cycle's part alone does not count: another instance's part of
        # this cycle may still be on its way.
        return all(c.covered(p) or covered.get(p, -1) >= at for p in owned)

    @staticmethod
    def _hand(c: OpenCycle, *, complete: bool | None) -> ReadyCycle:
        """``complete`` None: whether the markers cover every shard."""
        every = [m for ms in c.markers.values() for m in ms]
        return ReadyCycle(
            c.topic,
            c.cycle_id,
            c.all_records(),
            merge_markers(every) if every else None,
            sorted(set(c.markers) | set(c.records)),
            covers_all(every) if complete is None else complete,
            dict(c.first_offset),
        )

    def hold(self) -> dict[tuple[str, int], int]:
        """(topic, partition) -> first offset still held in an open cycle."""
        out: dict[tuple[str, int], int] = {}
        for topic, cycles in self._open.items():
            for c in cycles.values():
                for p, off in c.first_offset.items():
                    tp = (topic, p)
                    if off < out.get(tp, off + 1):
                        out[tp] = off
        return out

    def drop_partitions(self, lost: set[tuple[str, int]]) -> list[Record | CycleComplete]:
        """Forget what came from partitions no longer owned; returns what was dropped."""
        dropped: list[Record | CycleComplete] = []
        for topic, cycles in list(self._open.items()):
            parts = {p for t, p in lost if t == topic}
            if not parts:
                continue
            for p in parts:
                self._covered.get(topic, {}).pop(p, None)
            for cid, c in list(cycles.items()):
                for p in parts:
                    dropped.extend(c.records.pop(p, ()))
                    dropped.extend(c.markers.pop(p, ()))
                    c.first_offset.pop(p, None)
                if not c.first_offset:
                    del cycles[cid]
            if not cycles:
                del self._open[topic]
        return dropped

    def open_count(self) -> int:
        return sum(len(c) for c in self._open.values())
