"""Consumer-group status (bus/groups.py, ``netfeed app status``) on both
backends: members, partitions, and lag per network and dataset, exact."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

from bus.factory import make_consumer, make_producer
from bus.groups import describe_groups
from bus.settings import BusSettings
from bus.topics import subscription_pattern
from collectors.publish import Publisher
from tests.support import messages
from tests.support.apps import ROOT


async def publish(bus: BusSettings, network: str, cycle: int, n: int) -> int:
    """One cycle of ``n`` records and its marker; the messages written."""
    recs = [messages.rec(f"d{i}", i, cycle, network=network) for i in range(n)]
    async with make_producer(bus, client_id="test-pub") as producer:
        pub = Publisher(producer, bus.topic_prefix)
        await pub.publish(recs)
        sent = await pub.complete_cycle(messages.marker(cycle, n, network=network))
    return n + sent.partitions


async def test_status_shows_members_partitions_and_exact_lag(
    any_bus: BusSettings, tmp_path: Path
) -> None:
    await publish(any_bus, "east", 1, 7)
    await publish(any_bus, "west", 1, 5)
    group = f"g-status-{any_bus.topic_prefix}"  # (groups outlive tests on a shared broker)
    pattern = subscription_pattern(any_bus.topic_prefix, ["east", "west"], ["interfaces"])
    async with make_consumer(any_bus, group=group, pattern=pattern, client_id="ana") as c:
        end = time.monotonic() + 30
        read = 0
        while read < 7 + 5 + 6:  # records and one marker per partition (3 each)
            assert time.monotonic() < end, f"read only {read}"
            read += len(await c.getmany(timeout_ms=300))
        await c.commit()
        late = await publish(any_bus, "west", 2, 4)
        (st,) = await describe_groups(any_bus, [group])
        assert st.state == "Stable" and len(st.members) == 1
        assert sorted(st.members[0].partitions) == sorted(
            (f"{any_bus.topic_prefix}.{n}.interfaces", p)
            for n in ("east", "west")
            for p in range(3)
        )
        assert st.members[0].client_id.startswith("ana")
        lag = st.lag_by_network(any_bus.topic_prefix)
        assert lag == {("east", "interfaces"): 0, ("west", "interfaces"): late}
        assert late == 4 + 3
    (after,) = await describe_groups(any_bus, [group])
    assert after.members == [] and after.lag == late
    assert await describe_groups(any_bus, ["no-such-group"]) == []

    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "netfeed.yaml").write_text(yaml.safe_dump({"bus": any_bus.model_dump(mode="json")}))
    cmd = [sys.executable, "-m", "netfeed.cli", "app", "status", group, "--config", str(cfg)]
    out = subprocess.run(  # noqa: ASYNC221 (a command line under test)
        [*cmd, "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    (g,) = json.loads(out.stdout)
    assert g["group"] == group and g["lag"] == late
    assert {(x["network"], x["lag"]) for x in g["lag_by_network"]} == {("east", 0), ("west", late)}
    text = subprocess.run(  # noqa: ASYNC221
        [sys.executable, "-m", "netfeed.cli", "app", "status", group, "--config", str(cfg)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert f"{group}:" in text.stdout and "west" in text.stdout and f"lag {late}" in text.stdout


def test_a_bad_start_time_is_a_clear_usage_error(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "netfeed.cli", "app", "run", "store", "--from", "yesterday"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "ISO-8601" in out.stderr and "Traceback" not in out.stderr
