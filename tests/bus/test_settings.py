"""Bus settings are checked when they load, with messages naming file, key and why."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from bus.configfile import SettingsError, load_bus_settings
from bus.settings import EmbeddedSettings, KafkaSettings


def load(tmp_path: Path, bus: dict[str, object]) -> list[str]:
    (tmp_path / "netfeed.yaml").write_text(yaml.safe_dump({"bus": bus}))
    try:
        load_bus_settings(tmp_path)
    except SettingsError as exc:
        return exc.problems
    return []


def test_kafka_session_timeout_below_the_broker_minimum_is_refused_at_load(
    tmp_path: Path,
) -> None:
    problems = load(tmp_path, {"backend": "kafka", "kafka": {"session_timeout_ms": 3000}})
    assert len(problems) == 1, problems
    (p,) = problems
    assert p.startswith(f"{tmp_path}/netfeed.yaml:4: bus.kafka.session_timeout_ms:")
    assert "6000" in p and "group.min.session.timeout.ms" in p
    # the lowest value a default broker accepts loads
    assert (
        load(tmp_path, {"kafka": {"session_timeout_ms": 6000, "heartbeat_interval_ms": 2000}}) == []
    )


@pytest.mark.parametrize("beat", [10_000, 12_000])
def test_kafka_heartbeat_must_be_shorter_than_the_session(tmp_path: Path, beat: int) -> None:
    problems = load(
        tmp_path, {"kafka": {"session_timeout_ms": 10_000, "heartbeat_interval_ms": beat}}
    )
    assert len(problems) == 1, problems
    assert "heartbeat_interval_ms" in problems[0] and "session_timeout_ms" in problems[0]
    assert re.match(rf"{tmp_path}/netfeed.yaml:\d+: bus.kafka", problems[0])


def test_embedded_heartbeat_must_be_shorter_than_the_session() -> None:
    with pytest.raises(ValidationError, match="heartbeat_interval_ms"):
        EmbeddedSettings(session_timeout_ms=1000, heartbeat_interval_ms=1000)


def test_defaults_are_valid() -> None:
    k = KafkaSettings()
    assert 6000 <= k.session_timeout_ms and k.heartbeat_interval_ms < k.session_timeout_ms
    e = EmbeddedSettings()
    assert e.heartbeat_interval_ms < e.session_timeout_ms
