from pathlib import Path

import pytest

from collectors.profiles import ProfileError, ProfileSet

IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
HC_IN = "1.3.6.1.2.1.31.1.1.1.6"
IN32 = "1.3.6.1.2.1.2.2.1.10"


def one_row(ds, values: dict[str, object]):  # type: ignore[no-untyped-def]
    """Apply a compiled table dataset to one row given as column -> value."""
    rows = ds.build({col: {"1": v} for col, v in values.items()}, {})
    assert len(rows) == 1
    return rows[0]


def site(tmp: Path, **files: str) -> Path:
    for name, text in files.items():
        (tmp / f"{name}.yaml").write_text(text)
    return tmp


def test_shipped_profiles_load_and_generic_is_the_fallback() -> None:
    ps = ProfileSet()
    prof, matched = ps.match("1.3.6.1.4.1.99999.1")
    assert prof.name == "generic" and not matched
    assert {"system", "interfaces"} <= set(prof.datasets)


def test_site_profile_extends_shipped_and_matches_by_prefix_and_exact(tmp_path: Path) -> None:
    ps = ProfileSet(
        [
            site(
                tmp_path,
                acme="name: acme\nextends: [generic]\nsysobjectid: [1.3.6.1.4.1.4242.*]\n"
                "datasets:\n  system:\n    scalars:\n      fields:\n"
                "        vendor: {value: acme}\n"
                "        os_version: {from: sys_descr, regex: 'AcmeOS ([0-9.]+)'}\n",
                acme_big="name: acme_big\nextends: [acme]\nsysobjectid: [1.3.6.1.4.1.4242.1.7]\n",
            )
        ]
    )
    assert ps.match("1.3.6.1.4.1.4242.1.7")[0].name == "acme_big"
    assert ps.match("1.3.6.1.4.1.4242.9")[0].name == "acme"
    sysds = ps.profiles["acme"].datasets["system"]
    [(tags, fields, _bad, _)] = sysds.build(
        {}, {"1.3.6.1.2.1.1.1.0": b"AcmeOS 4.2.1 on box", "1.3.6.1.2.1.1.5.0": b"r1"}
    )
    assert (
        fields["vendor"] == "acme"
        and fields["os_version"] == "4.2.1"
        and tags == {"sys_name": "r1"}
    )
    assert "interfaces" in ps.profiles["acme_big"].datasets  # inherited through two levels


def test_hc_counter_preferred_then_32_bit_fallback_and_counter_bits() -> None:
    ifds = ProfileSet().profiles["generic"].datasets["interfaces"]
    _, f64, _, _ = one_row(ifds, {HC_IN: 2**40, IN32: 7, IF_DESCR: b"eth0"})
    assert f64["in_octets"] == 2**40 and f64["counter_bits"] == 64 and f64["if_descr"] == "eth0"
    _, f32, _, _ = one_row(ifds, {IN32: 7})
    assert f32["in_octets"] == 7 and f32["counter_bits"] == 32


def test_speed_uses_high_speed_unless_zero() -> None:
    ifds = ProfileSet().profiles["generic"].datasets["interfaces"]
    hs, sp = "1.3.6.1.2.1.31.1.1.1.15", "1.3.6.1.2.1.2.2.1.5"
    assert one_row(ifds, {hs: 10_000, sp: 4_294_967_295})[1]["speed_bps"] == 10_000_000_000
    assert one_row(ifds, {hs: 0, sp: 64_000})[1]["speed_bps"] == 64_000


def test_wrong_value_type_is_reported_not_guessed() -> None:
    ifds = ProfileSet().profiles["generic"].datasets["interfaces"]
    _, fields, bad, _ = one_row(ifds, {HC_IN: b"\x01\x02", "1.3.6.1.2.1.2.2.1.8": b"up"})
    assert "in_octets" not in fields and "oper_status" not in fields
    assert set(bad) == {"in_octets", "oper_status"}


