"""The SNMP driver: ``snmp`` in the ``netfeed.collectors`` entry point group.

Devices are matched to vendor profiles (``collectors/profiles``, plus the
site folders) by sysObjectID and sysDescr on every poll, read with one
shared client per process (the fast v1/v2c engine, SNMPv3 routed to pysnmp;
or pysnmp for everything) and normalised by the profile; see
:mod:`collectors.snmp.poll` for what a poll guarantees.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel

from collectors.config import Device
from collectors.driver import Driver, PollOutcome
from collectors.profiles import ProfileError, ProfileSet
from collectors.snmp.base import SnmpClient
from collectors.snmp.options import SnmpDriverSettings, SnmpOverrides, SnmpSettings
from collectors.snmp.poll import FallbackLog, poll_device


class SnmpDriver(Driver):
    name = "snmp"
    Options = SnmpSettings
    Overrides = SnmpOverrides
    Settings = SnmpDriverSettings
    csv_columns: ClassVar[dict[str, str]] = {"port": "port", "community": "community"}

    def __init__(
        self,
        settings: BaseModel | None = None,
        profile_dirs: list[Path] | None = None,
        *,
        client: SnmpClient | None = None,
        profiles: ProfileSet | None = None,
    ) -> None:
        super().__init__(settings, profile_dirs)
        self.profiles = profiles if profiles is not None else ProfileSet(self.profile_dirs)
        self._client = client
        self._own_client = client is None
        self._fallbacks = FallbackLog()  # devices read with generic, said once each

    @classmethod
    def check(cls, settings: BaseModel, profile_dirs: list[Path]) -> list[str]:
        try:
            ProfileSet(profile_dirs)
        except ProfileError as exc:
            return exc.problems
        return []

    @classmethod
    def worst_case_s(cls, device: Device) -> float | None:
        """A silent device: its first request's timeout x tries (within its deadline)."""
        s = device.options.get(cls.name)
        if not isinstance(s, SnmpSettings):
            return None
        return min(s.timeout_s * (s.retries + 1), s.device_deadline_s)

    @property
    def client(self) -> SnmpClient:
        """The process's SNMP client, made on first use."""
        if self._client is None:
            from collectors.snmp.factory import RoutingClient, make_client

            s = self.settings
            assert isinstance(s, SnmpDriverSettings)
            client = make_client(s.engine, s.udp_rcvbuf_bytes)
            # the fast client speaks v1/v2c: SNMPv3 targets go to pysnmp
            self._client = (
                RoutingClient(client, s.udp_rcvbuf_bytes) if s.engine == "fast" else client
            )
        return self._client

    async def stop(self) -> None:
        if self._own_client and self._client is not None:
            self._client.close()
            self._client = None

    async def poll(
        self, device: Device, dataset: str, scheduled_unix_ms: int, cycle_id: str
    ) -> PollOutcome:
        return await poll_device(
            self.client,
            self.profiles,
            device,
            dataset,
            scheduled_unix_ms,
            cycle_id,
            self._fallbacks,
        )
