"""A real Debian net-snmp ``snmpd`` on loopback, configured for the protocol tests.

:class:`Snmpd` writes a private configuration, a private persistent directory
(``SNMP_PERSISTENT_DIR``: engine id, boots and users stay out of
``/var/lib/snmp``) and one secret file per key, then starts ::

    /usr/sbin/snmpd -f -Lo -C -c <conf>,<persist>/snmpd.conf -M <empty> -m "" udp:127.0.0.1:<port>

and waits until it answers a v2c GET.  ``-C`` keeps the system's files out,
but also the persistent one, which is why that is named in ``-c``: without it
every start gets a new engine id and boots 1, and a "reboot" would look like
a replaced device.  The empty MIB directory spares parsing MIBs it never
needs.  It serves:

- v1/v2c on :data:`COMMUNITY` (read-only, from 127.0.0.1 only);
- one USM user per entry of :data:`V3_USERS` (``createUser`` lines, ``rouser``
  at the user's own level), each with its own pass phrases.

Secrets reach the collector as ``file:`` references (:meth:`Snmpd.snmp`), as
they would in production.  Works as root or not (no privileged port, nothing
outside the work directory is written).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SNMPD = "/usr/sbin/snmpd"
COMMUNITY = "nf-ro-community"
SYS_NAME = "netfeed-snmpd"
SYS_LOCATION = "test rack 7"
SYS_CONTACT = "noc@example.net"


@dataclass(frozen=True)
class V3User:
    """One USM user: protocols in net-snmp's (and netfeed's config) names."""

    name: str
    level: str  # noAuthNoPriv | authNoPriv | authPriv
    auth: str | None = None
    priv: str | None = None

    @property
    def auth_key(self) -> str:
        return f"auth-{self.name}-pass"  # >= 8 characters, distinct per user

    @property
    def priv_key(self) -> str:
        return f"priv-{self.name}-pass"


V3_USERS: tuple[V3User, ...] = (
    V3User("v3-noauth", "noAuthNoPriv"),
    V3User("v3-md5", "authNoPriv", "MD5"),
    V3User("v3-sha", "authNoPriv", "SHA"),
    V3User("v3-sha224", "authNoPriv", "SHA-224"),
    V3User("v3-sha256", "authNoPriv", "SHA-256"),
    V3User("v3-sha384", "authNoPriv", "SHA-384"),
    V3User("v3-sha512", "authNoPriv", "SHA-512"),
    V3User("v3-md5-des", "authPriv", "MD5", "DES"),
    V3User("v3-sha-des", "authPriv", "SHA", "DES"),
    V3User("v3-md5-aes", "authPriv", "MD5", "AES"),
    V3User("v3-sha-aes", "authPriv", "SHA", "AES"),
    V3User("v3-sha224-aes", "authPriv", "SHA-224", "AES"),
    V3User("v3-sha256-aes", "authPriv", "SHA-256", "AES"),
    V3User("v3-sha384-aes", "authPriv", "SHA-384", "AES"),
    V3User("v3-sha512-aes", "authPriv", "SHA-512", "AES"),
    # SHA-1 gives 20 key bytes: AES-192/256 must extend the key, and the two
    # drafts do it differently (Blumenthal: net-snmp's AES-192/256; Reeder:
    # its AES-192-C/256-C, Cisco's).  SHA-256+ gives enough bytes for both.
    V3User("v3-sha-aes192", "authPriv", "SHA", "AES-192"),
    V3User("v3-sha-aes256", "authPriv", "SHA", "AES-256"),
    V3User("v3-sha-aes192c", "authPriv", "SHA", "AES-192-C"),
    V3User("v3-sha-aes256c", "authPriv", "SHA", "AES-256-C"),
    V3User("v3-md5-aes256", "authPriv", "MD5", "AES-256"),
    V3User("v3-sha256-aes256", "authPriv", "SHA-256", "AES-256"),
    V3User("v3-sha512-aes256c", "authPriv", "SHA-512", "AES-256-C"),
)
_ROUSER_LEVEL = {"noAuthNoPriv": "noauth", "authNoPriv": "auth", "authPriv": "priv"}


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _tlv(tag: int, body: bytes) -> bytes:
    assert len(body) < 128  # short form is enough for the probe
    return bytes([tag, len(body)]) + body


def v2c_get_sysuptime(community: str, request_id: int = 1) -> bytes:
    """A minimal SNMPv2c GET of sysUpTime.0, for the readiness probe."""
    oid = bytes([0x2B, 6, 1, 2, 1, 1, 3, 0])  # 1.3.6.1.2.1.1.3.0
    varbind = _tlv(0x30, _tlv(0x06, oid) + b"\x05\x00")
    pdu = _tlv(
        0xA0,
        _tlv(0x02, request_id.to_bytes(2, "big"))
        + _tlv(0x02, b"\x00")
        + _tlv(0x02, b"\x00")
        + _tlv(0x30, varbind),
    )
    return _tlv(0x30, _tlv(0x02, b"\x01") + _tlv(0x04, community.encode()) + pdu)


class Snmpd:
    """One ``snmpd`` process; ``start()``/``stop()`` or ``with``."""

    def __init__(
        self,
        workdir: Path,
        *,
        host: str = "127.0.0.1",
        community: str = COMMUNITY,
        users: tuple[V3User, ...] = V3_USERS,
        exe: str = SNMPD,
    ) -> None:
        self.workdir = workdir
        self.host = host
        self.port = 0
        self.community = community
        self.users = {u.name: u for u in users}
        self.exe = exe
        self.conf = workdir / "snmpd.conf"
        self.log = workdir / "snmpd.log"
        self.secrets = workdir / "secrets"
        self.persist = workdir / "persist"  # engine id, boots, users (SNMP_PERSISTENT_DIR)
        self.proc: subprocess.Popen[bytes] | None = None

    # -- configuration -------------------------------------------------------

    def config_text(self) -> str:
        lines = [
            "# written by tests/support/snmpd.py",
            f"sysName {SYS_NAME}",
            f"sysLocation {SYS_LOCATION}",
            f"sysContact {SYS_CONTACT}",
            "dontLogTCPWrappersConnects yes",
            f"rocommunity {self.community} 127.0.0.1",
        ]
        for u in self.users.values():
            create = f"createUser {u.name}"
            if u.auth:
                create += f" {u.auth} {u.auth_key}"
                if u.priv:
                    create += f" {u.priv} {u.priv_key}"
            lines += [create, f"rouser -s usm {u.name} {_ROUSER_LEVEL[u.level]}"]
        return "\n".join(lines) + "\n"

    def _write_files(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "mibs").mkdir(exist_ok=True)  # empty: no MIB parsing noise
        self.secrets.mkdir(exist_ok=True)
        self.conf.write_text(self.config_text())
        self.conf.chmod(0o600)
        (self.secrets / "community").write_text(self.community + "\n")
        for u in self.users.values():
            (self.secrets / f"{u.name}.auth").write_text(u.auth_key + "\n")
            (self.secrets / f"{u.name}.priv").write_text(u.priv_key + "\n")

    def snmp(self, version: str, user: str | None = None, **override: Any) -> dict[str, Any]:
        """Settings for :class:`collectors.config.SnmpSettings` that reach this agent
        (secrets as ``file:`` references); ``override`` replaces any of them."""
        out: dict[str, Any] = {"version": version, "port": self.port, "timeout_s": 1.0}
        if version != "3":
            out["community"] = f"file:{self.secrets / 'community'}"
        else:
            u = self.users[user or "v3-noauth"]
            out |= {"security_name": u.name, "security_level": u.level}
            if u.auth:
                out |= {"auth_protocol": u.auth, "auth_key": f"file:{self.secrets}/{u.name}.auth"}
            if u.priv:
                out |= {"priv_protocol": u.priv, "priv_key": f"file:{self.secrets}/{u.name}.priv"}
        out.update(override)
        return out

    # -- process -------------------------------------------------------------

    def answers(self, timeout_s: float = 0.3) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout_s)
            try:
                s.sendto(v2c_get_sysuptime(self.community), (self.host, self.port))
                return bool(s.recv(4096))
            except OSError:
                return False

    def start(self, timeout_s: float = 20.0, attempts: int = 3) -> None:
        """Start on a free port with fresh state (new engine id, boots 1)."""
        if not (os.path.exists(self.exe) or shutil.which(self.exe)):
            raise FileNotFoundError(f"{self.exe} not installed (scripts/setup.sh system)")
        self._write_files()
        for _attempt in range(attempts):
            shutil.rmtree(self.persist, ignore_errors=True)
            self.persist.mkdir()
            (self.persist / "snmpd.conf").touch()
            self.port = free_udp_port(self.host)
            if self._run(timeout_s):
                return
        raise RuntimeError(f"snmpd did not start; its log:\n{self.log.read_text()[-3000:]}")

    def reboot(self, *, new_engine_id: bool = False, timeout_s: float = 20.0) -> None:
        """Stop and start again on the same port, as a device reboots: the same
        engine id with engine boots + 1 and engine time from 0; or, with
        ``new_engine_id``, as a replaced device (another engine id) would."""
        self.stop()
        if new_engine_id:
            shutil.rmtree(self.persist, ignore_errors=True)
            self.persist.mkdir()
            (self.persist / "snmpd.conf").touch()
        if not self._run(timeout_s):
            raise RuntimeError(f"snmpd did not restart; its log:\n{self.log.read_text()[-3000:]}")

    def _run(self, timeout_s: float) -> bool:
        log = self.log.open("ab")
        self.proc = subprocess.Popen(
            [
                self.exe,
                "-f",  # foreground: we own the process
                "-Lo",  # log to stdout (our log file)
                "-C",  # no system configuration files, and so no persistent ones either:
                "-c",  # ours, then the persistent file (engine id, boots) by name
                f"{self.conf},{self.persist / 'snmpd.conf'}",
                "-M",
                str(self.workdir / "mibs"),
                "-m",
                "",
                f"udp:{self.host}:{self.port}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "SNMP_PERSISTENT_DIR": str(self.persist)},
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.proc.poll() is None:
            if self.answers():
                return True
            time.sleep(0.05)
        self.stop()  # died (port taken?) or never answered
        return False

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def __enter__(self) -> Snmpd:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
