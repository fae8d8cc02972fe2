"""Many simulated devices on loopback: one UDP port each, one object to start and stop them.

Guarantees: device ``i`` (0-based) of network ``name`` has id ``f"{name}-{i+1:03d}"``
and, when ``base_port`` is non-zero, listens on ``base_port + i``; with
``base_port=0`` each device gets a free port from the OS (parallel tests).  The
same ``(name, n_devices, seed, n_interfaces, kinds)`` always gives the same
devices.  Each device uses one file descriptor.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from pathlib import Path

from bus.api import AsyncService
from netfeed.simulator.agent import SnmpAgent
from netfeed.simulator.device import SimulatedDevice

InventoryRow = tuple[str, str, int, str, str]  # (device_id, host, port, community, vendor)


class SimulatedNetwork(AsyncService):
    """A set of :class:`SimulatedDevice` served by :class:`SnmpAgent` on ``host``.

    ``kinds``, if given, assigns vendor kinds round-robin (device ``i`` gets
    ``kinds[i % len(kinds)]``) instead of drawing them from the seed.
    """

    def __init__(
        self,
        name: str = "lab",
        n_devices: int = 10,
        *,
        seed: int = 0,
        base_port: int = 16100,
        host: str = "127.0.0.1",
        community: str = "public",
        n_interfaces: int = 8,
        kinds: Sequence[str] | None = None,
        now: float | None = None,
    ) -> None:
        now = time.time() if now is None else now
        self.name = name
        self.host = host
        self.base_port = base_port
        self.community = community
        self.devices: list[SimulatedDevice] = [
            SimulatedDevice(
                f"{name}-{i + 1:03d}",
                seed=seed,
                n_interfaces=n_interfaces,
                kind=kinds[i % len(kinds)] if kinds else None,
                now=now,
            )
            for i in range(n_devices)
        ]
        self.agents: list[SnmpAgent] = [SnmpAgent(d, community) for d in self.devices]
        self._index = {d.device_id: k for k, d in enumerate(self.devices)}
        self.running = False

    async def start(self) -> None:
        """Bind every device's port; on failure nothing stays bound and the error is raised."""
        try:
            for i, agent in enumerate(self.agents):
                await agent.start(self.host, self.base_port + i if self.base_port else 0)
        except BaseException:
            await self.stop()
            raise
        self.running = True

    async def stop(self) -> None:
        """Close every socket (idempotent)."""
        for agent in self.agents:
            await agent.stop()
        self.running = False

    def device(self, device_id: str) -> SimulatedDevice:
        """The device with this id (KeyError if none)."""
        return self.devices[self._index[device_id]]

    def agent(self, device_id: str) -> SnmpAgent:
        """The agent serving this device (KeyError if none)."""
        return self.agents[self._index[device_id]]

    def port(self, device_id: str) -> int:
        """The device's UDP port: the bound one once started, else the planned one."""
        k = self._index[device_id]
        bound = self.agents[k].port
        return bound or (self.base_port + k if self.base_port else 0)

    def set_fault(self, device_id: str, mode: str | None, delay_ms: float = 1500.0) -> None:
        """Make one device ``silent``, ``garbage`` or ``slow`` (``delay_ms``); None heals it."""
        self.agent(device_id).set_fault(mode, delay_ms)

    def inventory_rows(self) -> list[InventoryRow]:
        """One ``(device_id, host, port, community, vendor)`` row per device, in order."""
        return [
            (d.device_id, self.host, self.port(d.device_id), self.community, d.vendor)
            for d in self.devices
        ]

    def write_inventory_csv(self, path: str | Path, community_ref: str | None = None) -> None:
        """Write a CSV inventory for the collector: ``id,host,port[,community],tag:vendor``.

        The collector takes a secret reference for the community (``env:NAME`` or
        ``file:PATH``), never the plain value: pass it as ``community_ref`` or the
        column is left out (the network file's defaults then apply).
        """
        with Path(path).open("w", newline="") as handle:
            writer = csv.writer(handle)
            header = ["id", "host", "port"] + (["community"] if community_ref else [])
            writer.writerow([*header, "tag:vendor"])
            for dev_id, host, port, _community, vendor in self.inventory_rows():
                extra = [community_ref] if community_ref else []
                writer.writerow([dev_id, host, port, *extra, vendor])


async def start_network(
    name: str, n_devices: int, seed: int = 0, **kwargs: object
) -> SimulatedNetwork:
    """Build and start a :class:`SimulatedNetwork`; the caller must ``await net.stop()``."""
    net = SimulatedNetwork(name, n_devices, seed=seed, **kwargs)  # type: ignore[arg-type]
    await net.start()
    return net