@pytest.mark.parametrize(
    "files, words",
    [
        ({"x": "name: y\n"}, ["x.yaml", "file name"]),
        ({"x": "name: x\nsysobjectid: [not-an-oid]\n"}, ["x.yaml", "sysobjectid"]),
        ({"x": "name: x\nextends: [nothere]\n"}, ["x.yaml", "unknown profile 'nothere'"]),
        ({"x": "name: x\nextends: [y]\n", "y": "name: y\nextends: [x]\n"}, ["cycle"]),
        ({"x": "name: x\ncolour: red\n"}, ["x.yaml", "colour"]),
        ({"generic": "name: generic\n"}, ["generic", "already defined"]),
        (
            {
                "x": "name: x\ndatasets:\n  system:\n    scalars:\n      fields:\n        a: {oid: 1.3.6, value: 1}\n"
            },
            ["x.yaml", "exactly one of"],
        ),
        (
            {
                "x": "name: x\ndatasets:\n  system:\n    scalars:\n      fields:\n        a: {oid: 1.3.6, type: enum, enum: nope}\n"
            },
            ["x.yaml", "unknown enum table 'nope'"],
        ),
    ],
)
def test_bad_profiles_are_rejected_with_file_and_reason(
    tmp_path: Path, files: dict[str, str], words: list[str]
) -> None:
    with pytest.raises(ProfileError) as err:
        ProfileSet([site(tmp_path, **files)])
    for w in words:
        assert w in str(err.value), str(err.value)


def table(text: str):  # type: ignore[no-untyped-def]
    """Compile a one-dataset spec given as YAML."""
    import yaml

    from collectors.profiles.compiled import compile_dataset
    from collectors.profiles.schema import DatasetSpec

    return compile_dataset("sensors", DatasetSpec.model_validate(yaml.safe_load(text)), {})


def test_absent_values_are_sentinels_and_the_next_oid_is_tried() -> None:
    ds = table(
        "tables:\n  t:\n    rows_from: a\n    fields:\n"
        "      a: {oid: [1.1.1, 1.1.2], absent: [-1, '']}\n"
        "      n: {oid: 1.1.3, type: text, absent: ['']}\n"
    )
    rows = ds.build(
        {"1.1.1": {"1": -1, "2": 5, "3": -1}, "1.1.2": {"1": 7}, "1.1.3": {"1": b"", "2": b"x"}},
        {},
    )
    assert [r[1] for r in rows] == [{"a": 7}, {"a": 5, "n": "x"}]  # row 3: nothing left


def test_subrows_pick_the_preferred_matching_sub_row() -> None:
    # a sensor (1.1.4.<s>) with threshold sub-rows (1.2.*.<s>.<n>): severity, relation, value
    ds = table(
        "tables:\n  t:\n    rows_from: v\n    fields:\n"
        "      v: {oid: 1.1.4}\n"
        "      hi: {oid: 1.2.4, absent: [-32768], subrows: {1.2.2: [30, 20], 1.2.3: [4, 3]}}\n"
        "      lo: {oid: 1.2.4, subrows: {1.2.2: [30, 20], 1.2.3: [2, 1]}}\n"
        "      hi_oid: {oid_of: hi}\n"
    )
    sev = {"7.1": 20, "7.2": 30, "7.3": 30, "7.4": 20, "8.1": 30}
    rel = {"7.1": 4, "7.2": 4, "7.3": 3, "7.4": 1, "8.1": 4}
    val = {"7.1": 68, "7.2": 111, "7.3": -32768, "7.4": -5, "8.1": 99}
    cols = {"1.1.4": {"7": 50, "9": 1}, "1.2.2": sev, "1.2.3": rel, "1.2.4": val}
    (_, seven, _, _), (_, nine, _, _) = ds.build(cols, {})
    # critical beats major; the unset (-32768) critical is skipped; another sensor's rows are not ours
    assert seven == {"v": 50, "hi": 111, "lo": -5, "hi_oid": "1.2.4.7.2"}
    assert nine == {"v": 1}


def test_log10_turns_milliwatts_into_dbm_and_zero_into_no_value() -> None:
    ds = table(
        "tables:\n  t:\n    rows_from: mw\n    fields:\n"
        "      mw: {oid: 1.1.1, type: float}\n"
        "      dbm: {expr: '10 * log10(mw)'}\n"
    )
    rows = ds.build({"1.1.1": {"1": 1, "2": 100, "3": 0}}, {})
    assert [r[1].get("dbm") for r in rows] == [0.0, 20.0, None]


