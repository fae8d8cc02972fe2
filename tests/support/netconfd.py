"""Debian's netconfd (yuma123) behind a loopback sshd: a real NETCONF server for tests.

``netconfd`` serves ``ietf-interfaces`` configuration from a startup file
(the package ships no SIL code for it, so ``<get>`` returns the configured
interfaces and no state); ``sshd`` runs on a free loopback port with its own
config, host key and authorized key in a temporary folder, and its
``netconf`` subsystem is ``netconf-subsystem --ncxserver-sockname=<port>@<socket>``
(the port before ``@`` is the SSH port the client reached).  Needs root (sshd's
privilege separation) and ``apt-get install netconfd openssh-server``;
:func:`missing` says what is absent so tests can skip.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncssh

NETCONFD = "/usr/sbin/netconfd"
SUBSYSTEM = "/usr/sbin/netconf-subsystem"
SSHD = "/usr/sbin/sshd"

STARTUP = """\
<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">
  <interfaces xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces">
    <interface>
      <name>eth0</name>
      <description>uplink</description>
      <type xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">ianaift:ethernetCsmacd</type>
      <enabled>true</enabled>
    </interface>
    <interface>
      <name>eth1</name>
      <type xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">ianaift:ethernetCsmacd</type>
      <enabled>false</enabled>
    </interface>
  </interfaces>
</config>
"""


def missing() -> str | None:
    """Why the real server cannot run here (None: it can)."""
    for exe in (NETCONFD, SUBSYSTEM, SSHD):
        if not os.access(exe, os.X_OK):
            return f"{exe} not installed (apt-get install netconfd openssh-server)"
    if os.geteuid() != 0:
        return "sshd needs root for privilege separation"
    return None


@dataclass
class RealServer:
    port: int
    username: str
    client_key_path: Path
    known_hosts_path: Path
    folder: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, ok: object, proc: subprocess.Popen[bytes], log: Path, limit: float) -> None:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if ok():  # type: ignore[operator]
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode}): {log.read_text()[-2000:]}")
        time.sleep(0.05)
    raise RuntimeError(f"{what} not ready within {limit:g}s: {log.read_text()[-2000:]}")


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def netconfd_over_sshd(folder: Path) -> Iterator[RealServer]:
    folder.mkdir(parents=True, exist_ok=True)
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege separation dir
    user = getpass.getuser()
    port = _free_port()
    sock = folder / "ncxserver.sock"
    (folder / "startup.xml").write_text(STARTUP)
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    host_key.write_private_key(str(folder / "host_key"))
    (folder / "host_key").chmod(0o600)
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key.write_private_key(str(folder / "client_key"))
    client_key.write_public_key(str(folder / "authorized_keys"))
    pub = host_key.export_public_key("openssh").decode().split()
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {pub[0]} {pub[1]}\n")
    (folder / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder}/host_key\n"
        f"PidFile {folder}/sshd.pid\nAuthorizedKeysFile {folder}/authorized_keys\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nUsePAM no\n"
        "StrictModes no\n"
        f'Subsystem netconf "{SUBSYSTEM} --ncxserver-sockname={port}@{sock}"\n'
    )
    nlog, slog = folder / "netconfd.log", folder / "sshd.log"
    netconfd = subprocess.Popen(
        [
            NETCONFD,
            "--module=ietf-interfaces",
            "--module=iana-if-type",
            f"--startup={folder}/startup.xml",
            f"--ncxserver-sockname={sock}",
            f"--port={port}",
            f"--superuser={user}",
            "--log-level=info",
            f"--log={nlog}",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=folder,
    )
    nlog.touch()
    sshd: subprocess.Popen[bytes] | None = None
    try:
        _wait("netconfd", sock.exists, netconfd, nlog, 15)
        with slog.open("wb") as out:
            sshd = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(folder / "sshd_config")],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        _wait("sshd", lambda: _accepts(port), sshd, slog, 15)
        yield RealServer(port, user, folder / "client_key", folder / "known_hosts", folder)
    finally:
        for proc in (sshd, netconfd):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        shutil.rmtree(folder, ignore_errors=True)
