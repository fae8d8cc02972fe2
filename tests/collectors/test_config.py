from pathlib import Path

import pytest

from collectors.config import ConfigError, Device, load_network, load_networks
from collectors.snmp.base import SnmpError
from collectors.snmp.poll import target_of

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
V3_R1 = (
    "snmp: {{version: '3', security_name: nf, auth_protocol: SHA-256, auth_key: env:A, "
    "priv_protocol: AES-256, priv_key: file:/run/nf/priv{extra}}}"
)
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
    assert (
        d["r1"].options["snmp"].timeout_s == 9
        and d["r1"].options["snmp"].retries == 3
        and d["r1"].options["snmp"].port == 1161
    )
    assert d["r1"].tags == {"site": "east", "role": "core"}
    assert (
        d["r2"].options["snmp"].timeout_s == 2
        and d["r2"].options["snmp"].port == 161
        and d["r2"].tags == {"site": "west"}
    )
    assert d["c1"].options["snmp"].port == 2161 and d["c1"].tags == {
        "site": "east",
        "role": "core",
        "rack": "r9",
    }
    assert d["c2"].options["snmp"].port == 161
    assert str(d["r1"].options["snmp"].community) == "env:NF_TEST_COMMUNITY"
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
        ["datasets", "unknown dataset(s) routes"],
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
    ("not YAML", "network: [lab\n", CSV, ["not valid YAML", "lab.yaml:2: column 1"]),
    (
        "wrong type for retries",
        TEXT.replace("retries: 3", "retries: many"),
        CSV,
        ["groups.core.snmp.retries"],
    ),
    (
        "unknown SNMP version",
        TEXT.replace("snmp: {port: 1161}", "snmp: {port: 1161, version: 2}"),
        CSV,
        ["device 'r1'", "snmp.version", "'1', '2c' or '3'"],
    ),
    (
        "v3 without security_name",
        TEXT.replace("snmp: {port: 1161}", V3_R1.format(extra="")).replace(
            "security_name: nf, ", ""
        ),
        CSV,
        ["device 'r1'", "security_name", "SNMP v3"],
    ),
    (
        "v3 authPriv without priv key and protocol",
        TEXT.replace(
            "snmp: {port: 1161}",
            "snmp: {version: '3', security_name: nf, auth_protocol: SHA-256, auth_key: env:A}",
        ),
        CSV,
        ["device 'r1'", "security_level authPriv requires priv_protocol, priv_key"],
    ),
    (
        "v3 authNoPriv without auth key",
        TEXT.replace(
            "snmp: {port: 1161}",
            "snmp: {version: '3', security_name: nf, security_level: authNoPriv, "
            "auth_protocol: SHA}",
        ),
        CSV,
        ["device 'r1'", "security_level authNoPriv requires auth_key"],
    ),
    (
        "v3 inline auth key",
        TEXT.replace("snmp: {port: 1161}", V3_R1.format(extra="").replace("env:A", "s3cr3tpass")),
        CSV,
        ["device 'r1'", "snmp.auth_key", "inline secrets are not accepted"],
    ),
    (
        "v3 inline priv key in a group",
        TEXT.replace("retries: 3", "retries: 3, priv_key: hunter2hunter2"),
        CSV,
        ["groups.core.snmp.priv_key", "inline secrets are not accepted"],
    ),
    (
        "v3 unknown auth protocol",
        TEXT.replace("snmp: {port: 1161}", V3_R1.format(extra="").replace("SHA-256", "SHA-999")),
        CSV,
        ["device 'r1'", "snmp.auth_protocol", "SHA-512"],
    ),
    (
        "v3 unknown priv protocol",
        TEXT.replace("snmp: {port: 1161}", V3_R1.format(extra="").replace("AES-256", "AES-512")),
        CSV,
        ["device 'r1'", "snmp.priv_protocol", "AES-256-C"],
    ),
    (
        "v3 unknown security level",
        TEXT.replace("snmp: {port: 1161}", V3_R1.format(extra=", security_level: authpriv")),
        CSV,
        ["device 'r1'", "snmp.security_level", "noAuthNoPriv"],
    ),
    (
        "v3 settings of a CSV device come from its groups, checked there",
        TEXT.replace("groups:\n", "groups:\n  v3: {snmp: {version: '3'}}\n"),
        "id,host,groups\nc1,127.0.0.3,v3\n",
        ["device 'c1'", "security_name"],
    ),
    (
        "backoff max cycles below 1",
        TEXT + "collection: {backoff_max_cycles: 0}\n",
        CSV,
        ["collection.backoff_max_cycles", "greater than or equal to 1"],
    ),
    (
        "backoff after failures not a number",
        TEXT + "collection: {backoff_after_failures: often}\n",
        CSV,
        ["collection.backoff_after_failures"],
    ),
    ("unknown collection key", TEXT + "collection: {backof: 3}\n", CSV, ["collection.backof"]),
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


