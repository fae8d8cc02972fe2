"""The collector service: every configured network's datasets, on schedule.

Scheduling (one asyncio task per network and dataset):

- ``interval_s`` schedules tick on a grid aligned to the epoch (every
  multiple of the interval), ``cron`` schedules on their crontab (UTC).  A
  cycle's ``scheduled_unix_ms`` is its tick, computed, never read off the
  clock: every collector with the same schedule, and one restarted, labels
  the same instant the same; the first cycle after a start is the next tick;
- a cycle ends by its deadline, the next tick minus a small margin
  (:func:`deadline_ms`): a device still unanswered then is counted timed out
  in that cycle's marker, so the next tick runs for every device;
- never two cycles of the same job at once: a tick that comes while the
  previous cycle is still finishing (publishing its marker, say) and is
  more than half an interval late is skipped, counted in
  :attr:`Collector.overruns`, logged, and published as a marker of its own
  with ``tick_skipped`` set: the bus shows every tick of the grid;
- each job keeps a :class:`~collectors.backoff.Backoff` across its cycles, so
  devices that keep failing are polled less often (see that module);
- concurrency limits nest: a network's ``collection.max_in_flight`` is one
  semaphore shared by all its datasets, inside the process-wide
  ``collector.max_in_flight`` shared by every network;
- each device is polled by the driver of its protocol for the dataset
  (:meth:`~collectors.config.NetworkConfig.protocol_of`: a network may mix
  SNMP and NETCONF devices in one cycle); the collector starts the drivers
  it is given and stops them when it stops;
- :meth:`Collector.stop` schedules no new tick, lets the running cycles
  finish for ``collector.stop_grace_s`` (their records and markers are
  published), cancels what is still running after that and, with a
  journal, publishes their markers marked ``interrupted`` (the stop grace ran
  out), then stops drivers;
- with a :class:`~collectors.journal.CycleJournal`, :meth:`Collector.start`
  and :meth:`Collector.run_once` first publish a marker marked
  ``interrupted`` for every cycle an earlier run of this instance left open
  (killed or crashed mid-cycle), before any new cycle starts;
- :meth:`Collector.run_once` labels each cycle with the current tick of its
  dataset's schedule (:func:`tick_ms`), as the schedule would have;
- with a :class:`~bus.shards.ShardGroup` for a network (several instances
  sharing it through Kafka), each cycle polls only the devices of the shards
  the group gives for its tick (no device polled by two instances in one
  cycle, see :mod:`bus.shards`) and its marker names those shards; a tick
  for which this instance holds no shard is not polled and publishes no
  marker (the instances that hold them do).  :meth:`Collector.start` joins
  the groups before the first tick; :meth:`Collector.stop` leaves them once
  its cycles are over, so the others take over at once.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from bus.api import AsyncService
from bus.records import CycleComplete, cycle_id
from bus.shards import ShardGroup, shard_of
from collectors.backoff import Backoff
from collectors.config import DatasetSchedule, Device, NetworkConfig
from collectors.cycle import Sink, run_cycle
from collectors.driver import Driver, PollOutcome
from collectors.journal import GRACE, KILLED, CycleJournal
from collectors.settings import CollectorSettings

log = logging.getLogger(__name__)

MAX_SKIPPED_MARKERS = 100  # per gap: a process frozen for a day does not flood the bus


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def tick_ms(schedule: DatasetSchedule, now_ms: int | None = None) -> int:
    """The tick a cycle started by hand now belongs to: the latest tick of
    ``schedule`` at or before ``now_ms`` (``interval_s``: now floored to the
    grid; ``cron``: its last fire time).  Two runs within one interval get
    the same tick, the same one the scheduled service gave or will give it."""
    now_ms = _now_ms() if now_ms is None else now_ms
    if not schedule.cron:
        step = int(schedule.interval_s * 1000)
        return now_ms - now_ms % step
    # cron: search back over wider and wider windows for the last fire time
    for back_ms in (3_600_000, 86_400_000, 32 * 86_400_000, 367 * 86_400_000, 5 * 367 * 86_400_000):
        at = next_tick_ms(schedule, now_ms - back_ms, inclusive=True)
        if at > now_ms:
            continue
        while (nxt := next_tick_ms(schedule, at)) <= now_ms:
            at = nxt
        return at
    return now_ms - now_ms % 60_000  # a crontab that fires less than every five years


def next_tick_ms(schedule: DatasetSchedule, after_ms: int, *, inclusive: bool = False) -> int:
    """The first tick of ``schedule`` after ``after_ms`` (or at it, ``inclusive``)."""
    if schedule.cron:
        trigger = CronTrigger.from_crontab(schedule.cron, timezone=UTC)
        at = datetime.fromtimestamp((after_ms + (0 if inclusive else 1)) / 1000, UTC)
        fire = trigger.get_next_fire_time(None, at)
        assert fire is not None  # a crontab always fires again
        return int(fire.timestamp() * 1000)
    step = int(schedule.interval_s * 1000)
    if inclusive and after_ms % step == 0:
        return after_ms
    return (after_ms // step + 1) * step


def deadline_ms(tick: int, next_tick: int) -> int:
    """When a cycle of ``tick`` must end: the next tick minus a margin for its marker
    (a tenth of the interval, at most one second)."""
    return next_tick - min(1000, (next_tick - tick) // 10)


def networks_by(networks: list[NetworkConfig], name: str) -> list[Device]:
    """The devices of the network called ``name`` in ``networks`` (none if absent)."""
    return next((list(n.devices) for n in networks if n.network == name), [])


class Collector(AsyncService):
    """Polls ``networks`` into ``sink``; ``start``/``stop`` or ``async with``."""

    def __init__(
        self,
        networks: list[NetworkConfig],
        settings: CollectorSettings,
        sink: Sink,
        drivers: Mapping[str, Driver],
        on_cycle: Callable[[CycleComplete], None] | None = None,
        journal: CycleJournal | None = None,
        shard_groups: Mapping[str, ShardGroup] | None = None,
        on_outcome: Callable[[str, str, PollOutcome], None] | None = None,
    ) -> None:
        self.on_outcome = on_outcome
        self.journal = journal
        self.shard_groups = dict(shard_groups or {})
        # network -> device id -> shard, computed once (a hash per device per cycle adds up)
        self._shard_of = {
            g.network: {d.id: shard_of(d.id, g.shards) for d in networks_by(networks, g.network)}
            for g in self.shard_groups.values()
        }
        self._recovered = False
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
        self._jobs: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._running: set[asyncio.Task[CycleComplete]] = set()
        self.overruns: dict[str, int] = {}
        self.last: dict[str, CycleComplete] = {}
        self.backoff: dict[str, Backoff] = {}  # "<network>.<dataset>" -> its state

    async def _devices(
        self, net: NetworkConfig, tick: int, deadline_unix_ms: int | None
    ) -> tuple[list[Device], list[int], int]:
        """The devices to poll in ``net``'s cycle of ``tick``, the shards they are
        and the shard count (every device, ``[]``, 0 without a shard group)."""
        group = self.shard_groups.get(net.network)
        if group is None:
            return list(net.devices), [], 0
        held = await group.shards_for_tick(tick, deadline_unix_ms)
        of = self._shard_of[net.network]
        return [d for d in net.devices if of[d.id] in held], sorted(held), group.shards

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
        deadline_unix_ms: int | None = None,
    ) -> CycleComplete:
        """Run one cycle now; returns its marker (also published).  ``spread``
        overrides the network's ``collection.spread`` for this cycle only;
        ``deadline_unix_ms``: when it must end (none: when every device has)."""
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
        devices, shards, shards_total = await self._devices(net, tick, deadline_unix_ms)
        if shards_total and not shards:
            log.info(
                "%s: this instance holds no shard at this tick: not polled here",
                cycle_id(network, dataset, tick),
            )
            return self._unpolled(network, dataset, tick, 0, shards_total=shards_total)
        task = asyncio.create_task(
            run_cycle(
                network=network,
                dataset=dataset,
                devices=devices,
                driver=lambda device: self.drivers[net.protocol_of(device, dataset)],
                sink=self.sink,
                limits=(net_limit, self._semaphore),
                scheduled_unix_ms=tick,
                spread_s=spread_s,
                collector=self.settings.instance_id,
                backoff=backoff,
                deadline_unix_ms=deadline_unix_ms,
                journal=self.journal,
                shards=shards,
                shards_total=shards_total,
                on_outcome=None
                if self.on_outcome is None
                else functools.partial(self.on_outcome, network, dataset),
            ),
            name=cycle_id(network, dataset, tick),
        )
        self._running.add(task)
        try:
            # shielded: stopping the job waits for the cycle (stop's grace), it
            # does not cut it; stop cancels the cycle itself when the grace is over
            marker = await asyncio.shield(task)
        finally:
            if task.done():
                self._running.discard(task)
        self._finished(marker)
        return marker

    def _finished(self, marker: CycleComplete) -> None:
        self.last[f"{marker.network}.{marker.dataset}"] = marker
        if self.on_cycle is not None:
            self.on_cycle(marker)

    async def close_cut_short(
        self, reason: str = KILLED, *, rerun: frozenset[str] = frozenset()
    ) -> list[CycleComplete]:
        """Publish a marker (``interrupted``: ``reason``) for every cycle of this
        instance the journal holds open; returns them.  A marker that cannot be
        published stays open in the journal, for the next start.  Cycles in
        ``rerun`` are left open: they are about to run again (``--once`` in the
        tick of the killed cycle), and their new marker closes them."""
        if self.journal is None:
            return []
        out = []
        for marker in await self.journal.cut_short(reason):
            if marker.cycle_id in rerun:
                log.warning("%s: cut short by a kill; polled again now", marker.cycle_id)
                continue
            log.warning(
                "%s: cut short (%s): %d of %d devices' records got out, %d records",
                marker.cycle_id,
                reason,
                marker.devices_ok,
                marker.devices_planned,
                marker.records,
            )
            try:
                marker = await self.sink.complete_cycle(marker)
            except Exception:
                log.exception("%s: the cut-short marker was not published", marker.cycle_id)
                continue
            await self.journal.run(self.journal.close_op(marker.cycle_id))  # any sink
            out.append(marker)
            self._finished(marker)
        return out

    async def _recover(self, rerun: frozenset[str] = frozenset()) -> None:
        if not self._recovered:
            self._recovered = True
            await self.close_cut_short(KILLED, rerun=rerun)

    async def run_once(
        self, datasets: list[str] | None = None, *, spread: bool = False
    ) -> list[CycleComplete]:
        """One cycle of every network's datasets (all at once, no spreading by
        default), each labelled with its schedule's current tick (:func:`tick_ms`).
        A cycle of that tick a killed run left open is polled again, not marked
        cut short: its records, then one marker, as if it had not been cut."""
        jobs = []
        now = _now_ms()
        for net in self.networks.values():
            for ds, sched in net.datasets.items():
                if datasets is None or ds in datasets:
                    jobs.append((net.network, ds, tick_ms(sched, now)))
        await self._recover(frozenset(cycle_id(n, d, t) for n, d, t in jobs))
        over = None if spread else 0.0  # for these cycles only: later ones keep their spread
        return list(await asyncio.gather(*(self.cycle(n, d, t, spread=over) for n, d, t in jobs)))

    def _unpolled(
        self, network: str, dataset: str, tick: int, planned: int, **more: Any
    ) -> CycleComplete:
        """The marker of a tick that polled nothing (skipped, or no shard held)."""
        now = _now_ms()
        return CycleComplete(
            network=network,
            dataset=dataset,
            cycle_id=cycle_id(network, dataset, tick),
            scheduled_unix_ms=tick,
            started_unix_ms=now,
            finished_unix_ms=now,
            duration_ms=0,
            devices_planned=planned,
            devices_ok=0,
            devices_failed=0,
            devices_timed_out=0,
            records=0,
            collector=self.settings.instance_id,
            **more,
        )

    async def _skipped(self, network: str, dataset: str, tick: int, why: str) -> None:
        """Publish the marker of a tick that was not polled."""
        job = f"{network}.{dataset}"
        self.overruns[job] = self.overruns.get(job, 0) + 1
        log.warning("%s: tick %d skipped: %s (%d so far)", job, tick, why, self.overruns[job])
        n = len(self.networks[network].devices)
        shards: list[int] = []
        total = 0
        if (group := self.shard_groups.get(network)) is not None:
            held, total = group.owned(), group.shards
            if not held:
                return  # the instances holding the shards mark this tick
            shards = sorted(held)
            of = self._shard_of[network]
            n = sum(1 for s in of.values() if s in held)
        marker = self._unpolled(
            network,
            dataset,
            tick,
            n,
            devices_skipped=n,
            tick_skipped=why,
            shards=shards,
            shards_total=total,
        )
        try:
            marker = await self.sink.complete_cycle(marker)
        except Exception:
            log.exception("%s: the marker of skipped tick %d was not published", job, tick)
            return
        self._finished(marker)

    async def _sleep_until(self, at_ms: int) -> bool:
        """Wait for the wall clock to reach ``at_ms``; False if stopping first."""
        while (left := at_ms - _now_ms()) > 0:
            try:
                await asyncio.wait_for(self._stopping.wait(), left / 1000)
            except TimeoutError:
                continue
            return False
        return not self._stopping.is_set()

    async def _job(self, network: str, dataset: str, tick: int) -> None:
        sched = self.networks[network].datasets[dataset]
        while await self._sleep_until(tick):
            nxt = next_tick_ms(sched, tick)
            try:
                await self.cycle(network, dataset, tick, deadline_unix_ms=deadline_ms(tick, nxt))
            except asyncio.CancelledError:
                if self._stopping.is_set():
                    log.warning("%s.%s: cycle cut at the end of the stop grace", network, dataset)
                    return
                raise
            except Exception:
                # the next tick tries again; the error must not end the schedule
                log.exception("%s.%s: cycle failed", network, dataset)
            if self._stopping.is_set():
                return
            # ticks that came while this cycle was finishing: run one that is at most
            # half an interval late, publish a marker for each older one
            tick, now, gap = nxt, _now_ms(), 0
            while True:
                after = next_tick_ms(sched, tick)
                if now - tick <= (after - tick) // 2:
                    break
                if gap < MAX_SKIPPED_MARKERS:
                    await self._skipped(network, dataset, tick, "previous cycle still running")
                gap += 1
                tick = after
            if gap > MAX_SKIPPED_MARKERS:
                log.warning(
                    "%s.%s: %d more ticks skipped without a marker",
                    network,
                    dataset,
                    gap - MAX_SKIPPED_MARKERS,
                )

    async def start(self) -> None:
        await self._recover()
        await self._start_drivers()
        for group in self.shard_groups.values():
            await group.start()  # joins; waits (bounded) for its first shards
        self._stopping.clear()
        now = _now_ms()
        for net in self.networks.values():
            for ds, sched in net.datasets.items():
                first = next_tick_ms(sched, now, inclusive=True)
                log.info("%s.%s: scheduled; first tick at %d", net.network, ds, first)
                self._jobs.append(
                    asyncio.create_task(
                        self._job(net.network, ds, first), name=f"{net.network}.{ds}"
                    )
                )

    async def stop(self, grace_s: float | None = None) -> None:
        """Start no new cycle; let running ones finish for ``grace_s`` (default
        ``collector.stop_grace_s``), then cancel them (publishing their
        cut-short markers, with a journal) and stop the drivers."""
        grace = self.settings.stop_grace_s if grace_s is None else grace_s
        self._stopping.set()
        if self._running:
            _done, pending = await asyncio.wait(set(self._running), timeout=grace)
            for t in pending:
                log.warning(
                    "%s: still running after the %gs stop grace: cancelled", t.get_name(), grace
                )
                t.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)
                await self.close_cut_short(GRACE)
        jobs, self._jobs = self._jobs, []
        if jobs:
            _ended, late = await asyncio.wait(jobs, timeout=5)
            for j in late:
                j.cancel()
        for group in self.shard_groups.values():
            await group.stop()  # after the last cycle: the others take the shards now
        if self._drivers_started:
            self._drivers_started = False
            for d in self.drivers.values():
                await d.stop()
