"""Consumer groups as the bus sees them: members, partitions, lag.

:func:`describe_groups` works on both backends and reads only the bus (Kafka's
group coordinator and offsets; the embedded bus's group tables), so it shows
every instance of an application wherever it runs.  Per partition of every
topic the group has a committed position on or is subscribed to: the
committed offset (``None``: nothing committed yet), the end offset, and the
lag: messages from the committed position (or from the oldest message kept,
when nothing is committed) to the end.  Bounded in time; a broker away is a
:class:`~bus.api.BusError`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import defaultdict
from dataclasses import dataclass, field

from bus.api import BusError
from bus.embedded_groups import Subscription, assign
from bus.settings import BusSettings


@dataclass
class PartitionLag:
    topic: str
    partition: int
    committed: int | None
    start: int  # oldest offset kept
    end: int  # next offset to be written
    owner: str | None = None  # member id

    @property
    def lag(self) -> int:
        base = self.committed if self.committed is not None else self.start
        return max(0, self.end - max(base, self.start))


@dataclass
class Member:
    member_id: str
    client_id: str
    host: str
    partitions: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class GroupStatus:
    group: str
    state: str
    members: list[Member]
    partitions: list[PartitionLag]

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    def lag_by_network(self, prefix: str) -> dict[tuple[str, str], int]:
        """(network, dataset) -> lag, from topic names ``<prefix>.<network>.<dataset>``;
        topics of other prefixes under ``("", topic)``."""
        out: dict[tuple[str, str], int] = defaultdict(int)
        for p in self.partitions:
            rest = p.topic.removeprefix(prefix + ".") if p.topic.startswith(prefix + ".") else ""
            network, _, dataset = rest.rpartition(".")
            key = (network, dataset) if network and dataset else ("", p.topic)
            out[key] += p.lag
        return dict(out)

    def to_json(self, prefix: str) -> dict[str, object]:
        return {
            "group": self.group,
            "state": self.state,
            "lag": self.lag,
            "members": [
                {
                    "member_id": m.member_id,
                    "client_id": m.client_id,
                    "host": m.host,
                    "partitions": [f"{t}[{p}]" for t, p in sorted(m.partitions)],
                }
                for m in self.members
            ],
            "lag_by_network": [
                {"network": n, "dataset": d, "lag": lag}
                for (n, d), lag in sorted(self.lag_by_network(prefix).items())
            ],
            "partitions": [
                {
                    "topic": p.topic,
                    "partition": p.partition,
                    "committed": p.committed,
                    "end": p.end,
                    "lag": p.lag,
                    "owner": p.owner,
                }
                for p in sorted(self.partitions, key=lambda p: (p.topic, p.partition))
            ],
        }


async def describe_groups(
    settings: BusSettings, groups: list[str] | None = None
) -> list[GroupStatus]:
    """Every named group (None: every group the bus knows) that exists."""
    if settings.backend == "kafka":
        from bus.groups_kafka import describe_kafka

        return await describe_kafka(settings, groups)
    return await asyncio.to_thread(_describe_embedded, settings, groups)


def _describe_embedded(settings: BusSettings, groups: list[str] | None) -> list[GroupStatus]:
    path = settings.embedded.path
    if not path.exists():
        raise BusError(f"embedded bus {path}: no such file")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as exc:
        raise BusError(f"embedded bus {path}: {exc}") from None
    try:
        return _read_embedded(conn, groups)
    except sqlite3.Error as exc:
        raise BusError(f"embedded bus {path}: {exc}") from None
    finally:
        conn.close()


def _read_embedded(conn: sqlite3.Connection, groups: list[str] | None) -> list[GroupStatus]:
    now = int(time.time() * 1000)
    topics = {
        tid: (name, n) for tid, name, n in conn.execute("SELECT id, name, partitions FROM topics")
    }
    ends = {
        (t, p): o for t, p, o in conn.execute("SELECT topic_id, part, next_offset FROM partitions")
    }
    starts = {
        (t, p): o
        for t, p, o in conn.execute("SELECT topic_id, part, MIN(off) FROM messages GROUP BY 1, 2")
    }
    known = sorted(
        {g for (g,) in conn.execute("SELECT grp FROM group_members")}
        | {g for (g,) in conn.execute("SELECT grp FROM group_offsets")}
    )
    out = []
    for grp in groups if groups is not None else known:
        if grp not in known:
            continue
        members = dict(
            conn.execute(
                "SELECT member_id, subscription FROM group_members WHERE grp=? AND expires_ms>?",
                (grp, now),
            ).fetchall()
        )
        subs = {m: Subscription.from_json(s) for m, s in members.items()}
        sizes = {name: n for name, n in topics.values()}
        owned = assign(subs, sizes)
        owner = {tp: m for m, tps in owned.items() for tp in tps}
        committed = {
            (topics[t][0], p): o
            for t, p, o in conn.execute(
                "SELECT topic_id, part, off FROM group_offsets WHERE grp=?", (grp,)
            )
            if t in topics
        }
        wanted = set(committed) | set(owner)
        by_name = {name: tid for tid, (name, _) in topics.items()}
        parts = [
            PartitionLag(
                t,
                p,
                committed.get((t, p)),
                starts.get((by_name[t], p), ends.get((by_name[t], p), 0)),
                ends.get((by_name[t], p), 0),
                owner.get((t, p)),
            )
            for t, p in sorted(wanted)
        ]
        out.append(
            GroupStatus(
                grp,
                "Stable" if members else "Empty",
                [Member(m, m.rsplit("-", 2)[0], "", sorted(owned.get(m, set()))) for m in members],
                parts,
            )
        )
    return out