V3 = """\
network: lab
defaults:
  snmp:
    version: 3
    security_name: netfeed
    auth_protocol: SHA-512
    auth_key: env:NF_TEST_AUTH
    priv_protocol: AES
    priv_key: file:{priv}
    community: env:NF_TEST_COMMUNITY
groups:
  legacy: {{snmp: {{version: "2c"}}}}
  monitor-only: {{snmp: {{security_level: authNoPriv, context_name: vrf-a}}}}
  open: {{snmp: {{security_name: public-ro, security_level: noAuthNoPriv}}}}
devices:
  - {{id: v3, host: 127.0.0.1}}
  - {{id: old, host: 127.0.0.2, groups: [legacy]}}
  - {{id: mon, host: 127.0.0.3, groups: [monitor-only]}}
  - {{id: open, host: 127.0.0.4, groups: [open]}}
"""


def _v3_network(tmp_path: Path) -> dict[str, Device]:
    priv = tmp_path / "priv.key"
    priv.write_text("priv-pass-phrase\n")
    net = load_network(write(tmp_path, V3.format(priv=priv), csv="id,host\n"))
    return {d.id: d for d in net.devices}


def test_v3_settings_inherit_and_versions_mix(tmp_path: Path) -> None:
    d = _v3_network(tmp_path)
    v3 = d["v3"].options["snmp"]
    assert (v3.version, v3.security_name, v3.security_level) == ("3", "netfeed", "authPriv")
    assert (v3.auth_protocol, v3.priv_protocol, v3.context_name) == ("SHA-512", "AES", "")
    assert str(v3.auth_key) == "env:NF_TEST_AUTH"  # a reference, never the value
    assert d["old"].options["snmp"].version == "2c"  # v3 settings from defaults are simply unused
    assert (
        d["mon"].options["snmp"].security_level == "authNoPriv"
        and d["mon"].options["snmp"].context_name == "vrf-a"
    )
    assert d["open"].options["snmp"].security_level == "noAuthNoPriv"


def test_v3_target_reveals_only_what_the_level_uses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NF_TEST_AUTH", "auth-pass-phrase")
    monkeypatch.setenv("NF_TEST_COMMUNITY", "c0mmunity")
    d = _v3_network(tmp_path)
    t = target_of(d["v3"])
    assert (t.version, t.security_name, t.security_level) == ("3", "netfeed", "authPriv")
    assert (t.auth_protocol, t.auth_key) == ("SHA-512", "auth-pass-phrase")
    assert (t.priv_protocol, t.priv_key) == ("AES", "priv-pass-phrase")
    assert t.community == ""
    for secret in ("auth-pass-phrase", "priv-pass-phrase"):
        assert secret not in repr(t)
    mon = target_of(d["mon"])
    assert (mon.auth_key, mon.priv_key, mon.priv_protocol) == ("auth-pass-phrase", "", None)
    assert mon.context_name == "vrf-a"
    opn = target_of(d["open"])
    assert (opn.security_name, opn.auth_key, opn.auth_protocol) == ("public-ro", "", None)
    old = target_of(d["old"])
    assert (old.version, old.community, old.auth_key) == ("2c", "c0mmunity", "")
    assert "c0mmunity" not in repr(old)


