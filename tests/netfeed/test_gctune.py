"""netfeed.gctune: the collector's GC settings after start-up."""

from __future__ import annotations

import gc
import inspect
from collections.abc import Iterator

import pytest

from netfeed import cli, gctune


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_settle_freezes_start_up_objects_and_raises_thresholds(restore_gc: None) -> None:
    gc.unfreeze()
    gctune.settle()
    assert gc.get_threshold() == (gctune.GEN0, gctune.GEN1, gctune.GEN2)
    assert gc.get_freeze_count() > 1000  # modules, classes, functions loaded so far

    # cyclic garbage is still collected: the young generation, then fully
    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    del a, b
    assert gc.collect() >= 2


def test_collect_settles_the_gc_after_start_up() -> None:
    """`netfeed collect` calls it once its configuration is loaded, before
    it builds the collector (checked in its source, without a collector)."""
    src = inspect.getsource(cli._collect)
    assert src.index("gctune.settle()") < src.index("make_collector(")
