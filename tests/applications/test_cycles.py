"""Cycle assembly rules (applications/cycles.py), without a bus."""

from __future__ import annotations

from applications.cycles import CycleAssembler
from tests.support import messages


def owned_by(parts: set[int]):  # type: ignore[no-untyped-def]
    return lambda topic: set(parts)


def marker(cycle: int, partition: int, partitions: int = 3):  # type: ignore[no-untyped-def]
    m = messages.marker(cycle, 0)
    m.partition = partition
    m.partitions = partitions
    return m


def test_a_cycle_is_whole_only_when_every_owned_partition_has_its_marker() -> None:
    a = CycleAssembler(owned_by({0, 1}))
    a.add_record("t", 0, 10, messages.rec("d1", 1, 5))
    a.add_record("t", 1, 20, messages.rec("d2", 1, 5))
    a.add_marker("t", 0, 11, marker(5, 0))
    assert a.ready() == []
    assert a.hold() == {("t", 0): 10, ("t", 1): 20}
    a.add_marker("t", 1, 21, marker(5, 1))
    (c,) = a.ready()
    assert c.complete and c.partitions == [0, 1] and len(c.records) == 2
    assert a.hold() == {} and a.open_count() == 0


def test_a_partition_past_the_cycle_does_not_hold_it_back() -> None:
    # Partition 1 came to us after its previous owner had handed cycle 5 on:
    # it shows cycle 6's marker first, so cycle 5's will not come there.
    a = CycleAssembler(owned_by({0, 1}))
    a.add_record("t", 0, 10, messages.rec("d1", 1, 5))
    a.add_marker("t", 0, 11, marker(5, 0))
    assert a.ready() == []
    a.add_marker("t", 1, 30, marker(6, 1))
    (c,) = a.ready()
    assert c.cycle_id.endswith(":5") and c.complete


def test_open_cycles_are_bounded_and_the_oldest_goes_out_incomplete() -> None:
    a = CycleAssembler(owned_by({0}), max_open=2)
    for cycle in (1, 2, 3):
        a.add_record("t", 0, cycle, messages.rec("d1", 1, cycle))
    (c,) = a.ready()
    assert c.cycle_id.endswith(":1") and not c.complete
    assert a.open_count() == 2


def test_lost_partitions_are_dropped_and_the_rest_can_complete() -> None:
    a = CycleAssembler(owned_by({0}))
    a.add_record("t", 0, 10, messages.rec("d1", 1, 5))
    a.add_record("t", 1, 20, messages.rec("d2", 1, 5))
    dropped = a.drop_partitions({("t", 1)})
    assert [r.device for r in dropped] == ["d2"]  # type: ignore[union-attr]
    assert a.hold() == {("t", 0): 10}
    a.add_marker("t", 0, 11, marker(5, 0))
    (c,) = a.ready()
    assert [r.device for r in c.records] == ["d1"]


def test_all_markers_of_a_cycle_make_it_whole_whatever_is_owned() -> None:
    a = CycleAssembler(owned_by(set()))
    for p in range(3):
        a.add_marker("t", p, 1, marker(5, p))
    (c,) = a.ready()
    assert c.complete and c.records == []


def test_a_partition_gained_later_completes_its_own_slice_of_a_cycle() -> None:
    # Partitions 0 and 1 were ours and cycle 5 went out with them; then
    # partition 2 is added (its previous owner died before handing anything
    # on) and delivers cycle 5 again: that slice is whole with its own marker.
    parts = {0, 1}
    a = CycleAssembler(lambda topic: set(parts))
    for p in (0, 1):
        a.add_record("t", p, 10, messages.rec(f"d{p}", 1, 5))
        a.add_marker("t", p, 11, marker(5, p))
    (first,) = a.ready()
    assert first.partitions == [0, 1]
    parts.add(2)
    a.add_record("t", 2, 10, messages.rec("d2", 1, 5))
    a.add_marker("t", 2, 11, marker(5, 2))
    (second,) = a.ready()
    assert second.partitions == [2] and [r.device for r in second.records] == ["d2"]
