"""Kafka security: settings checked at load, and SCRAM over TLS against the real broker.

The broker tests use the SASL_SSL listener ``scripts/kafka.sh start`` opens
(scripts/test exports where it is and how to log in: NETFEED_KAFKA_SASL_* and
NETFEED_KAFKA_SSL_CAFILE); they skip, saying so, where those are absent.  By
hand: ``set -a; eval "$(scripts/kafka.sh start)"; set +a`` exports them all.
The password reaches netfeed only as a ``file:`` or ``env:`` reference.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import shutil
import ssl
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from bus.api import BusError
from bus.configfile import SettingsError, load_bus_settings
from bus.kafka import KafkaConsumer, KafkaProducer, _client_kwargs
from bus.settings import BusSettings, KafkaSecurity, KafkaSettings
from collectors.config import load_networks

SASL_ENV = "NETFEED_KAFKA_SASL_BOOTSTRAP"
ROOT = Path(__file__).resolve().parents[2]


# --- settings, checked when loaded (no broker) --------------------------------


def test_sasl_needs_mechanism_username_and_password() -> None:
    with pytest.raises(ValidationError) as e:
        KafkaSecurity(protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512")
    msg = str(e.value)
    assert "kafka.security.sasl_username" in msg
    assert "kafka.security.sasl_password" in msg
    assert "SASL_SSL" in msg


def test_sasl_password_is_a_reference_never_inline() -> None:
    with pytest.raises(ValidationError, match="inline secrets are not accepted"):
        KafkaSecurity(
            protocol="SASL_SSL",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username="u",
            sasl_password="hunter2",  # type: ignore[arg-type]
        )


def test_settings_the_protocol_would_ignore_are_errors() -> None:
    with pytest.raises(ValidationError, match=r"kafka\.security\.sasl_username set but"):
        KafkaSecurity(protocol="SSL", sasl_username="u")
    with pytest.raises(ValidationError, match=r"kafka\.security\.ssl_cafile set but"):
        KafkaSecurity(protocol="SASL_PLAINTEXT", ssl_cafile=Path("ca.pem"), **_creds())  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"kafka\.security\.ssl_keyfile needs"):
        KafkaSecurity(protocol="SSL", ssl_keyfile=Path("k.pem"))


def test_ssl_without_cafile_means_system_cas() -> None:
    sec = KafkaSecurity(protocol="SSL")
    assert sec.ssl_cafile is None and sec.ssl_check_hostname


def test_config_file_errors_name_the_key_and_tls_paths_follow_the_folder(
    tmp_path: Path,
) -> None:
    (tmp_path / "netfeed.yaml").write_text(
        "bus:\n  kafka:\n    security: {protocol: SASL_SSL, sasl_mechanism: SCRAM-SHA-256}\n"
    )
    with pytest.raises(SettingsError) as e:
        load_bus_settings(tmp_path)
    assert "bus.kafka.security" in str(e.value)
    assert "kafka.security.sasl_username" in str(e.value)
    (tmp_path / "netfeed.yaml").write_text(
        "bus:\n  kafka:\n    security:\n      protocol: SASL_SSL\n"
        "      sasl_mechanism: SCRAM-SHA-512\n      sasl_username: netfeed\n"
        "      sasl_password: file:/run/secrets/kafka\n      ssl_cafile: tls/ca.pem\n"
    )
    sec = load_bus_settings(tmp_path).kafka.security
    assert sec.ssl_cafile == tmp_path / "tls" / "ca.pem"
    assert str(sec.sasl_password) == "file:/run/secrets/kafka"


async def test_missing_password_names_the_setting_not_a_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NF_TEST_NO_SUCH_PASSWORD", raising=False)
    settings = _bus("127.0.0.1:1", sasl_password="env:NF_TEST_NO_SUCH_PASSWORD")
    with pytest.raises(
        BusError, match=r"kafka\.security\.sasl_password: .*NF_TEST_NO_SUCH_PASSWORD"
    ):
        await KafkaProducer(settings).start()


async def test_unreadable_cafile_is_a_clear_error(tmp_path: Path) -> None:
    settings = _bus(
        "127.0.0.1:1", protocol="SSL", ssl_cafile=tmp_path / "missing.pem", with_sasl=False
    )
    with pytest.raises(BusError, match=r"cannot load TLS files \(kafka.security.ssl_cafile="):
        await KafkaProducer(settings).start()


def test_ssl_check_hostname_false_reaches_the_tls_context() -> None:
    k = KafkaSettings(security=KafkaSecurity(protocol="SSL", ssl_check_hostname=False))
    ctx = _client_kwargs(k, "t")["ssl_context"]
    assert ctx.check_hostname is False and ctx.verify_mode == ssl.CERT_REQUIRED
    assert _client_kwargs(KafkaSettings(), "t").get("ssl_context") is None


def test_secure_example_config_validates(tmp_path: Path) -> None:
    """configs/examples/secure: SASL_SSL to Kafka, SNMPv3 authPriv devices; its
    secrets are checked too, so they are provided as an operator would."""
    example = tmp_path / "secure"
    shutil.copytree(ROOT / "configs" / "examples" / "secure", example)

    def validate(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "netfeed.cli", "validate", str(example)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
            env={**os.environ, **env},
        )

    r = validate({})  # no secrets yet: each reference is a problem, named
    assert r.returncode == 1
    for name in ("NETFEED_SNMPV3_AUTH_KEY", "netfeed-snmpv3-priv", "netfeed-kafka-password"):
        assert name in r.stderr, r.stderr
    (example / "secrets").mkdir()
    (example / "secrets" / "netfeed-snmpv3-priv").write_text("priv-key-of-the-example\n")
    (example / "secrets" / "netfeed-kafka-password").write_text("kafka-password\n")
    r = validate({"NETFEED_SNMPV3_AUTH_KEY": "auth-key-of-the-example"})
    assert r.returncode == 0, r.stderr
    assert "core-v3 (2)" in r.stdout
    assert "priv-key-of" not in r.stdout + r.stderr and "kafka-password\n" not in r.stdout
    sec = load_bus_settings(example).kafka.security
    assert (sec.protocol, sec.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
    nets = load_networks(example)
    levels = {d.options["snmp"].security_level for n in nets for d in n.devices}
    assert levels == {"authPriv"}


# --- against the broker's SASL_SSL listener ------------------------------------


def _creds() -> dict[str, str]:
    return {
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username": "netfeed",
        "sasl_password": "env:UNUSED",
    }


def _bus(
    bootstrap: str, *, with_sasl: bool = True, request_timeout_ms: int = 10_000, **security: object
) -> BusSettings:
    sec: dict[str, object] = {"protocol": "SASL_SSL"}
    if with_sasl:
        sec.update(_creds())
    sec.update(security)
    return BusSettings(
        backend="kafka",
        topic_prefix=f"t{uuid.uuid4().hex[:10]}",
        kafka=KafkaSettings(
            bootstrap_servers=bootstrap,
            partitions=1,
            metadata_max_age_ms=500,
            session_timeout_ms=6000,
            heartbeat_interval_ms=500,
            linger_ms=5,
            request_timeout_ms=request_timeout_ms,
            security=KafkaSecurity.model_validate(sec),
        ),
    )


class Listener:
    """The broker's SASL_SSL listener, as scripts/kafka.sh start reported it."""

    def __init__(self) -> None:
        env = os.environ
        self.bootstrap = env[SASL_ENV]
        self.mechanism = env.get("NETFEED_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
        self.username = env["NETFEED_KAFKA_SASL_USERNAME"]
        self.password_file = Path(env["NETFEED_KAFKA_SASL_PASSWORD_FILE"])
        self.cafile = Path(env["NETFEED_KAFKA_SSL_CAFILE"])

    def password(self) -> str:
        return self.password_file.read_text().strip()

    def settings(self, **security: object) -> BusSettings:
        sec: dict[str, object] = {
            "sasl_mechanism": self.mechanism,
            "sasl_username": self.username,
            "sasl_password": f"file:{self.password_file}",
            "ssl_cafile": self.cafile,
        }
        sec.update(security)
        return _bus(self.bootstrap, **sec)


@pytest.fixture
def listener() -> Listener:
    if not os.environ.get(SASL_ENV):
        why = os.environ.get("NETFEED_KAFKA_SASL_MISSING") or (
            "the SASL_SSL tests need `scripts/kafka.sh start` (scripts/test does it)"
        )
        pytest.skip(f"{SASL_ENV} not set: {why}")
    return Listener()


async def _round_trip(settings: BusSettings) -> None:
    topic = f"{settings.topic_prefix}.secure"
    producer = KafkaProducer(settings, client_id="nf-secure-test")
    await producer.start()
    try:
        await producer.ensure_topic(topic)
        for i in range(3):
            await producer.send(topic, f"v{i}".encode(), key=b"k")
        await producer.flush()
    finally:
        await producer.stop()
    consumer = KafkaConsumer(settings, group=f"{settings.topic_prefix}-g", topics=[topic])
    await consumer.start()
    try:
        got: list[bytes] = []
        async with asyncio.timeout(30):
            while len(got) < 3:
                got += [m.value for m in await consumer.getmany(timeout_ms=500)]
        await consumer.commit()
    finally:
        await consumer.stop()
    assert got == [b"v0", b"v1", b"v2"]


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256"])
async def test_round_trip_with_scram_over_tls(
    listener: Listener, mechanism: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await _round_trip(listener.settings(sasl_mechanism=mechanism))
    assert listener.password() not in caplog.text


async def test_password_from_the_environment(
    listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NF_TEST_KAFKA_PASSWORD", listener.password())
    await _round_trip(listener.settings(sasl_password="env:NF_TEST_KAFKA_PASSWORD"))


async def test_host_name_localhost_matches_the_certificate(listener: Listener) -> None:
    port = listener.bootstrap.rpartition(":")[2]
    settings = listener.settings()
    k = settings.kafka.model_copy(update={"bootstrap_servers": f"localhost:{port}"})
    producer = KafkaProducer(settings.model_copy(update={"kafka": k}))
    await producer.start()
    await producer.stop()


async def test_wrong_password_is_a_clear_bounded_error(
    listener: Listener, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = f"wrong-{uuid.uuid4().hex}"
    monkeypatch.setenv("NF_TEST_KAFKA_WRONG", wrong)
    settings = listener.settings(sasl_password="env:NF_TEST_KAFKA_WRONG")
    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(BusError) as e:
        async with asyncio.timeout(20):  # request_timeout_ms is 10 s: no retrying until then
            await KafkaProducer(settings).start()
    took = loop.time() - began
    msg = str(e.value)
    assert listener.bootstrap in msg and listener.mechanism in msg
    assert "login refused" in msg and repr(listener.username) in msg
    assert took < 8, f"a refused login is final, yet it took {took:.1f}s"
    for secret in (wrong, listener.password()):
        assert secret not in msg
        assert secret not in repr(e.value.__cause__)
        assert secret not in caplog.text
    # The consumer and the admin path say the same.
    with pytest.raises(BusError, match="login refused"):
        await KafkaConsumer(settings, group=None, topics=["x"]).start()


def _foreign_ca(path: Path) -> Path:
    """A CA the broker's certificate was not signed by."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not the broker's CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


async def test_untrusted_ca_is_a_clear_tls_error(listener: Listener, tmp_path: Path) -> None:
    other = _foreign_ca(tmp_path / "other-ca.pem")
    settings = listener.settings(ssl_cafile=other)
    with pytest.raises(BusError) as e:
        async with asyncio.timeout(20):
            await KafkaProducer(settings).start()
    msg = str(e.value)
    assert listener.bootstrap in msg
    assert "TLS" in msg and "certificate is not accepted" in msg
    assert f"ssl_cafile={other}" in msg
    assert listener.password() not in msg


async def test_plaintext_client_on_the_tls_listener_does_not_hang(listener: Listener) -> None:
    """A client speaking the wrong protocol fails within its request timeout."""
    settings = _bus(
        listener.bootstrap, with_sasl=False, protocol="PLAINTEXT", request_timeout_ms=3000
    )
    with pytest.raises(BusError, match="cannot reach bootstrap servers"):
        async with asyncio.timeout(20):
            await KafkaProducer(settings).start()


def _tail_cli(config: Path, topic: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NETFEED_KAFKA_")}
    args = ["-vv", "tail", topic, "--from-beginning", "--max", "1", "--duration", "40"]
    return subprocess.run(
        [sys.executable, "-m", "netfeed.cli", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
        env={**clean, **env},
    )


async def test_netfeed_command_over_sasl_ssl_from_a_config_folder(
    listener: Listener, tmp_path: Path
) -> None:
    """The whole path a user takes: netfeed.yaml with a relative CA file and an
    env: password; with -vv debug logging the password shows nowhere."""
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "ca.pem").write_bytes(listener.cafile.read_bytes())
    (tmp_path / "netfeed.yaml").write_text(
        f"bus:\n  backend: kafka\n  kafka:\n    bootstrap_servers: {listener.bootstrap}\n"
        f"    security:\n      protocol: SASL_SSL\n      sasl_mechanism: {listener.mechanism}\n"
        f"      sasl_username: {listener.username}\n"
        "      sasl_password: env:NF_TEST_KAFKA_PASSWORD\n      ssl_cafile: tls/ca.pem\n"
    )
    settings = listener.settings()
    topic = f"{settings.topic_prefix}.cli"
    producer = KafkaProducer(settings)
    await producer.start()
    try:
        await producer.ensure_topic(topic)
        await producer.send(topic, b"not a record")
        await producer.flush()
    finally:
        await producer.stop()
    password = listener.password()
    r = await asyncio.to_thread(_tail_cli, tmp_path, topic, {"NF_TEST_KAFKA_PASSWORD": password})
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("# "), r.stdout  # the message, shown as not decodable
    assert password not in r.stdout + r.stderr
    wrong = f"wrong-{uuid.uuid4().hex}"
    r = await asyncio.to_thread(_tail_cli, tmp_path, topic, {"NF_TEST_KAFKA_PASSWORD": wrong})
    assert r.returncode != 0
    assert "login refused" in r.stderr and listener.bootstrap in r.stderr
    assert wrong not in r.stdout + r.stderr and password not in r.stdout + r.stderr