def test_v3_unreadable_or_short_pass_phrase_names_the_reference_not_the_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = _v3_network(tmp_path)
    monkeypatch.delenv("NF_TEST_AUTH", raising=False)
    with pytest.raises(SnmpError, match=r"v3: snmp.auth_key: secret env:NF_TEST_AUTH"):
        target_of(d["v3"])
    monkeypatch.setenv("NF_TEST_AUTH", "short")
    with pytest.raises(SnmpError) as err:
        target_of(d["v3"])
    assert "env:NF_TEST_AUTH" in str(err.value) and "8 characters" in str(err.value)
    assert "short" not in str(err.value).replace("shorter", "")


def test_collection_backoff_defaults_and_overrides(tmp_path: Path) -> None:
    net = load_network(write(tmp_path, TEXT))
    assert (net.collection.backoff_after_failures, net.collection.backoff_max_cycles) == (3, 16)
    text = TEXT + "collection: {backoff_after_failures: 0, backoff_max_cycles: 64}\n"
    net = load_network(write(tmp_path, text))
    assert (net.collection.backoff_after_failures, net.collection.backoff_max_cycles) == (0, 64)


LAYERED = """\
network: lab
defaults:
  snmp: {community: env:NF_TEST_COMMUNITY, retries: 2}
  tags: {role: default, site: east, tier: "0"}
groups:
  a: {snmp: {retries: 4}, tags: {role: from-a, tier: "1"}}
  b: {snmp: {retries: 6}, tags: {role: from-b}}
devices:
  - {id: ab, host: 127.0.0.1, groups: [a, b]}
  - {id: ba, host: 127.0.0.1, groups: [b, a]}
  - {id: own, host: 127.0.0.1, groups: [a, b], tags: {role: mine}, snmp: {retries: 0}}
  - {id: none, host: 127.0.0.1}
"""


def test_layers_apply_defaults_then_groups_in_order_then_device(tmp_path: Path) -> None:
    """Tags and protocol options: each later layer wins, key by key."""
    d = {x.id: x for x in load_network(write(tmp_path, LAYERED, csv="id,host\n")).devices}
    assert d["ab"].tags == {"role": "from-b", "site": "east", "tier": "1"}
    assert d["ba"].tags == {"role": "from-a", "site": "east", "tier": "1"}
    assert d["own"].tags == {"role": "mine", "site": "east", "tier": "1"}
    assert d["none"].tags == {"role": "default", "site": "east", "tier": "0"}
    retries = {k: v.options["snmp"].retries for k, v in d.items()}
    assert retries == {"ab": 6, "ba": 4, "own": 0, "none": 2}


def test_csv_columns_may_name_any_protocol_option(tmp_path: Path) -> None:
    csv = "id,host,snmp.port,snmp.timeout_s,community\nx1,127.0.0.9,3161,7,env:NF_X\n"
    path = write(
        tmp_path, LAYERED.replace("devices:", "inventories: [{csv: inv.csv}]\ndevices:"), csv=csv
    )
    x1 = {d.id: d for d in load_network(path).devices}["x1"].options["snmp"]
    assert (x1.port, x1.timeout_s, str(x1.community)) == (3161, 7.0, "env:NF_X")
    bad = write(
        tmp_path,
        LAYERED.replace("devices:", "inventories: [{csv: inv.csv}]\ndevices:"),
        csv="id,host,snmp.prot\nx1,127.0.0.9,3161\n",
    )
    with pytest.raises(ConfigError, match=r"inv\.csv:1: unknown column\(s\) snmp\.prot"):
        load_network(bad)


