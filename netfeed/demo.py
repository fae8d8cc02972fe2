"""``netfeed demo``: the whole pipeline on one machine, no server, no root.

Two simulated multi-vendor networks on loopback: ``lab-east`` (SNMP) and
``lab-west``, which mixes SNMP devices with NETCONF ones (``lab-west-nc-*``:
Junos-like, ietf-interfaces and OpenConfig devices over SSH, host keys checked
against a ``known_hosts`` file the demo writes) -> the collector on its
schedule -> the embedded bus (a SQLite file under ``--workdir``) ->
``interface-utilisation`` in its own consumer group, printing the busiest
interfaces of each network after every cycle.  Stops on Ctrl-C or
``--duration``.  Everything it writes stays in ``--workdir``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import signal
from collections.abc import Mapping
from pathlib import Path

from bus.factory import make_producer
from netfeed.simulator.netconf import SimulatedNetconfNetwork
from netfeed.simulator.network import SimulatedNetwork
from netfeed.system import cycle_line, load_system

COMMUNITY_ENV = "NETFEED_DEMO_COMMUNITY"
NETCONF_PASSWORD_ENV = "NETFEED_DEMO_NETCONF_PASSWORD"
# round-robin: Junos native, ietf-interfaces and OpenConfig replies
NETCONF_KINDS = ["juniper-junos", "arista-eos", "cisco-ios"]
NETCONF_FLAVOURS = ["junos", "ietf", "openconfig"]
SETTINGS_YAML = """\
# Written by `netfeed demo`.
bus:
  backend: embedded
  embedded: {{path: ../bus.sqlite3, partitions: 4}}
collector:
  instance_id: demo
  profiles_dir: {profiles}
applications:
  interface-utilisation: {{networks: ["lab-*"], top_n: 10, output: ../interface-utilisation.csv}}
"""
NETWORK_YAML = """\
# Written by `netfeed demo`: the simulated network {name}.
network: {name}
description: simulated by netfeed demo
defaults:
  snmp: {{community: env:{env}, timeout_s: 1, retries: 1}}
  tags: {{site: {name}}}
{netconf}inventories:
  - csv: {name}.csv
{more}datasets:
  system: {{interval_s: {system_s}}}
  interfaces: {{interval_s: {interval}}}
collection: {{max_in_flight: 32, spread: 0.3}}
"""
NETCONF_DEFAULTS = """\
  netconf:
    username: {username}
    password: env:{env}
    known_hosts: {known_hosts}
    connect_timeout_s: 5
    rpc_timeout_s: 5
    device_deadline_s: {deadline}
