"""An in-memory SnmpClient for fast unit tests (real-agent tests use the simulator/snmpsim)."""

from __future__ import annotations

import asyncio
import functools

from collectors.profiles import ProfileSet
from collectors.snmp.base import SnmpTarget, SnmpTimeout, Value, WalkResult
from collectors.snmp.driver import SnmpDriver


class FakeClient:
    def __init__(
        self,
        data: dict[str, dict[str, Value]],
        delay_s: float = 0.0,
        problems: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.data = data  # device -> {oid: value}
        self.delay_s = delay_s
        self.problems = problems or {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.started: dict[str, float] = {}

    async def _enter(self, t: SnmpTarget) -> dict[str, Value]:
        loop = asyncio.get_running_loop()
        self.started.setdefault(t.device, loop.time())
        if t.device not in self.data:
            raise SnmpTimeout(f"{t.device}: no answer")
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay_s)
        finally:
            self.in_flight -= 1
        return self.data[t.device]

    async def get(self, target: SnmpTarget, oids: list[str]) -> dict[str, Value]:
        d = await self._enter(target)
        return {o: d[o] for o in oids if o in d}

    async def walk(self, target: SnmpTarget, columns: list[str]) -> WalkResult:
        d = await self._enter(target)
        res = WalkResult(
            columns={c: {} for c in columns}, problems=dict(self.problems.get(target.device, {}))
        )
        for oid, v in d.items():
            for c in columns:
                if oid.startswith(c + "."):
                    res.columns[c][oid[len(c) + 1 :]] = v
        return res

    def close(self) -> None:
        pass


def device_data(n_if: int = 2, sys_oid: str = "1.3.6.1.4.1.8072.3.2.10") -> dict[str, Value]:
    d: dict[str, Value] = {
        "1.3.6.1.2.1.1.2.0": sys_oid,
        "1.3.6.1.2.1.1.3.0": 12345,
        "1.3.6.1.2.1.1.1.0": b"Linux box",
        "1.3.6.1.2.1.1.5.0": b"box",
    }
    for i in range(1, n_if + 1):
        d[f"1.3.6.1.2.1.2.2.1.2.{i}"] = f"eth{i}".encode()
        d[f"1.3.6.1.2.1.31.1.1.1.6.{i}"] = 1000 * i
        d[f"1.3.6.1.2.1.2.2.1.8.{i}"] = 1
    return d


@functools.cache
def shipped_profiles() -> ProfileSet:
    """The shipped profiles, loaded once per test session."""
    return ProfileSet()


def snmp_driver(client: object, profiles: ProfileSet | None = None) -> SnmpDriver:
    """The real SNMP driver over ``client`` (a fake, or a real client)."""
    return SnmpDriver(client=client, profiles=profiles or shipped_profiles())  # type: ignore[arg-type]