MIXED = """\
network: mix
defaults:
  snmp: {community: env:NF_TEST_COMMUNITY}
  netconf: {username: nf, password: env:NF_NC}
groups:
  junos: {protocol: netconf, netconf: {port: 2830}, tags: {os: junos}}
  back: {protocol: snmp}
devices:
  - {id: s1, host: 127.0.0.1}
  - {id: n1, host: 127.0.0.2, groups: [junos]}
  - {id: n2, host: 127.0.0.3, protocol: netconf, netconf: {username: u, password: env:NF_NC}}
  - {id: b1, host: 127.0.0.4, groups: [junos, back]}
  - {id: d1, host: 127.0.0.5, groups: [back], protocol: netconf,
     netconf: {username: u, password: env:NF_NC}}
inventories:
  - {csv: inv.csv}
datasets:
  interfaces: {interval_s: 30}
  bgp: {interval_s: 60, protocol: netconf}
"""
MIXED_CSV = (
    "id,host,protocol,netconf.username,netconf.password\n"
    "c1,127.0.0.6,netconf,u,env:NF_NC\nc2,127.0.0.7,,,\n"
)


def test_one_network_mixes_protocols_per_device(tmp_path: Path) -> None:
    net = load_network(write(tmp_path, MIXED, name="mix", csv=MIXED_CSV))
    d = {x.id: x for x in net.devices}
    proto = {i: net.protocol_of(x, "interfaces") for i, x in d.items()}
    # the device's own protocol > its last group's > the dataset's > the network's
    assert proto == {
        "s1": "snmp",
        "n1": "netconf",
        "n2": "netconf",
        "b1": "snmp",
        "d1": "netconf",
        "c1": "netconf",
        "c2": "snmp",
    }
    # a device's own protocol wins over a dataset's protocol too
    assert net.protocol_of(d["s1"], "bgp") == "netconf"
    assert net.protocol_of(d["b1"], "bgp") == "snmp"
    assert net.protocols() == {"snmp", "netconf"}
    # a device is resolved for its own protocol only: no SNMP options for n1
    assert set(d["n1"].options) == {"netconf"} and d["n1"].tags == {"os": "junos"}
    assert set(d["c1"].options) == {"netconf"} and d["c1"].options["netconf"].username == "u"
    assert d["n1"].options["netconf"].port == 2830
    # s1 is read over SNMP, except bgp, which the network reads over NETCONF
    assert set(d["s1"].options) == {"snmp", "netconf"}


def test_unknown_protocols_are_reported_where_written(tmp_path: Path) -> None:
    text = (
        MIXED.replace("back: {protocol: snmp}", "back: {protocol: gnmi}")
        .replace(
            "{id: n2, host: 127.0.0.3, protocol: netconf", "{id: n2, host: 127.0.0.3, protocol: tl1"
        )
        .replace("groups:\n", "groups:\n", 1)
        .replace("defaults:\n", "defaults:\n  protocol: netconf\n", 1)
    )
    csv = MIXED_CSV.replace("c1,127.0.0.6,netconf", "c1,127.0.0.6,xml")
    with pytest.raises(ConfigError) as err:
        load_network(write(tmp_path, text, name="mix", csv=csv))
    probs = err.value.problems
    assert any("defaults.protocol" in p and "top-level 'protocol'" in p for p in probs), probs
    assert sum("groups.back.protocol: unknown protocol 'gnmi'" in p for p in probs) == 1, probs
    assert any("device 'n2'" in p and "unknown protocol 'tl1'" in p for p in probs), probs
    assert any("inv.csv:2 (device 'c1'): protocol: unknown protocol 'xml'" in p for p in probs)
    # the group's problem is said once, not again for each of its devices
    assert not any("device 'b1'" in p or "device 'd1'" in p for p in probs), probs
