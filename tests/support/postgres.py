"""The test PostgreSQL server (started by scripts/test via scripts/postgres.sh):
a fresh database per test."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

ENV = "NETFEED_PG_DSN_FILE"


def server_dsn() -> str:
    path = os.environ.get(ENV)
    if not path or not Path(path).is_file():
        pytest.fail(
            f"{ENV} is not set or names no file: the PostgreSQL tests need the server "
            "scripts/test starts (scripts/postgres.sh start)"
        )
    return Path(path).read_text().strip()


def fresh_database(tmp_path: Path) -> Path:
    """A new empty database; returns a file holding its DSN (mode 600)."""
    dsn = server_dsn()
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    u = urlsplit(dsn)
    out = tmp_path / "store.dsn"
    out.write_text(urlunsplit(u._replace(path=f"/{name}")))
    out.chmod(0o600)
    return out


def rows(dsn_file: Path, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn_file.read_text().strip()) as conn:
        return conn.execute(query).fetchall()
