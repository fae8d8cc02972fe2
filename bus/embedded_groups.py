"""Consumer-group logic of the embedded bus, free of I/O: who owns which
partition, and how one poll's record budget is shared between partitions."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

TP = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Subscription:
    """Exact topic names, or a regex matched with ``re.match``."""

    topics: frozenset[str] | None = None
    pattern: str | None = None

    def matches(self, topic: str) -> bool:
        if self.topics is not None:
            return topic in self.topics
        return regex(self.pattern or "").match(topic) is not None

    def to_json(self) -> str:
        if self.topics is not None:
            return json.dumps({"topics": sorted(self.topics)})
        return json.dumps({"pattern": self.pattern})

    @staticmethod
    @lru_cache(maxsize=1024)
    def from_json(text: str) -> Subscription:
        data = json.loads(text)
        if "topics" in data:
            return Subscription(topics=frozenset(data["topics"]))
        return Subscription(pattern=data["pattern"])


@lru_cache(maxsize=256)
def regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def assign(members: Mapping[str, Subscription], topics: Mapping[str, int]) -> dict[str, set[TP]]:
    """Round-robin assignment of every subscribed (topic, partition), as Kafka's
    RoundRobinAssignor: partitions in sorted order are dealt to the sorted
    members in turn, skipping members not subscribed to that topic.  A pure
    function of its inputs, so members that see the same table agree."""
    ids = sorted(members)
    out: dict[str, set[TP]] = {m: set() for m in ids}
    turn = 0
    for topic in sorted(topics):
        subscribed = {m for m in ids if members[m].matches(topic)}
        if not subscribed:
            continue
        for part in range(topics[topic]):
            while ids[turn % len(ids)] not in subscribed:
                turn += 1
            out[ids[turn % len(ids)]].add((topic, part))
            turn += 1
    return out


def fair_quotas(avail: Mapping[TP, int], limit: int, rotate: int) -> dict[TP, int]:
    """Split ``limit`` over partitions by water-filling: each gets an equal share,
    and what a partition cannot use goes to the others.  ``rotate`` moves who is
    served first when there is less than one message each."""
    order = sorted(avail)
    if order:
        r = rotate % len(order)
        order = order[r:] + order[:r]
    quotas: dict[TP, int] = {}
    left = limit
    by_need = sorted(order, key=lambda tp: avail[tp])  # stable: keeps rotation on ties
    for i, tp in enumerate(by_need):
        share = -(-left // (len(by_need) - i))
        quotas[tp] = q = min(avail[tp], share)
        left -= q
    return quotas
