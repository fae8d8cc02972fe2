"""Connecting to Kafka: client settings (TLS, SASL), a bounded start, and
plain reasons for failures no retry cures.

Guarantees: the SASL password is read at connect time and handed to aiokafka
alone (never stored on our objects, logged or put in an error); a start gives
up within ``request_timeout_ms`` (:class:`~bus.api.BusUnreachable`), or at
once when the broker refuses the login or our TLS (:class:`~bus.api.BusRefused`,
naming listener, protocol, mechanism and user).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.helpers import create_ssl_context

from bus.api import BusError, BusRefused, BusUnreachable
from bus.secrets import SecretError
from bus.settings import KafkaSettings


def _client_kwargs(k: KafkaSettings, client_id: str) -> dict[str, Any]:
    """Connection settings shared by producer, consumer and admin client.

    The SASL password is read here, at connect time, and handed only to
    aiokafka; it is never stored on our objects or logged.  TLS files that
    cannot be loaded raise :class:`BusError` naming the setting.
    """
    sec = k.security
    kw: dict[str, Any] = {
        "bootstrap_servers": k.bootstrap_servers,
        "client_id": client_id,
        "request_timeout_ms": k.request_timeout_ms,
        "security_protocol": sec.protocol,
    }
    if sec.uses_ssl:
        try:
            ctx: ssl.SSLContext = create_ssl_context(
                cafile=str(sec.ssl_cafile) if sec.ssl_cafile else None,
                certfile=str(sec.ssl_certfile) if sec.ssl_certfile else None,
                keyfile=str(sec.ssl_keyfile) if sec.ssl_keyfile else None,
            )
        except OSError as exc:  # ssl.SSLError too: a file that is no PEM, a key not matching
            files = ", ".join(
                f"kafka.security.{name}={path}"
                for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile")
                if (path := getattr(sec, name)) is not None
            )
            raise BusError(
                f"kafka {k.bootstrap_servers} ({sec.protocol}): cannot load TLS files "
                f"({files or 'system CAs'}): {exc.strerror or exc}"
            ) from exc
        if not sec.ssl_check_hostname:
            ctx.check_hostname = False
        kw["ssl_context"] = ctx
    if sec.uses_sasl:
        kw["sasl_mechanism"] = sec.sasl_mechanism
        kw["sasl_plain_username"] = sec.sasl_username
        try:
            kw["sasl_plain_password"] = sec.sasl_password.reveal() if sec.sasl_password else None
        except SecretError as exc:
            raise BusError(
                f"kafka {k.bootstrap_servers}: kafka.security.sasl_password: {exc}"
            ) from exc
    return kw


async def _security_failure(k: KafkaSettings) -> BusRefused | None:
    """Why a TLS or SASL client could not start, if the reason is one no retry cures.

    aiokafka logs the cause of a failed bootstrap (a certificate not trusted,
    credentials refused) and raises only "Unable to bootstrap".  One direct
    connection to the first bootstrap server, with the same settings, recovers
    the cause.  The message names the listener, protocol, mechanism and user,
    never the password.
    """
    sec = k.security
    if sec.protocol == "PLAINTEXT":
        return None
    server = k.bootstrap_servers.split(",")[0].strip()
    host, _, port = server.rpartition(":")
    kw = _client_kwargs(k, "netfeed-diagnosis")
    conn_kw = {name: v for name, v in kw.items() if name != "bootstrap_servers"}
    where = f"kafka {server} ({sec.protocol}"
    where += f", SASL {sec.sasl_mechanism} as user {sec.sasl_username!r})" if sec.uses_sasl else ")"
    try:
        async with asyncio.timeout(k.request_timeout_ms / 1000):
            conn = await create_conn(host.strip("[]"), int(port or 9092), **conn_kw)
        conn.close()
    except ssl.SSLCertVerificationError as exc:
        trust = f"kafka.security.ssl_cafile={sec.ssl_cafile}" if sec.ssl_cafile else "system CAs"
        return BusRefused(
            f"{where}: TLS: the broker's certificate is not accepted "
            f"({exc.verify_message}; trusted: {trust}"
            + ("" if sec.ssl_check_hostname else ", host name not checked")
            + ")"
        )
    except ssl.SSLError as exc:
        return BusRefused(f"{where}: TLS handshake failed: {exc.reason or exc}")
    except (UnsupportedSaslMechanismError, AuthenticationMethodNotSupported) as exc:
        return BusRefused(
            f"{where}: the listener does not offer SASL {sec.sasl_mechanism} "
            f"({type(exc).__name__}); check kafka.security.sasl_mechanism"
        )
    except (AuthenticationFailedError, SaslAuthenticationFailed) as exc:
        return BusRefused(
            f"{where}: login refused by the broker ({type(exc).__name__}: {exc}); check "
            "kafka.security.sasl_username, sasl_password and sasl_mechanism"
        )
    except (KafkaError, OSError, TimeoutError, ValueError):
        return None  # unreachable or starting: the caller's retries handle it
    return None


async def _start_bounded(make: Callable[[], Any], k: KafkaSettings, what: str) -> Any:
    """Start an aiokafka client, retrying until ``request_timeout_ms`` has passed.

    aiokafka tries each bootstrap server once and gives up; a broker that is
    still starting (or restarting) deserves a few more tries.  Each failed
    client is closed so no connections or warnings leak.
    """
    deadline = time.monotonic() + k.request_timeout_ms / 1000
    last: BaseException | None = None
    while True:
        client = make()
        try:
            async with asyncio.timeout(max(deadline - time.monotonic(), 0.1)):
                await client.start()
            return client
        except BaseException as exc:  # also when cancelled (a command stopping): close it
            with contextlib.suppress(Exception):
                await (client.close() if isinstance(client, AIOKafkaAdminClient) else client.stop())
            if not isinstance(exc, (KafkaError, OSError, TimeoutError)):
                raise
            if (refused := await _security_failure(k)) is not None:
                raise refused from None
            last = exc
        if time.monotonic() + 0.5 >= deadline:
            raise BusUnreachable(
                f"kafka {what}: cannot reach bootstrap servers {k.bootstrap_servers} "
                f"within {k.request_timeout_ms} ms: {type(last).__name__}: {last}"
            ) from last
        await asyncio.sleep(0.5)


def _session_refused(k: KafkaSettings, group: str | None, exc: BaseException) -> BusError:
    """The broker refused to let a consumer join ``group`` with our session timeout."""
    return BusError(
        f"kafka {k.bootstrap_servers}: consumer group {group}: the broker refused "
        f"kafka.session_timeout_ms={k.session_timeout_ms} ({type(exc).__name__}): it must lie "
        "between the broker's group.min.session.timeout.ms (Kafka's default 6000) and "
        "group.max.session.timeout.ms (default 1800000); change kafka.session_timeout_ms "
        "in netfeed.yaml or those broker settings"
    )
