"""Fuzzing the configuration readers with hypothesis: whatever a network file or
its CSV inventory holds, :func:`load_network` returns a network or raises
:class:`ConfigError` -- never another exception, never a hang.  Cases found
are kept in ``tests/corpus`` (see ``tests/test_corpus.py``)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.config import ConfigError, NetworkConfig, load_network
from collectors.registry import load_drivers

load_drivers()  # imported once here, not inside the first example's deadline

FUZZ = settings(
    max_examples=150,
    deadline=10_000,  # per example: a hang fails, a loaded machine does not
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
KEYS = [
    "network", "protocol", "defaults", "groups", "devices", "inventories", "datasets",
    "collection", "snmp", "netconf", "tags", "id", "host", "csv", "encoding", "interval_s",
    "cron", "enabled", "port", "community", "version", "timeout_s", "retries",
    "max_in_flight", "spread", "system", "interfaces", "core", "username", "password",
]  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["lab", "snmp", "netconf", "env:NF_FUZZ", "file:/etc/hostname", "2c", "3",
                     "inv.csv", "*/5 * * * *", "1.2.3.4", "", "r1", "latin-1", "utf-16"]),
    st.text(max_size=12),
)  # fmt: skip
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), inner, max_size=5),
    ),
    max_leaves=25,
)
NETWORK = st.fixed_dictionaries(
    {"network": st.sampled_from(["lab", "other", 3])},
    optional={k: VALUES for k in KEYS[1:9]},
)
CSV_LINES = st.lists(
    st.lists(
        st.sampled_from(["r1", "r2", "1.2.3.4", "core", "161", "x", "", "a;b", '"', "\u00e9"])
        | st.text(max_size=6),
        min_size=1,
        max_size=6,
    ),
    max_size=6,
)
HEADERS = st.sampled_from(
    ["id,host", "id,host,port", "id,host,groups,tag:rack", "id,host,snmp.port,protocol",
     "host", "id,host,enabled,community", "\ufeffid,host", "id,id,host"]
)  # fmt: skip


def load(text: str | bytes, csv: bytes | None = None) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "lab.yaml"
        p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
        if csv is not None:
            (Path(d) / "inv.csv").write_bytes(csv)
        try:
            assert isinstance(load_network(p), NetworkConfig)
        except ConfigError as exc:
            assert exc.problems and all(isinstance(x, str) and x for x in exc.problems)


@FUZZ
@given(st.text(max_size=300) | st.binary(max_size=300))
def test_any_text_as_a_network_file(text: str | bytes) -> None:
    load(text)


@FUZZ
@given(NETWORK)
def test_any_yaml_shaped_network_file(data: dict[str, Any]) -> None:
    load(yaml.safe_dump(data, allow_unicode=True))


@FUZZ
@given(
    HEADERS,
    CSV_LINES,
    st.sampled_from([None, "latin-1", "utf-16", "ascii"]),
    st.binary(max_size=40),
)
def test_any_csv_inventory(
    header: str, rows: list[list[str]], encoding: str | None, noise: bytes
) -> None:
    text = header + "\n" + "\n".join(",".join(r) for r in rows) + "\n"
    enc = f", encoding: {encoding}" if encoding else ""
    net = (
        "network: lab\ndefaults: {snmp: {community: env:NF_FUZZ}}\n"
        f"groups: {{core: {{}}}}\ninventories: [{{csv: inv.csv{enc}}}]\n"
    )
    load(net, text.encode("utf-8", "surrogatepass") + noise)
