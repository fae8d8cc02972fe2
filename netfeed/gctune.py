"""Garbage-collector settings for a long-running collector process.

A collector allocates a few container objects per record (tuples, lists,
records) at tens of thousands of records a second, nearly all freed by
reference counting.  With CPython's default thresholds (700, 10, 10) the
cyclic collector still runs every 700 net allocations and promotes in-flight
data (a drain round, a cycle's records) to the old generation, whose full
passes then walk the whole heap: a quarter of the spool path's CPU in
``bench/spool_backlog.py``.
"""

from __future__ import annotations

import gc

GEN0 = 100_000
GEN1 = 50
GEN2 = 100


def settle() -> None:
    """Call once start-up is done (modules imported, configuration loaded).

    Guarantees: what exists now (modules, classes, configuration, profiles)
    is moved out of every later collection (:func:`gc.freeze`); the young
    generation is collected every :data:`GEN0` net allocations instead of
    700, the middle one every :data:`GEN1` of those passes, the whole heap
    after :data:`GEN2` middle passes (and, as always in CPython, only once a
    quarter of the old generation is new).  Cyclic garbage is still
    collected, later; reference counting frees everything else at once.
    Chosen on ``bench/spool_backlog.py`` (the issue's 40k records/s with a
    1.2M-record backlog: (50k, 20, 10) drained 24k messages/s, (100k, 50,
    100) 44-53k).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0, GEN1, GEN2)
