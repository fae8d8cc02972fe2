"""The ``metrics:`` and ``logging:`` sections of ``configs/netfeed.yaml``:
how a ``netfeed`` process shows what it is doing."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class MetricsSettings(BaseModel):
    """``metrics``: a Prometheus endpoint (``/metrics``) served by every
    long-running ``netfeed collect`` and ``netfeed app run``.  ``port``: 0
    serves none (the default; ``--metrics-port`` overrides it per process, as
    several processes on one host need one port each).  ``address``: where it
    listens; ``0.0.0.0`` in a container, loopback otherwise.
    ``lag_interval_s``: how often an application reads its group's lag from
    the bus for ``netfeed_app_lag_messages``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    port: int = Field(0, ge=0, le=65535)
    address: str = "127.0.0.1"
    lag_interval_s: float = Field(15.0, ge=1, le=3600)


class LogSettings(BaseModel):
    """``logging``: ``format``: ``text`` (one line per event for a person) or
    ``json`` (one JSON object per line with ``network``, ``device`` and
    ``dataset`` keys wherever the event is about one: what a log pipeline
    indexes); ``--log-format`` overrides it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["text", "json"] = "text"
