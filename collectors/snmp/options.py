"""SNMP options of a device: ``snmp:`` in a network file's defaults, groups and devices.

:class:`SnmpSettings` is one device's resolved options (validated when the
configuration loads); :class:`SnmpOverrides` the same keys, all optional, as
written in each layer.  Secrets are references only (``env:NAME`` or
``file:PATH``), revealed when a device is polled.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bus.secrets import SecretRef


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


AuthProtocol = Literal["MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512"]
PrivProtocol = Literal["DES", "AES", "AES-128", "AES-192", "AES-256", "AES-192-C", "AES-256-C"]
SecurityLevel = Literal["noAuthNoPriv", "authNoPriv", "authPriv"]


def _version_text(value: Any) -> Any:
    """YAML reads ``version: 3`` as a number; take 1 and 3 as "1" and "3"."""
    return str(value) if type(value) is int and value in (1, 3) else value


class SnmpSettings(_Strict):
    """Resolved SNMP settings of one device (every field has a default).

    v1/v2c need ``community``.  v3 (USM) needs ``security_name``, and for
    ``security_level`` ``authNoPriv`` also ``auth_protocol`` + ``auth_key``,
    for ``authPriv`` (the default level) also ``priv_protocol`` + ``priv_key``.
    Protocol names are net-snmp's: ``AES``/``AES-128``; ``AES-192``/``AES-256``
    extend the key as Blumenthal's draft (net-snmp's default); ``AES-192-C``/
    ``AES-256-C`` as Reeder's (Cisco and most vendors).  Settings the version
    or level does not use are ignored, so a group may switch a device to
    another version without unsetting what the defaults gave.
    """

    version: Literal["1", "2c", "3"] = "2c"
    community: SecretRef | None = None
    security_name: str | None = Field(None, min_length=1, max_length=32)
    security_level: SecurityLevel = "authPriv"
    auth_protocol: AuthProtocol | None = None
    auth_key: SecretRef | None = None
    priv_protocol: PrivProtocol | None = None
    priv_key: SecretRef | None = None
    context_name: str = Field("", max_length=32)
    port: int = Field(161, ge=1, le=65535)
    timeout_s: float = Field(2.0, gt=0, le=60)
    retries: int = Field(1, ge=0, le=10)
    max_repetitions: int = Field(20, ge=1, le=200)
    device_deadline_s: float = Field(30.0, gt=0, le=600)

    _version = field_validator("version", mode="before")(_version_text)

    @model_validator(mode="after")
    def _credentials(self) -> SnmpSettings:
        if self.version != "3":
            if self.community is None:
                raise ValueError("community is required for SNMP v1/v2c (env:NAME or file:PATH)")
            return self
        lacking = [] if self.security_name else ["security_name"]
        if self.security_level in ("authNoPriv", "authPriv"):
            lacking += [k for k in ("auth_protocol", "auth_key") if getattr(self, k) is None]
        if self.security_level == "authPriv":
            lacking += [k for k in ("priv_protocol", "priv_key") if getattr(self, k) is None]
        if lacking:
            keys = any(k.endswith("_key") for k in lacking)
            raise ValueError(
                f"SNMP v3 at security_level {self.security_level} requires "
                f"{', '.join(lacking)}{' (keys as env:NAME or file:PATH)' if keys else ''}"
            )
        return self


class SnmpOverrides(_Strict):
    """Partial SNMP settings, as written in defaults, groups and devices."""

    version: Literal["1", "2c", "3"] | None = None
    community: SecretRef | None = None
    security_name: str | None = Field(None, min_length=1, max_length=32)
    security_level: SecurityLevel | None = None
    auth_protocol: AuthProtocol | None = None
    auth_key: SecretRef | None = None
    priv_protocol: PrivProtocol | None = None
    priv_key: SecretRef | None = None
    context_name: str | None = Field(None, max_length=32)
    port: int | None = Field(None, ge=1, le=65535)
    timeout_s: float | None = Field(None, gt=0, le=60)
    retries: int | None = Field(None, ge=0, le=10)
    max_repetitions: int | None = Field(None, ge=1, le=200)
    device_deadline_s: float | None = Field(None, gt=0, le=600)

    _version = field_validator("version", mode="before")(_version_text)


class SnmpDriverSettings(_Strict):
    """``collector.drivers.snmp`` in ``netfeed.yaml``: how this process speaks SNMP.

    ``engine``: ``fast`` (netfeed's v1/v2c codec; SNMPv3 still goes to pysnmp)
    or ``pysnmp`` (the reference implementation for everything).
    ``udp_rcvbuf_bytes``: the UDP receive buffer of the fast engine's socket
    (bursts of replies from thousands of agents overflow the OS default)."""

    engine: Literal["fast", "pysnmp"] = "fast"
    udp_rcvbuf_bytes: int = Field(8 << 20, ge=65536)