"""


def write_config(
    workdir: Path,
    nets: list[SimulatedNetwork],
    interval: float,
    site_profiles: Path,
    nc_nets: Mapping[str, SimulatedNetconfNetwork] | None = None,
) -> Path:
    """A configuration folder for the simulated networks; the bus file and the
    report land beside it in ``workdir``.  ``site_profiles``: the operator's
    profile folder (used where it exists).  ``nc_nets``: NETCONF devices (started:
    their ports and host keys exist) that join the SNMP network named by their
    key, through a second CSV whose rows say ``protocol: netconf``, with a
    ``known_hosts`` file beside it."""
    cfg = workdir / "configs"
    (cfg / "networks").mkdir(parents=True, exist_ok=True)
    (cfg / "netfeed.yaml").write_text(SETTINGS_YAML.format(profiles=str(site_profiles.resolve())))
    nc_nets = nc_nets or {}
    unknown = set(nc_nets) - {n.name for n in nets}
    if unknown:
        raise ValueError(f"NETCONF devices for unknown network(s) {', '.join(sorted(unknown))}")
    for net in nets:
        net.write_inventory_csv(cfg / "networks" / f"{net.name}.csv")
        netconf = more = ""
        nc = nc_nets.get(net.name)
        if nc is not None:
            base = cfg / "networks" / nc.name
            nc.write_inventory_csv(base.with_suffix(".csv"))
            known_hosts = nc.write_known_hosts(base.with_suffix(".known_hosts")).resolve()
            netconf = NETCONF_DEFAULTS.format(
                username=nc.username,
                env=NETCONF_PASSWORD_ENV,
                known_hosts=known_hosts,
                deadline=max(min(interval, 60), 5),
            )
            more = f"  - csv: {nc.name}.csv\n"
        (cfg / "networks" / f"{net.name}.yaml").write_text(
            NETWORK_YAML.format(
                name=net.name,
                env=COMMUNITY_ENV,
                interval=interval,
                system_s=max(interval * 6, 60),
                netconf=netconf,
                more=more,
            )
        )
    return cfg


async def run_demo(args: argparse.Namespace) -> int:
    workdir: Path = args.workdir
    if workdir.exists():
        shutil.rmtree(workdir)  # a fresh bus each run: the numbers shown are this run's
    workdir.mkdir(parents=True)
    os.environ[COMMUNITY_ENV] = "public"
    nc_password = secrets.token_urlsafe(12)  # this run's; the config reads it by reference
    os.environ[NETCONF_PASSWORD_ENV] = nc_password
    nets = [
        SimulatedNetwork(
            "lab-east", args.devices, seed=1, base_port=args.port, n_interfaces=args.interfaces
        ),
        SimulatedNetwork(
            "lab-west",
            args.devices,
            seed=2,
            base_port=args.port + args.devices if args.port else 0,
            n_interfaces=args.interfaces,
        ),
    ]
    n_nc = args.devices if args.netconf_devices is None else args.netconf_devices
    nc_nets = (
        {
            "lab-west": SimulatedNetconfNetwork(
                "lab-west-nc",
                n_nc,
                seed=3,
                base_port=args.port + 2 * args.devices if args.port else 0,
                password=nc_password,
                n_interfaces=args.interfaces,
                kinds=NETCONF_KINDS,
                flavours=NETCONF_FLAVOURS,
            )
        }
        if n_nc > 0
        else {}
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)

    async with contextlib.AsyncExitStack() as stack:
        for net in nets:
            await stack.enter_async_context(net)
        for nc in nc_nets.values():
            await stack.enter_async_context(nc)
        # after start: ports are bound.  Loaded as `netfeed collect` loads any config.
        cfg = write_config(workdir, nets, args.interval, args.config / "profiles", nc_nets)
        system = load_system(cfg)
        bus = system.bus
        app_runner = system.make_app_runner("interface-utilisation", instance_id="demo-app")
        app = app_runner.app
        report = app.cfg.output  # type: ignore[attr-defined]
        ports = sorted(p for n in nets for (_i, _h, p, _c, _v) in n.inventory_rows())
        print(
            f"netfeed demo: {len(nets)} simulated SNMP networks x {args.devices} devices x "
            f"{args.interfaces} interfaces on 127.0.0.1 udp {ports[0]}-{ports[-1]}; polling every "
            f"{args.interval:g}s into the embedded bus at {bus.embedded.path}",
            flush=True,
        )
        for joins, nc in nc_nets.items():
            nc_ports = sorted(a.port for a in nc.agents)
            flavours = ", ".join(
                f"{d.device_id} {a.flavour}" for d, a in zip(nc.devices, nc.agents, strict=True)
            )
            print(
                f"netfeed demo: {joins} also has {len(nc.devices)} NETCONF devices over SSH on "
                f"127.0.0.1 tcp {nc_ports[0]}-{nc_ports[-1]} ({flavours})",
                flush=True,
            )
        print(
            f"netfeed demo: config written to {cfg}; rates appear from the second cycle on; "
            "Ctrl-C stops",
            flush=True,
        )
        producer = await stack.enter_async_context(make_producer(bus, client_id="demo-collector"))
        collector = system.make_collector(  # through the quality gate, as `collect`
            system.make_sink(producer),
            on_cycle=lambda m: print(f"[collector] {cycle_line(m)}", flush=True),
        )
        await stack.enter_async_context(collector)
        runner = await stack.enter_async_context(app_runner)
        app_task = asyncio.create_task(runner.run(stop=stop))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.duration)
        stop.set()
        await app_task
    reports = len(app.reports)  # type: ignore[attr-defined]
    print(
        f"netfeed demo: done; {runner.handled} messages handled by interface-utilisation, "
        f"{reports} reports; CSV at {report}",
        flush=True,
    )
    return 0 if reports or (args.duration or 0) < 2 * args.interval else 1
