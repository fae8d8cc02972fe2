"""Simulated NETCONF devices on loopback: the SNMP simulator's devices, read over NETCONF.

An in-process asyncssh server per device (one TCP port each, like the SNMP
agents: ``port=0`` lets the OS pick one), a host key generated at start (its
``known_hosts`` line: :meth:`NetconfListener.known_hosts_line`), password
authentication, the ``netconf`` SSH subsystem with base:1.0 (``]]>]]>``) and,
unless ``chunked=False``, base:1.1 (RFC 6242 chunked) framing as the hellos
decide.  :class:`NetconfListener` is that server without replies (the test
suite's recorded-reply server builds on it too); :class:`NetconfAgent` adds
the device's.

Replies are generated from the same :class:`~netfeed.simulator.device.SimulatedDevice`
state the SNMP agent serves (names, speeds, statuses, 64-bit counters that
advance with time and wrap), in two model shapes chosen by ``flavour``:

* ``junos``: hello capability ``http://xml.juniper.net/netconf/junos/1.0``;
  answers ``get-interface-information`` (physical interfaces, traffic and MAC
  statistics, error lists) and the ``system`` RPCs (``get-software-information``,
  ``get-system-uptime-information``, ``get-chassis-inventory``,
  ``get-route-engine-information``; also ``health``) and an empty
  ``get-bgp-neighbor-information`` (no peers are simulated);
* ``ietf``: hello capability ietf-interfaces; answers ``<get>`` whose subtree
  filter names ``interfaces`` (NMDA: config and state leaves with statistics)
  and ``interfaces-state`` (empty ``<data/>``);
* ``openconfig``: hello capability openconfig-interfaces; answers ``<get>`` of
  ``interfaces`` with state, counters and ethernet state (port-speed identities).

Other ``<get>`` filters get an empty ``<data/>``.

Anything else is answered with an ``<rpc-error>`` (``operation-not-supported``).
Fault modes (:meth:`NetconfAgent.set_fault`): ``hang`` (half a reply, then
nothing), ``garbage`` (a malformed chunk header / broken XML), ``rpc-error``
(every data RPC fails); None heals.  No recordings are used.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import itertools
import re
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Self
from xml.sax.saxutils import escape

import asyncssh

from netfeed.simulator.device import SimulatedDevice
from netfeed.simulator.interfaces import M64, Interface
from netfeed.simulator.vendors import ETHERNET_CSMACD, SOFTWARE_LOOPBACK

NC_BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
BASE_10 = "urn:ietf:params:netconf:base:1.0"
BASE_11 = "urn:ietf:params:netconf:base:1.1"
JUNOS_CAP = "http://xml.juniper.net/netconf/junos/1.0"
IETF_IF_NS = "urn:ietf:params:xml:ns:yang:ietf-interfaces"
IANA_IF_TYPE_NS = "urn:ietf:params:xml:ns:yang:iana-if-type"
IETF_IF_CAP = f"{IETF_IF_NS}?module=ietf-interfaces&revision=2018-02-20"
OC_IF_NS = "http://openconfig.net/yang/interfaces"
OC_IF_CAP = f"{OC_IF_NS}?module=openconfig-interfaces&revision=2021-04-06"
FLAVOURS = ("junos", "ietf", "openconfig")
NC_FAULT_MODES = ("hang", "garbage", "rpc-error")
EOM = b"]]>]]>"
MAX_MESSAGE = 1 << 20  # a client request larger than this ends the session
_MID = re.compile(rb"""message-id\s*=\s*["']([^"']*)["']""")
_CHUNK = re.compile(rb"\n#([1-9][0-9]{0,9})\n|\n##\n")
_IANA_TYPES = {ETHERNET_CSMACD: "ethernetCsmacd", SOFTWARE_LOOPBACK: "softwareLoopback"}


def flavour_for(device: SimulatedDevice) -> str:
    """The default model shape for a device: Junos for Juniper-like devices, else ietf."""
    return "junos" if device.kind.startswith("juniper") else "ietf"


class _Deframer:
    """Client messages out of the byte stream: ``]]>]]>`` until chunked is switched on."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.chunked = False
        self.hello_pending = True  # the hello alone first: it decides the framing of the rest

    def feed(self, data: bytes) -> list[bytes]:
        self.buf += data
        if len(self.buf) > MAX_MESSAGE:
            raise ValueError("request too large")
        out: list[bytes] = []
        while True:
            if not self.chunked:
                end = self.buf.find(EOM)
                if end < 0:
                    return out
                out.append(bytes(self.buf[:end]))
                del self.buf[: end + len(EOM)]
                if self.hello_pending:
                    return out  # the caller sets the framing, then feeds b"" for the rest
                continue
            parts: list[bytes] = []
            pos = 0
            while True:
                m = _CHUNK.match(self.buf, pos)
                if m is None:
                    if len(self.buf) - pos >= 13 or (self.buf[pos : pos + 1] not in (b"", b"\n")):
                        raise ValueError("bad chunk header")
                    return out
                if m.group(1) is None:
                    pos = m.end()
                    break
                size, start = int(m.group(1)), m.end()
                if len(self.buf) < start + size:
                    return out
                parts.append(bytes(self.buf[start : start + size]))
                pos = start + size
            out.append(b"".join(parts))
            del self.buf[:pos]


