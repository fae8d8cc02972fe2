"""Device backoff: devices that keep failing are polled less often, and come back alone.

One :class:`Backoff` holds the state of one network and dataset (the collector
keeps one per job).  Counting is in cycles, not seconds, so it follows each
dataset's own schedule:

- a poll that ends ``failed`` or ``timed_out`` adds one to the device's
  consecutive failures; ``ok`` (partial included) resets them to 0;
- from ``after_failures`` failures in a row the device is skipped for 1 cycle,
  and after each further failed retry for twice as many as the last time
  (1, 2, 4, 8, ...), never more than ``max_cycles``;
- between skips the device is polled once; the first success ends the backoff.

So a dead device costs one timeout every ``max_cycles`` cycles instead of one
per cycle, and one that comes back is polled normally again at most
``max_cycles`` + 1 cycles later.  ``after_failures=0`` turns backoff off.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from collectors.config import CollectionSettings


@dataclass(slots=True)
class _State:
    failures: int = 0  # consecutive failed polls
    skip_left: int = 0  # cycles still to skip before the next try


class Backoff:
    """Backoff state of the devices of one network and dataset."""

    def __init__(self, after_failures: int = 3, max_cycles: int = 16) -> None:
        if after_failures < 0 or max_cycles < 1:
            raise ValueError("after_failures must be >= 0 and max_cycles >= 1")
        self.after_failures = after_failures
        self.max_cycles = max_cycles
        self._state: dict[str, _State] = {}

    @classmethod
    def from_settings(cls, settings: CollectionSettings) -> Backoff:
        return cls(settings.backoff_after_failures, settings.backoff_max_cycles)

    @property
    def enabled(self) -> bool:
        return self.after_failures > 0

    def skip(self, device: str) -> str | None:
        """Call once per device and cycle: the reason to skip it this cycle, or None.

        A skip uses up one of the device's skipped cycles."""
        st = self._state.get(device)
        if st is None or st.skip_left <= 0:
            return None
        st.skip_left -= 1
        nxt = st.skip_left + 1
        return (
            f"backing off after {st.failures} failures "
            f"(next try in {nxt} cycle{'s' if nxt > 1 else ''})"
        )

    def record(self, device: str, ok: bool) -> int:
        """Record a poll's outcome; returns how many cycles the device is now skipped."""
        if ok:
            self._state.pop(device, None)
            return 0
        if not self.enabled:
            return 0
        st = self._state.setdefault(device, _State())
        st.failures += 1
        if st.failures < self.after_failures:
            return 0
        # cap the exponent too, so a device dead for years does not grow a huge int
        exponent = min(st.failures - self.after_failures, self.max_cycles.bit_length())
        st.skip_left = min(self.max_cycles, 1 << exponent)
        return st.skip_left

    def failures(self, device: str) -> int:
        """Consecutive failed polls of ``device`` (0 when it last answered)."""
        st = self._state.get(device)
        return st.failures if st else 0

    def backing_off(self) -> dict[str, int]:
        """Devices being skipped now -> cycles still to skip."""
        return {d: st.skip_left for d, st in self._state.items() if st.skip_left > 0}

    def retain(self, devices: Iterable[str]) -> None:
        """Forget devices no longer configured."""
        keep = set(devices)
        for d in [d for d in self._state if d not in keep]:
            del self._state[d]
