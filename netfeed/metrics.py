"""Prometheus metrics of the pipeline itself (``prometheus_client``).

Names follow Prometheus conventions: ``netfeed_`` prefix, ``_total`` on
counters, ``_seconds`` / ``_octets`` units, rates left to PromQL
(``rate(netfeed_collector_records_total[5m])`` is records per second).
Each process has its own registry, served on ``metrics.port``
(:class:`netfeed.settings.MetricsSettings`).

Collector (fed by :class:`collectors.service.Collector` hooks):

- ``netfeed_collector_cycle_duration_seconds{network,dataset}`` histogram;
- ``netfeed_collector_cycles_total{network,dataset}``;
  ``netfeed_collector_ticks_skipped_total`` (overruns);
  ``netfeed_collector_cycles_interrupted_total``;
- ``netfeed_collector_device_polls_total{network,dataset,status}`` with
  status ``ok | failed | timed_out | skipped``, and
  ``netfeed_collector_cycle_devices{...,status}``: the latest cycle's counts;
- ``netfeed_collector_values_read_total`` (SNMP varbinds, NETCONF leaves),
  ``netfeed_collector_records_total``, ``..._records_quarantined_total``;
- ``netfeed_collector_device_last_success_timestamp_seconds{network,device}``;
- ``netfeed_collector_publish_seconds{network}`` (handing one device's
  records to the bus: the spool's append, or produce and flush) and
  ``netfeed_collector_publish_errors_total{network}``;
- ``netfeed_collector_shards_held{network}`` when instances share a network;
- the spool (Kafka): ``netfeed_spool_messages``, ``netfeed_spool_octets``,
  ``netfeed_spool_sent_total``, ``netfeed_spool_dropped_total``,
  ``netfeed_spool_retries_total``, ``netfeed_broker_up`` and
  ``netfeed_spool_send_round_seconds`` (a round's send to acknowledgement).

Application (:class:`AppMetrics`): ``netfeed_app_messages_total``,
``netfeed_app_cycles_total``, ``netfeed_app_bad_messages_total``,
``netfeed_app_duplicates_total`` and
``netfeed_app_lag_messages{app,group,network,dataset}`` read from the bus.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.registry import Collector as PromCollector

from bus.records import CycleComplete, Record
from collectors.driver import PollOutcome

log = logging.getLogger(__name__)

_CYCLE_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600)
_PUBLISH_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5)
STATUSES = ("ok", "failed", "timed_out", "skipped")


class MetricsError(Exception):
    """The metrics endpoint cannot be served (every port of its range taken)."""


class CollectorMetrics:
    """A collector's metrics in ``registry``; :meth:`outcome` and :meth:`marker`
    are the collector's hooks."""

    def __init__(self, registry: CollectorRegistry) -> None:
        nd = ["network", "dataset"]
        r = registry
        self.cycle_seconds = Histogram(
            "netfeed_collector_cycle_duration_seconds",
            "Poll cycle duration, first poll to marker",
            nd,
            buckets=_CYCLE_BUCKETS,
            registry=r,
        )
        self.cycles = Counter("netfeed_collector_cycles", "Cycles polled", nd, registry=r)
        self.skipped_ticks = Counter(
            "netfeed_collector_ticks_skipped",
            "Ticks not polled: the previous cycle was still running (overruns)",
            nd,
            registry=r,
        )
        self.interrupted = Counter(
            "netfeed_collector_cycles_interrupted",
            "Cycles cut short by a kill or the stop grace",
            nd,
            registry=r,
        )
        self.polls = Counter(
            "netfeed_collector_device_polls",
            "Device polls by outcome",
            [*nd, "status"],
            registry=r,
        )
        self.cycle_devices = Gauge(
            "netfeed_collector_cycle_devices",
            "Devices of the latest cycle by outcome",
            [*nd, "status"],
            registry=r,
        )
        self.values = Counter(
            "netfeed_collector_values_read",
            "Protocol values read (SNMP varbinds, NETCONF leaves)",
            nd,
            registry=r,
        )
        self.records = Counter("netfeed_collector_records", "Records published", nd, registry=r)
        self.quarantined = Counter(
            "netfeed_collector_records_quarantined",
            "Records the quality gate refused",
            nd,
            registry=r,
        )
        self.last_success = Gauge(
            "netfeed_collector_device_last_success_timestamp_seconds",
            "When the device last answered a poll (Unix time)",
            ["network", "device"],
            registry=r,
        )
        self.publish_seconds = Histogram(
            "netfeed_collector_publish_seconds",
            "Handing one device's records to the bus",
            ["network"],
            buckets=_PUBLISH_BUCKETS,
            registry=r,
        )
        self.publish_errors = Counter(
            "netfeed_collector_publish_errors",
            "Device record batches the bus refused",
            ["network"],
            registry=r,
        )
        self.shards_held = Gauge(
            "netfeed_collector_shards_held",
            "Device shards this instance holds (instances sharing a network)",
            ["network"],
            registry=r,
        )

    def outcome(self, network: str, dataset: str, out: PollOutcome) -> None:
        self.polls.labels(network, dataset, out.status).inc()
        if out.values_read:
            self.values.labels(network, dataset).inc(out.values_read)
        if out.status == "ok":
            self.last_success.labels(network, out.device).set(time.time())

    def marker(self, m: CycleComplete) -> None:
        nd = (m.network, m.dataset)
        if m.tick_skipped:
            self.skipped_ticks.labels(*nd).inc()
            return
        if m.interrupted:
            self.interrupted.labels(*nd).inc()
            return
        self.cycles.labels(*nd).inc()
        self.cycle_seconds.labels(*nd).observe(m.duration_ms / 1000)
        self.records.labels(*nd).inc(m.records)
        if m.quarantined:
            self.quarantined.labels(*nd).inc(m.quarantined)
        if m.devices_skipped:
            self.polls.labels(*nd, "skipped").inc(m.devices_skipped)
        counts = (m.devices_ok, m.devices_failed, m.devices_timed_out, m.devices_skipped)
        for status, n in zip(STATUSES, counts, strict=True):
            self.cycle_devices.labels(*nd, status).set(n)

    def shards(self, groups: Mapping[str, Any]) -> None:
        """Report the shards each group holds at scrape time."""
        for network, g in groups.items():
            self.shards_held.labels(network).set_function(_count_of(g.owned))


