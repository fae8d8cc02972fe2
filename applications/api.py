"""The application plugin protocol.

A plugin is a subclass of :class:`Application` with a unique ``name`` (also
its consumer group unless its settings name another ``group``, so instances
of one application share the work) and a ``Settings`` model for its section
of ``configs/netfeed.yaml`` (``applications: {<name>: {...}}``).  It is found
through the ``netfeed.applications`` entry point group.

An application overrides one or both of:

- :meth:`Application.handle`: every batch of decoded messages as it arrives;
- :meth:`Application.on_cycle`: one pandas DataFrame per network, dataset
  and poll cycle (:mod:`applications.frames`), assembled by the runner from
  the records and the cycle-complete markers of the partitions this instance
  owns.

The runner calls :meth:`Application.start` once, then ``handle``/``on_cycle``,
and commits offsets only once what they cover was handled: if either raises or
the process dies, the messages are delivered again (to this or another
instance).  Applications therefore must tolerate seeing a record twice (or
set ``dedupe: true``).  Within a batch, items of one partition are in bus
order, so one device's records arrive in the order they were produced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from bus.records import CycleComplete, Message, Quarantined, Record
from bus.settings import BusSettings


class AppSettings(BaseModel):
    """Base of every application's settings: what it subscribes to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    networks: list[str] = Field(default_factory=lambda: ["*"])
    datasets: list[str] | None = None  # None: the application's own default
    # The consumer group; None: the application's name.  A replay under a new
    # group leaves the running application's position alone.
    group: str | None = None
    # Where a group with no committed position starts: the earliest data kept,
    # only what arrives from now on, or the first message at or after a time.
    start_from: Literal["earliest", "latest"] | datetime = "earliest"
    # Drop records whose record id (bus.records.record_id) was already seen by
    # this instance (bounded memory: the last ``dedupe_window`` ids).
    dedupe: bool = False
    dedupe_window: int = Field(1_000_000, ge=1)
    # Cycles held open at once per topic while their markers are awaited;
    # past it the oldest is handed over incomplete (frame.attrs["complete"] False).
    max_open_cycles: int = Field(16, ge=1)


@dataclass(frozen=True)
class Subscription:
    """Networks by name or glob (``lab-*``), and datasets."""

    networks: list[str]
    datasets: list[str]


@dataclass(frozen=True, slots=True)
class Item:
    """One decoded message with where it came from."""

    message: Message
    topic: str
    partition: int
    offset: int


@dataclass
class Batch:
    items: list[Item] = field(default_factory=list)

    @property
    def records(self) -> list[Record]:
        return [i.message for i in self.items if isinstance(i.message, Record)]

    @property
    def markers(self) -> list[CycleComplete]:
        return [i.message for i in self.items if isinstance(i.message, CycleComplete)]

    @property
    def quarantined(self) -> list[Quarantined]:
        """Refused records (only if the application subscribes to ``quarantine``)."""
        return [i.message for i in self.items if isinstance(i.message, Quarantined)]

    def frame(self, dataset: str | None = None) -> pd.DataFrame:
        """Records as a DataFrame: envelope columns, then tags, then fields."""
        return records_frame([r for r in self.records if dataset is None or r.dataset == dataset])


def records_frame(records: list[Record]) -> pd.DataFrame:
    rows = [
        {
            "network": r.network,
            "device": r.device,
            "profile": r.profile,
            "dataset": r.dataset,
            "cycle_id": r.cycle_id,
            "scheduled_unix_ms": r.scheduled_unix_ms,
            "response_unix_ms": r.response_unix_ms,
            "device_uptime_ms": r.device_uptime_ms,
            **r.tags,
            **r.fields,
        }
        for r in records
    ]
    return pd.DataFrame(rows)


class Publisher:
    """What an application may publish (alerts, state): backed by the runner's
    producer, created on first use.  ``send`` queues; ``flush`` returns when
    everything sent is durable (the runner also flushes before every commit)."""

    async def ensure_topic(self, topic: str, *, compact: bool = False) -> int:
        """Create ``topic`` if missing (``compact``: keep the latest message per
        key); return its partition count."""
        raise NotImplementedError

    async def send(self, topic: str, message: Message, *, key: str) -> None:
        raise NotImplementedError

    async def flush(self) -> None:
        raise NotImplementedError


@dataclass
class AppContext:
    """What the runner tells an application: its instance id, owned partitions,
    and a :class:`Publisher` for what the application itself publishes."""

    instance_id: str
    topic_prefix: str
    owned_partitions: Callable[[str], set[int]]  # topic -> partitions this instance owns
    publisher: Publisher = field(default_factory=Publisher)
    bus: BusSettings | None = None  # to read back what the application published


class Application:
    name: ClassVar[str] = ""
    Settings: ClassVar[type[AppSettings]] = AppSettings
    default_datasets: ClassVar[list[str]] = []

    def __init__(self, settings: AppSettings | None = None) -> None:
        self.settings = settings or self.Settings()

    @property
    def subscription(self) -> Subscription:
        return Subscription(
            list(self.settings.networks), list(self.settings.datasets or self.default_datasets)
        )

    async def start(self, ctx: AppContext) -> None:
        self.ctx = ctx

    async def handle(self, batch: Batch) -> None:
        """Every batch (records, markers, quarantined) as it arrives."""
        return None

    async def on_cycle(self, network: str, dataset: str, frame: pd.DataFrame) -> None:
        """One poll cycle of one network and dataset, as far as this instance
        owns it: one row per record (:func:`applications.frames.cycle_frame`).
        ``frame.attrs``: ``marker`` (the :class:`~bus.records.CycleComplete`),
        ``cycle_id``, ``topic``, ``partitions`` (those covered), ``complete``
        (False when handed over without every owned partition's marker)."""
        return None

    @classmethod
    def wants_cycles(cls) -> bool:
        return cls.on_cycle is not Application.on_cycle

    async def stop(self) -> None:
        return None
