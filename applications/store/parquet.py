"""The embedded store: Parquet files partitioned by dataset, network and date,
plus a DuckDB database of views over them.

Layout under ``path``::

    parquet/<dataset>/network=<network>/date=<YYYY-MM-DD>/<cycle>-<uuid>.parquet
    parquet/cycles/network=<network>/date=<YYYY-MM-DD>/...   (cycle markers)
    netfeed.duckdb                                            (one view per dataset)

Guarantees: a file appears whole or not at all (written to a temporary name,
fsynced, renamed, folder fsynced), so a crash never leaves half a file; a
record delivered twice (at-least-once) may be in two files, and the views
show it once (one row per ``record_id``; one row per ``cycle_id`` for
``cycles``).  ``network`` and ``date`` are the hive partition columns.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from bus.records import CycleComplete

log = logging.getLogger(__name__)

CYCLES = "cycles"


def day(unix_ms: int) -> str:
    return datetime.fromtimestamp(unix_ms / 1000, UTC).strftime("%Y-%m-%d")


class ParquetStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = path / "netfeed.duckdb"
        self._views: set[str] = set()
        self.files = 0
        self.rows = 0

    def start(self) -> None:
        (self.path / "parquet").mkdir(parents=True, exist_ok=True)
        for d in sorted((self.path / "parquet").iterdir()):
            if d.is_dir():
                self._views.add(d.name)
        self.refresh_views()

    def write_cycle(self, network: str, dataset: str, frame: pd.DataFrame) -> None:
        """The records of one cycle (one file per date they fall on)."""
        if frame.empty:
            return
        days = frame["scheduled_unix_ms"].map(day)
        for date, part in frame.groupby(days, sort=True):
            self._write(dataset, network, str(date), part.drop(columns=["network"]))
        self._new_view(dataset)

    def write_marker(self, m: CycleComplete) -> None:
        row = {
            f: getattr(m, f)
            for f in m.__struct_fields__
            if f not in ("network", "failures", "schema_version")
        }
        row["failures"] = json.dumps(m.failures, sort_keys=True)
        self._write(CYCLES, m.network, day(m.scheduled_unix_ms), pd.DataFrame([row]))
        self._new_view(CYCLES)

    def _write(self, dataset: str, network: str, date: str, frame: pd.DataFrame) -> None:
        folder = self.path / "parquet" / dataset / f"network={network}" / f"date={date}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{int(frame['scheduled_unix_ms'].iloc[0])}-{uuid.uuid4().hex[:12]}.parquet"
        tmp = folder / f".{name}.tmp"
        frame = frame.copy(deep=False)
        frame.attrs = {}  # (the cycle's marker and units are not file metadata)
        frame.to_parquet(tmp, index=False)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, folder / name)
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        self.files += 1
        self.rows += len(frame)

    def _new_view(self, dataset: str) -> None:
        if dataset not in self._views:
            self._views.add(dataset)
            self.refresh_views()

    def refresh_views(self) -> None:
        """(Re)create one view per dataset folder.  A database another process
        holds open is retried at the next new dataset (and at every start)."""
        try:
            con = duckdb.connect(str(self.db))
        except duckdb.Error as exc:
            log.warning("store: %s busy, views not refreshed now: %s", self.db, exc)
            return
        try:
            for dataset in sorted(self._views):
                glob = (self.path / "parquet" / dataset / "**" / "*.parquet").as_posix()
                glob = glob.replace("'", "''")  # a quote in the path stays a quote
                key = "cycle_id" if dataset == CYCLES else "record_id"
                con.execute(
                    f'CREATE OR REPLACE VIEW "{dataset}" AS SELECT * FROM read_parquet('
                    f"'{glob}', hive_partitioning=true, union_by_name=true) "
                    f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY network) = 1"
                )
        finally:
            con.close()
