"""The ``store`` application: every record of the subscribed networks and
datasets, and every cycle marker, replicated into the analyst's own store.

Targets (``target``):

- ``parquet`` (default, embedded): Parquet files partitioned by dataset,
  network and date, and a DuckDB database of views over them
  (:mod:`applications.store.parquet`): ``duckdb var/store/netfeed.duckdb
  "select * from interfaces"``, or pandas on the folder;
- ``postgres``: tables upserted by record id (:mod:`applications.store.postgres`);
  the connection string comes from an environment variable (``dsn_env``) or a
  file (``dsn_file``), never from the configuration itself or the logs.

It works per cycle (``on_cycle``): one write per network, dataset and cycle,
durable before ``on_cycle`` returns, so the runner commits only what is
stored (at least once; the views and the upserts make duplicates invisible).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar, Literal
from urllib.parse import urlsplit

import pandas as pd
from pydantic import model_validator

from applications.api import AppContext, Application, AppSettings
from applications.store.parquet import ParquetStore
from applications.store.postgres import PostgresStore, StoreError
from bus.datasets import DATASETS


class StoreSettings(AppSettings):
    target: Literal["parquet", "postgres"] = "parquet"
    path: Path = Path("var/store")  # parquet: relative to the config folder
    dsn_env: str | None = None  # postgres: the variable holding the connection string
    dsn_file: Path | None = None  # postgres: or a file holding it

    @model_validator(mode="after")
    def _target_has_what_it_needs(self) -> StoreSettings:
        if self.target == "postgres" and (self.dsn_env is None) == (self.dsn_file is None):
            raise ValueError("target postgres: give exactly one of dsn_env and dsn_file")
        return self


class Store(Application):
    name: ClassVar[str] = "store"
    Settings = StoreSettings
    default_datasets: ClassVar[list[str]] = sorted(DATASETS)

    def __init__(self, settings: StoreSettings | None = None) -> None:
        super().__init__(settings)
        self.cfg: StoreSettings = self.settings  # type: ignore[assignment]
        self.parquet: ParquetStore | None = None
        self.postgres: PostgresStore | None = None

    async def start(self, ctx: AppContext) -> None:
        await super().start(ctx)
        if self.cfg.target == "parquet":
            self.parquet = ParquetStore(self.cfg.path)
            self.parquet.start()
            return
        dsn, where = _dsn(self.cfg)
        self.postgres = PostgresStore(dsn, where)
        await self.postgres.start()

    async def on_cycle(self, network: str, dataset: str, frame: pd.DataFrame) -> None:
        marker = frame.attrs.get("marker")
        if self.parquet is not None:
            self.parquet.write_cycle(network, dataset, frame)
            if marker is not None:
                self.parquet.write_marker(marker)
        elif self.postgres is not None:
            await self.postgres.write_cycle(dataset, frame, marker)

    async def stop(self) -> None:
        if self.postgres is not None:
            await self.postgres.stop()


def _dsn(cfg: StoreSettings) -> tuple[str, str]:
    """The connection string and how to name it in messages (no password)."""
    if cfg.dsn_env is not None:
        dsn = os.environ.get(cfg.dsn_env, "")
        if not dsn:
            raise StoreError(f"store: environment variable {cfg.dsn_env} is not set or empty")
    else:
        assert cfg.dsn_file is not None
        try:
            dsn = cfg.dsn_file.read_text().strip()
        except OSError as exc:
            raise StoreError(f"store: dsn_file {cfg.dsn_file}: {exc.strerror}") from None
    try:
        u = urlsplit(dsn)
        where = f"{u.hostname or 'localhost'}:{u.port or 5432}{u.path}" if u.scheme else "(dsn)"
    except ValueError:
        where = "(dsn)"
    return dsn, where
