"""``netfeed topics apply`` reports what the brokers show once their metadata
has caught up with what it just created (netfeed.topics_plan.plan_settled):
a topic created a moment ago may still read as missing, which made the
compose ``topics`` service exit 1 now and then on a fresh broker."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bus.topics_admin import TopicSpec
from netfeed import topics_plan
from netfeed.topics_plan import Action


def _actions(*kinds: str) -> list[Action]:
    return [Action(f"t{i}", k, "", TopicSpec(f"t{i}", 1)) for i, k in enumerate(kinds)]


async def test_plans_again_until_the_created_topics_show(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = [_actions("ok", "create"), _actions("ok", "create"), _actions("ok", "ok")]
    calls: list[int] = []

    async def plan(_system: Any, _apps: list[str]) -> list[Action]:
        calls.append(1)
        return answers[len(calls) - 1]

    monkeypatch.setattr(topics_plan, "plan", plan)
    got = await topics_plan.plan_settled(None, [], timeout_s=5, every_s=0.01)
    assert [a.action for a in got] == ["ok", "ok"] and len(calls) == 3


async def test_what_never_shows_is_reported_after_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def plan(_system: Any, _apps: list[str]) -> list[Action]:
        return _actions("ok", "create", "drift")

    monkeypatch.setattr(topics_plan, "plan", plan)
    t0 = time.monotonic()
    got = await topics_plan.plan_settled(None, [], timeout_s=0.3, every_s=0.05)
    assert [a.action for a in got] == ["ok", "create", "drift"]
    assert 0.3 <= time.monotonic() - t0 < 3


async def test_drift_alone_is_not_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    async def plan(_system: Any, _apps: list[str]) -> list[Action]:
        return _actions("ok", "drift")

    monkeypatch.setattr(topics_plan, "plan", plan)
    t0 = time.monotonic()
    await topics_plan.plan_settled(None, [], timeout_s=10, every_s=1)
    assert time.monotonic() - t0 < 1
