"""The collector service: every configured network's datasets, on schedule.

Scheduling (apscheduler, one job per network and dataset):

- ``interval_s`` jobs fire on a grid aligned to the epoch (every collector
  with the same interval ticks at the same instants), ``cron`` jobs on their
  crontab; the tick a cycle belongs to is its ``scheduled_unix_ms``.
- never two cycles of the same job at once (``max_instances=1``); a tick
  that arrives while the previous cycle still runs is skipped, counted in
  :attr:`Collector.overruns` and logged;
- ticks missed while the process was busy are coalesced into one;
- each job keeps a :class:`~collectors.backoff.Backoff` across its cycles, so
  devices that keep failing are polled less often (see that module);
- concurrency limits nest: a network's ``collection.max_in_flight`` is one
  semaphore shared by all its datasets, inside the process-wide
  ``collector.max_in_flight`` shared by every network;
- each device is polled by the driver of its protocol for the dataset
  (:meth:`~collectors.config.NetworkConfig.protocol_of`: a network may mix
  SNMP and NETCONF devices in one cycle); the collector starts the drivers
  it is given and stops them when it stops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bus.api import AsyncService
from bus.records import CycleComplete
from collectors.backoff import Backoff
from collectors.config import DatasetSchedule, NetworkConfig
from collectors.cycle import Sink, run_cycle
from collectors.driver import Driver
from collectors.settings import CollectorSettings

log = logging.getLogger(__name__)


def tick_ms(schedule: DatasetSchedule, now_ms: int | None = None) -> int:
    """The scheduled instant a cycle starting now belongs to."""
    now_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    step = 60_000 if schedule.cron else int(schedule.interval_s * 1000)
    return now_ms - now_ms % step


class Collector(AsyncService):
    """Polls ``networks`` into ``sink``; ``start``/``stop`` or ``async with``."""

    def __init__(
        self,
        networks: list[NetworkConfig],
        settings: CollectorSettings,
        sink: Sink,
        drivers: Mapping[str, Driver],
        on_cycle: Callable[[CycleComplete], None] | None = None,
    ) -> None:
        self.networks = {n.network: n for n in networks}
        self.settings = settings
        self.sink = sink
        self.drivers = dict(drivers)
        self.on_cycle = on_cycle
        missing = sorted({p for n in networks for p in n.protocols()} - set(self.drivers))
        if missing:
            raise ValueError(f"no driver given for protocol(s) {', '.join(missing)}")
        self._semaphore = asyncio.Semaphore(settings.max_in_flight)
        self._net_limits: dict[str, asyncio.Semaphore] = {}
        self._drivers_started = False
        self._scheduler: AsyncIOScheduler | None = None
        self._running: set[asyncio.Task[CycleComplete]] = set()
        self.overruns: dict[str, int] = {}
        self.last: dict[str, CycleComplete] = {}
        self.backoff: dict[str, Backoff] = {}  # "<network>.<dataset>" -> its state

    async def _start_drivers(self) -> None:
        if not self._drivers_started:
            self._drivers_started = True
            for d in self.drivers.values():
                await d.start()

    async def cycle(
        self,
        network: str,
        dataset: str,
        scheduled_unix_ms: int | None = None,
        *,
        spread: float | None = None,
    ) -> CycleComplete:
        """Run one cycle now; returns its marker (also published).  ``spread``
        overrides the network's ``collection.spread`` for this cycle only."""
        await self._start_drivers()
        net = self.networks[network]
        sched = net.datasets[dataset]
        tick = tick_ms(sched) if scheduled_unix_ms is None else scheduled_unix_ms
        share = net.collection.spread if spread is None else spread
        spread_s = share * (60.0 if sched.cron else sched.interval_s)
        net_limit = self._net_limits.get(network)
        if net_limit is None:
            net_limit = self._net_limits[network] = asyncio.Semaphore(net.collection.max_in_flight)
        backoff = self.backoff.get(f"{network}.{dataset}")
        if backoff is None:
            backoff = self.backoff[f"{network}.{dataset}"] = Backoff.from_settings(net.collection)
        task = asyncio.ensure_future(
            run_cycle(
                network=network,
                dataset=dataset,
                devices=net.devices,
                driver=lambda device: self.drivers[net.protocol_of(device, dataset)],
                sink=self.sink,
                limits=(net_limit, self._semaphore),
                scheduled_unix_ms=tick,
                spread_s=spread_s,
                collector=self.settings.instance_id,
                backoff=backoff,
            )
        )
        self._running.add(task)
        try:
            marker = await task
        finally:
            self._running.discard(task)
        self.last[f"{network}.{dataset}"] = marker
        if self.on_cycle is not None:
            self.on_cycle(marker)
        return marker

    async def run_once(
        self, datasets: list[str] | None = None, *, spread: bool = False
    ) -> list[CycleComplete]:
        """One cycle of every network's datasets (all at once, no spreading by default)."""
        jobs = []
        for net in self.networks.values():
            for ds in net.datasets:
                if datasets is None or ds in datasets:
                    jobs.append((net.network, ds))
        now = time.time_ns() // 1_000_000
        over = None if spread else 0.0  # for these cycles only: later ones keep their spread
        return list(await asyncio.gather(*(self.cycle(n, d, now, spread=over) for n, d in jobs)))

    async def _scheduled(self, network: str, dataset: str) -> None:
        try:
            await self.cycle(network, dataset)
        except asyncio.CancelledError:
            log.info("%s.%s: cycle cancelled at shutdown; no marker published", network, dataset)
        except Exception:
            # the next tick tries again; the error must not kill the scheduler
            log.exception("%s.%s: cycle failed", network, dataset)

    def _on_overrun(self, event: JobEvent) -> None:
        self.overruns[event.job_id] = self.overruns.get(event.job_id, 0) + 1
        log.warning(
            "%s: previous cycle still running at the next tick: skipped (%d overruns so far)",
            event.job_id,
            self.overruns[event.job_id],
        )

    async def start(self) -> None:
        await self._start_drivers()
        sched = AsyncIOScheduler(timezone=UTC)
        sched.add_listener(self._on_overrun, EVENT_JOB_MAX_INSTANCES)
        for net in self.networks.values():
            for ds, s in net.datasets.items():
                trigger = (
                    CronTrigger.from_crontab(s.cron, timezone=UTC)
                    if s.cron
                    else IntervalTrigger(
                        seconds=s.interval_s, start_date=datetime.fromtimestamp(0, UTC)
                    )
                )
                job_id = f"{net.network}.{ds}"
                sched.add_job(
                    self._scheduled,
                    trigger,
                    args=[net.network, ds],
                    id=job_id,
                    name=job_id,
                    max_instances=1,
                    coalesce=True,
                    misfire_grace_time=None,
                    next_run_time=datetime.now(UTC),
                )
        sched.start()
        self._scheduler = sched

    async def stop(self, grace_s: float = 10.0) -> None:
        """Stop scheduling; let running cycles finish for ``grace_s``, then cancel them."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self._running:
            _done, pending = await asyncio.wait(set(self._running), timeout=grace_s)
            for t in pending:
                t.cancel()
        if self._drivers_started:
            self._drivers_started = False
            for d in self.drivers.values():
                await d.stop()