def _mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _status(up: bool) -> str:
    return "up" if up else "down"


def _junos_speed(bps: int) -> str:
    if bps >= 1_000_000_000 and bps % 1_000_000_000 == 0:
        return f"{bps // 1_000_000_000}Gbps"
    if bps >= 1_000_000:
        return f"{bps // 1_000_000}mbps"
    return "Unlimited"


def _counters(i: Interface, t: float) -> dict[str, int]:
    """The interface's counters at ``t``, each a 64-bit value that wraps."""
    in_u, in_m, in_b = i.packets(t, True)
    out_u, out_m, out_b = i.packets(t, False)
    return {
        "in_octets": i.in_octets(t),
        "out_octets": i.out_octets(t),
        "in_ucast": in_u % M64,
        "in_mcast": in_m % M64,
        "in_bcast": in_b % M64,
        "out_ucast": out_u % M64,
        "out_mcast": out_m % M64,
        "out_bcast": out_b % M64,
        "in_errors": i.events(i.in_err_s, t),
        "in_discards": i.events(i.in_disc_s, t),
        "out_errors": i.events(i.out_err_s, t),
        "out_discards": i.events(i.out_disc_s, t),
        "in_unknown": i.events(i.unknown_s, t),
    }


# ietf-interfaces statistics and openconfig-interfaces state/counters name
# these leaves alike (openconfig took them from RFC 7223): leaf -> _counters key
_MODEL_COUNTERS = (
    ("in-octets", "in_octets"),
    ("in-unicast-pkts", "in_ucast"),
    ("in-broadcast-pkts", "in_bcast"),
    ("in-multicast-pkts", "in_mcast"),
    ("in-discards", "in_discards"),
    ("in-errors", "in_errors"),
    ("in-unknown-protos", "in_unknown"),
    ("out-octets", "out_octets"),
    ("out-unicast-pkts", "out_ucast"),
    ("out-broadcast-pkts", "out_bcast"),
    ("out-multicast-pkts", "out_mcast"),
    ("out-discards", "out_discards"),
    ("out-errors", "out_errors"),
)


def _model_counters(c: dict[str, int]) -> str:
    """The counter leaves ietf-interfaces and openconfig-interfaces share."""
    return "".join(f"<{leaf}>{c[key]}</{leaf}>" for leaf, key in _MODEL_COUNTERS)


