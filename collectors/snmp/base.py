"""What the collector needs from an SNMP implementation, and the values it returns.

Values come back as plain Python: ``int`` for INTEGER/Counter/Gauge/TimeTicks,
``bytes`` for OCTET STRING and Opaque, ``str`` (dotted) for OBJECT IDENTIFIER
and IpAddress.  A missing object is simply absent from the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from collectors.values import Value


@dataclass(frozen=True, slots=True)
class SnmpTarget:
    """Where and how to ask.

    ``community`` (v1/v2c) and ``auth_key`` / ``priv_key`` (v3) are the revealed
    secrets: they are left out of ``repr`` and must never be logged.  For v3,
    ``security_level`` says which of ``auth_*`` / ``priv_*`` apply; protocol names
    are those of :mod:`collectors.config` (net-snmp's: ``SHA-256``, ``AES``, ...).
    """

    device: str
    host: str
    port: int
    version: str  # "1" | "2c" | "3"
    community: str = field(default="", repr=False)
    timeout_s: float = 2.0
    retries: int = 1
    max_repetitions: int = 20
    security_name: str = ""
    security_level: str = "noAuthNoPriv"  # | "authNoPriv" | "authPriv"
    auth_protocol: str | None = None
    auth_key: str = field(default="", repr=False)
    priv_protocol: str | None = None
    priv_key: str = field(default="", repr=False)
    context_name: str = ""


@dataclass(slots=True)
class WalkResult:
    """Rows of each walked column: ``columns[column_oid][index] = value``.

    ``problems[column_oid]`` says why a column stopped early (agent error,
    OID not increasing, undecodable value); the rows read before that are kept.
    """

    columns: dict[str, dict[str, Value]]
    problems: dict[str, str] = field(default_factory=dict)
    requests: int = 0


class SnmpError(Exception):
    """The device answered, but not usefully (error status, bad reply)."""


class SnmpTimeout(SnmpError):
    """No (decodable) answer within timeout x (retries + 1)."""


class SnmpClient(Protocol):
    async def get(self, target: SnmpTarget, oids: list[str]) -> dict[str, Value]:
        """GET scalars; absent objects (noSuchObject/Instance) are left out."""

    async def walk(self, target: SnmpTarget, columns: list[str]) -> WalkResult:
        """Walk table columns together (GETBULK on v2c, GETNEXT on v1)."""

    def close(self) -> None: ...
