"""The NETCONF driver: ``netconf`` in the ``netfeed.collectors`` entry point group.

Sessions are persistent: one per device, opened on its first poll and reused
by every later poll (of any dataset) until it fails; a failed session (or a
failed connect) is re-established on a later poll after a jittered
exponential backoff, and while backing off a poll fails at once with the
reason.  A semaphore caps the handshakes in progress (``max_handshakes``),
another the RPCs in flight (``max_rpcs_in_flight``).

A poll: session -> profile matched by the server's hello capabilities (the
shipped NETCONF profiles plus the site's ``protocol: netconf`` ones) -> the
dataset's ``requests`` sent one by one -> replies parsed
(:mod:`collectors.netconf.xml`) and merged -> records
(:mod:`collectors.netconf.extract`).  It never raises for device problems:
the outcome is ``failed``/``timed_out`` with a reason, and replies read
before a failure still give records, marked partial.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar
from xml.sax.saxutils import escape

from lxml import etree
from pydantic import BaseModel

from bus.records import Provenance, Record
from bus.secrets import SecretError, SecretRef
from collectors import __version__
from collectors.config import Device
from collectors.driver import Driver, PollOutcome
from collectors.netconf.extract import build_records, check, load_netconf_profiles
from collectors.netconf.ncclient_session import NcclientSession
from collectors.netconf.options import NetconfDriverSettings, NetconfOptions, NetconfOverrides
from collectors.netconf.session import (
    NetconfSession,
    NetconfSessionError,
    NetconfTimeout,
    SessionParams,
    subtree_get,
    xpath_get,
)
from collectors.netconf.xml import NetconfError, data_root, parse
from collectors.profiles import Profile, ProfileSet
from collectors.profiles.schema import RequestSpec

_BASE_CAP = "urn:ietf:params:netconf:"
Session = NetconfSession | NcclientSession


def request_body(req: RequestSpec) -> str:
    """The ``<rpc>`` content of one profile request."""
    if req.get is not None:
        return subtree_get(req.get.strip())
    if req.xpath is not None:
        return xpath_get(req.xpath)
    assert req.rpc is not None
    args = []
    for k, v in req.args.items():
        if v is True:
            args.append(f"<{k}/>")
        elif v is False or v is None:
            continue
        else:
            args.append(f"<{k}>{escape(str(v))}</{k}>")
    return f"<{req.rpc}>{''.join(args)}</{req.rpc}>" if args else f"<{req.rpc}/>"


def request_name(req: RequestSpec) -> str:
    if req.rpc is not None:
        return f"rpc {req.rpc}"
    if req.xpath is not None:
        return f"get xpath {req.xpath}"
    assert req.get is not None
    try:
        root = etree.fromstring(f"<f>{req.get}</f>".encode())
        first = next(iter(root), None)
        name = etree.QName(first).localname if first is not None else ""
    except etree.XMLSyntaxError:
        name = "?"
    return f"get {name}"


@dataclass(slots=True)
class _Backoff:
    failures: int = 0
    retry_at: float = 0.0
    reason: str = ""


@dataclass(slots=True)
class _PollState:
    data: etree._Element | None = None  # the replies read so far, merged
    read: list[str] = field(default_factory=list)
    sent_ms: int = 0
    received_ms: int = 0
    profile: Profile | None = None


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class NetconfDriver(Driver):
    name = "netconf"
    Options = NetconfOptions
    Overrides = NetconfOverrides
    Settings = NetconfDriverSettings
    csv_columns: ClassVar[dict[str, str]] = {"port": "port", "username": "username"}

    def __init__(
        self,
        settings: BaseModel | None = None,
        profile_dirs: list[Path] | None = None,
        *,
        profiles: ProfileSet | None = None,
    ) -> None:
        super().__init__(settings, profile_dirs)
        s = self.settings
        assert isinstance(s, NetconfDriverSettings)
        self.s = s
        self.profiles = (
            profiles if profiles is not None else load_netconf_profiles(self.profile_dirs)
        )
        self.sessions: dict[str, Session] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._backoff: dict[str, _Backoff] = {}
        self._opened_with: dict[str, tuple[str, NetconfOptions]] = {}
        self._handshakes = asyncio.Semaphore(s.max_handshakes)
        self._rpcs = asyncio.Semaphore(s.max_rpcs_in_flight)
        # figures for tests and metrics
        self.handshakes = 0
        self.handshakes_in_progress = 0
        self.max_handshakes_seen = 0

    @classmethod
    def check(cls, settings: BaseModel, profile_dirs: list[Path]) -> list[str]:
        return check(profile_dirs)

    async def stop(self) -> None:
        sessions, self.sessions = list(self.sessions.values()), {}
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)

    async def retain(self, device_ids: set[str]) -> None:
        """Close the sessions of devices not in ``device_ids`` and forget their
        locks, backoff and options (a poll of such a device later starts afresh).
        A session being opened for such a device is waited for, then closed."""
        known = set(self.sessions) | set(self._locks) | set(self._backoff) | set(self._opened_with)
        gone = known - device_ids
        await asyncio.gather(*(self._forget(d) for d in gone), return_exceptions=True)

    async def _forget(self, device_id: str) -> None:
        lock = self._locks.get(device_id)
        if lock is None:
            return await self._drop(device_id)
        async with lock:  # not in the middle of opening its session
            await self._drop(device_id)

    async def _drop(self, device_id: str) -> None:
        sess = self.sessions.pop(device_id, None)
        self._locks.pop(device_id, None)
        self._backoff.pop(device_id, None)
        self._opened_with.pop(device_id, None)
        if sess is not None:
            await sess.close()

    # sessions ---------------------------------------------------------------

    def _delay(self, failures: int) -> float:
        d = min(self.s.backoff_max_s, self.s.backoff_base_s * 2 ** max(failures - 1, 0))
        return d * (1 - random.random() * self.s.backoff_jitter)

    def _failed(self, device: str, reason: str, at: float | None = None) -> None:
        b = self._backoff.setdefault(device, _Backoff())
        b.failures += 1
        b.retry_at = (at if at is not None else time.monotonic()) + self._delay(b.failures)
        b.reason = reason

    def _params(self, device: Device, opts: NetconfOptions) -> SessionParams:
        return SessionParams(
            host=device.host,
            port=opts.port,
            username=opts.username,
            password=_reveal(device, "password", opts.password),
            private_key=_reveal(device, "private_key", opts.private_key),
            known_hosts=opts.known_hosts,
            host_key_check=opts.host_key_check,
            connect_timeout_s=opts.connect_timeout_s,
            rpc_timeout_s=opts.rpc_timeout_s,
            max_reply_octets=opts.max_reply_octets,
            private_key_passphrase=_reveal(
                device, "private_key_passphrase", opts.private_key_passphrase
            ),
            keepalive_interval_s=opts.keepalive_interval_s,
            keepalive_count_max=opts.keepalive_count_max,
        )

    async def session(self, device: Device, opts: NetconfOptions) -> Session:
        """The device's open session, opened (or re-opened) when needed, by the
        device's ``client`` (asyncssh: :class:`NetconfSession`; ncclient:
        :class:`NcclientSession` with its ``ncclient_device`` handler);
        raises :class:`NetconfSessionError` (at once while backing off)."""
        lock = self._locks.setdefault(device.id, asyncio.Lock())
        async with lock:
            sess = self.sessions.get(device.id)
            key = (device.host, opts)
            if sess is not None and self._opened_with.get(device.id) != key:
                del self.sessions[device.id]  # the device's options changed: a new session
                await sess.close()
                sess = None
            if sess is not None and sess.alive:
                return sess
            if sess is not None:  # lost since the last poll
                del self.sessions[device.id]
                self._failed(device.id, sess.failure or "session lost", sess.failed_at)
                await sess.close()
            b = self._backoff.get(device.id)
            now = time.monotonic()
            if b is not None and now < b.retry_at:
                raise NetconfSessionError(
                    f"{device.id}: reconnecting in {b.retry_at - now:.1f}s "
                    f"(after {b.failures} failure(s); last: {b.reason})"
                )
            params = self._params(device, opts)
            async with self._handshakes:
                self.handshakes_in_progress += 1
                self.max_handshakes_seen = max(
                    self.max_handshakes_seen, self.handshakes_in_progress
                )
                try:
                    sess = (
                        NcclientSession(params, opts.ncclient_device)
                        if opts.client == "ncclient"
                        else NetconfSession(params)
                    )
                    self.handshakes += 1
                    await sess.start()
                except NetconfSessionError as exc:
                    self._failed(device.id, str(exc))
                    raise
                finally:
                    self.handshakes_in_progress -= 1
            self._backoff.pop(device.id, None)
            self.sessions[device.id] = sess
            self._opened_with[device.id] = key
            return sess

    # polls ------------------------------------------------------------------

    @classmethod
    def worst_case_s(cls, device: Device) -> float | None:
        """A device that stops answering: a connect, then an RPC, within its deadline."""
        o = device.options.get(cls.name)
        if not isinstance(o, NetconfOptions):
            return None
        return min(o.connect_timeout_s + o.rpc_timeout_s, o.device_deadline_s)

    async def poll(
        self, device: Device, dataset: str, scheduled_unix_ms: int, cycle_id: str
    ) -> PollOutcome:
        opts = device.options.get(self.name)
        if not isinstance(opts, NetconfOptions):
            return PollOutcome(
                device.id, "failed", error=f"{device.id}: no netconf options for this device"
            )
        state = _PollState()
        args = (device, dataset, scheduled_unix_ms, cycle_id)
        try:
            return await asyncio.wait_for(self._poll(opts, state, *args), opts.device_deadline_s)
        except TimeoutError:
            return self._partial(
                "timed_out", f"no complete answer within {opts.device_deadline_s:g}s", state, *args
            )
        except NetconfTimeout as exc:
            return self._partial("timed_out", str(exc), state, *args)
        except (NetconfSessionError, NetconfError, SecretError) as exc:
            return self._partial("failed", str(exc), state, *args)
        except Exception as exc:  # a bug or an undecodable reply must not stop the cycle
            return self._partial("failed", f"{type(exc).__name__}: {exc}", state, *args)

    async def _poll(
        self,
        opts: NetconfOptions,
        state: _PollState,
        device: Device,
        dataset: str,
        scheduled_unix_ms: int,
        cycle_id: str,
    ) -> PollOutcome:
        sess = await self.session(device, opts)
        profile = self.profiles.match_capabilities(sess.capabilities)
        if profile is None:
            some = [c for c in sess.capabilities if not c.startswith(_BASE_CAP)][:4]
            return PollOutcome(
                device.id,
                "failed",
                error=(
                    f"{device.id}: no NETCONF profile matches the server's "
                    f"{len(sess.capabilities)} capabilities (e.g. {', '.join(some) or 'none'})"
                ),
            )
        state.profile = profile
        cds = profile.datasets.get(dataset)
        if cds is None or not cds.spec.requests:
            return PollOutcome(device.id, "ok")
        state.sent_ms = _now_ms()
        for req in cds.spec.requests:
            async with self._rpcs:
                reply = await sess.rpc(request_body(req))
            # an rpc-error or unreadable reply fails the poll; earlier ones still count
            data = data_root(parse(reply, max_bytes=opts.max_reply_octets))
            if state.data is None:
                state.data = data
            else:
                state.data.extend(list(data))
            state.read.append(request_name(req))
            state.received_ms = _now_ms()
        records, count = self._records(state, device, dataset, scheduled_unix_ms, cycle_id)
        return PollOutcome(device.id, "ok", records, values_read=count)

    def _records(
        self,
        state: _PollState,
        device: Device,
        dataset: str,
        scheduled_unix_ms: int,
        cycle_id: str,
        missing: list[str] | None = None,
    ) -> tuple[list[Record], int]:
        profile = state.profile
        data = state.data
        if data is None or profile is None:
            return [], 0
        records, count = build_records(
            profile,
            dataset,
            data,
            network=device.network,
            device=device.id,
            cycle_id=cycle_id,
            scheduled_unix_ms=scheduled_unix_ms,
            request_unix_ms=state.sent_ms,
            response_unix_ms=state.received_ms,
            device_tags=device.tags,
        )
        out = []
        # build_records shares one Provenance per poll: extend it once, not per record.
        # (Keyed by id, with the original kept alive so an id cannot be reused.)
        provs: dict[int, tuple[Provenance, Provenance]] = {}
        more = list(missing or [])
        for r in records:
            seen = provs.get(id(r.provenance))
            if seen is None:
                seen = provs[id(r.provenance)] = (
                    r.provenance,
                    Provenance(
                        protocol="netconf",
                        collector_version=__version__,
                        sources=[*r.provenance.sources, *state.read],
                    ),
                )
            r.provenance = seen[1]
            if more:
                r.partial = True
                r.missing = [*r.missing, *more]
            out.append(r)
        return out, count

    def _partial(
        self,
        status: str,
        error: str,
        state: _PollState,
        device: Device,
        dataset: str,
        scheduled_unix_ms: int,
        cycle_id: str,
    ) -> PollOutcome:
        assert status in ("failed", "timed_out")
        try:
            records, count = self._records(
                state, device, dataset, scheduled_unix_ms, cycle_id, missing=[error]
            )
        except Exception:  # a bug must not hide the poll's own error
            records, count = [], 0
        return PollOutcome(
            device.id,
            "failed" if status == "failed" else "timed_out",
            records,
            error=error,
            values_read=count,
        )


def _reveal(device: Device, name: str, ref: SecretRef | None) -> str | None:
    if ref is None:
        return None
    try:
        return ref.reveal()
    except SecretError as exc:
        raise SecretError(f"{device.id}: netconf.{name}: {exc}") from None
