"""Kafka's default key partitioner, shared by both backends so a key lands on
the same partition number whichever bus carries it.

The hash is aiokafka's :func:`aiokafka.partitioner.murmur2` (the Java client's
``Utils.murmur2``); only the key -> partition step is ours.
"""

from __future__ import annotations

from aiokafka.partitioner import murmur2


def partition_for(key: bytes, partitions: int) -> int:
    """Partition of ``key`` among ``partitions``, as Kafka's DefaultPartitioner
    (Java and aiokafka): ``toPositive(murmur2(key)) % partitions``."""
    h: int = murmur2(key)
    return (h & 0x7FFFFFFF) % partitions
