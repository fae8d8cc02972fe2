"""A test application on ``on_cycle``: it logs every cycle it is handed, so
tests can count cycles and the records in them across instances."""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import pandas as pd

from applications.api import Application, AppSettings


class CycleLogSettings(AppSettings):
    log_dir: Path = Path("var/cycles")
    # Die (os._exit, as a SIGKILL would) inside on_cycle when this file exists,
    # after writing "<pid>.dying": a test makes an instance die mid-cycle.
    die_when: Path | None = None
    raise_when: Path | None = None  # raise inside on_cycle when this file exists


class CycleLogApp(Application):
    """Appends one line per record of each cycle it is handed to
    ``<log_dir>/<pid>.log``: ``network dataset cycle_id complete record_id``
    (a cycle with no record: ``-`` as id), fsynced before returning."""

    name: ClassVar[str] = "test-cycles"
    Settings = CycleLogSettings
    default_datasets: ClassVar[list[str]] = ["interfaces"]

    async def on_cycle(self, network: str, dataset: str, frame: pd.DataFrame) -> None:
        cfg: CycleLogSettings = self.settings  # type: ignore[assignment]
        cfg.log_dir.mkdir(parents=True, exist_ok=True)
        if cfg.raise_when is not None and cfg.raise_when.exists():
            raise RuntimeError(f"test-cycles: told to fail in cycle {frame.attrs['cycle_id']}")
        if cfg.die_when is not None and cfg.die_when.exists():
            (cfg.log_dir / f"{os.getpid()}.dying").write_text(frame.attrs["cycle_id"])
            os._exit(9)
        head = f"{network} {dataset} {frame.attrs['cycle_id']} {int(frame.attrs['complete'])}"
        ids = list(frame["record_id"]) if len(frame) else ["-"]
        with open(cfg.log_dir / f"{os.getpid()}.log", "a") as fh:
            fh.writelines(f"{head} {rid}\n" for rid in ids)
            fh.flush()
            os.fsync(fh.fileno())


def cycle_lines(log_dir: Path) -> list[list[str]]:
    """Every logged line of every instance, split."""
    return [
        line.split() for f in sorted(log_dir.glob("*.log")) for line in f.read_text().splitlines()
    ]
