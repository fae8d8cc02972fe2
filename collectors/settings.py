"""The ``collector:`` section of ``configs/netfeed.yaml``; every setting typed and defaulted."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class QualitySettings(BaseModel):
    """``collector.quality`` (:mod:`collectors.quality`): ``max_future_skew_s``
    (how far ahead of this collector's clock a timestamp may be),
    ``rate_tolerance`` (how much above
    ``speed_bps`` an octet rate may look: counters are read a little early or
    late, and some devices update them every few seconds)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_future_skew_s: float = Field(60.0, ge=0, le=86_400)
    rate_tolerance: float = Field(2.0, ge=1, le=1000)


class SharingSettings(BaseModel):
    """``collector.sharing``: collector instances of one network sharing its
    devices (Kafka only, :mod:`bus.shards`).  ``enabled``: join the network's
    shard group when ``netfeed collect`` runs on schedule on Kafka (a
    ``--once`` run polls every device it is given).  ``shards``: how many
    shards a network's devices are split into (the control topic's
    partitions; at least the most instances you will run; every instance of
    a network must use the same).  ``first_assignment_s``: how long a
    starting instance waits for its first shards before its schedule
    begins."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    shards: int = Field(16, ge=1, le=1024)
    first_assignment_s: float = Field(30.0, ge=0, le=600)


class CollectorSettings(BaseModel):
    """``instance_id``: names this collector on its cycle markers.
    ``profiles_dir``: site profiles, relative to the configuration folder.
    ``max_in_flight``: devices polled at once by this process, all networks
    and datasets together (each network's ``collection.max_in_flight`` nests
    inside it).  ``drivers``: each protocol driver's own settings, by protocol
    name, checked by that driver's ``Settings`` model when the config loads.
    ``stop_grace_s``: on SIGTERM (or ``stop``), how long the running cycles may
    go on to publish their records and markers before they are cut (a cut
    cycle's marker is then published marked ``interrupted``).
    ``quality``: the quality gate's settings (:class:`QualitySettings`).
    ``sharing``: instances sharing a network on Kafka (:class:`SharingSettings`).
    ``state_dir``: where ``netfeed collect`` keeps its journal of open cycles
    (``<state_dir>/<instance_id>.journal.sqlite3``, :mod:`collectors.journal`)
    when it has no spool (with one, the journal is in the spool's file);
    relative to the configuration folder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instance_id: str = Field(default_factory=socket.gethostname)
    profiles_dir: Path = Path("profiles")
    max_in_flight: int = Field(256, ge=1, le=10_000)
    drivers: dict[str, dict[str, Any]] = {}
    stop_grace_s: float = Field(10.0, ge=0, le=600)
    quality: QualitySettings = QualitySettings()
    state_dir: Path = Path("var/state")
    sharing: SharingSettings = SharingSettings()
