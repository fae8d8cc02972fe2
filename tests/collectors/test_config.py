from pathlib import Path

import pytest

from collectors.config import ConfigError, load_network, load_networks

GOOD = """\
network: {name}
defaults:
  snmp: {{community: env:NF_TEST_COMMUNITY, timeout_s: 2}}
  tags: {{site: east}}
groups:
  core: {{snmp: {{timeout_s: 5, retries: 3}}, tags: {{role: core}}}}
  slow: {{snmp: {{timeout_s: 9}}}}
devices:
  - {{id: r1, host: 127.0.0.1, groups: [core, slow], snmp: {{port: 1161}}}}
  - {{id: r2, host: 127.0.0.2, tags: {{site: west}}}}
inventories:
  - {{csv: inv.csv}}
datasets:
  interfaces: {{interval_s: 30}}
  system: {{cron: "*/5 * * * *"}}
"""
TEXT = GOOD.format(name="lab")
CSV = "id,host,port,groups,tag:rack\nc1,127.0.0.3,2161,core,r9\nc2,127.0.0.4,,,\n"


def write(tmp: Path, text: str, name: str = "lab", csv: str = CSV) -> Path:
    (tmp / "networks").mkdir(exist_ok=True)
    (tmp / "networks" / "inv.csv").write_text(csv)
    p = tmp / "networks" / f"{name}.yaml"
    p.write_text(text)
    return p


def test_inheritance_defaults_groups_device(tmp_path: Path) -> None:
    net = load_network(write(tmp_path, GOOD.format(name="lab")))
    d = {x.id: x for x in net.devices}
    assert set(d) == {"r1", "r2", "c1", "c2"}
    # groups in order, later wins; device wins over groups
    assert d["r1"].snmp.timeout_s == 9 and d["r1"].snmp.retries == 3 and d["r1"].snmp.port == 1161
    assert d["r1"].tags == {"site": "east", "role": "core"}
    assert (
        d["r2"].snmp.timeout_s == 2
        and d["r2"].snmp.port == 161
        and d["r2"].tags == {"site": "west"}
    )
    assert d["c1"].snmp.port == 2161 and d["c1"].tags == {
        "site": "east",
        "role": "core",
        "rack": "r9",
    }
    assert d["c2"].snmp.port == 161
    assert str(d["r1"].snmp.community) == "env:NF_TEST_COMMUNITY"
    assert net.datasets["interfaces"].interval_s == 30 and net.datasets["system"].cron


def test_thousands_of_devices_from_csv(tmp_path: Path) -> None:
    rows = "id,host,port\n" + "".join(
        f"ne-{i},127.0.{i // 250}.{i % 250 + 1},161\n" for i in range(3000)
    )
    net = load_network(write(tmp_path, GOOD.format(name="lab"), csv=rows))
    assert len(net.devices) == 3002


BAD = [
    # (description, yaml text (formatted with name=lab), csv, words expected in the message)
    ("unknown top-level key", TEXT + "colection: {}\n", CSV, ["colection", "Extra inputs"]),
    (
        "unknown snmp key in a device",
        TEXT.replace("snmp: {port: 1161}", "snmp: {prot: 1161}"),
        CSV,
        ["device 'r1'", "snmp.prot"],
    ),
    (
        "port out of range",
        TEXT.replace("port: 1161", "port: 99999"),
        CSV,
        ["device 'r1'", "snmp.port"],
    ),
    (
        "inline community",
        TEXT.replace("env:NF_TEST_COMMUNITY", "public"),
        CSV,
        ["defaults.snmp.community", "inline secrets are not accepted"],
    ),
    (
        "unknown group",
        TEXT.replace("groups: [core, slow]", "groups: [core, fast]"),
        CSV,
        ["device 'r1'", "unknown group", "fast"],
    ),
    ("duplicate device id", TEXT.replace("id: r2", "id: r1"), CSV, ["device 'r1'", "duplicate"]),
    (
        "bad cron",
        TEXT.replace("*/5 * * * *", "every five minutes"),
        CSV,
        ["datasets.system", "cron"],
    ),
    (
        "interval too small",
        TEXT.replace("interval_s: 30", "interval_s: 0"),
        CSV,
        ["datasets.interfaces.interval_s"],
    ),
    (
        "unknown dataset",
        TEXT.replace("  system: {cron", "  routes: {cron"),
        CSV,
        ["datasets.routes"],
    ),
    (
        "network name differs from file",
        TEXT.replace("network: lab", "network: other"),
        CSV,
        ["network", "file name"],
    ),
    (
        "missing community",
        TEXT.replace("community: env:NF_TEST_COMMUNITY, ", ""),
        CSV,
        ["device 'r1'", "community is required"],
    ),
    (
        "bad csv port",
        TEXT,
        "id,host,port\nc1,127.0.0.3,http\n",
        ["inv.csv:2", "device 'c1'", "port"],
    ),
    ("csv lacks host column", TEXT, "id,port\nc1,161\n", ["inv.csv", "host"]),
    ("csv unknown column", TEXT, "id,host,colour\nc1,127.0.0.3,red\n", ["inv.csv", "colour"]),
    ("bad device id", TEXT.replace("id: r2", "id: 'r 2'"), CSV, ["devices[1]", "id"]),
    (
        "tags must be strings keyed by names",
        TEXT.replace("tags: {site: west}", "tags: {Site: west}"),
        CSV,
        ["device 'r2'", "tags"],
    ),
    ("not YAML", "network: [lab\n", CSV, ["not valid YAML", "line"]),
    (
        "wrong type for retries",
        TEXT.replace("retries: 3", "retries: many"),
        CSV,
        ["groups.core.snmp.retries"],
    ),
]


@pytest.mark.parametrize("what, text, csv, words", BAD, ids=[b[0] for b in BAD])
def test_malformed_config_is_rejected_naming_file_and_field(
    tmp_path: Path, what: str, text: str, csv: str, words: list[str]
) -> None:
    path = write(tmp_path, text, csv=csv)
    with pytest.raises(ConfigError) as err:
        load_network(path)
    msg = str(err.value)
    assert str(path.parent) in msg, msg  # names the file (the YAML or its CSV)
    for w in words:
        assert w in msg, f"{what}: {w!r} not in {msg!r}"


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = TEXT.replace("groups: [core, slow]", "groups: [nope]").replace("id: r2", "id: r1")
    with pytest.raises(ConfigError) as err:
        load_network(write(tmp_path, text))
    assert len(err.value.problems) == 2


def test_load_networks_reports_missing_folder_and_unknown_network(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no network files"):
        load_networks(tmp_path)
    write(tmp_path, GOOD.format(name="lab"))
    with pytest.raises(ConfigError, match="no network 'nope'"):
        load_networks(tmp_path, ["nope"])


def test_shipped_example_configs_validate() -> None:
    nets = load_networks(Path(__file__).resolve().parents[2] / "configs")
    assert {n.network for n in nets} == {"lab-east", "lab-west"}
    assert all(n.devices for n in nets)
