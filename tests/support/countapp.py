"""Test applications: they record what they receive, so tests can count it."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import ClassVar

from applications.api import Application, AppSettings, Batch
from bus.records import Record, record_id


class CountSettings(AppSettings):
    log_dir: Path = Path("var/count")
    delay_s: float = 0.0  # each handle sleeps this long before writing (a slow application)
    slow_instances: list[str] = []  # instance ids that sleep; empty: every instance


class CountApp(Application):
    """Appends ``topic partition offset kind device id`` per message to
    ``<log_dir>/<pid>.log`` (``id``: the record id, as in the ``netfeed-id``
    header) and fsyncs before returning, so the runner commits only what is on
    disk.  A slow instance appends a line to ``<log_dir>/<pid>.begin`` when it
    starts handling a batch, then sleeps ``delay_s``: a test can stop it in
    the middle of a batch.  Its ``stop`` leaves ``<log_dir>/<pid>.stopped``."""

    name: ClassVar[str] = "test-count"
    Settings = CountSettings
    default_datasets: ClassVar[list[str]] = ["interfaces", "system"]

    async def handle(self, batch: Batch) -> None:
        cfg: CountSettings = self.settings  # type: ignore[assignment]
        cfg.log_dir.mkdir(parents=True, exist_ok=True)
        if cfg.delay_s and (not cfg.slow_instances or self.ctx.instance_id in cfg.slow_instances):
            with open(cfg.log_dir / f"{os.getpid()}.begin", "a") as fh:
                fh.write(f"{len(batch.items)}\n")
            await asyncio.sleep(cfg.delay_s)
        lines = []
        for it in batch.items:
            m = it.message
            kind = "record" if isinstance(m, Record) else "marker"
            dev = m.device if isinstance(m, Record) else "-"
            lines.append(f"{it.topic} {it.partition} {it.offset} {kind} {dev} {record_id(m)}\n")
        with open(cfg.log_dir / f"{os.getpid()}.log", "a") as fh:
            fh.writelines(lines)
            fh.flush()
            os.fsync(fh.fileno())

    async def stop(self) -> None:
        """Leaves ``<log_dir>/<pid>.stopped``: a test sees that stop ran."""
        cfg: CountSettings = self.settings  # type: ignore[assignment]
        cfg.log_dir.mkdir(parents=True, exist_ok=True)
        (cfg.log_dir / f"{os.getpid()}.stopped").write_text("stopped\n")


class CaptureApp(Application):
    """Keeps every decoded message in memory (in-process tests)."""

    name: ClassVar[str] = "test-capture"
    default_datasets: ClassVar[list[str]] = ["interfaces", "system"]

    def __init__(self, settings: AppSettings | None = None) -> None:
        super().__init__(settings)
        self.items: list = []

    async def handle(self, batch: Batch) -> None:
        self.items.extend(batch.items)
