"""The ``reachability`` application: each device's up/down state and history.

From every cycle of one dataset (``system`` by default, polled on every
device) it takes a device as **up** when it has records in the cycle and as
**down** when the cycle's marker lists it in ``failures`` (failed, timed
out, or skipped while backing off; the reason is kept).  Only devices of the
partitions this instance owns count (a device's partition is its key's), so
instances never report the same device.

On every change, and at a device's first observation, it publishes a
:class:`~bus.records.DeviceState` to the compacted ``<prefix>.state`` topic,
keyed ``<network>/<device>``: the latest message of a key is the device's
state (Kafka keeps at least that one; on the embedded bus read the latest
per key).  ``transitions`` holds the last 20 changes, so the state message
is also the device's recent history.  At start it reads ``<prefix>.state``
back, so a restart continues the history and publishes no change that did
not happen.
"""

from __future__ import annotations

import logging
from typing import ClassVar

import pandas as pd

from applications.api import AppContext, Application, AppSettings
from applications.readback import read_topic
from bus.partitioner import partition_for
from bus.records import DeviceState
from bus.topics import state_topic

log = logging.getLogger(__name__)
HISTORY = 20


class ReachabilitySettings(AppSettings):
    pass


class Reachability(Application):
    name: ClassVar[str] = "reachability"
    Settings = ReachabilitySettings
    default_datasets: ClassVar[list[str]] = ["system"]

    def __init__(self, settings: ReachabilitySettings | None = None) -> None:
        super().__init__(settings)
        self.states: dict[tuple[str, str], DeviceState] = {}
        self.published: list[DeviceState] = []

    async def start(self, ctx: AppContext) -> None:
        await super().start(ctx)
        self.topic = state_topic(ctx.topic_prefix)
        await ctx.publisher.ensure_topic(self.topic, compact=True)
        assert ctx.bus is not None, "the runner gives the bus settings"
        for msg in await read_topic(ctx.bus, self.topic):
            if isinstance(msg, DeviceState):
                self.states[(msg.network, msg.device)] = msg  # in order: the latest wins

    async def on_cycle(self, network: str, dataset: str, frame: pd.DataFrame) -> None:
        marker = frame.attrs.get("marker")
        if marker is None:
            return  # an incomplete cycle without any marker says nothing about failures
        at = marker.scheduled_unix_ms
        cycle_id = marker.cycle_id
        up = set(frame["device"]) if len(frame) else set()
        owned = set(frame.attrs.get("partitions") or [])
        down = {
            dev: why
            for dev, why in marker.failures.items()
            if dev not in up and partition_for(dev.encode(), marker.partitions) in owned
        }
        for dev in sorted(up):
            await self._observe(network, dev, "up", "", at, cycle_id)
        for dev, why in sorted(down.items()):
            await self._observe(network, dev, "down", why, at, cycle_id)

    async def _observe(
        self, network: str, device: str, state: str, reason: str, at: int, cycle_id: str
    ) -> None:
        old = self.states.get((network, device))
        if old is not None and (old.state == state or at <= old.since_unix_ms):
            return  # no change (or a cycle older than the state: re-delivered)
        history = [*(old.transitions if old is not None else []), (state, at)][-HISTORY:]
        new = DeviceState(
            network=network,
            device=device,
            state=state,
            since_unix_ms=at,
            last_cycle_id=cycle_id,
            reason=reason,
            transitions=history,
        )
        self.states[(network, device)] = new
        self.published.append(new)
        await self.ctx.publisher.send(self.topic, new, key=f"{network}/{device}")
