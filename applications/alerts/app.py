"""The ``threshold-alerts`` application.

Per cycle of each network it evaluates the rules of its rules file
(:mod:`applications.alerts.rules`) and publishes :class:`~bus.records.Alert`
events on ``<prefix>.alerts``, keyed by alert id:

- a ``raise`` once the condition held ``for_cycles`` cycles in a row;
- one ``clear`` when it stops holding, or its subject (an interface, a peer)
  is gone from a device that answered; a device that did not answer keeps
  its alerts as they are (``device_missing`` says so);
- **deduplicated across restarts**: at start it reads ``<prefix>.alerts`` back
  (to its end at that moment) and takes every alert whose last event is a
  raise as raised, so a restart neither raises an alert twice nor forgets to
  clear one.  Counts of consecutive cycles restart from zero.

With several instances each evaluates the devices of its own partitions.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import ClassVar

import pandas as pd

from applications.alerts.conditions import Hits, Memory, evaluate, subjects
from applications.alerts.rules import DeviceMissing, Rule, load_rules
from applications.api import AppContext, Application, AppSettings
from applications.readback import read_topic
from bus.partitioner import partition_for
from bus.records import Alert
from bus.topics import alerts_topic

log = logging.getLogger(__name__)


class AlertSettings(AppSettings):
    rules_file: Path = Path("alerts.yaml")  # relative to the config folder


class ThresholdAlerts(Application):
    name: ClassVar[str] = "threshold-alerts"
    Settings = AlertSettings
    default_datasets: ClassVar[list[str]] = ["interfaces", "health", "bgp", "sensors", "system"]

    def __init__(self, settings: AlertSettings | None = None, rules: list[Rule] | None = None):
        super().__init__(settings)
        self.cfg: AlertSettings = self.settings  # type: ignore[assignment]
        self.rules = rules if rules is not None else load_rules(self.cfg.rules_file)
        self._memory: dict[tuple[str, str], Memory] = {}  # (network, rule) -> memory
        self._count: dict[tuple[str, str, str, str], int] = {}  # consecutive cycles holding
        self.raised: dict[str, Alert] = {}  # alert id -> its raise
        self.published: list[Alert] = []

    async def start(self, ctx: AppContext) -> None:
        await super().start(ctx)
        self.topic = alerts_topic(ctx.topic_prefix)
        await ctx.publisher.ensure_topic(self.topic)
        assert ctx.bus is not None, "the runner gives the bus settings"
        for msg in await read_topic(ctx.bus, self.topic):
            if isinstance(msg, Alert):
                if msg.state == "raise":
                    self.raised[msg.alert_id] = msg
                else:
                    self.raised.pop(msg.alert_id, None)
        log.info("threshold-alerts: %d alert(s) raised before this start", len(self.raised))

    async def on_cycle(self, network: str, dataset: str, frame: pd.DataFrame) -> None:
        marker = frame.attrs.get("marker")
        cycle_id = frame.attrs.get("cycle_id", "")
        at = marker.scheduled_unix_ms if marker is not None else int(time.time() * 1000)
        present = subjects(dataset, frame)
        answered = {d for d, _ in present}
        for rule in self.rules:
            if isinstance(rule, DeviceMissing):
                if rule.dataset != dataset or marker is None:
                    continue
                owned = set(frame.attrs.get("partitions") or [])
                hits: Hits = {
                    (dev, ""): (None, f"no answer: {why}")
                    for dev, why in marker.failures.items()
                    if partition_for(dev.encode(), marker.partitions) in owned
                }
                seen = {(d, "") for d in answered} | set(hits)
                judged = seen
            elif rule.dataset == dataset:
                mem = self._memory.setdefault((network, rule.name), Memory())
                hits, judged = evaluate(rule, frame, mem)
                seen = present
            else:
                continue
            await self._apply(rule, network, hits, seen, judged, answered, cycle_id, at)

    async def _apply(
        self,
        rule: Rule,
        network: str,
        hits: Hits,
        seen: set[tuple[str, str]],
        judged: set[tuple[str, str]],
        answered: set[str],
        cycle_id: str,
        at: int,
    ) -> None:
        for (dev, subj), (value, message) in hits.items():
            key = (network, rule.name, dev, subj)
            n = self._count[key] = self._count.get(key, 0) + 1
            aid = alert_id(network, dev, rule.name, subj)
            if n >= rule.for_cycles and aid not in self.raised:
                alert = Alert(
                    network=network,
                    device=dev,
                    rule=rule.name,
                    subject=subj,
                    alert_id=aid,
                    state="raise",
                    severity=rule.severity,
                    value=value,
                    threshold=getattr(rule, "threshold_pct", None),
                    message=message,
                    cycle_id=cycle_id,
                    raised_unix_ms=at,
                    at_unix_ms=at,
                )
                self.raised[aid] = alert
                await self._send(alert)
        for aid, raised in list(self.raised.items()):
            if raised.network != network or raised.rule != rule.name:
                continue
            subject = (raised.device, raised.subject)
            if subject in hits or raised.device not in answered:
                continue  # still true, or its device did not answer: nothing new known
            if subject in seen and subject not in judged:
                continue  # there, but not judged this cycle (no rate yet): as it was
            del self.raised[aid]
            why = "back to normal" if subject in seen else "its subject is gone"
            await self._send(
                Alert(
                    network=network,
                    device=raised.device,
                    rule=rule.name,
                    subject=raised.subject,
                    alert_id=aid,
                    state="clear",
                    severity=raised.severity,
                    message=f"cleared: {why}",
                    cycle_id=cycle_id,
                    raised_unix_ms=raised.raised_unix_ms,
                    at_unix_ms=at,
                )
            )
        for key in [k for k in self._count if k[0] == network and k[1] == rule.name]:
            if (key[2], key[3]) not in hits:
                del self._count[key]  # "in a row": a cycle without it starts over

    async def _send(self, alert: Alert) -> None:
        self.published.append(alert)
        await self.ctx.publisher.send(self.topic, alert, key=alert.alert_id)


def alert_id(network: str, device: str, rule: str, subject: str) -> str:
    return f"{network}/{device}/{rule}/{subject}"
