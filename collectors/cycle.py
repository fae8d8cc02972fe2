"""One poll cycle of one dataset over one network.

Guarantees:

- at most as many devices are polled at once as every limit passed in allows
  (the network's semaphore, shared by its datasets, then the process's,
  shared by every network: limits nest);
- device start times are spread over ``spread_s`` by a stable hash of the
  device id, so 2,000 devices do not all send at the same instant and each
  device is polled at about the same offset every cycle;
- each device is polled by the driver ``driver`` gives for it (one driver,
  or a function of the device: a network may mix protocols), and all of
  them count in the one marker;
- a dead or slow device costs only its own deadline: it never delays others;
  a driver that raises (a bug) fails that device only, with the reason;
- with ``deadline_unix_ms`` (the service passes the next tick minus a small
  margin) the cycle ends by then: a device still unanswered is counted
  ``timed_out`` ("no answer before the next tick"; one still waiting for a
  slot: "not polled before the next tick"), its poll cancelled; records
  already published stay;
- with a :class:`~collectors.backoff.Backoff`, a device that failed repeatedly
  is skipped for a growing number of cycles (counted in ``devices_skipped``,
  its reason in ``failures``) and polled again on its own;
- each device's records are published as soon as it answers, and awaited:
  the marker is published after every record was handed on, once they are
  durable; a publish that fails fails that device (its reason in
  ``failures``), never the cycle;
- with a :class:`~collectors.journal.CycleJournal`, the cycle is opened in it
  before any device is polled and each device's outcome is noted as it
  comes, so a cycle cut short by a kill is published as such by the next
  start (see that module).  The sink notes what got out (the
  :class:`~collectors.publish.Publisher` does): a device whose records got
  out and that ended ok needs no note of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Protocol

from bus import logctx
from bus.records import CycleComplete, Record, cycle_id
from collectors.backoff import Backoff
from collectors.config import Device
from collectors.driver import Driver, PollOutcome
from collectors.journal import CycleJournal

log = logging.getLogger(__name__)


class Sink(Protocol):
    async def publish(self, records: list[Record]) -> None: ...
    async def complete_cycle(self, marker: CycleComplete) -> CycleComplete: ...


def start_offset_s(device_id: str, spread_s: float) -> float:
    """Stable offset of a device within the spread window."""
    return spread_s * (zlib.crc32(device_id.encode()) / 0xFFFFFFFF)


async def _poll(
    driver: Driver, device: Device, dataset: str, scheduled_unix_ms: int, cid: str
) -> PollOutcome:
    try:
        return await driver.poll(device, dataset, scheduled_unix_ms, cid)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a driver bug must cost this device, not the cycle
        log.exception("%s: %s driver failed on %s", cid, driver.name, device.id)
        return PollOutcome(device.id, "failed", error=f"{type(exc).__name__}: {exc}")


async def _note(journal: CycleJournal | None, cid: str, device: str, status: str, why: str) -> None:
    if journal is None:
        return
    try:
        await journal.status(cid, device, status, why)
    except Exception:  # the journal's file failing must not cost the cycle
        log.exception("%s: %s: the cycle journal could not note its outcome", cid, device)


async def _close(journal: CycleJournal | None, cid: str) -> None:
    """Close ``cid`` in the journal once its marker is out (the Publisher already
    did, in the same transaction as the marker's append; any other sink: here)."""
    if journal is None:
        return
    try:
        await journal.run(journal.close_op(cid))
    except Exception:
        log.exception("%s: the cycle journal could not close it", cid)


async def run_cycle(
    *,
    network: str,
    dataset: str,
    devices: Sequence[Device],
    driver: Driver | Callable[[Device], Driver],
    sink: Sink,
    limits: Sequence[asyncio.Semaphore],
    scheduled_unix_ms: int,
    spread_s: float = 0.0,
    collector: str = "",
    backoff: Backoff | None = None,
    deadline_unix_ms: int | None = None,
    journal: CycleJournal | None = None,
    shards: Sequence[int] = (),
    shards_total: int = 0,
    on_outcome: Callable[[PollOutcome], None] | None = None,
) -> CycleComplete:
    """Poll ``devices``; publish their records, then the marker (returned).
    ``shards`` / ``shards_total``: the shards ``devices`` are (an instance
    sharing the network, :mod:`bus.shards`), put on the marker.  ``on_outcome``
    sees each polled device's outcome as it comes (metrics)."""
    cid = cycle_id(network, dataset, scheduled_unix_ms)
    shard_list = sorted(shards)
    started_ms = time.time_ns() // 1_000_000
    if journal is not None:
        opened = CycleComplete(
            network=network,
            dataset=dataset,
            cycle_id=cid,
            scheduled_unix_ms=scheduled_unix_ms,
            started_unix_ms=started_ms,
            finished_unix_ms=started_ms,
            duration_ms=0,
            devices_planned=len(devices),
            devices_ok=0,
            devices_failed=0,
            devices_timed_out=0,
            records=0,
            collector=collector,
            shards=shard_list,
            shards_total=shards_total,
        )
        await journal.open(opened, [d.id for d in devices])
    t0 = time.monotonic()
    outcomes: list[PollOutcome] = []
    counted: dict[str, int] = {}  # device -> records published
    skipped: dict[str, str] = {}
    if backoff is not None:
        backoff.retain(d.id for d in devices)
    driver_of = driver if not isinstance(driver, Driver) else (lambda _d, one=driver: one)

    loop = asyncio.get_running_loop()
    # the deadline on the loop's clock: every device's wait, slot and poll end by it
    end_at = (
        None
        if deadline_unix_ms is None
        else loop.time() + (deadline_unix_ms - time.time_ns() / 1_000_000) / 1000
    )

    async def one(device: Device) -> None:
        # every line of this device's story (driver included) says which device it is
        with logctx.about(network=network, dataset=dataset, device=device.id):
            await poll_one(device)

    async def poll_one(device: Device) -> None:
        if backoff is not None and (why := backoff.skip(device.id)):
            skipped[device.id] = f"skipped: {why}"
            log.debug("%s/%s %s: skipped: %s", network, dataset, device.id, why)
            await _note(journal, cid, device.id, "skipped", skipped[device.id])
            return
        polling = False
        try:
            async with asyncio.timeout_at(end_at):
                delay = start_offset_s(device.id, spread_s) - (time.monotonic() - t0)
                if delay > 0:
                    await asyncio.sleep(delay)
                async with contextlib.AsyncExitStack() as held:
                    for limit in limits:  # outermost (network) first: no process slot held waiting
                        await held.enter_async_context(limit)
                    polling = True
                    out = await _poll(driver_of(device), device, dataset, scheduled_unix_ms, cid)
        except TimeoutError:
            why = "no answer before the next tick" if polling else "not polled before the next tick"
            out = PollOutcome(device.id, "timed_out", error=why)
        outcomes.append(out)
        if on_outcome is not None:
            on_outcome(out)
        if backoff is not None and (polling or out.status == "ok"):
            skip = backoff.record(device.id, out.status == "ok")
            if skip:
                log.warning(
                    "%s/%s %s: %d failures in a row: skipping it for %d cycle(s)",
                    network,
                    dataset,
                    device.id,
                    backoff.failures(device.id),
                    skip,
                )
        if out.records:
            try:
                await sink.publish(out.records)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the bus refused: this device's data is not there
                log.exception("%s: publishing %s's records failed", cid, device.id)
                out.status = "failed"
                out.error = f"publish failed: {type(exc).__name__}: {exc}"
            else:
                # the marker needs counts only: let the records go once they are handed on
                counted[out.device] = len(out.records)
            out.records = []
        if out.status != "ok" or device.id not in counted:
            # (an ok device whose records got out is noted already, by the sink)
            await _note(journal, cid, device.id, out.status, out.error or "")
        if out.status != "ok":
            log.warning("%s/%s %s: %s: %s", network, dataset, device.id, out.status, out.error)

    with logctx.about(network=network, dataset=dataset):
        await asyncio.gather(*(one(d) for d in devices))
    finished_ms = time.time_ns() // 1_000_000
    marker = CycleComplete(
        network=network,
        dataset=dataset,
        cycle_id=cid,
        scheduled_unix_ms=scheduled_unix_ms,
        started_unix_ms=started_ms,
        finished_unix_ms=finished_ms,
        duration_ms=finished_ms - started_ms,
        devices_planned=len(devices),
        devices_ok=sum(o.status == "ok" for o in outcomes),
        devices_failed=sum(o.status == "failed" for o in outcomes),
        devices_timed_out=sum(o.status == "timed_out" for o in outcomes),
        devices_skipped=len(skipped),
        records=sum(counted.values()),
        failures={
            **{o.device: f"{o.status}: {o.error}" for o in outcomes if o.status != "ok"},
            **skipped,
        },
        collector=collector,
        shards=shard_list,
        shards_total=shards_total,
    )
    marker = await sink.complete_cycle(marker)
    await _close(journal, cid)
    log.info(
        "%s: %d/%d devices ok, %d failed, %d timed out, %d skipped, %d records in %d ms",
        cid,
        marker.devices_ok,
        marker.devices_planned,
        marker.devices_failed,
        marker.devices_timed_out,
        marker.devices_skipped,
        marker.records,
        marker.duration_ms,
    )
    return marker