def _count_of(owned: Callable[[], frozenset[int]]) -> Callable[[], float]:
    return lambda: float(len(owned()))


class MeteredSink:
    """A sink that times each hand-off to the bus and counts the refused ones."""

    def __init__(self, sink: Any, metrics: CollectorMetrics) -> None:
        self.sink = sink
        self.metrics = metrics

    async def publish(self, records: list[Record]) -> None:
        network = records[0].network if records else ""
        t0 = time.perf_counter()
        try:
            await self.sink.publish(records)
        except Exception:
            self.metrics.publish_errors.labels(network).inc()
            raise
        self.metrics.publish_seconds.labels(network).observe(time.perf_counter() - t0)

    async def complete_cycle(self, marker: CycleComplete) -> CycleComplete:
        done: CycleComplete = await self.sink.complete_cycle(marker)
        return done


class _StatsCollector(PromCollector):
    """Reads a spool's counters at scrape time."""

    def __init__(self, stats: Callable[[], Any]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Any]:
        s = self._stats()
        yield GaugeMetricFamily("netfeed_spool_messages", "Messages waiting in the spool", s.depth)
        yield GaugeMetricFamily("netfeed_spool_octets", "Payload bytes waiting", s.octets)
        yield CounterMetricFamily("netfeed_spool_sent", "Messages acknowledged", s.sent)
        yield CounterMetricFamily(
            "netfeed_spool_dropped", "Oldest messages dropped, spool full", s.dropped
        )
        yield CounterMetricFamily("netfeed_spool_retries", "Failed send rounds", s.retries)
        up = 1 if s.broker_up else 0
        yield GaugeMetricFamily("netfeed_broker_up", "1 when the last send round got through", up)
        yield SummaryMetricFamily(
            "netfeed_spool_send_round_seconds",
            "Send rounds, read to acknowledgement",
            count_value=s.rounds,
            sum_value=s.round_s,
        )