def test_absent_and_subrows_need_an_oid(tmp_path: Path) -> None:
    bad = "name: x\ndatasets:\n  sensors:\n    tables:\n      t:\n        fields:\n"
    with pytest.raises(ProfileError, match="absent and subrows go with oid"):
        ProfileSet([site(tmp_path, x=bad + "          a: {value: 1, absent: [0]}\n")])


def test_ip_type_reads_ipaddress_and_inet_octets() -> None:
    ds = table("tables:\n  t:\n    index_tag: i\n    fields:\n      a: {oid: 1.1.1, type: ip}\n")
    raw = {"1": "10.0.0.1", "2": bytes.fromhex("0a2c200e"), "3": bytes(16), "4": b"", "5": b"xyz"}
    rows = ds.build({"1.1.1": raw}, {})
    assert [(r[1], r[2]) for r in rows] == [
        ({"a": "10.0.0.1"}, []),
        ({"a": "10.44.32.14"}, []),
        ({"a": "::"}, []),
        ({}, []),  # a zero-length address is no address
        ({}, ["a"]),  # 3 octets: not an address, reported
    ]


def test_sum_over_adds_up_per_family_rows_and_makes_rows() -> None:
    # a peer table (1.1.x, index type.len.addr) and a per-family count table
    # (1.2.1, index <peer>.<afi>.<safi>); peer 1.4.10.0.0.9 exists only in the latter
    ds = table(
        "tables:\n  peers:\n    tags:\n      peer: {index: {format: inet}}\n    fields:\n"
        "      state: {oid: 1.1.3}\n"
        "      accepted: {oid: 1.2.1, sum_over: 2}\n"
        "      name: {oid: 1.2.9, type: text, sum_over: 2}\n"
    )
    cols = {
        "1.1.3": {"1.4.10.0.0.1": 6, "1.4.10.0.0.2": 1},
        "1.2.1": {"1.4.10.0.0.1.1.1": 5, "1.4.10.0.0.1.1.128": 7, "1.4.10.0.0.9.2.1": 3, "9": 1},
        "1.2.9": {"1.4.10.0.0.1.1.128": b"b", "1.4.10.0.0.1.1.1": b"a"},
    }
    rows = {r[0]["peer"]: r[1] for r in ds.build(cols, {})}
    assert rows == {
        "10.0.0.1": {"state": 6, "accepted": 12, "name": "a"},  # text: the lowest index's
        "10.0.0.2": {"state": 1},
        "10.0.0.9": {"accepted": 3},
    }


def test_merge_folds_a_richer_tables_rows_into_the_same_entity() -> None:
    ds = table(
        "tables:\n"
        "  std:\n    tags:\n      peer: {index: {format: ipv4}}\n    fields:\n"
        "      remote_as: {oid: 1.1.9}\n      state: {oid: 1.1.2}\n"
        "  vendor:\n    merge: true\n    tags:\n      peer: {index: {format: inet}}\n"
        "    fields:\n      state: {oid: 2.1.3}\n      updates: {oid: 2.1.13}\n"
        "  other:\n    tags:\n      peer: {index: {format: ipv4}}\n    fields:\n"
        "      x: {oid: 1.3.1}\n"
    )
    cols = {
        "1.1.9": {"10.0.0.1": 65001},
        "1.1.2": {"10.0.0.1": 1},
        "2.1.3": {"1.4.10.0.0.1": 6, "2.16." + ".".join(["0"] * 15) + ".1": 6},
        "2.1.13": {"1.4.10.0.0.1": 42},
        "1.3.1": {"10.0.0.1": 7},
    }
    rows = ds.build(cols, {})
    assert [(r[0]["peer"], r[1]) for r in rows] == [
        ("10.0.0.1", {"remote_as": 65001, "state": 6, "updates": 42}),  # the vendor's state wins
        ("::1", {"state": 6}),  # only in the vendor table: a record of its own
        ("10.0.0.1", {"x": 7}),  # a table without merge never folds
    ]