def junos_interfaces(device: SimulatedDevice, t: float) -> str:
    """``<interface-information>`` (``get-interface-information extensive``) at ``t``."""
    rows = []
    for i in device.interfaces:
        c = _counters(i, t)
        mac = f"<current-physical-address>{_mac(i.mac)}</current-physical-address>" if i.mac else ""
        rows.append(
            "<physical-interface>"
            f"<name>\n{escape(i.spec.name)}\n</name>"
            f"<admin-status>{_status(i.admin_up)}</admin-status>"
            f"<oper-status>{_status(i.oper_up)}</oper-status>"
            + (f"<description>{escape(i.alias)}</description>" if i.alias else "")
            + f"<snmp-index>{i.if_index}</snmp-index><mtu>{i.spec.mtu}</mtu>"
            f"<speed>{_junos_speed(i.spec.speed_bps)}</speed>" + mac + "<traffic-statistics>"
            f"<input-bytes>{c['in_octets']}</input-bytes>"
            f"<output-bytes>{c['out_octets']}</output-bytes>"
            "</traffic-statistics>"
            + (
                "<ethernet-mac-statistics>"
                f"<input-unicasts>{c['in_ucast']}</input-unicasts>"
                f"<output-unicasts>{c['out_ucast']}</output-unicasts>"
                f"<input-multicasts>{c['in_mcast']}</input-multicasts>"
                f"<output-multicasts>{c['out_mcast']}</output-multicasts>"
                f"<input-broadcasts>{c['in_bcast']}</input-broadcasts>"
                f"<output-broadcasts>{c['out_bcast']}</output-broadcasts>"
                "</ethernet-mac-statistics>"
                if i.ethernet
                else ""
            )
            + f"<input-error-list><input-errors>{c['in_errors']}</input-errors>"
            f"<input-drops>{c['in_discards']}</input-drops></input-error-list>"
            f"<output-error-list><output-errors>{c['out_errors']}</output-errors>"
            f"<output-drops>{c['out_discards']}</output-drops></output-error-list>"
            "</physical-interface>"
        )
    return "<interface-information>" + "".join(rows) + "</interface-information>"


def ietf_interfaces(device: SimulatedDevice, t: float) -> str:
    """ietf-interfaces ``<interfaces>`` (NMDA operational: config and state leaves) at ``t``."""
    rows = []
    for i in device.interfaces:
        c = _counters(i, t)
        itype = _IANA_TYPES.get(i.spec.if_type, "other")
        rows.append(
            "<interface>"
            f"<name>{escape(i.spec.name)}</name>"
            + (f"<description>{escape(i.alias)}</description>" if i.alias else "")
            + f'<type xmlns:ianaift="{IANA_IF_TYPE_NS}">ianaift:{itype}</type>'
            f"<enabled>{'true' if i.admin_up else 'false'}</enabled>"
            f"<admin-status>{_status(i.admin_up)}</admin-status>"
            f"<oper-status>{_status(i.oper_up)}</oper-status>"
            f"<if-index>{i.if_index}</if-index>"
            + (f"<phys-address>{_mac(i.mac)}</phys-address>" if i.mac else "")
            + f"<speed>{i.spec.speed_bps}</speed>"
            f"<statistics>{_model_counters(c)}</statistics></interface>"
        )
    return f'<interfaces xmlns="{IETF_IF_NS}">' + "".join(rows) + "</interfaces>"


_OC_SPEEDS = {
    10**7: "SPEED_10MB",
    10**8: "SPEED_100MB",
    10**9: "SPEED_1GB",
    25 * 10**8: "SPEED_2500MB",
    5 * 10**9: "SPEED_5GB",
    10**10: "SPEED_10GB",
    25 * 10**9: "SPEED_25GB",
    4 * 10**10: "SPEED_40GB",
    5 * 10**10: "SPEED_50GB",
    10**11: "SPEED_100GB",
    4 * 10**11: "SPEED_400GB",
}


