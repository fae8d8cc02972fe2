"""What the report reads from the store (:mod:`applications.store.parquet`
layout), through DuckDB: filtered by network and time in the query, one row
per record id (a record stored twice counts once)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from applications.analysis import interface_rates


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.con = duckdb.connect()

    def datasets(self) -> set[str]:
        root = self.path / "parquet"
        return {d.name for d in root.iterdir() if d.is_dir()} if root.is_dir() else set()

    def read(
        self, dataset: str, networks: list[str], t0_ms: int, t1_ms: int, columns: str = "*"
    ) -> pd.DataFrame:
        """Rows of ``dataset`` of ``networks`` (globs) scheduled in [t0, t1)."""
        if dataset not in self.datasets():
            return pd.DataFrame()
        glob = (self.path / "parquet" / dataset / "**" / "*.parquet").as_posix().replace("'", "''")
        key = "cycle_id" if dataset == "cycles" else "record_id"
        nets = " OR ".join("network GLOB ?" for _ in networks) or "TRUE"
        q = (
            f"SELECT {columns} FROM read_parquet('{glob}', hive_partitioning=true, "
            f"union_by_name=true) WHERE ({nets}) AND scheduled_unix_ms >= ? AND "
            f"scheduled_unix_ms < ? QUALIFY row_number() OVER (PARTITION BY {key}) = 1 "
            "ORDER BY scheduled_unix_ms"
        )
        return self.con.execute(q, [*networks, t0_ms, t1_ms]).df()


def series_rates(ifaces: pd.DataFrame) -> pd.DataFrame:
    """Rates between consecutive samples of each interface over many cycles
    (:func:`applications.analysis.interface_rates` on each pair)."""
    if ifaces.empty:
        return pd.DataFrame()
    key = ["network", "device", "if_index"]
    df = ifaces.sort_values([*key, "response_unix_ms"]).reset_index(drop=True)
    df["_seq"] = df.groupby(key).cumcount()
    cur = df.copy()
    prev = df.copy()
    cur["if_index"] = cur["if_index"].astype(str) + "@" + cur["_seq"].astype(str)
    prev["if_index"] = prev["if_index"].astype(str) + "@" + (prev["_seq"] + 1).astype(str)
    for frame in (cur, prev):
        for col in ("device_uptime_ms", "in_octets", "out_octets", "counter_bits", "speed_bps"):
            if col not in frame:
                frame[col] = pd.NA
            frame[col] = frame[col].astype("Float64") if col == "speed_bps" else frame[col]
    out = interface_rates(prev, cur)
    out["if_index"] = out["if_index"].str.rsplit("@", n=1).str[0]
    return out.drop(columns=["_seq"])
