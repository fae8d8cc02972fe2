"""What a log line is about: ``network``, ``device``, ``dataset``.

Code that works on one device (a poll, its publish) or one network's cycle
sets them with :func:`about`; every log line emitted meanwhile, in that task
and the tasks it starts, carries them: the JSON log format
(:mod:`netfeed.logs`) writes them as keys, so a device's whole story can be
filtered out of the logs of thousands.  A context variable, so concurrent
polls of different devices never mix them up.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

_CONTEXT: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "netfeed_log_context", default=None
)


def current() -> dict[str, str]:
    """The keys set for the running task (empty when none)."""
    return _CONTEXT.get() or {}


@contextmanager
def about(**keys: str) -> Iterator[None]:
    """Within the block, log lines carry ``keys`` too (added to those set around it)."""
    token = _CONTEXT.set({**current(), **keys})
    try:
        yield
    finally:
        _CONTEXT.reset(token)
