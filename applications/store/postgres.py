"""The PostgreSQL target of the store: one table per dataset, typed columns
from the cycle frame, upserted by ``record_id``.

Guarantees: one transaction per cycle, committed before ``on_cycle``
returns (so before the runner commits the bus offsets); ``record_id`` is the
primary key and rows are upserted, so a cycle delivered again after a crash
leaves exactly one row per record: the table holds exactly what was sent.
Columns follow the frame (``Int64`` -> ``bigint``, counters past 2**63 ->
``numeric``, ``Float64`` -> ``double precision``, strings and enumerations ->
``text``); a column new in a later cycle is added.  Cycle markers go to
``cycles`` keyed by ``cycle_id``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql

from bus.records import CycleComplete

log = logging.getLogger(__name__)

_TYPES = {
    "Int64": "bigint",
    "int64": "bigint",
    "UInt64": "numeric",
    "Float64": "double precision",
    "float64": "double precision",
    "boolean": "boolean",
    "bool": "boolean",
}


class StoreError(RuntimeError):
    """The store's target cannot be used; the message names it, never a password."""


def _pg_type(dtype: Any) -> str:
    return _TYPES.get(str(dtype), "text")


def _value(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return None
    if hasattr(v, "item"):  # numpy scalars
        return v.item()
    return v


class PostgresStore:
    def __init__(self, dsn: str, where: str) -> None:
        self._dsn = dsn
        self.where = where  # how errors name the target (no password)
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._columns: dict[str, set[str]] = {}
        self.rows = 0

    async def start(self) -> None:
        try:
            self._conn = await psycopg.AsyncConnection.connect(self._dsn, connect_timeout=10)
        except psycopg.Error as exc:
            raise StoreError(
                f"store: PostgreSQL {self.where}: cannot connect: {_first(exc)}"
            ) from None

    async def stop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    def _live(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None:
            raise StoreError(f"store: PostgreSQL {self.where}: not connected")
        return self._conn

    async def write_cycle(
        self, dataset: str, frame: pd.DataFrame, marker: CycleComplete | None
    ) -> None:
        conn = self._live()
        try:
            async with conn.transaction():
                if not frame.empty:
                    cols = {c: _pg_type(t) for c, t in frame.dtypes.items()}
                    await self._ensure(dataset, cols, "record_id")
                    rows = [
                        tuple(_value(v) for v in row)
                        for row in frame.itertuples(index=False, name=None)
                    ]
                    await self._upsert(dataset, list(frame.columns), rows, "record_id")
                    self.rows += len(rows)
                if marker is not None:
                    m = {
                        f: getattr(marker, f)
                        for f in marker.__struct_fields__
                        if f not in ("schema_version", "partition")
                    }
                    m["failures"] = json.dumps(marker.failures, sort_keys=True)
                    cols = {k: ("bigint" if isinstance(v, int) else "text") for k, v in m.items()}
                    await self._ensure("cycles", cols, "cycle_id")
                    await self._upsert("cycles", list(m), [tuple(m.values())], "cycle_id")
        except psycopg.Error as exc:
            raise StoreError(
                f"store: PostgreSQL {self.where}: writing {dataset}: {_first(exc)}"
            ) from None

    async def _ensure(self, table: str, cols: dict[str, str], key: str) -> None:
        known = self._columns.get(table)
        if known is not None and set(cols) <= known:
            return
        conn = self._live()
        t = sql.Identifier(table)
        await conn.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} ({} text PRIMARY KEY)").format(
                t, sql.Identifier(key)
            )
        )
        for name, pg in cols.items():
            if name != key:
                await conn.execute(
                    sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} " + pg).format(
                        t, sql.Identifier(name)
                    )
                )
        self._columns[table] = (known or set()) | set(cols)

    async def _upsert(
        self, table: str, cols: list[str], rows: list[tuple[Any, ...]], key: str
    ) -> None:
        conn = self._live()
        tmp = sql.Identifier(f"_in_{table}")
        names = sql.SQL(", ").join(map(sql.Identifier, cols))
        await conn.execute(
            sql.SQL("CREATE TEMP TABLE {} (LIKE {}) ON COMMIT DROP").format(
                tmp, sql.Identifier(table)
            )
        )
        async with conn.cursor() as cur:
            async with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(tmp, names)) as copy:
                for row in rows:
                    await copy.write_row(row)
            update = sql.SQL(", ").join(
                sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c))
                for c in cols
                if c != key
            )
            await cur.execute(
                sql.SQL(
                    "INSERT INTO {t} ({n}) SELECT DISTINCT ON ({k}) {n} FROM {tmp} "
                    "ON CONFLICT ({k}) DO UPDATE SET {u}"
                ).format(t=sql.Identifier(table), n=names, k=sql.Identifier(key), tmp=tmp, u=update)
            )


def _first(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
