"""NETCONF options of a device (``netconf:`` in defaults, groups, devices) and the
driver's process-wide settings (``collector.drivers.netconf``).

Secrets (``password``, ``private_key``, ``private_key_passphrase``) are
references only (``env:NAME`` or ``file:PATH``; a ``file:`` private key is the
key file itself), revealed when a session is opened; the passphrase decrypts an
encrypted private key.  SSH keepalives: every ``keepalive_interval_s`` seconds
of silence (0: off) the client asks the server for an answer, and after
``keepalive_count_max`` unanswered ones the session is dead (a peer gone
silent is noticed between polls, not by the next poll's RPC timeout).
Host keys are checked against ``known_hosts`` (default ``~/.ssh/known_hosts``)
unless ``host_key_check: false``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bus.secrets import SecretRef


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NetconfOptions(_Strict):
    """One device's resolved NETCONF options; ``username`` and a password or a
    private key are required."""

    port: int = Field(830, ge=1, le=65535)
    username: str = Field(min_length=1)
    password: SecretRef | None = None
    private_key: SecretRef | None = None
    known_hosts: Path | None = None
    host_key_check: bool = True
    connect_timeout_s: float = Field(10.0, gt=0, le=300)
    rpc_timeout_s: float = Field(30.0, gt=0, le=600)
    device_deadline_s: float = Field(60.0, gt=0, le=1800)
    max_reply_octets: int = Field(64 * 1024 * 1024, ge=1024, le=1 << 31)
    private_key_passphrase: SecretRef | None = None
    keepalive_interval_s: float = Field(30.0, ge=0, le=3600)
    keepalive_count_max: int = Field(3, ge=1, le=100)

    @model_validator(mode="after")
    def _credentials(self) -> NetconfOptions:
        if self.password is None and self.private_key is None:
            raise ValueError(
                "netconf needs password or private_key (a secret reference: env:NAME or file:PATH)"
            )
        if self.private_key_passphrase is not None and self.private_key is None:
            raise ValueError("netconf private_key_passphrase is given without private_key")
        return self


class NetconfOverrides(_Strict):
    """Partial NETCONF options, as written in defaults, groups and devices."""

    port: int | None = Field(None, ge=1, le=65535)
    username: str | None = Field(None, min_length=1)
    password: SecretRef | None = None
    private_key: SecretRef | None = None
    known_hosts: Path | None = None
    host_key_check: bool | None = None
    connect_timeout_s: float | None = Field(None, gt=0, le=300)
    rpc_timeout_s: float | None = Field(None, gt=0, le=600)
    device_deadline_s: float | None = Field(None, gt=0, le=1800)
    max_reply_octets: int | None = Field(None, ge=1024, le=1 << 31)
    private_key_passphrase: SecretRef | None = None
    keepalive_interval_s: float | None = Field(None, ge=0, le=3600)
    keepalive_count_max: int | None = Field(None, ge=1, le=100)


class NetconfDriverSettings(_Strict):
    """``collector.drivers.netconf``: ``max_handshakes`` sessions opened at once
    (SSH key exchange is CPU-heavy on both ends), ``max_rpcs_in_flight`` RPCs
    in flight over all sessions, and the per-device reconnect backoff: after the
    n-th failure in a row, wait ``backoff_base_s * 2**(n-1)`` (at most
    ``backoff_max_s``), less a random fraction of up to ``backoff_jitter``."""

    max_handshakes: int = Field(16, ge=1, le=10_000)
    max_rpcs_in_flight: int = Field(512, ge=1, le=100_000)
    backoff_base_s: float = Field(2.0, ge=0, le=3600)
    backoff_max_s: float = Field(300.0, ge=0, le=86_400)
    backoff_jitter: float = Field(0.5, ge=0, le=1)
