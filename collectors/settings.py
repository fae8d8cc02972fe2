"""The ``collector:`` section of ``configs/netfeed.yaml``; every setting typed and defaulted."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class CollectorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    instance_id: str = Field(default_factory=socket.gethostname)
    profiles_dir: Path = Path("configs/profiles")
    udp_rcvbuf_bytes: int = Field(8 << 20, ge=65536)
    max_in_flight: int = Field(256, ge=1, le=10_000)
    publish_records: bool = True
    # "fast": collectors.snmp.fast_client for v1/v2c (pysnmp still does SNMPv3);
    # "pysnmp": the reference pysnmp client for everything.
    snmp_engine: Literal["fast", "pysnmp"] = "fast"
