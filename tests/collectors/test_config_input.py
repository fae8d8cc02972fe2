"""Bad input in configuration: every problem in one run, each with file, line
and key; any CSV encoding handled or refused clearly; unresolvable secrets are
validation errors; ``file:`` secrets stay inside the secret folders."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bus.secrets import SecretError, SecretRef, set_secret_dirs
from collectors.config import ConfigError, load_network
from netfeed.cli import main
from netfeed.system import ConfigProblems, load_system

HEAD = "network: lab\ndefaults:\n  snmp: {community: env:NF_IN_COMMUNITY}\n"


def net(tmp: Path, yaml_text: str, csv: bytes | None = None, name: str = "lab") -> Path:
    nets = tmp / "networks"
    nets.mkdir(parents=True, exist_ok=True)
    if csv is not None:
        (nets / "inv.csv").write_bytes(csv)
    p = nets / f"{name}.yaml"
    p.write_text(yaml_text)
    return p


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_network(path)
    return err.value.problems


# -- encodings ---------------------------------------------------------------------------

CSV_LATIN1 = "id,host,tag:site\nr1,127.0.0.1,Zürich\nr2,127.0.0.2,Genève\n".encode("latin-1")


def test_latin1_csv_is_refused_naming_file_line_and_byte(tmp_path: Path) -> None:
    p = net(tmp_path, HEAD + "inventories: [{csv: inv.csv}]\n", CSV_LATIN1)
    (msg,) = problems(p)
    assert msg.startswith(f"{p.parent / 'inv.csv'}:2: not UTF-8 text (byte 0xfc at offset 31)")
    assert "declare its encoding" in msg


def test_declared_csv_encoding_is_decoded(tmp_path: Path) -> None:
    p = net(tmp_path, HEAD + "inventories: [{csv: inv.csv, encoding: latin-1}]\n", CSV_LATIN1)
    devs = {d.id: d for d in load_network(p).devices}
    assert devs["r1"].tags == {"site": "Zürich"} and devs["r2"].tags == {"site": "Genève"}


def test_unknown_declared_encoding_is_a_problem(tmp_path: Path) -> None:
    p = net(tmp_path, HEAD + "inventories: [{csv: inv.csv, encoding: klingon}]\n", CSV_LATIN1)
    assert problems(p) == [f"{p.parent / 'inv.csv'}: unknown encoding 'klingon'"]


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["utf8", "utf8-bom"])
def test_utf8_csv_with_or_without_bom_is_read(tmp_path: Path, bom: bytes) -> None:
    csv = bom + CSV_LATIN1.decode("latin-1").encode()
    p = net(tmp_path, HEAD + "inventories: [{csv: inv.csv}]\n", csv)
    devs = {d.id: d for d in load_network(p).devices}
    assert set(devs) == {"r1", "r2"}  # the BOM is not part of the first column's name
    assert devs["r1"].tags == {"site": "Zürich"}


def test_latin1_yaml_is_refused_naming_line_and_byte(tmp_path: Path) -> None:
    p = net(tmp_path, "")
    p.write_bytes((HEAD + "description: Zürich\n").encode("latin-1"))
    (msg,) = problems(p)
    assert msg.startswith(f"{p}:4: not UTF-8 text (byte 0xfc")


def test_csv_with_nul_byte_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    p = net(tmp_path, HEAD + "inventories: [{csv: inv.csv}]\n", b"id,host\nr\x001,1.2.3.4\n")
    (msg,) = problems(p)
    assert msg.startswith(f"{p.parent / 'inv.csv'}:")


def test_validate_reports_a_latin1_csv_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    net(tmp_path, HEAD + "inventories: [{csv: inv.csv}]\n", CSV_LATIN1)
    assert main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "inv.csv:2: not UTF-8 text" in err and "Traceback" not in err


# -- every problem, with its place ---------------------------------------------------------


def test_bad_cron_does_not_hide_an_unknown_dataset(tmp_path: Path) -> None:
    p = net(
        tmp_path,
        HEAD + "datasets:\n  system: {cron: 'every day'}\n  routes: {interval_s: 60}\n",
    )
    got = problems(p)
    assert any(m.startswith(f"{p}:5: datasets.system: ") and "cron" in m for m in got), got
    assert any(m.startswith(f"{p}:4: datasets: unknown dataset(s) routes") for m in got), got


def test_yaml_problems_name_their_line(tmp_path: Path) -> None:
    p = net(
        tmp_path,
        HEAD
        + "devices:\n"
        + "  - {id: r1, host: 127.0.0.1}\n"
        + "  - id: r2\n"
        + "    host: 127.0.0.2\n"
        + "    snmp:\n"
        + "      port: 99999\n"
        + "collection:\n  max_in_flight: 0\n",
    )
    got = problems(p)
    assert f"{p}:9: device 'r2' (devices[1]).snmp.port: " in "\n".join(got), got
    assert f"{p}:11: collection.max_in_flight: " in "\n".join(got), got


def test_duplicate_id_from_a_csv_names_the_csv_line(tmp_path: Path) -> None:
    csv = b"id,host\nc1,127.0.0.3\nr1,127.0.0.4\n"
    p = net(
        tmp_path,
        HEAD + "devices:\n  - {id: r1, host: 127.0.0.1}\ninventories: [{csv: inv.csv}]\n",
        csv,
    )
    assert problems(p) == [
        f"{p.parent / 'inv.csv'}:3 (device 'r1'): id: duplicate device id (first at {p}:5)"
    ]


def test_yaml_errors_do_not_hide_the_csv_problems(tmp_path: Path) -> None:
    p = net(tmp_path, HEAD + "inventories: [{csv: inv.csv}]\ncolection: {}\n", CSV_LATIN1)
    got = problems(p)
    assert any("colection" in m for m in got) and any("not UTF-8" in m for m in got), got


def test_every_netfeed_yaml_problem_with_its_line(tmp_path: Path) -> None:
    net(tmp_path, HEAD)
    (tmp_path / "netfeed.yaml").write_text(
        "bus:\n  backend: pigeon\ncollector:\n  max_in_flight: 0\nextra: {}\n"
    )
    with pytest.raises(ConfigProblems) as err:
        load_system(tmp_path)
    yml = tmp_path / "netfeed.yaml"
    text = "\n".join(err.value.problems)
    assert f"{yml}:2: bus.backend: " in text
    assert f"{yml}:4: collector.max_in_flight: " in text
    assert f"{yml}:5: extra: unknown section" in text
    assert len(err.value.problems) == 3, text


# -- secrets -------------------------------------------------------------------------------


def test_validate_fails_on_an_unset_env_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NF_IN_COMMUNITY", raising=False)
    net(tmp_path, HEAD + "devices:\n  - {id: r1, host: 127.0.0.1}\n  - {id: r2, host: h2}\n")
    assert main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert (
        "lab.yaml: device 'r1' (and 1 more): snmp.community: secret env:NF_IN_COMMUNITY: "
        "environment variable NF_IN_COMMUNITY is not set"
    ) in err
    monkeypatch.setenv("NF_IN_COMMUNITY", "public")
    assert main(["validate", str(tmp_path)]) == 0


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    d = tmp_path / "secrets"
    d.mkdir()
    (d / "community").write_text("s3cret\n")
    return d


def test_file_secret_inside_the_secret_folder_is_read(secrets_dir: Path) -> None:
    set_secret_dirs([secrets_dir])
    assert SecretRef.parse(f"file:{secrets_dir / 'community'}").reveal() == "s3cret"
    assert SecretRef.parse("file:community").reveal() == "s3cret"  # relative to the folder


@pytest.mark.parametrize(
    "ref", ["file:/etc/hostname", "file:../outside", "file:/etc/../etc/passwd"]
)
def test_file_secret_outside_the_secret_folders_is_refused(secrets_dir: Path, ref: str) -> None:
    (secrets_dir.parent / "outside").write_text("x")
    set_secret_dirs([secrets_dir])
    with pytest.raises(SecretError, match="outside the secret folders"):
        SecretRef.parse(ref).reveal()


def test_symlink_out_of_the_secret_folder_is_refused(secrets_dir: Path) -> None:
    (secrets_dir.parent / "elsewhere").write_text("not a secret")
    os.symlink(secrets_dir.parent / "elsewhere", secrets_dir / "link")
    set_secret_dirs([secrets_dir])
    with pytest.raises(SecretError, match="outside the secret folders"):
        SecretRef.parse(f"file:{secrets_dir / 'link'}").reveal()


def test_validate_refuses_file_secrets_outside_the_configured_folders(
    tmp_path: Path, secrets_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    net(
        tmp_path,
        "network: lab\ndevices:\n"
        "  - {id: r1, host: 127.0.0.1, snmp: {community: 'file:/etc/hostname'}}\n"
        f"  - {{id: r2, host: 127.0.0.1, snmp: {{community: 'file:{secrets_dir}/community'}}}}\n",
    )
    assert main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "device 'r1': snmp.community: secret file:/etc/hostname: outside the secret" in err
    assert "'r2'" not in err  # <config>/secrets is a secret folder by default
    # secrets.dirs replaces the defaults
    (tmp_path / "netfeed.yaml").write_text("secrets: {dirs: [/etc]}\n")
    assert main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "'r1'" not in err and "device 'r2': snmp.community" in err


# -- scale ---------------------------------------------------------------------------------


def test_a_50k_row_inventory_still_validates_in_seconds(tmp_path: Path) -> None:
    rows = "".join(
        f"d{i},10.{i >> 16}.{(i >> 8) & 255}.{i & 255},tier{i % 4}\n" for i in range(50_000)
    )
    groups = "groups:\n" + "".join(f"  tier{i}: {{tags: {{tier: t{i}}}}}\n" for i in range(4))
    p = net(
        tmp_path,
        HEAD + groups + "inventories: [{csv: inv.csv}]\n",
        ("id,host,groups\n" + rows).encode(),
    )
    t0 = time.process_time()
    cfg = load_network(p)
    took = time.process_time() - t0
    assert len(cfg.devices) == 50_000
    assert took < 15, took  # ~4 s on a loaded 2-core machine; it was 4.2 s before these checks


# -- collect --once ------------------------------------------------------------------------


def test_collect_once_fails_when_no_device_answered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import free_udp_port

    monkeypatch.setenv("NF_IN_COMMUNITY", "public")
    net(
        tmp_path,
        HEAD.replace("community:", "timeout_s: 0.2, retries: 0, community:")
        + f"devices:\n  - {{id: r1, host: 127.0.0.1, snmp: {{port: {free_udp_port()}}}}}\n"
        + "datasets: {system: {interval_s: 60}}\n",
    )
    code = main(["collect", "--config", str(tmp_path), "--once", "--dry-run"])
    assert code == 1
    assert "no device answered" in capsys.readouterr().err


def test_a_bad_bus_override_in_the_environment_is_a_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NF_IN_COMMUNITY", "public")
    monkeypatch.setenv("NETFEED_BUS", "pigeon")
    net(tmp_path, HEAD)
    assert main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "environment NETFEED_BUS: bus.backend: Input should be" in err
    assert "Traceback" not in err


def test_a_model_error_does_not_hide_duplicates_groups_or_the_name(tmp_path: Path) -> None:
    p = net(
        tmp_path,
        HEAD.replace("network: lab", "network: other")
        + "devices:\n"
        + "  - {id: r1, host: 127.0.0.1, snmp: {port: 99999}}\n"
        + "  - {id: r2, host: 127.0.0.2, groups: [nope]}\n"
        + "inventories: [{csv: inv.csv}]\n",
        b"id,host\nr2,127.0.0.3\n",
    )
    got = "\n".join(problems(p))
    assert f"{p}:5: device 'r1' (devices[0]).snmp.port: " in got
    assert f"{p}:1: network: 'other' must match the file name 'lab'" in got
    assert f"{p}:6: device 'r2': groups: unknown group(s) nope" in got
    assert (
        f"{p.parent / 'inv.csv'}:2 (device 'r2'): id: duplicate device id (first at {p}:6)"
    ) in got
