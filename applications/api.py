"""The application plugin protocol.

A plugin is a subclass of :class:`Application` with a unique ``name`` (also
its consumer group, so instances of one application share the work) and a
``Settings`` model for its section of ``configs/netfeed.yaml``
(``applications: {<name>: {...}}``).  It is found through the
``netfeed.applications`` entry point group.

The runner calls :meth:`Application.start` once, then :meth:`handle` with
each batch, and commits the batch's offsets only after ``handle`` returns:
if ``handle`` raises or the process dies, the batch is delivered again (to
this or another instance).  ``handle`` therefore must tolerate seeing a
record twice.  Within a batch, items of one partition are in bus order,
so one device's records arrive in the order they were produced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from bus.records import CycleComplete, Quarantined, Record


class AppSettings(BaseModel):
    """Base of every application's settings: what it subscribes to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    networks: list[str] = Field(default_factory=lambda: ["*"])
    datasets: list[str] | None = None  # None: the application's own default


@dataclass(frozen=True)
class Subscription:
    """Networks by name or glob (``lab-*``), and datasets."""

    networks: list[str]
    datasets: list[str]


@dataclass(frozen=True, slots=True)
class Item:
    """One decoded message with where it came from."""

    message: Record | CycleComplete | Quarantined
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


@dataclass
class AppContext:
    """What the runner tells an application: its instance id and owned partitions."""

    instance_id: str
    topic_prefix: str
    owned_partitions: Callable[[str], set[int]]  # topic -> partitions this instance owns


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
        raise NotImplementedError

    async def stop(self) -> None:
        return None
