"""The ``interface-utilisation`` application.

For every interface record it computes in/out bit rates against the previous
sample of the same interface (see :mod:`.rates`).  When the cycle markers of
every partition this instance owns have arrived for a cycle, it reports the
top-N busiest interfaces of that network for that cycle (by the larger of
in and out utilisation, then by rate) to stdout and appends them to
``output`` (``.csv``: one file; ``.parquet``: a folder with one file per
cycle).  With several instances each reports the interfaces of its own
partitions.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import ClassVar, TextIO

import pandas as pd
from pydantic import Field

from applications.api import Application, AppSettings, Batch
from applications.utilisation.rates import Sample, rates
from bus.records import CycleComplete, Record
from bus.topics import topic_name

log = logging.getLogger(__name__)

COLUMNS = [
    "network",
    "cycle_id",
    "scheduled_unix_ms",
    "device",
    "if_index",
    "if_name",
    "speed_bps",
    "in_bps",
    "out_bps",
    "in_util_pct",
    "out_util_pct",
    "util_pct",
    "elapsed_s",
]


class UtilisationSettings(AppSettings):
    top_n: int = Field(10, ge=1, le=10_000)
    output: Path | None = Path("var/interface-utilisation.csv")
    print_reports: bool = True


class InterfaceUtilisation(Application):
    name: ClassVar[str] = "interface-utilisation"
    Settings = UtilisationSettings
    default_datasets: ClassVar[list[str]] = ["interfaces"]

    def __init__(
        self, settings: UtilisationSettings | None = None, out: TextIO | None = None
    ) -> None:
        super().__init__(settings)
        self.cfg: UtilisationSettings = self.settings  # type: ignore[assignment]
        self.out = out or sys.stdout
        self._last: dict[tuple[str, str, str], Sample] = {}
        self._rows: dict[str, list[dict[str, object]]] = {}
        self._markers: dict[str, set[int]] = {}
        self._reported: set[str] = set()
        self.reports: list[pd.DataFrame] = []

    async def handle(self, batch: Batch) -> None:
        for item in batch.items:
            msg = item.message
            if isinstance(msg, Record):
                if msg.dataset == "interfaces":
                    self._record(msg)
            elif isinstance(msg, CycleComplete) and msg.dataset == "interfaces":
                self._marker(msg, item.partition)  # (quarantined records are not its business)

    def _record(self, r: Record) -> None:
        f = r.fields
        if_index = r.tags.get("if_index", "")
        key = (r.network, r.device, if_index)
        cur = Sample(
            r.response_unix_ms,
            r.device_uptime_ms,
            _int(f.get("in_octets")),
            _int(f.get("out_octets")),
            _int(f.get("counter_bits")),
            _int(f.get("speed_bps")),
        )
        prev = self._last.get(key)
        if prev is not None and prev.unix_ms >= cur.unix_ms:
            return  # a re-delivered or older sample: keep the newest
        self._last[key] = cur
        if prev is None:
            return
        in_bps, out_bps, dt = rates(prev, cur)
        if in_bps is None and out_bps is None:
            return
        speed = cur.speed_bps or 0
        in_u = in_bps * 100 / speed if speed and in_bps is not None else None
        out_u = out_bps * 100 / speed if speed and out_bps is not None else None
        self._rows.setdefault(r.cycle_id, []).append(
            {
                "network": r.network,
                "cycle_id": r.cycle_id,
                "scheduled_unix_ms": r.scheduled_unix_ms,
                "device": r.device,
                "if_index": if_index,
                "if_name": r.tags.get("if_name"),
                "speed_bps": cur.speed_bps,
                "in_bps": in_bps,
                "out_bps": out_bps,
                "in_util_pct": in_u,
                "out_util_pct": out_u,
                "util_pct": max((u for u in (in_u, out_u) if u is not None), default=None),
                "elapsed_s": dt,
            }
        )

    def _marker(self, m: CycleComplete, partition: int) -> None:
        if m.cycle_id in self._reported:
            return
        seen = self._markers.setdefault(m.cycle_id, set())
        seen.add(partition)
        owned = self.ctx.owned_partitions(topic_name(self.ctx.topic_prefix, m.network, m.dataset))
        if not ((owned and owned <= seen) or len(seen) >= m.partitions):
            return  # markers of other partitions we own are still to come
        self._reported.add(m.cycle_id)
        if len(self._reported) > 10_000:
            self._reported.clear()  # old cycles only matter for re-deliveries
        self._markers.pop(m.cycle_id, None)
        self.report(m, self._rows.pop(m.cycle_id, []))

    def report(self, m: CycleComplete, rows: list[dict[str, object]]) -> pd.DataFrame:
        df = pd.DataFrame(rows, columns=COLUMNS)
        if not df.empty:
            df["_rank"] = df["util_pct"].fillna(-1.0)
            df["_bps"] = df[["in_bps", "out_bps"]].max(axis=1)
            df = df.sort_values(["_rank", "_bps"], ascending=False).drop(columns=["_rank", "_bps"])
        top = df.head(self.cfg.top_n).reset_index(drop=True)
        self.reports.append(top)
        if self.cfg.print_reports:
            self._print(m, top)
        if self.cfg.output is not None and not top.empty:
            self._write(m, top)
        return top

    def _print(self, m: CycleComplete, top: pd.DataFrame) -> None:
        head = (
            f"== {m.network} interfaces cycle {m.scheduled_unix_ms} | devices ok "
            f"{m.devices_ok}/{m.devices_planned}, failed {m.devices_failed}, timed out "
            f"{m.devices_timed_out} | top {len(top)} by utilisation"
        )
        lines = [head]
        for row in top.itertuples(index=False):
            util = "   n/a" if pd.isna(row.util_pct) else f"{row.util_pct:5.1f}%"
            lines.append(
                f"  {row.device:<14} {row.if_name or row.if_index!s:<18} {util}  "
                f"in {_human(row.in_bps)}  out {_human(row.out_bps)}  "
                f"speed {_human(row.speed_bps)}"
            )
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()

    def _write(self, m: CycleComplete, top: pd.DataFrame) -> None:
        path = self.cfg.output
        assert path is not None
        if path.suffix == ".parquet":
            path.mkdir(parents=True, exist_ok=True)
            top.to_parquet(
                path / f"{m.network}-{m.scheduled_unix_ms}-{self.ctx.instance_id}.parquet",
                index=False,
            )
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            top.to_csv(
                path, mode="a", header=not path.exists() or path.stat().st_size == 0, index=False
            )


def _int(v: object) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _human(bps: object) -> str:
    if bps is None or (isinstance(bps, float) and pd.isna(bps)):
        return "     n/a"
    v = float(bps)  # type: ignore[arg-type]
    for unit in ("", "k", "M", "G", "T"):
        if abs(v) < 1000:
            return f"{v:6.1f}{unit}b/s".rjust(9)
        v /= 1000
    return f"{v:6.1f}Pb/s"
