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
    [(tags, fields, _bad)] = sysds.build(
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
    _, f64, _ = one_row(ifds, {HC_IN: 2**40, IN32: 7, IF_DESCR: b"eth0"})
    assert f64["in_octets"] == 2**40 and f64["counter_bits"] == 64 and f64["if_descr"] == "eth0"
    _, f32, _ = one_row(ifds, {IN32: 7})
    assert f32["in_octets"] == 7 and f32["counter_bits"] == 32


def test_speed_uses_high_speed_unless_zero() -> None:
    ifds = ProfileSet().profiles["generic"].datasets["interfaces"]
    hs, sp = "1.3.6.1.2.1.31.1.1.1.15", "1.3.6.1.2.1.2.2.1.5"
    assert one_row(ifds, {hs: 10_000, sp: 4_294_967_295})[1]["speed_bps"] == 10_000_000_000
    assert one_row(ifds, {hs: 0, sp: 64_000})[1]["speed_bps"] == 64_000


def test_wrong_value_type_is_reported_not_guessed() -> None:
    ifds = ProfileSet().profiles["generic"].datasets["interfaces"]
    _, fields, bad = one_row(ifds, {HC_IN: b"\x01\x02", "1.3.6.1.2.1.2.2.1.8": b"up"})
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