def openconfig_interfaces(device: SimulatedDevice, t: float) -> str:
    """openconfig-interfaces ``<interfaces>`` (state, counters, ethernet state) at ``t``."""
    rows = []
    for i in device.interfaces:
        c = _counters(i, t)
        speed = _OC_SPEEDS.get(i.spec.speed_bps)
        eth = (
            '<ethernet xmlns="http://openconfig.net/yang/interfaces/ethernet"><state>'
            + (f"<mac-address>{_mac(i.mac)}</mac-address>" if i.mac else "")
            + (f"<port-speed>oc-eth:{speed}</port-speed>" if speed else "")
            + "<duplex-mode>FULL</duplex-mode></state></ethernet>"
            if i.ethernet
            else ""
        )
        rows.append(
            f"<interface><name>{escape(i.spec.name)}</name><state>"
            f"<name>{escape(i.spec.name)}</name>"
            + (f"<description>{escape(i.alias)}</description>" if i.alias else "")
            + f"<type>ianaift:{_IANA_TYPES.get(i.spec.if_type, 'other')}</type>"
            f"<mtu>{i.spec.mtu}</mtu><ifindex>{i.if_index}</ifindex>"
            f"<admin-status>{_status(i.admin_up).upper()}</admin-status>"
            f"<oper-status>{_status(i.oper_up).upper()}</oper-status>"
            f"<counters>{_model_counters(c)}</counters></state>" + eth + "</interface>"
        )
    return f'<interfaces xmlns="{OC_IF_NS}">' + "".join(rows) + "</interfaces>"


def _junos_system(device: SimulatedDevice, t: float, rpc: str) -> str:
    up = int(max(t - device.boot_time, 0.0))
    serial = f"SIM{zlib.crc32(device.device_id.encode()) % 10**8:08d}"
    model = "mx204-sim"
    if rpc == "get-software-information":
        return (
            f"<software-information><host-name>{escape(device.sys_name)}</host-name>"
            f"<product-model>{model}</product-model><junos-version>21.4R3-S5.4</junos-version>"
            "</software-information>"
        )
    if rpc == "get-system-uptime-information":
        return (
            "<system-uptime-information><system-booted-time>"
            f'<time-length seconds="{up}">{up // 86400}d</time-length>'
            "</system-booted-time></system-uptime-information>"
        )
    if rpc == "get-chassis-inventory":
        return (
            "<chassis-inventory><chassis><name>Chassis</name>"
            f"<serial-number>{serial}</serial-number><description>MX204 (simulated)</description>"
            "</chassis></chassis-inventory>"
        )
    return (
        "<route-engine-information><route-engine><mastership-state>master</mastership-state>"
        "<memory-dram-size>16384 MB</memory-dram-size>"
        f"<memory-buffer-utilization>{20 + int(t) % 7}</memory-buffer-utilization>"
        f"<cpu-idle>{90 - int(t) % 11}</cpu-idle>"
        f'<up-time seconds="{up}">{up}</up-time></route-engine></route-engine-information>'
    )


_JUNOS_SYSTEM_RPCS = (
    "get-software-information",
    "get-system-uptime-information",
    "get-chassis-inventory",
    "get-route-engine-information",
)


def rpc_error(tag: str, message: str) -> str:
    return (
        "<rpc-error><error-type>application</error-type>"
        f"<error-tag>{tag}</error-tag><error-severity>error</error-severity>"
        f"<error-message>{escape(message)}</error-message></rpc-error>"
    )


def frame(msg: bytes, chunked: bool) -> bytes:
    """One message framed for the wire: RFC 6242 chunked, else ``]]>]]>``."""
    return b"\n#%d\n%s\n##\n" % (len(msg), msg) if chunked else msg + EOM


def message_id(msg: bytes) -> str:
    """A request's ``message-id``, escaped for an attribute ("?" when it has none)."""
    m = _MID.search(msg[:512])
    return escape(m.group(1).decode("utf-8", "replace"), {'"': "&quot;"}) if m else "?"


def rpc_reply(mid: str, body: str | bytes) -> bytes:
    raw = body.encode() if isinstance(body, str) else body
    return f'<rpc-reply message-id="{mid}" xmlns="{NC_BASE}">'.encode() + raw + b"</rpc-reply>"


