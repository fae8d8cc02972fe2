"""Kafka's default key partitioner, shared by both backends so a key lands on
the same partition number whichever bus carries it.

The hash is aiokafka's :func:`aiokafka.partitioner.murmur2` (the Java client's
``Utils.murmur2``); only the key -> partition step is ours.  murmur2 in Python
costs ~2.5 us a key; :class:`KeyPartitioner` remembers the answers (device ids
repeat every cycle), so the hot paths pay a dict lookup instead.
"""

from __future__ import annotations

from aiokafka.partitioner import murmur2


def partition_for(key: bytes, partitions: int) -> int:
    """Partition of ``key`` among ``partitions``, as Kafka's DefaultPartitioner
    (Java and aiokafka): ``toPositive(murmur2(key)) % partitions``."""
    h: int = murmur2(key)
    return (h & 0x7FFFFFFF) % partitions


class KeyPartitioner:
    """:func:`partition_for` with a bounded memory of recent answers.

    ``partition(key, n)`` always equals ``partition_for(key, n)``; the memory
    (per partition count, at most ``max_keys`` keys each: past it, it starts
    over) only makes repeats cheap."""

    def __init__(self, max_keys: int = 200_000) -> None:
        self.max_keys = max_keys
        self._by_count: dict[int, dict[bytes, int]] = {}

    def table(self, partitions: int) -> dict[bytes, int]:
        """The memory for ``partitions`` (key -> partition), for callers that
        look keys up inline: ``t.get(key)``, and :meth:`partition` on a miss."""
        t = self._by_count.get(partitions)
        if t is None:
            t = self._by_count[partitions] = {}
        return t

    def partition(self, key: bytes, partitions: int) -> int:
        t = self.table(partitions)
        p = t.get(key)
        if p is None:
            if len(t) >= self.max_keys:
                t.clear()
            p = t[key] = partition_for(key, partitions)
        return p
