"""``python -m netfeed.simulator``: serve a simulated network until Ctrl-C or SIGTERM (exit 0).

Prints the inventory as CSV (``id,host,port,community,vendor``) on stdout once
every port is bound, so a script can wait for the header line and read on;
on exit prints per-device request counters to stderr.

``--netconf`` serves the devices over NETCONF/SSH instead (one TCP port each,
password authentication): the CSV is then ``id,host,port,vendor,flavour``,
``--known-hosts`` writes the generated host keys and ``--inventory-csv`` the
collector's inventory (``netconf.port`` column).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import os
import signal
import sys

from netfeed.simulator.agent import FAULT_MODES
from netfeed.simulator.netconf import FLAVOURS, NC_FAULT_MODES, SimulatedNetconfNetwork
from netfeed.simulator.network import SimulatedNetwork
from netfeed.simulator.vendors import VENDORS


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m netfeed.simulator", description=__doc__)
    p.add_argument("--devices", type=int, default=10, help="number of devices (default 10)")
    p.add_argument(
        "--port",
        type=int,
        default=16100,
        help="first port (UDP; TCP with --netconf); 0 = any free ports",
    )
    p.add_argument("--network", default="lab", help="network name, prefix of device ids")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--interfaces", type=int, default=8, help="interfaces per device")
    p.add_argument("--community", default="public")
    p.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="NETWORK:DEVICES:PORT",
        help="serve another network too (SNMP; repeatable), e.g. lab-west:4:16200",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--kinds", help=f"comma list, round-robin; of: {', '.join(VENDORS)}")
    p.add_argument("--inventory-csv", help="also write the collector's CSV inventory here")
    p.add_argument("--community-ref", help="secret ref for that CSV, e.g. env:SNMP_COMMUNITY")
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="DEVICE_ID=MODE[:MS]",
        help=f"fault a device; MODE one of {', '.join(FAULT_MODES)} "
        f"(--netconf: {', '.join(NC_FAULT_MODES)})",
    )
    nc = p.add_argument_group("NETCONF (--netconf)")
    nc.add_argument("--netconf", action="store_true", help="serve NETCONF/SSH on TCP instead")
    nc.add_argument("--username", default="netfeed")
    nc.add_argument(
        "--password-env",
        default="NETFEED_SIM_NETCONF_PASSWORD",
        help="environment variable holding the password (unset: netfeed-sim)",
    )
    nc.add_argument("--flavours", help=f"comma list, round-robin; of: {', '.join(FLAVOURS)}")
    nc.add_argument("--known-hosts", help="write the devices' host keys here")
    nc.add_argument("--eom-only", action="store_true", help="base:1.0 framing only")
    return p


def _build_netconf(args: argparse.Namespace) -> SimulatedNetconfNetwork:
    net = SimulatedNetconfNetwork(
        args.network,
        args.devices,
        seed=args.seed,
        base_port=args.port,
        host=args.host,
        username=args.username,
        password=os.environ.get(args.password_env) or "netfeed-sim",
        n_interfaces=args.interfaces,
        kinds=args.kinds.split(",") if args.kinds else None,
        flavours=args.flavours.split(",") if args.flavours else None,
        chunked=not args.eom_only,
    )
    for spec in args.fault:
        dev_id, _, mode = spec.partition("=")
        if dev_id not in {d.device_id for d in net.devices}:
            raise ValueError(f"--fault: no device {dev_id!r}")
        net.set_fault(dev_id, mode)
    return net


async def _serve_netconf(net: SimulatedNetconfNetwork, args: argparse.Namespace) -> None:
    async with net:
        out = csv.writer(sys.stdout)
        out.writerow(["id", "host", "port", "vendor", "flavour"])
        for d, a in zip(net.devices, net.agents, strict=True):
            out.writerow([d.device_id, net.host, a.port, d.vendor, a.flavour])
        if args.known_hosts:
            net.write_known_hosts(args.known_hosts)
        if args.inventory_csv:
            net.write_inventory_csv(args.inventory_csv)
        sys.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            for a in net.agents:
                print(
                    f"{a.device.device_id}: sessions={a.sessions} requests={a.requests}",
                    file=sys.stderr,
                )


def _build(args: argparse.Namespace) -> SimulatedNetwork:
    net = SimulatedNetwork(
        args.network,
        args.devices,
        seed=args.seed,
        base_port=args.port,
        host=args.host,
        community=args.community,
        n_interfaces=args.interfaces,
        kinds=args.kinds.split(",") if args.kinds else None,
    )
    for spec in args.fault:
        dev_id, _, mode = spec.partition("=")
        mode, _, ms = mode.partition(":")
        if dev_id not in {d.device_id for d in net.devices}:
            raise ValueError(f"--fault: no device {dev_id!r}")
        net.set_fault(dev_id, mode, float(ms) if ms else 1500.0)
    return net


def _also(args: argparse.Namespace) -> list[SimulatedNetwork]:
    """The networks of ``--also NETWORK:DEVICES:PORT``."""
    out: list[SimulatedNetwork] = []
    for spec in args.also:
        parts = spec.split(":")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            raise ValueError(f"--also {spec!r}: NETWORK:DEVICES:PORT, e.g. lab-west:4:16200")
        out.append(
            SimulatedNetwork(
                parts[0],
                int(parts[1]),
                seed=args.seed + 1 + len(out),
                base_port=int(parts[2]),
                host=args.host,
                community=args.community,
                n_interfaces=args.interfaces,
                kinds=args.kinds.split(",") if args.kinds else None,
            )
        )
    return out


async def _serve(net: SimulatedNetwork, args: argparse.Namespace) -> None:
    more = _also(args)
    async with contextlib.AsyncExitStack() as stack:
        for other in more:
            await stack.enter_async_context(other)
        await _serve_one(net, args, more)


async def _serve_one(
    net: SimulatedNetwork, args: argparse.Namespace, more: list[SimulatedNetwork]
) -> None:
    async with net:
        out = csv.writer(sys.stdout)
        out.writerow(["id", "host", "port", "community", "vendor"])
        out.writerows(net.inventory_rows())
        for other in more:
            out.writerows(other.inventory_rows())
        sys.stdout.flush()
        if args.inventory_csv:
            net.write_inventory_csv(args.inventory_csv, args.community_ref)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        # Handle both signals ourselves: a shell starts background jobs with
        # SIGINT ignored, and scripts stop servers with SIGTERM.
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            for agent in net.agents:
                s = agent.stats
                print(
                    f"{agent.device.device_id}: received={s.received} answered={s.answered} "
                    f"malformed={s.malformed} bad_community={s.bad_community}",
                    file=sys.stderr,
                )


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.netconf:
            nc_net = _build_netconf(args)
        else:
            net = _build(args)
            _also(args)  # checked before anything is served
    except ValueError as exc:
        parser.error(str(exc))
    try:
        asyncio.run(_serve_netconf(nc_net, args) if args.netconf else _serve(net, args))
    except KeyboardInterrupt:
        pass
    except OSError as exc:  # typically a port already in use
        where = f"{args.host}:{args.port}"
        print(f"simulator: cannot serve on {where}+: {exc.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
