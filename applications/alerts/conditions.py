"""What each rule kind sees in one cycle's frame: the (device, subject) pairs
for which its condition holds now, with the value and a message.

Rules that compare with the previous cycle (an interface that *was* up, a
peer that *was* established, utilisation from counter deltas) keep that
memory in :class:`Memory`, one per network.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from applications.alerts.rules import (
    BgpLeftEstablished,
    CpuAbove,
    MemoryAbove,
    OperDown,
    Rule,
    SensorOutside,
    UtilisationAbove,
)
from applications.analysis import interface_rates

Hits = dict[tuple[str, str], tuple[float | None, str]]  # (device, subject) -> (value, message)
_IF_KEEP = [
    "network",
    "device",
    "if_index",
    "response_unix_ms",
    "device_uptime_ms",
    "in_octets",
    "out_octets",
    "counter_bits",
]


@dataclass
class Memory:
    """Per network: what the previous cycles showed."""

    samples: pd.DataFrame | None = None  # interfaces: the last counters per interface
    judged: set[tuple[str, str]] = field(default_factory=set)  # interfaces with a rate now
    oper: dict[tuple[str, str], str] = field(default_factory=dict)
    bgp: dict[tuple[str, str], str] = field(default_factory=dict)


def subjects(dataset: str, frame: pd.DataFrame) -> set[tuple[str, str]]:
    """Every (device, subject) the frame has: a subject gone from a device that
    answered clears its alerts."""
    return set(zip(frame["device"], _subject(dataset, frame), strict=True)) if len(frame) else set()


def _subject(dataset: str, f: pd.DataFrame) -> pd.Series:
    if dataset == "interfaces":
        name = f["if_name"].fillna(f["if_descr"]).fillna("")
        return "if_index=" + f["if_index"].astype(str) + " " + name.astype(str)
    if dataset == "bgp":
        return "peer=" + f["peer_address"].astype(str)
    if dataset == "health":
        return f["component_kind"].astype(str) + "=" + f["component_index"].astype(str)
    if dataset == "sensors":
        return f["sensor_class"].astype(str) + "=" + f["sensor_index"].astype(str)
    return pd.Series([""] * len(f), index=f.index, dtype=object)


Judged = set[tuple[str, str]]  # the subjects whose condition is known this cycle


def evaluate(rule: Rule, frame: pd.DataFrame, mem: Memory) -> tuple[Hits, Judged]:
    """The hits, and every subject the rule could judge this cycle: a raised
    alert is cleared only when its subject was judged and is not a hit (an
    interface with no rate yet, e.g. the first cycle after a restart, is
    not judged, so its alert stays as it is)."""
    if frame.empty:
        return {}, set()
    hits = _evaluate(rule, frame, mem)
    subj = _subject(rule.dataset, frame)
    pairs = zip(frame["device"], subj, strict=True)
    if isinstance(rule, UtilisationAbove):
        return hits, mem.judged
    if isinstance(rule, OperDown):  # normal again: up, or taken down on purpose
        ok = (frame["oper_status"] == "up") | (frame["admin_status"] != "up")
        return hits, {p for p, good in zip(pairs, ok, strict=True) if good} | set(hits)
    if isinstance(rule, BgpLeftEstablished):
        ok = (frame["state"] == "established") | (frame["admin_status"] == "stop")
        return hits, {p for p, good in zip(pairs, ok, strict=True) if good} | set(hits)
    return hits, set(pairs)


def _evaluate(rule: Rule, frame: pd.DataFrame, mem: Memory) -> Hits:
    subj = _subject(rule.dataset, frame)
    if isinstance(rule, UtilisationAbove):
        return _utilisation(rule, frame, mem)
    if isinstance(rule, OperDown):
        hits: Hits = {}
        for dev, s, oper, admin in zip(
            frame["device"], subj, frame["oper_status"], frame["admin_status"], strict=True
        ):
            was = mem.oper.get((dev, s))
            if oper == "down" and admin == "up" and was in ("up", "down*"):
                hits[(dev, s)] = (None, f"{s.strip()} is down (was up), admin up")
                mem.oper[(dev, s)] = "down*"  # down after up: stays alertable
            else:
                mem.oper[(dev, s)] = str(oper)
        return hits
    if isinstance(rule, BgpLeftEstablished):
        hits = {}
        for dev, s, state, admin in zip(
            frame["device"], subj, frame["state"], frame["admin_status"], strict=True
        ):
            was = mem.bgp.get((dev, s))
            left = state != "established" and admin != "stop" and was in ("established", "left")
            if left:
                hits[(dev, s)] = (None, f"BGP {s} is {state} (was established)")
            mem.bgp[(dev, s)] = "left" if left else str(state)
        return hits
    if isinstance(rule, CpuAbove | MemoryAbove):
        kind, col = ("cpu", "cpu_util_pct") if isinstance(rule, CpuAbove) else ("memory", "")
        part = frame[frame["component_kind"] == kind]
        if kind == "memory":
            used = part["memory_used_octets"].astype("Float64")
            total = part["memory_total_octets"].astype("Float64")
            values = part["memory_util_pct"].astype("Float64").fillna(used * 100 / total)
        else:
            values = part[col].astype("Float64")
        return {
            (dev, s): (float(v), f"{s} at {v:.1f} % (above {rule.threshold_pct:g} %)")
            for dev, s, v in zip(part["device"], subj[part.index], values, strict=True)
            if not pd.isna(v) and v > rule.threshold_pct
        }
    if isinstance(rule, SensorOutside):
        lo, hi = (
            ("low_critical", "high_critical")
            if rule.level == "critical"
            else ("low_warning", "high_warning")
        )
        hits = {}
        for dev, s, v, low, high, unit in zip(
            frame["device"], subj, frame["value"], frame[lo], frame[hi], frame["unit"], strict=True
        ):
            if pd.isna(v):
                continue
            if not pd.isna(high) and v > high:
                hits[(dev, s)] = (float(v), f"{s} at {v:g} {unit} above {high:g}")
            elif not pd.isna(low) and v < low:
                hits[(dev, s)] = (float(v), f"{s} at {v:g} {unit} below {low:g}")
        return hits
    return {}


def _utilisation(rule: UtilisationAbove, frame: pd.DataFrame, mem: Memory) -> Hits:
    prev, mem.samples = mem.samples, frame[_IF_KEEP]
    mem.judged = set()
    if prev is None:
        return {}
    rates = interface_rates(prev, frame)
    subj = _subject("interfaces", rates)
    mem.judged = {
        (d, s)
        for d, s, u in zip(rates["device"], subj, rates["util_pct"], strict=True)
        if not pd.isna(u)
    }
    return {
        (dev, s): (float(u), f"{s.strip()} at {u:.1f} % (above {rule.threshold_pct:g} %)")
        for dev, s, u in zip(rates["device"], subj, rates["util_pct"], strict=True)
        if not pd.isna(u) and u > rule.threshold_pct
    }
