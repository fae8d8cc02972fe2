"""Which :class:`~collectors.snmp.base.SnmpClient` the collector uses.

``fast`` (the default): :class:`~collectors.snmp.fast_client.FastSnmpClient`
for SNMP v1/v2c; the service wraps it in a :class:`RoutingClient` so that
SNMPv3 targets go to pysnmp.  ``pysnmp``: the reference
:class:`~collectors.snmp.pysnmp_client.PysnmpClient` for everything.

pysnmp is imported only when a pysnmp client is made: loading it costs
~0.5 s and ~45k long-lived objects that every garbage collection then walks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from collectors.snmp.base import SnmpClient, SnmpTarget, Value, WalkResult
from collectors.snmp.fast_client import FastSnmpClient

if TYPE_CHECKING:
    from collectors.snmp.pysnmp_client import PysnmpClient

ENGINES = ("fast", "pysnmp")


def _pysnmp(rcvbuf_bytes: int) -> PysnmpClient:
    from collectors.snmp.pysnmp_client import PysnmpClient

    return PysnmpClient(rcvbuf_bytes=rcvbuf_bytes)


def make_client(engine: str, rcvbuf_bytes: int) -> SnmpClient:
    """A new client of ``engine`` (``fast`` or ``pysnmp``) with that UDP receive buffer."""
    if engine == "fast":
        return FastSnmpClient(rcvbuf_bytes=rcvbuf_bytes)
    if engine == "pysnmp":
        return _pysnmp(rcvbuf_bytes)
    raise ValueError(f"unknown SNMP engine {engine!r}; known: {', '.join(ENGINES)}")


class RoutingClient:
    """Targets with ``version == "3"`` go to a pysnmp client made on first need;
    every other target goes to ``fast``."""

    def __init__(self, fast: SnmpClient, rcvbuf_bytes: int = 8 << 20) -> None:
        self.fast = fast
        self.rcvbuf_bytes = rcvbuf_bytes
        self._v3: SnmpClient | None = None

    @property
    def v3(self) -> SnmpClient:
        """The pysnmp client for SNMPv3 (made on first use)."""
        if self._v3 is None:
            self._v3 = _pysnmp(self.rcvbuf_bytes)
        return self._v3

    def _for(self, target: SnmpTarget) -> SnmpClient:
        return self.v3 if target.version == "3" else self.fast

    async def get(self, target: SnmpTarget, oids: list[str]) -> dict[str, Value]:
        return await self._for(target).get(target, oids)

    async def walk(self, target: SnmpTarget, columns: list[str]) -> WalkResult:
        return await self._for(target).walk(target, columns)

    def close(self) -> None:
        try:
            self.fast.close()
        finally:
            if self._v3 is not None:
                self._v3.close()
                self._v3 = None