class NetconfListener:
    """A NETCONF/SSH server on one TCP port: a host key generated at the first
    start, password authentication (and public-key authentication for
    ``authorized_key``), the ``netconf`` subsystem, the hello exchange and both
    framings.  A subclass gives its ``capabilities`` and answers each request in
    :meth:`answer`; ``<close-session>`` is answered here and ends the session.

    ``sessions`` counts hello exchanges; the ``_connection_made`` /
    ``_hello_received`` / ``_connection_lost`` hooks see each connection's stages.
    """

    def __init__(
        self,
        *,
        username: str,
        password: str,
        chunked: bool = True,
        authorized_key: asyncssh.SSHKey | None = None,
    ) -> None:
        self.username = username
        self.password = password
        self.chunked = chunked
        self.authorized_key = authorized_key
        self.hello_delay_s = 0.0  # before the server's hello
        self.host = "127.0.0.1"
        self.port = 0
        self.sessions = 0
        self.host_key: asyncssh.SSHKey | None = None
        self._session_ids = itertools.count(1)
        self._listener: asyncssh.SSHAcceptor | None = None
        self._conns: set[asyncssh.SSHServerConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def capabilities(self) -> list[str]:
        """The server's hello capabilities (base:1.0, and base:1.1 when chunked, first)."""
        return [BASE_10, *([BASE_11] if self.chunked else [])]

    def known_hosts_line(self) -> str:
        """This server's ``known_hosts`` line (after :meth:`start`)."""
        if self.host_key is None or not self.port:
            raise RuntimeError("not started")
        algo, blob = self.host_key.export_public_key("openssh").decode().split()[:2]
        return f"[{self.host}]:{self.port} {algo} {blob}"

    def _connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conns.add(conn)

    def _connection_lost(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conns.discard(conn)

    def _hello_received(self, conn: asyncssh.SSHServerConnection) -> None:
        self.sessions += 1

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        listener = self
        if self.host_key is None:
            self.host_key = asyncssh.generate_private_key("ssh-ed25519")

        class _Server(asyncssh.SSHServer):
            def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
                self.conn = conn
                listener._connection_made(conn)

            def connection_lost(self, exc: Exception | None) -> None:
                listener._connection_lost(self.conn)

            def begin_auth(self, username: str) -> bool:
                return True

            def password_auth_supported(self) -> bool:
                return True

            def validate_password(self, username: str, password: str) -> bool:
                return username == listener.username and password == listener.password

            def public_key_auth_supported(self) -> bool:
                return listener.authorized_key is not None

            def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
                want = listener.authorized_key
                return (
                    want is not None
                    and username == listener.username
                    and key.public_data == want.public_data
                )

        async def handle(process: asyncssh.SSHServerProcess[bytes]) -> None:
            self._track(asyncio.current_task())
            try:
                await self._session(process)
            except (asyncssh.Error, OSError, ValueError, asyncio.CancelledError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    process.exit(0)

        self._listener = await asyncssh.listen(
            host,
            port,
            server_host_keys=[self.host_key],
            server_factory=_Server,
            process_factory=handle,
            encoding=None,
            reuse_address=True,
        )
        self.host = host
        self.port = self._listener.sockets[0].getsockname()[1]

    def _track(self, task: asyncio.Task[None] | None) -> None:
        """Cancel ``task`` on :meth:`stop` (it forgets itself when done)."""
        assert task is not None
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Stop listening and drop every session (idempotent; :meth:`start` again
        listens anew, with the same host key)."""
        if self._listener is not None:
            self._listener.close()
            with contextlib.suppress(Exception):
                await self._listener.wait_closed()
            self._listener = None
        for conn in list(self._conns):
            conn.abort()
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- the session ----------------------------------------------------------------

    async def _session(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        if process.subsystem != "netconf":
            process.exit(1)
            return
        conn = process.get_extra_info("connection")
        if self.hello_delay_s:
            await asyncio.sleep(self.hello_delay_s)
        hello = (
            f'<?xml version="1.0" encoding="UTF-8"?><hello xmlns="{NC_BASE}"><capabilities>'
            + "".join(f"<capability>{escape(c)}</capability>" for c in self.capabilities)
            + f"</capabilities><session-id>{next(self._session_ids)}</session-id></hello>"
        )
        process.stdout.write(hello.encode() + EOM)
        deframer = _Deframer()
        while True:
            data = await process.stdin.read(65536)
            if not data:
                return
            msgs = deframer.feed(data)
            if msgs and deframer.hello_pending:
                # the client's hello; requests read with it follow in the framing it picks
                deframer.hello_pending = False
                deframer.chunked = self.chunked and BASE_11.encode() in msgs[0]
                self._hello_received(conn)
                msgs = deframer.feed(b"")
            for msg in msgs:
                if b"<close-session" in msg or b":close-session" in msg:
                    self._close_requested(msg)
                    process.stdout.write(
                        frame(rpc_reply(message_id(msg), "<ok/>"), deframer.chunked)
                    )
                    return
                if not await self.answer(process, msg, deframer.chunked):
                    return

    def _close_requested(self, msg: bytes) -> None:
        """A ``<close-session>`` arrived (it is answered ``<ok/>`` after this)."""

    async def answer(
        self, process: asyncssh.SSHServerProcess[bytes], msg: bytes, chunked: bool
    ) -> bool:
        """Answer one request (write the framed reply); False ends the session."""
        raise NotImplementedError


class NetconfAgent(NetconfListener):
    """Serves one :class:`SimulatedDevice` over NETCONF/SSH on ``host:port``.

    ``clock`` gives the read time of every reply (default ``time.time``).
    """

    def __init__(
        self,
        device: SimulatedDevice,
        *,
        username: str = "netfeed",
        password: str = "netfeed-sim",
        flavour: str | None = None,
        chunked: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        flavour = flavour or flavour_for(device)
        if flavour not in FLAVOURS:
            raise ValueError(f"unknown flavour {flavour!r}; known: {', '.join(FLAVOURS)}")
        super().__init__(username=username, password=password, chunked=chunked)
        self.device = device
        self.flavour = flavour
        self.clock = clock
        self.fault: str | None = None
        self.fault_delay_s = 0.0
        self.requests = 0  # data RPCs answered or faulted

    @property
    def capabilities(self) -> list[str]:
        model = {"junos": JUNOS_CAP, "ietf": IETF_IF_CAP, "openconfig": OC_IF_CAP}[self.flavour]
        return [*super().capabilities, model]

    def set_fault(self, mode: str | None) -> None:
        """``hang``, ``garbage`` or ``rpc-error`` for every later data RPC; None heals."""
        if mode is not None and mode not in NC_FAULT_MODES:
            raise ValueError(f"unknown fault {mode!r}; known: {', '.join(NC_FAULT_MODES)}")
        self.fault = mode

    async def answer(
        self, process: asyncssh.SSHServerProcess[bytes], msg: bytes, chunked: bool
    ) -> bool:
        """Answer one data request from the device's state; False ends the session."""
        self.requests += 1
        fault = self.fault
        body = self.reply_body(msg.decode("utf-8", "replace"), self.clock())
        if fault == "rpc-error":
            body = rpc_error("operation-failed", "simulated failure")
        framed = frame(rpc_reply(message_id(msg), body), chunked)
        if fault == "hang":
            process.stdout.write(framed[: len(framed) // 2])
            await asyncio.sleep(3600)
            return False
        if fault == "garbage":
            process.stdout.write(
                b"\n#12x4\n<rpc-reply/>\n##\n" if chunked else b"<rpc-reply><<" + EOM
            )
            return True
        process.stdout.write(framed)
        return True

    def reply_body(self, request: str, t: float) -> str:
        """The ``<rpc-reply>`` content for a request at ``t``."""
        if self.flavour == "junos":
            if "get-interface-information" in request:
                return junos_interfaces(self.device, t)
            if "get-bgp-neighbor-information" in request:
                return "<bgp-information/>"  # no BGP peers are simulated
            for rpc in _JUNOS_SYSTEM_RPCS:
                if rpc in request:
                    return _junos_system(self.device, t, rpc)
        elif "<get>" in request or "<get " in request or ":get>" in request or ":get " in request:
            if "interfaces-state" in request:
                return "<data/>"
            if re.search(r"<(?:\w+:)?interfaces\b", request):
                if self.flavour == "openconfig":
                    return "<data>" + openconfig_interfaces(self.device, t) + "</data>"
                return "<data>" + ietf_interfaces(self.device, t) + "</data>"
            return "<data/>"
        return rpc_error("operation-not-supported", "not supported by the simulator")


class SimulatedNetconfNetwork:
    """Many :class:`SimulatedDevice` served over NETCONF, one :class:`NetconfAgent`
    (one TCP port) each.  Device ``i`` (0-based) is ``f"{name}-{i+1:03d}"`` and
    listens on ``base_port + i``, or on a free port when ``base_port`` is 0.
    ``flavours``, if given, assigns model shapes round-robin; by default each
    device's vendor decides (:func:`flavour_for`).  ``kinds`` as in
    :class:`~netfeed.simulator.network.SimulatedNetwork`.
    """

    def __init__(
        self,
        name: str = "lab-nc",
        n_devices: int = 4,
        *,
        seed: int = 0,
        base_port: int = 0,
        host: str = "127.0.0.1",
        username: str = "netfeed",
        password: str = "netfeed-sim",
        n_interfaces: int = 8,
        kinds: list[str] | None = None,
        flavours: list[str] | None = None,
        chunked: bool = True,
        now: float | None = None,
    ) -> None:
        now = time.time() if now is None else now
        self.name = name
        self.host = host
        self.base_port = base_port
        self.username = username
        self.password = password
        self.devices = [
            SimulatedDevice(
                f"{name}-{i + 1:03d}",
                seed=seed,
                n_interfaces=n_interfaces,
                kind=kinds[i % len(kinds)] if kinds else None,
                now=now,
            )
            for i in range(n_devices)
        ]
        self.agents = [
            NetconfAgent(
                d,
                username=username,
                password=password,
                flavour=flavours[i % len(flavours)] if flavours else None,
                chunked=chunked,
            )
            for i, d in enumerate(self.devices)
        ]
        self._index = {d.device_id: k for k, d in enumerate(self.devices)}

    async def start(self) -> None:
        """Listen on every device's port; on failure nothing stays bound."""
        try:
            for i, agent in enumerate(self.agents):
                await agent.start(self.host, self.base_port + i if self.base_port else 0)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        for agent in self.agents:
            await agent.stop()

    async def __aenter__(self) -> SimulatedNetconfNetwork:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def agent(self, device_id: str) -> NetconfAgent:
        return self.agents[self._index[device_id]]

    def port(self, device_id: str) -> int:
        return self.agent(device_id).port

    def set_fault(self, device_id: str, mode: str | None) -> None:
        self.agent(device_id).set_fault(mode)

    def write_known_hosts(self, path: str | Path) -> Path:
        """A ``known_hosts`` file with every device's generated host key (after start)."""
        path = Path(path)
        path.write_text("".join(a.known_hosts_line() + "\n" for a in self.agents))
        return path

    def write_inventory_csv(self, path: str | Path) -> None:
        """``id,host,protocol,netconf.port,tag:vendor`` for the collector (after
        start); the ``protocol`` column lets the rows join a network of any protocol."""
        with Path(path).open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "host", "protocol", "netconf.port", "tag:vendor"])
            for d, a in zip(self.devices, self.agents, strict=True):
                writer.writerow([d.device_id, self.host, "netconf", a.port, d.vendor])
