"""The spool against the real SASL_SSL listener with a wrong password: the
refusal is said once, plainly (listener, mechanism, user; never a password),
retried slowly, the data stays in the spool, and the next start with the
password fixed in its secret file sends it.  Skips where the listener's
variables are absent (see tests/bus/test_kafka_security.py)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path

import pytest

from bus.factory import make_consumer
from bus.kafka import KafkaProducer
from bus.records import RECORD_ID_HEADER, record_id
from bus.settings import SpoolSettings
from bus.spool import Spool, SpoolStore
from collectors.publish import Publisher
from tests.bus.test_kafka_security import Listener, listener  # noqa: F401 (fixture)
from tests.support.apps import wait_for
from tests.support.messages import marker, rec


async def test_refused_login_said_once_data_kept_and_sent_once_the_password_is_fixed(
    listener: Listener,  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr("bus.spool.REFUSED_BACKOFF_S", (1.0, 2.0))  # the test cannot wait minutes
    secret = tmp_path / "secrets" / "kafka-password"
    secret.parent.mkdir()
    wrong = f"wrong-{uuid.uuid4().hex}"
    secret.write_text(wrong + "\n")
    bus = listener.settings(sasl_password=f"file:{secret}")
    spool_cfg = SpoolSettings(path=tmp_path / "spool", stop_timeout_ms=1000)
    path = tmp_path / "spool" / "c.sqlite3"
    records = [rec(f"d{d}", i, 7, network="sasl") for d in range(4) for i in range(5)]

    spool = Spool(spool_cfg, path, KafkaProducer(bus, client_id="nf-spool-sasl"))
    await spool.start()
    try:
        # the drainer connects as it starts: the refusal is said before anything is spooled
        await wait_for(lambda: spool.stats.refused >= 1, 30, "the refusal at start")
        assert spool.stats.appended == 0
        pub = Publisher(spool.producer, bus.topic_prefix, spool=spool)
        await pub.publish(records)
        await pub.complete_cycle(marker(7, len(records), network="sasl"))
        # three refused logins, a second or two apart
        await wait_for(lambda: spool.stats.refused >= 3, 60, "three refused logins")
        assert spool.stats.depth == len(records) + 1  # nothing sent, nothing lost
    finally:
        await spool.stop()
    ours = [r for r in caplog.records if r.name.startswith("bus.")]
    errors = [r.getMessage() for r in ours if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors  # once, not a flood (at most one a minute)
    msg = errors[0]
    assert "login refused by the broker" in msg, msg
    assert listener.bootstrap in msg and listener.mechanism in msg, msg
    assert repr(listener.username) in msg, msg
    assert "nothing is lost" in msg and "(0 messages" in msg, msg  # said at start
    assert not any("broker unreachable" in r.getMessage() for r in ours)
    for pw in (wrong, listener.password()):
        assert pw not in caplog.text
    store = SpoolStore(path, 1 << 30)
    store.open()
    assert store.depth == len(records) + 1  # kept in the file for the next start
    store.close()

    # The operator fixes the secret file; the next start sends what was spooled.
    secret.write_text(listener.password() + "\n")
    caplog.clear()
    spool = Spool(spool_cfg, path, KafkaProducer(bus, client_id="nf-spool-sasl"))
    await spool.start()
    try:
        await wait_for(lambda: spool.stats.depth == 0, 60, "the spool to be sent")
    finally:
        await spool.stop()
    assert listener.password() not in caplog.text
    want = {record_id(r) for r in records}
    got: set[str] = set()
    consumer = make_consumer(bus, group=None, pattern=rf"^{bus.topic_prefix}\.sasl\.interfaces$")
    async with consumer:
        async with asyncio.timeout(60):
            while not want <= got:
                for m in await consumer.getmany(timeout_ms=500):
                    got |= {v.decode() for k, v in m.headers if k == RECORD_ID_HEADER}