def test_first_of_and_joined_columns_do_not_make_rows() -> None:
    # bgpLocalAs-style scalar walked as a one-row column (index 0) and joined to every row
    ds = table(
        "tables:\n  t:\n    fields:\n"
        "      own: {oid: 1.1.7}\n"
        "      _zero: {value: 0}\n"
        "      _global: {oid: 1.2.2, index_from: _zero}\n"
        "      local_as: {first_of: [own, _global]}\n"
    )
    rows = ds.build({"1.1.7": {"1": 65001, "2": 0}, "1.2.2": {"0": 64512}}, {})
    assert [r[1]["local_as"] for r in rows] == [65001, 0]  # index "0" of 1.2 is no row
    rows = ds.build({"1.1.7": {}, "1.2.2": {"0": 64512}}, {})
    assert rows == []
    ds = table(
        "tables:\n  t:\n    rows_from: s\n    fields:\n"
        "      s: {oid: 1.1.1}\n      own: {oid: 1.1.7}\n"
        "      _zero: {value: 0}\n      _global: {oid: 1.2.2, index_from: _zero}\n"
        "      local_as: {first_of: [own, _global]}\n"
    )
    rows = ds.build({"1.1.1": {"5": 1}, "1.2.2": {"0": 64512}}, {})
    assert [r[1] for r in rows] == [{"s": 1, "local_as": 64512}]


def test_sum_over_and_first_of_are_checked(tmp_path: Path) -> None:
    bad = "name: x\ndatasets:\n  bgp:\n    tables:\n      t:\n        fields:\n"
    with pytest.raises(ProfileError, match="sum_over goes with oid"):
        ProfileSet([site(tmp_path, x=bad + "          a: {value: 1, sum_over: 2}\n")])
    with pytest.raises(ProfileError, match="unknown field 'nope'"):
        ProfileSet([site(tmp_path, x=bad + "          a: {first_of: [nope]}\n")])


def test_ucd_and_nokia_memory_without_a_recording() -> None:
    """Health tables no shared recording exercises, on values made up for the test."""
    ps = ProfileSet()
    linux = ps.profiles["linux"].datasets["health"]
    kb = {"1.3.6.1.4.1.2021.4.5": 1000, "1.3.6.1.4.1.2021.4.6": 100}  # total, avail
    kb |= {"1.3.6.1.4.1.2021.4.14": 50, "1.3.6.1.4.1.2021.4.15": 250}  # buffers, cached
    [(tags, f, _, _)] = linux.build({k: {"0": v} for k, v in kb.items()}, {})
    assert tags["component_index"] == "ucd" and f["memory_used_octets"] == 600 * 1024
    assert f["memory_free_octets"] == 400 * 1024 and f["memory_util_pct"] == 60.0
    timos = ps.profiles["timos"].datasets["health"]
    sgi = {"1.3.6.1.4.1.6527.3.1.2.1.1.1": 7, "1.3.6.1.4.1.6527.3.1.2.1.1.10": 300}
    sgi["1.3.6.1.4.1.6527.3.1.2.1.1.11"] = 100  # pool allocated (used)
    built = timos.build({k: {"0": v} for k, v in sgi.items()}, {})
    cpu, mem = (r[1] for r in built)
    # sgiKbMemory*: "kilobytes" of 1000 octets (the agent's byte twins agree)
    assert cpu["cpu_util_pct"] == 7.0 and mem["memory_total_octets"] == 400 * 1000
    assert mem["memory_util_pct"] == 25.0 and built[0][0]["component_index"] == "0"


def test_nokia_ddm_units_and_multi_lane_optics() -> None:
    """TIMETRA-PORT-MIB DDM in the MIB's units: power 0.1 uW as dBm (0: no light,
    no value), bias 2 uA, temperature 1/256 C; a multi-lane optic's bias and
    power come from its lanes, not from its module row (which reads 0)."""
    sensors = ProfileSet().profiles["timos"].datasets["sensors"]
    ddm, lane = "1.3.6.1.4.1.6527.3.1.2.2.4.31.1", "1.3.6.1.4.1.6527.3.1.2.2.4.66.1"
    cols = {f"{ddm}.1": {"1.10": 5734, "1.20": 6400}, f"{ddm}.5": {"1.10": 20480}}
    cols |= {f"{ddm}.11": {"1.10": 2565, "1.20": 0}, f"{ddm}.21": {"1.10": 790, "1.20": 0}}
    cols |= {f"{ddm}.16": {"1.10": 0, "1.20": 0}, f"{lane}.7": {"1.20.1": 22861, "1.20.2": 20000}}
    cols |= {f"{lane}.17": {"1.20.1": 15853}, f"{lane}.11": {"1.20.1": 45000}}
    rows = {
        (t["sensor_class"], t["sensor_index"]): (f, a) for t, f, _, a in sensors.build(cols, {})
    }
    temp, _ = rows[("temperature", "1.10")]
    assert temp["value"] == 5734 / 256 and temp["high_critical"] == 80.0
    assert rows[("current", "1.10")][0]["value"] == 2565 / 500000
    assert round(rows[("rx_power", "1.10")][0]["value"], 3) == -11.024
    assert "value" not in rows[("tx_power", "1.10")][0]  # 0: no light
    assert ("current", "1.20") not in rows and ("rx_power", "1.20") not in rows
    assert ("temperature", "1.20") in rows
    bias = rows[("current", "1.20.1")][0]
    assert bias["value"] == 22861 / 500000 and bias["high_critical"] == 45000 / 500000
    assert round(rows[("rx_power", "1.20.1")][0]["value"], 3) == 2.001
    assert rows[("current", "1.20.2")][0]["value"] == 0.04


