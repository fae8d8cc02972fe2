"""Bus settings: every setting typed, defaulted and checked when loaded.

``configs/netfeed.yaml`` holds a ``bus:`` section of this shape; the
environment may override ``backend`` (``NETFEED_BUS``), the embedded path
(``NETFEED_BUS_PATH``), Kafka's bootstrap servers (``NETFEED_KAFKA_BOOTSTRAP``)
and the replication factor of the topics netfeed creates
(``NETFEED_KAFKA_REPLICATION_FACTOR``: a deployment with three brokers).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bus.secrets import SecretRef

_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
# Kafka's default group.min.session.timeout.ms: a broker refuses a consumer
# asking for a shorter session (InvalidSessionTimeoutError when joining a group).
KAFKA_MIN_SESSION_TIMEOUT_MS = 6_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_heartbeat(section: str, heartbeat_ms: int, session_ms: int) -> None:
    if heartbeat_ms >= session_ms:
        raise ValueError(
            f"{section}.heartbeat_interval_ms ({heartbeat_ms}) must be shorter than "
            f"{section}.session_timeout_ms ({session_ms}), or the session expires between "
            "heartbeats (a third of it or less is usual)"
        )


class EmbeddedSettings(_Strict):
    """The embedded, server-less bus: one SQLite file in WAL mode on one host."""

    path: Path = Path("var/netfeed-bus.sqlite3")
    partitions: int = Field(4, ge=1, le=256)
    retention_hours: float = Field(24.0, gt=0)
    session_timeout_ms: int = Field(6_000, ge=500)
    heartbeat_interval_ms: int = Field(1_000, ge=100)
    poll_interval_ms: int = Field(100, ge=5)

    @model_validator(mode="after")
    def _heartbeat_within_session(self) -> EmbeddedSettings:
        _check_heartbeat("embedded", self.heartbeat_interval_ms, self.session_timeout_ms)
        return self


class KafkaSecurity(_Strict):
    """How clients reach the brokers (``bus.kafka.security``); passed to aiokafka.

    ``protocol`` is Kafka's ``security.protocol``.  The SASL ones need a
    ``sasl_mechanism``, ``sasl_username`` and ``sasl_password``; the password is
    a reference (``env:NAME`` or ``file:PATH``) read only when connecting and
    never logged.  The SSL ones verify the brokers' certificates against
    ``ssl_cafile`` (a PEM bundle) or, without it, the system's CAs, and their
    host names unless ``ssl_check_hostname`` is false; ``ssl_certfile`` (with
    ``ssl_keyfile`` unless the key is in it) is a client certificate for
    brokers that ask for one.  Relative paths are taken from the config folder.
    """

    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = Field(None, min_length=1)
    sasl_password: SecretRef | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_check_hostname: bool = True

    @property
    def uses_sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def uses_ssl(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @model_validator(mode="after")
    def _complete(self) -> KafkaSecurity:
        p = self.protocol
        if self.uses_sasl:
            missing = [
                f"kafka.security.{name}"
                for name in ("sasl_mechanism", "sasl_username", "sasl_password")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(
                    f"{', '.join(missing)} required with kafka.security.protocol {p}"
                    + (
                        " (sasl_password as env:NAME or file:PATH)"
                        if "kafka.security.sasl_password" in missing
                        else ""
                    )
                )
        else:
            stray = [
                f"kafka.security.{name}"
                for name in ("sasl_mechanism", "sasl_username", "sasl_password")
                if getattr(self, name) is not None
            ]
            if stray:
                raise ValueError(
                    f"{', '.join(stray)} set but kafka.security.protocol {p} does not use "
                    "SASL (SASL_PLAINTEXT or SASL_SSL do)"
                )
        if not self.uses_ssl:
            stray = [
                f"kafka.security.{name}"
                for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile")
                if getattr(self, name) is not None
            ]
            if not self.ssl_check_hostname:
                stray.append("kafka.security.ssl_check_hostname")
            if stray:
                raise ValueError(
                    f"{', '.join(stray)} set but kafka.security.protocol {p} does not use "
                    "TLS (SSL or SASL_SSL do)"
                )
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            raise ValueError(
                "kafka.security.ssl_keyfile needs kafka.security.ssl_certfile "
                "(the client certificate it belongs to)"
            )
        return self

    def relative_to(self, base: Path) -> KafkaSecurity:
        """The same settings with relative ``ssl_*`` paths taken from ``base``."""
        return self.model_copy(
            update={
                name: base / path
                for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile")
                if (path := getattr(self, name)) is not None and not path.is_absolute()
            }
        )


class KafkaSettings(_Strict):
    bootstrap_servers: str = "127.0.0.1:9092"
    partitions: int = Field(6, ge=1)
    replication_factor: int = Field(1, ge=1)
    # retention.ms of the topics netfeed creates (compacted state topics keep the
    # latest message per key instead); Kafka's own default is a week too
    retention_hours: float = Field(168.0, gt=0, le=87_600)
    # zstd: ~3.5 CPU-us per 750-byte record in aiokafka (cramjam) and the best
    # ratio; gzip (zlib) costs ~19 us, more than everything else on the produce
    # path, and would bound a collector's (and a spool drain's) rate.
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "zstd"
    linger_ms: int = Field(20, ge=0)
    max_batch_bytes: int = Field(1_048_576, ge=1024)
    request_timeout_ms: int = Field(30_000, ge=1000)
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = Field(3_000, ge=100)
    metadata_max_age_ms: int = Field(30_000, ge=100)
    security: KafkaSecurity = KafkaSecurity()

    @field_validator("session_timeout_ms")
    @classmethod
    def _session_within_broker_minimum(cls, v: int) -> int:
        if v < KAFKA_MIN_SESSION_TIMEOUT_MS:
            raise ValueError(
                f"kafka.session_timeout_ms {v} is below {KAFKA_MIN_SESSION_TIMEOUT_MS}, the "
                "Kafka broker's default group.min.session.timeout.ms: the broker would refuse "
                "the consumer's group join (InvalidSessionTimeoutError)"
            )
        return v

    @model_validator(mode="after")
    def _heartbeat_within_session(self) -> KafkaSettings:
        _check_heartbeat("kafka", self.heartbeat_interval_ms, self.session_timeout_ms)
        return self


class SpoolSettings(_Strict):
    """The collector's on-disk spool between its publisher and Kafka (see
    :mod:`bus.spool`).  Used with the ``kafka`` backend; the embedded bus is
    itself a local file and is written directly.

    ``path``: directory of the spool files (``<path>/<instance>.sqlite3``);
    ``max_octets``: bound on spooled payload bytes (before the rows'
    compression; on disk they take about a twentieth), past which the oldest
    messages are dropped (and counted); the 4 GiB default holds a 30 s outage
    of two 2,000-NE networks polled every 5 s (0.9 GiB) several times over;
    ``drain_batch``: messages read and sent per round trip;
    ``send_timeout_ms``: a round not acknowledged within it marks the broker
    unreachable (catches a frozen broker too);
    ``stop_timeout_ms``: how long a stopping collector keeps draining before
    it leaves the rest in the spool for its next start.
    """

    enabled: bool = True
    path: Path = Path("var/spool")
    max_octets: int = Field(4 << 30, ge=4096)
    drain_batch: int = Field(20_000, ge=1, le=1_000_000)
    send_timeout_ms: int = Field(10_000, ge=100)
    stop_timeout_ms: int = Field(10_000, ge=0)


class BusSettings(_Strict):
    backend: Literal["embedded", "kafka"] = "embedded"
    topic_prefix: str = "netfeed"
    embedded: EmbeddedSettings = EmbeddedSettings()
    kafka: KafkaSettings = KafkaSettings()
    spool: SpoolSettings = SpoolSettings()

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not _PREFIX.match(v):
            raise ValueError("letters, digits, '_' and '-' only, not starting with '_' or '-'")
        return v

    def with_env(self) -> BusSettings:
        """Apply NETFEED_BUS / NETFEED_BUS_PATH / NETFEED_KAFKA_BOOTSTRAP /
        NETFEED_KAFKA_REPLICATION_FACTOR overrides (a deployment's brokers)."""
        data = self.model_dump()
        if b := os.environ.get("NETFEED_BUS"):
            data["backend"] = b
        if p := os.environ.get("NETFEED_BUS_PATH"):
            data["embedded"]["path"] = p
        if k := os.environ.get("NETFEED_KAFKA_BOOTSTRAP"):
            data["kafka"]["bootstrap_servers"] = k
        if rf := os.environ.get("NETFEED_KAFKA_REPLICATION_FACTOR"):
            data["kafka"]["replication_factor"] = rf
        return BusSettings.model_validate(data)
