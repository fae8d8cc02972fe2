"""The broker the outage tests may stop and freeze: never the shared one.

scripts/test starts a second broker and names it by NETFEED_OUTAGE_KAFKA_PORT and
NETFEED_OUTAGE_KAFKA_RUN; by hand::

    NETFEED_KAFKA_PORT=19192 NETFEED_RUN=/tmp/outage-run NETFEED_KAFKA_SASL=0 \
        scripts/kafka.sh start
    NETFEED_OUTAGE_KAFKA_PORT=19192 NETFEED_OUTAGE_KAFKA_RUN=/tmp/outage-run pytest ...

Without both variables the tests that use it are skipped (:data:`needs_outage_broker`).
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PORT = os.environ.get("NETFEED_OUTAGE_KAFKA_PORT")
RUN = os.environ.get("NETFEED_OUTAGE_KAFKA_RUN")
BOOTSTRAP = f"127.0.0.1:{PORT}"

needs_outage_broker = pytest.mark.skipif(
    not (PORT and RUN),
    reason="needs a broker of its own: NETFEED_OUTAGE_KAFKA_PORT and NETFEED_OUTAGE_KAFKA_RUN "
    "(see tests/support/outage_broker.py); never the shared one",
)


def kafka_sh(cmd: str) -> None:
    """``scripts/kafka.sh cmd`` on the outage broker (no SASL listener); raises if it fails."""
    env = dict(
        os.environ, NETFEED_KAFKA_PORT=str(PORT), NETFEED_RUN=str(RUN), NETFEED_KAFKA_SASL="0"
    )
    subprocess.run(
        [str(REPO / "scripts" / "kafka.sh"), cmd],
        env=env,
        check=True,
        capture_output=True,
        timeout=180,
    )


def broker_pid() -> int:
    return int((Path(str(RUN)) / "kafka" / "kafka.pid").read_text())


@contextmanager
def broker_restored() -> Iterator[None]:
    """Whatever a test did to the broker, it runs again (and is not frozen) afterwards."""
    try:
        yield
    finally:
        try:
            os.kill(broker_pid(), signal.SIGCONT)
        except (OSError, ValueError):
            pass
        kafka_sh("start")  # a no-op when it runs