def test_sysdescr_splits_a_family_and_never_drops_a_known_vendor(tmp_path: Path) -> None:
    """A profile whose sysObjectID matches is used even when its sysDescr
    patterns do not (after every profile that fits outright); a family split
    by sysDescr falls to its base, never to generic."""
    head = "extends: [generic]\nsysobjectid: [1.3.6.1.4.1.4242.1.*]\n"
    ps = ProfileSet(
        [
            site(
                tmp_path,
                acme_a=f"name: acme_a\n{head}sysdescr: ['AcmeOS-A']\n",
                acme_b=f"name: acme_b\n{head}sysdescr: ['AcmeOS-B']\n",
                acme="name: acme\nextends: [generic]\nsysobjectid: [1.3.6.1.4.1.4242.*]\n",
                solo="name: solo\nextends: [generic]\nsysobjectid: [1.3.6.1.4.1.4343.*]\n"
                "sysdescr: ['SoloOS']\n",
            )
        ]
    )
    assert ps.match("1.3.6.1.4.1.4242.1.9", "AcmeOS-B 2.0") == (ps.profiles["acme_b"], True)
    assert ps.match("1.3.6.1.4.1.4242.1.9", "AcmeOS-A 1.0") == (ps.profiles["acme_a"], True)
    for descr in ("Acme Router, a shape nobody expected", "", None):
        assert ps.match("1.3.6.1.4.1.4242.1.9", descr) == (ps.profiles["acme"], True)
    # the only profile of its sysObjectID: its patterns do not have to match
    assert ps.match("1.3.6.1.4.1.4343.7", "Solo appliance 9") == (ps.profiles["solo"], True)
    assert ps.match("1.3.6.1.4.1.4444.1", "SoloOS")[0].name == "generic"


def test_a_family_split_by_sysdescr_needs_its_base(tmp_path: Path) -> None:
    head = "extends: [generic]\nsysobjectid: [1.3.6.1.4.1.4242.1.*]\n"
    with pytest.raises(ProfileError) as err:
        ProfileSet(
            [
                site(
                    tmp_path,
                    acme_a=f"name: acme_a\n{head}sysdescr: ['AcmeOS-A']\n",
                    acme_b=f"name: acme_b\n{head}sysdescr: ['AcmeOS-B']\n",
                )
            ]
        )
    assert "1.3.6.1.4.1.4242.1.*" in str(err.value) and "acme_a, acme_b" in str(err.value)


def test_every_interface_has_a_name_ifname_else_ifdescr() -> None:
    if_name = "1.3.6.1.2.1.31.1.1.1.1"
    for name in ("generic", "ios", "junos"):  # every profile reads IF-MIB the same way
        ifds = ProfileSet().profiles[name].datasets["interfaces"]
        assert one_row(ifds, {if_name: b"Gi0/1", IF_DESCR: b"GigabitEthernet0/1"})[0][
            "if_name"
        ] == ("Gi0/1")
        assert one_row(ifds, {IF_DESCR: b"ge-0/0/0"})[0]["if_name"] == "ge-0/0/0"  # no ifXTable
        assert one_row(ifds, {if_name: b"", IF_DESCR: b"port 3"})[0]["if_name"] == "port 3"
