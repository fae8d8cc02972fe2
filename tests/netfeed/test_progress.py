"""Progress bars (netfeed/progress.py): drawn on a terminal, never into a pipe."""

from __future__ import annotations

import io
import sys

import pytest

from netfeed.progress import Progress


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_is_drawn_on_a_terminal_and_counts() -> None:
    out = Tty()
    with Progress("polled", 3, stream=out) as bar:
        assert bar.shown
        for _ in range(3):
            bar.advance()
    assert bar.done == 3 and not bar.shown
    assert "polled" in out.getvalue()


def test_nothing_is_written_into_a_pipe() -> None:
    out = io.StringIO()
    with Progress("polled", 3, stream=out) as bar:
        bar.advance(3)
    assert bar.done == 3 and out.getvalue() == ""


async def test_a_replay_bar_follows_the_lag_down_to_caught_up() -> None:
    from netfeed.progress import follow_lag

    lags = iter([500, 800, 300, 0])  # the lag grows before the first commit lands

    async def read() -> int:
        return next(lags)

    out = Tty()
    with Progress("replay", 1, stream=out) as bar:
        most = await follow_lag(read, bar, every_s=0)
        assert (bar.done, bar.total) == (800, 800)
    assert most == 800


def test_stdout_into_a_pipe_keeps_what_is_printed_while_a_bar_is_drawn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out, err = io.StringIO(), Tty()
    monkeypatch.setattr(sys, "stdout", out)
    with Progress("polled", 2, stream=err):
        print('{"kind": "record"}')
    assert out.getvalue() == '{"kind": "record"}\n' and "record" not in err.getvalue()
