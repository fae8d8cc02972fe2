"""Progress bars (rich) for long one-shot work: ``collect --once`` over a
network, ``topics apply``, ``inventory import`` of a large file, replays.
Drawn on stderr only when it is a terminal, so pipes, logs and tests get no
bar characters; stdout (records, reports) is never touched."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any


class Progress:
    """``with Progress("devices", total) as bar: ... bar.advance()``.

    ``total`` 0: no bar at all; ``None``: work of unknown size (a pulsing bar)."""

    def __init__(self, what: str, total: int | None, *, stream: Any = None) -> None:
        self.what = what
        self.total = total
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self._bar: Any = None
        self._task: Any = None

    @property
    def shown(self) -> bool:
        return self._bar is not None

    def __enter__(self) -> Progress:
        if (self.total is None or self.total > 0) and _isatty(self._stream):
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(file=self._stream),
                transient=True,
                # rich would send what is printed to stdout meanwhile to the bar's
                # stream: only where both are the terminal (a pipe keeps its output)
                redirect_stdout=_isatty(sys.stdout),
            )
            self._bar.start()
            self._task = self._bar.add_task(self.what, total=self.total)
        return self

    def set(self, done: int, total: int) -> None:
        """Move the bar to ``done`` of ``total`` (a total that grows is fine)."""
        self.done, self.total = done, total
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=total)

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(self._task, advance=n)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


async def follow_lag(
    read_lag: Callable[[], Awaitable[int]], bar: Progress, every_s: float = 2.0
) -> int:
    """A replay's progress: the bar's total is the largest lag seen, its done
    part what has been caught up since; returns once the lag is 0 (caught up)."""
    import asyncio

    most = 0
    while True:
        lag = await read_lag()
        most = max(most, lag)
        bar.set(most - lag, most)
        if lag == 0:
            return most
        await asyncio.sleep(every_s)


def _isatty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())
