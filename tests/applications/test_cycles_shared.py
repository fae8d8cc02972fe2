"""Cycle assembly when several collector instances share a network: each
publishes its own marker of a cycle, naming its shards (applications/cycles.py)."""

from __future__ import annotations

import msgspec

from applications.cycles import CycleAssembler
from bus.records import CycleComplete
from tests.support import messages


def part(
    cycle: int, partition: int, shards: list[int], *, collector: str, ok: int, total: int = 4
) -> CycleComplete:
    """``collector``'s marker of ``cycle`` for ``shards`` of ``total``, copy on ``partition``."""
    m = messages.marker(cycle, ok * 2, devices=ok)
    return msgspec.structs.replace(
        m,
        partition=partition,
        partitions=2,
        collector=collector,
        shards=shards,
        shards_total=total,
        failures={f"{collector}-dead": "timed_out: no answer"},
        devices_failed=1,
        devices_planned=ok + 1,
    )


def both_partitions(a: CycleAssembler, cycle: int, shards: list[int], who: str, ok: int) -> None:
    for p in (0, 1):
        a.add_marker("t", p, cycle * 10 + p, part(cycle, p, shards, collector=who, ok=ok))


def test_a_cycle_waits_for_every_instances_part_then_merges_them() -> None:
    a = CycleAssembler(lambda _t: {0, 1})
    a.add_record("t", 0, 1, messages.rec("d1", 1, 5))
    both_partitions(a, 5, [0, 1], "a", ok=3)
    assert a.ready() == []  # shards 2 and 3 are another instance's: not whole yet
    both_partitions(a, 5, [2, 3], "b", ok=2)
    (c,) = a.ready()
    assert c.complete
    m = c.marker
    assert m is not None
    assert m.shards == [0, 1, 2, 3] and m.collector == "a,b"
    # each instance's counts once, although each marker came on two partitions
    assert (m.devices_ok, m.devices_planned, m.devices_failed, m.records) == (5, 7, 2, 10)
    assert set(m.failures) == {"a-dead", "b-dead"}


def test_a_partition_needs_every_shard_on_it_not_only_somewhere() -> None:
    a = CycleAssembler(lambda _t: {0, 1})
    a.add_marker("t", 0, 1, part(5, 0, [0, 1], collector="a", ok=1))
    a.add_marker("t", 1, 2, part(5, 1, [2, 3], collector="b", ok=1))
    assert a.ready() == []  # together they cover all, but each partition has half
    a.add_marker("t", 0, 3, part(5, 0, [2, 3], collector="b", ok=1))
    assert a.ready() == []
    a.add_marker("t", 1, 4, part(5, 1, [0, 1], collector="a", ok=1))
    (c,) = a.ready()
    assert c.complete


def test_an_instance_that_died_mid_cycle_leaves_it_incomplete_until_a_later_marker() -> None:
    a = CycleAssembler(lambda _t: {0, 1})
    both_partitions(a, 5, [0, 1], "a", ok=1)  # b died: its part of cycle 5 never comes
    assert a.ready() == []
    both_partitions(a, 6, [0, 1, 2, 3], "a", ok=2)  # a took b's shards over
    c5, c6 = a.ready()
    assert c5.cycle_id.endswith(":5") and not c5.complete
    assert c6.cycle_id.endswith(":6") and c6.complete


def test_unsharded_markers_are_whole_alone_as_before() -> None:
    a = CycleAssembler(lambda _t: {0})
    m = msgspec.structs.replace(messages.marker(5, 0), partitions=1)
    a.add_marker("t", 0, 1, m)
    (c,) = a.ready()
    assert c.complete and c.marker == m


def test_a_later_cycles_part_does_not_release_a_cycle_still_waiting_for_a_part() -> None:
    # b is slow to publish its part of cycle 5; a's part of cycle 6 comes first
    a = CycleAssembler(lambda _t: {0, 1})
    both_partitions(a, 5, [0, 1], "a", ok=1)
    both_partitions(a, 6, [0, 1], "a", ok=1)
    assert a.ready() == []
    both_partitions(a, 5, [2, 3], "b", ok=1)
    (c5,) = a.ready()
    assert c5.cycle_id.endswith(":5") and c5.complete