def watch_spool(registry: CollectorRegistry, stats: Callable[[], Any]) -> None:
    registry.register(_StatsCollector(stats))


class AppMetrics(PromCollector):
    """An application runner's counters, read at scrape time, and its lag."""

    def __init__(self, registry: CollectorRegistry, runner: Any) -> None:
        self.runner = runner
        self.lag: dict[tuple[str, str, str], int] = {}  # (group, network, dataset) -> lag
        registry.register(self)

    def collect(self) -> Iterator[Any]:
        r = self.runner
        app = r.app.name
        for name, doc, value in (
            ("netfeed_app_messages", "Messages handled", r.handled),
            ("netfeed_app_cycles", "Cycles handed to on_cycle", r.cycles),
            ("netfeed_app_bad_messages", "Messages that did not decode", r.bad_messages),
            ("netfeed_app_duplicates", "Duplicates dropped", getattr(r, "duplicates", 0)),
        ):
            c = CounterMetricFamily(name, doc, labels=["app"])
            c.add_metric([app], value)
            yield c
        g = GaugeMetricFamily(
            "netfeed_app_lag_messages",
            "Messages on the bus not yet committed by the group",
            labels=["app", "group", "network", "dataset"],
        )
        for (group, network, dataset), lag in sorted(self.lag.items()):
            g.add_metric([app, group, network, dataset], lag)
        yield g

    async def follow_lag(self, every_s: float) -> None:
        """:meth:`refresh_lag` every ``every_s`` until cancelled; a bus that
        cannot be read leaves the gauge at its last reading."""
        while True:
            try:
                await self.refresh_lag()
            except Exception as exc:
                log.debug("metrics: lag not read: %s", exc)
            await asyncio.sleep(every_s)

    async def refresh_lag(self) -> None:
        """Read the group's lag per network and dataset from the bus."""
        from bus.groups import describe_groups

        r = self.runner
        group = r.group
        found = await describe_groups(r.bus, [group])
        lag: dict[tuple[str, str, str], int] = {}
        for g in found:
            for (network, dataset), n in g.lag_by_network(r.bus.topic_prefix).items():
                lag[(g.group, network or "-", dataset)] = n
        self.lag = lag


def serve(registry: CollectorRegistry, address: str, ports: tuple[int, int]) -> Any:
    """Serve ``registry`` on ``http://address:port/metrics`` (a daemon thread)
    on the first free port of the inclusive range ``ports`` (replicas sharing
    one network namespace each take the next); returns the server
    (``.shutdown()`` stops it).  No free port: :class:`MetricsError` naming the range."""
    first, last = ports
    for port in range(first, last + 1):
        try:
            server, _thread = start_http_server(port, addr=address, registry=registry)
        except OSError:
            continue
        log.info("metrics on http://%s:%d/metrics", address, server.server_port)
        return server
    raise MetricsError(f"metrics: no free port in {first}-{last} on {address}")


def shutdown(server: Any) -> None:
    """Stop serving (``server`` from :func:`serve`)."""
    server.shutdown()
    server.server_close()


def port_range(text: str) -> tuple[int, int]:
    """``"9464"`` or ``"9464-9479"`` as an inclusive range; ValueError when not."""
    first, dash, last = text.partition("-")
    lo, hi = int(first), int(last) if dash else int(first)
    if not 0 <= lo <= hi <= 65535:
        raise ValueError(f"{text!r}: a port or a range such as 9464-9479")
    return lo, hi
