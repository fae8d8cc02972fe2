"""Dropping messages already seen, by record id, in bounded memory."""

from __future__ import annotations

from collections import deque

from bus.api import BusMessage
from bus.records import RECORD_ID_HEADER


class SeenIds:
    """The last ``window`` record ids seen.

    :meth:`first_time` is True the first time an id is offered within the
    window (O(1), memory bounded by ``window`` ids).  At-least-once delivery
    re-delivers what a crashed or stopped instance had not committed: with a
    window larger than what one instance holds uncommitted (a few batches, or
    the open cycles), every such duplicate is caught.
    """

    def __init__(self, window: int) -> None:
        self._window = window
        self._set: set[str] = set()
        self._order: deque[str] = deque()
        self.duplicates = 0

    def first_time(self, rid: str) -> bool:
        if rid in self._set:
            self.duplicates += 1
            return False
        self._set.add(rid)
        self._order.append(rid)
        if len(self._order) > self._window:
            self._set.discard(self._order.popleft())
        return True

    def forget(self, rid: str) -> None:
        """Let ``rid`` through again (a message dropped before it was handled:
        held in a cycle of a partition this instance lost)."""
        self._set.discard(rid)


def header_id(msg: BusMessage) -> str | None:
    """The ``netfeed-id`` header of ``msg``, if it has one."""
    for name, value in msg.headers:
        if name == RECORD_ID_HEADER:
            return value.decode("ascii", "replace")
    return None
