"""The ``interface-utilisation`` application, on ``on_cycle``.

For every interfaces cycle of a network it computes in/out bit rates and
utilisation against the interface's previous sample (the network's previous
cycle, :func:`applications.analysis.interface_rates`: wraps, reboots and
resets give no rate, never a made-up one), and reports:

- the top-N busiest interfaces of that network in that cycle (by the larger
  of in and out utilisation, then by rate), ``scope`` = the network;
- the top-N across every network in one view, ``scope`` = ``all``: the latest
  cycle's top-N of each network this instance has seen, merged and re-ranked,
  refreshed each time a network's cycle completes.

Reports go to stdout and are appended to ``output`` (``.csv``: one file;
``.parquet``: a folder with one file per report).  State is one previous
sample per interface and one top-N per network.  With several instances each
reports the interfaces of its own partitions.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import ClassVar, TextIO

import pandas as pd
from pydantic import Field

from applications.analysis import interface_rates
from applications.api import Application, AppSettings
from bus.records import CycleComplete

log = logging.getLogger(__name__)

COLUMNS = [
    "scope",
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
_KEEP = [
    "network",
    "device",
    "if_index",
    "response_unix_ms",
    "device_uptime_ms",
    "in_octets",
    "out_octets",
    "counter_bits",
]


class UtilisationSettings(AppSettings):
    top_n: int = Field(10, ge=1, le=10_000)
    output: Path | None = Path("var/interface-utilisation.csv")
    print_reports: bool = True
    across_networks: bool = True  # also the combined top-N of every network


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
        self._prev: dict[str, pd.DataFrame] = {}  # network -> previous samples
        self._top: dict[str, pd.DataFrame] = {}  # network -> its latest top-N
        self.reports: list[pd.DataFrame] = []  # per-network reports, in order
        self.across: pd.DataFrame = pd.DataFrame(columns=COLUMNS)

    async def on_cycle(self, network: str, dataset: str, frame: pd.DataFrame) -> None:
        marker: CycleComplete | None = frame.attrs.get("marker")
        prev = self._prev.get(network)
        rows = frame.iloc[0:0] if prev is None else interface_rates(prev, frame)
        # The newest sample of each interface: this cycle's, or the older one
        # when this cycle did not have it (a device that failed: its next rate
        # spans the gap).
        keep = frame[_KEEP]
        if prev is not None:
            keep = pd.concat([prev[~_in(prev, keep)], keep], ignore_index=True)
        self._prev[network] = keep
        top = self._rank(rows, network).head(self.cfg.top_n).reset_index(drop=True)
        top.insert(0, "scope", network)
        self._top[network] = top
        self.report(network, frame.attrs.get("cycle_id", ""), marker, top)
        if self.cfg.across_networks and len(self._top) > 1:
            tops = [t for t in self._top.values() if not t.empty]
            merged = pd.concat(tops, ignore_index=True) if tops else pd.DataFrame(columns=COLUMNS)
            across = self._rank(merged, network).head(self.cfg.top_n).reset_index(drop=True)
            across.insert(0, "scope", "all")
            self.across = across
            if self.cfg.print_reports:
                self._print(f"== all networks ({len(self._top)}) | top {len(across)}", across)
            if self.cfg.output is not None and not across.empty:
                self._write("all", marker, across)

    @staticmethod
    def _rank(rows: pd.DataFrame, network: str) -> pd.DataFrame:
        if rows.empty:
            return pd.DataFrame(columns=COLUMNS[1:])
        df = rows.reindex(columns=COLUMNS[1:]).copy()
        df["_rank"] = df["util_pct"].astype("Float64").fillna(-1.0)
        df["_bps"] = df[["in_bps", "out_bps"]].astype("Float64").max(axis=1)
        return df.sort_values(["_rank", "_bps"], ascending=False).drop(columns=["_rank", "_bps"])

    def report(
        self, network: str, cycle_id: str, m: CycleComplete | None, top: pd.DataFrame
    ) -> pd.DataFrame:
        self.reports.append(top)
        if self.cfg.print_reports:
            when = m.scheduled_unix_ms if m is not None else cycle_id
            health = (
                f"devices ok {m.devices_ok}/{m.devices_planned}, failed {m.devices_failed}, "
                f"timed out {m.devices_timed_out}"
                if m is not None
                else "no marker"
            )
            self._print(
                f"== {network} interfaces cycle {when} | {health} | top {len(top)} by utilisation",
                top,
            )
        if self.cfg.output is not None and not top.empty:
            self._write(network, m, top)
        return top

    def _print(self, head: str, top: pd.DataFrame) -> None:
        lines = [head]
        for row in top.itertuples(index=False):
            util = "   n/a" if pd.isna(row.util_pct) else f"{row.util_pct:5.1f}%"
            name = row.if_name if isinstance(row.if_name, str) else row.if_index
            where = f"{row.network}/{row.device}" if row.scope == "all" else row.device
            lines.append(
                f"  {where:<14} {name!s:<18} {util}  "
                f"in {_human(row.in_bps)}  out {_human(row.out_bps)}  "
                f"speed {_human(row.speed_bps)}"
            )
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()

    def _write(self, scope: str, m: CycleComplete | None, top: pd.DataFrame) -> None:
        path = self.cfg.output
        assert path is not None
        if path.suffix == ".parquet":
            path.mkdir(parents=True, exist_ok=True)
            when = m.scheduled_unix_ms if m is not None else "x"
            top.to_parquet(
                path / f"{scope}-{when}-{self.ctx.instance_id}.parquet",
                index=False,
            )
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            top.to_csv(
                path, mode="a", header=not path.exists() or path.stat().st_size == 0, index=False
            )


def _in(a: pd.DataFrame, b: pd.DataFrame) -> pd.Series:
    """Rows of ``a`` whose interface is also in ``b``."""
    keys = ["network", "device", "if_index"]
    return pd.MultiIndex.from_frame(a[keys].astype(str)).isin(
        pd.MultiIndex.from_frame(b[keys].astype(str))
    )


def _human(bps: object) -> str:
    if bps is None or (isinstance(bps, float) and pd.isna(bps)):
        return "     n/a"
    v = float(bps)  # type: ignore[arg-type]
    for unit in ("", "k", "M", "G", "T"):
        if abs(v) < 1000:
            return f"{v:6.1f}{unit}b/s".rjust(9)
        v /= 1000
    return f"{v:6.1f}Pb/s"
