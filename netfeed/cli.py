"""The ``netfeed`` command: validate, collect, app, status, topics, inventory,
report, tail, demo.

Exit codes: 0 success, 1 invalid configuration or failed run (``collect
--once``: no device answered; with ``--strict``: any device failed; ``topics
plan``: something to create, alter or drifted; ``inventory import``: a
problem in the input), 2 usage (argparse's convention, also an unknown
``--device`` or ``--dataset``), 130 interrupted.  Errors go to stderr as one
line naming what and where, never a traceback for a user's mistake.

``collect`` (on Kafka, through its spool) and ``app run`` come up whatever the
broker's state: one that is away or refuses the login is reported in the log
(a refused login as an ERROR naming the listener, mechanism and user, at most
once a minute) and retried at a bounded backoff (:mod:`bus.retry`); SIGTERM or
SIGINT stops them with exit 0 in bounded time, the broker there or not.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bus.configfile import load_bus_settings
from bus.records import CycleComplete

if TYPE_CHECKING:
    from collectors.driver import PollOutcome

log = logging.getLogger("netfeed")


_LOG: dict[str, object] = {"level": logging.WARNING, "cli_format": None}


def _setup_logging(verbose: int, fmt: str | None = None) -> None:
    from netfeed import logs

    level = max(logging.WARNING - 10 * verbose, logging.DEBUG)
    _LOG.update(level=level, cli_format=fmt)
    logs.setup(level, fmt or "text")
    logging.getLogger("apscheduler").setLevel(max(level, logging.WARNING))
    logging.getLogger("aiokafka").setLevel(logging.ERROR)


def _config_logging(fmt: str) -> None:
    """The configuration's ``logging.format``, unless ``--log-format`` was given."""
    from netfeed import logs

    if _LOG["cli_format"] is None and fmt != "text":
        level = _LOG["level"]
        logs.setup(level if isinstance(level, int) else logging.WARNING, fmt)


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


def cmd_validate(args: argparse.Namespace) -> int:
    from netfeed.system import ConfigProblems, load_system

    cfg: Path = args.config
    try:
        system = load_system(cfg, check_all=True)
    except ConfigProblems as exc:
        for p in exc.problems:
            print(p, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) in {cfg}", file=sys.stderr)
        return 1
    for w in system.schedule_warnings():
        print(f"warning: {w}", file=sys.stderr)
    nets = system.networks
    total = sum(len(n.devices) for n in nets)
    print(
        f"{cfg}: OK: {len(nets)} network(s), {total} device(s): "
        + ", ".join(f"{n.network} ({len(n.devices)})" for n in nets)
    )
    return 0


async def _collect(args: argparse.Namespace) -> int:
    from bus.factory import make_producer
    from bus.spool import Spool, spool_path
    from netfeed.coverage import Coverage
    from netfeed.progress import Progress
    from netfeed.system import load_system, print_cycle

    system = load_system(args.config, args.network or None)
    _config_logging(system.logging.format)
    from netfeed import gctune

    gctune.settle()  # start-up is done: keep the collector's GC passes short
    if args.dataset:
        unknown = sorted(
            {d for d in args.dataset} - {d for n in system.networks for d in n.datasets}
        )
        if unknown:
            print(
                f"netfeed collect: --dataset {', '.join(unknown)}: not scheduled in any "
                "selected network",
                file=sys.stderr,
            )
            return 2
        system = _only_datasets(system, args.dataset)
    if args.device:
        searched = ", ".join(n.network for n in system.networks)
        system, unknown = _only_devices(system, args.device)
        if unknown:
            print(
                f"netfeed collect: --device {', '.join(unknown)}: no such device in "
                f"network(s) {searched}",
                file=sys.stderr,
            )
            return 2
    producer = None
    spool = None
    journal = None
    if not args.dry_run:
        instance = system.collector.instance_id
        producer = make_producer(system.bus, client_id=f"collector-{instance}")
        if system.bus.backend == "kafka" and system.bus.spool.enabled:
            # The spool's drainer starts (and restarts) the producer: collection
            # starts and goes on while the broker is away.
            spool = Spool(system.bus.spool, spool_path(system.bus.spool, instance), producer)
            await spool.start()
        else:
            await producer.start()
        # cycles cut short by a kill are published as such by the next start
        journal = system.make_journal(spool)
        await journal.start()
    server = None
    try:
        # every record through the quality gate: refused ones to the quarantine topic
        coverage = Coverage() if args.dry_run and args.once else None
        sink: Any = system.make_sink(producer, spool, journal, coverage)
        on_cycle: Callable[[CycleComplete], None] = print_cycle
        on_outcome: Callable[[str, str, PollOutcome], None] | None = None
        polls = sum(len(n.devices) * len(n.datasets) for n in system.networks)
        bar = Progress("polled", polls if args.once else 0)
        endpoint = None if args.once else _metrics_endpoint(system, args)
        if endpoint is not None:
            from prometheus_client import CollectorRegistry

            from netfeed import metrics

            registry = CollectorRegistry()
            meter = metrics.CollectorMetrics(registry)
            if spool is not None:
                metrics.watch_spool(registry, lambda: spool.stats)
            sink = metrics.MeteredSink(sink, meter)

            def metered(m: CycleComplete) -> None:
                print_cycle(m)
                meter.marker(m)

            on_cycle, on_outcome = metered, meter.outcome
        elif args.once:

            def advance(_network: str, _dataset: str, _outcome: PollOutcome) -> None:
                bar.advance()

            on_outcome = advance
        collector = system.make_collector(
            sink,
            on_cycle=on_cycle,
            journal=journal,
            share=not args.once and not args.dry_run,
            on_outcome=on_outcome,
        )
        if endpoint is not None:
            meter.shards(collector.shard_groups)
            server = metrics.serve(registry, *endpoint)
        if args.once:
            try:
                with bar:  # on a terminal only
                    markers = await collector.run_once()
            finally:
                await collector.stop()
            if coverage is not None:  # after the records: what each device gave
                coverage.write(
                    (
                        (n.network, d.id, list(n.datasets))
                        for n in system.networks
                        for d in n.devices
                    ),
                    sys.stderr,
                )
            bad = [m for m in markers if m.devices_ok < m.devices_planned]
            if not any(m.devices_ok for m in markers):
                planned = sum(m.devices_planned for m in markers)
                print(
                    f"netfeed collect: no device answered ({planned} polls planned)",
                    file=sys.stderr,
                )
                return 1
            return 1 if bad and args.strict else 0
        stop = _stop_event()
        async with collector:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.duration)
        return 0
    finally:
        if server is not None:
            metrics.shutdown(server)
        if journal is not None:
            await journal.stop()
        if spool is not None:
            await spool.stop()  # bounded; stops the producer too
        elif producer is not None:
            await producer.stop()


def _metrics_endpoint(system: Any, args: argparse.Namespace) -> tuple[str, tuple[int, int]] | None:
    """Where this process serves metrics (address, port range), or None: the
    command line's ``--metrics-port`` / ``--metrics-address``, else ``metrics:``."""
    ports = (system.metrics.port,) * 2 if args.metrics_port is None else args.metrics_port
    if not ports[0]:
        return None
    return args.metrics_address or system.metrics.address, ports


def _only_devices(system, devices: list[str]):  # type: ignore[no-untyped-def]
    """The system cut to the networks holding ``devices`` and those devices in
    them; and the ids of ``devices`` none of them holds."""
    import dataclasses

    nets = [
        n.model_copy(update={"devices": [d for d in n.devices if d.id in devices]})
        for n in system.networks
    ]
    unknown = sorted(set(devices) - {d.id for n in nets for d in n.devices})
    return dataclasses.replace(system, networks=[n for n in nets if n.devices]), unknown


def _only_datasets(system, datasets: list[str]):  # type: ignore[no-untyped-def]
    """The system with each network's schedules cut to ``datasets``."""
    import dataclasses

    nets = [
        n.model_copy(update={"datasets": {k: v for k, v in n.datasets.items() if k in datasets}})
        for n in system.networks
    ]
    return dataclasses.replace(system, networks=nets)


async def _app_run(args: argparse.Namespace) -> int:
    from netfeed.system import load_system

    system = load_system(args.config, with_networks=False)
    _config_logging(system.logging.format)
    overrides: dict[str, object] = {}
    if args.start_from is not None:
        overrides["start_from"] = args.start_from
    if args.group is not None:
        overrides["group"] = args.group
    runner = system.make_app_runner(args.name, instance_id=args.instance or "", **overrides)
    app = runner.app
    stop = _stop_event()
    if args.duration is not None:
        asyncio.get_running_loop().call_later(args.duration, stop.set)
    # A broker that is away or refuses the login is waited for (reported in the
    # log, retried at a bounded backoff); SIGTERM ends the wait with exit 0.
    server = lag_task = None
    if (endpoint := _metrics_endpoint(system, args)) is not None:
        from prometheus_client import CollectorRegistry

        from netfeed import metrics

        registry = CollectorRegistry()
        meter = metrics.AppMetrics(registry, runner)
        lag_task = asyncio.create_task(meter.follow_lag(system.metrics.lag_interval_s))
        server = metrics.serve(registry, *endpoint)
    replay = None
    try:
        if not await runner.start_patiently(stop):
            print(f"{app.name}: stopped before the bus was reached", file=sys.stderr)
            return 0
        if args.start_from is not None and sys.stderr.isatty():
            replay = asyncio.create_task(_replay_bar(runner))
        try:
            await runner.run(stop=stop)
        finally:
            await runner.stop()
    finally:
        if replay is not None:
            replay.cancel()
        if lag_task is not None:
            lag_task.cancel()
        if server is not None:
            metrics.shutdown(server)
    print(
        f"{app.name}: handled {runner.handled} messages in {runner.batches} batches, "
        f"{runner.bad_messages} undecodable",
        file=sys.stderr,
    )
    return 0


async def _replay_bar(runner) -> None:  # type: ignore[no-untyped-def]
    """On a terminal, a replay (``--from``) shows how far it has caught up."""
    from bus.groups import describe_groups
    from netfeed.progress import Progress, follow_lag

    async def lag() -> int:
        found = await describe_groups(runner.bus, [runner.group])
        return sum(g.lag for g in found)

    with Progress(f"replay {runner.group}", 1) as bar:
        caught = await follow_lag(lag, bar)
    print(f"{runner.group}: replay caught up ({caught} messages)", file=sys.stderr)


def _ports(text: str) -> tuple[int, int]:
    from netfeed.metrics import port_range

    try:
        return port_range(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a port or a range such as 9464-9479") from None


def _start_from(text: str) -> str:
    if text in ("earliest", "latest"):
        return text
    from datetime import datetime

    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: earliest, latest or an ISO-8601 time such as 2026-12-01T08:00:00Z"
        ) from None
    return text


async def _app_status(args: argparse.Namespace) -> int:
    import json

    from bus.groups import describe_groups

    bus = load_bus_settings(args.config)
    groups = await describe_groups(bus, list(args.groups) or None)
    if not args.groups:  # collectors' shard groups are `netfeed status`'s, not applications
        groups = [g for g in groups if not g.group.startswith(f"{bus.topic_prefix}.collectors.")]
    if args.json:
        print(json.dumps([g.to_json(bus.topic_prefix) for g in groups], indent=2))
        return 0
    if not groups:
        print("no application groups on the bus" + (f" named {args.groups}" if args.groups else ""))
        return 0
    for g in groups:
        print(f"{g.group}: {g.state}, {len(g.members)} member(s), lag {g.lag}")
        for m in g.members:
            parts = ", ".join(f"{t}[{p}]" for t, p in sorted(m.partitions)) or "none"
            print(f"  member {m.client_id} {m.host} ({m.member_id}): {parts}")
        for (network, dataset), lag in sorted(g.lag_by_network(bus.topic_prefix).items()):
            print(f"  {network or '-':<20} {dataset:<14} lag {lag}")
    return 0


async def _topics(args: argparse.Namespace) -> int:
    from netfeed import topics_plan
    from netfeed.progress import Progress
    from netfeed.system import load_system

    system = load_system(args.config)
    apps = sorted(system.application_names())
    actions = await topics_plan.plan(system, apps)
    todo = [a for a in actions if a.action in ("create", "alter")]
    if args.topics_command == "apply" and todo:
        with Progress("topics", len(todo)) as bar:
            await topics_plan.apply(system, todo, lambda _a: bar.advance())
        actions = await topics_plan.plan_settled(system, apps)
    width = max((len(a.topic) for a in actions), default=10)
    for a in actions:
        print(f"{a.action:<7} {a.topic:<{width}} {a.detail}".rstrip())
    counts = {k: sum(a.action == k for a in actions) for k in ("ok", "create", "alter", "drift")}
    print(", ".join(f"{n} {k}" for k, n in counts.items() if n) or "no topics", file=sys.stderr)
    return 0 if counts["ok"] == len(actions) else 1


_TAIL_CLOSE_S = 10.0  # at most this long to close the consumer once tail is told to stop


async def _tail(args: argparse.Namespace) -> int:
    from bus.factory import make_consumer
    from bus.records import RecordError, decode, encode

    bus = load_bus_settings(args.config)
    topic: str = args.topic
    pattern = "^" + re.escape(topic).replace(r"\*", "[^.]*") + "$"
    consumer = make_consumer(
        bus,
        group=None,
        pattern=pattern,
        client_id="netfeed-tail",
        from_beginning=args.from_beginning,
    )

    async def read() -> None:
        shown = 0
        async with consumer:
            log.info("tail: reading topics matching %s", pattern)
            while True:
                for m in await consumer.getmany(timeout_ms=500, max_records=1000):
                    try:
                        line = encode(
                            decode(m.value, where=f"{m.topic}[{m.partition}]@{m.offset}")
                        ).decode()
                    except RecordError as exc:
                        line = f"# {exc}"
                    print(
                        line
                        if not args.verbose_where
                        else f"{m.topic}[{m.partition}]@{m.offset} {line}",
                        flush=True,
                    )
                    shown += 1
                    if args.max and shown >= args.max:
                        return

    stop = _stop_event()
    # SIGINT/SIGTERM and --duration end the tail whatever the consumer is waiting
    # for (a broker, a topic nobody created yet), not only between two polls.
    reading = asyncio.create_task(read())
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait(
            {reading, stopping}, timeout=args.duration, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        stopping.cancel()
        if not reading.done():
            reading.cancel()  # leaves `async with consumer`, which closes it
            await asyncio.wait({reading}, timeout=_TAIL_CLOSE_S)
    if reading.done() and not reading.cancelled():
        reading.result()  # a BusError, say, is reported by main()
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="netfeed",
        description=__doc__.splitlines()[0],
        epilog="example: netfeed demo   (then: netfeed <command> --help)",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more logging: -v cycle summaries, -vv debug",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    p.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=None,
        help="log lines as text or JSON objects with network/device/dataset keys "
        "(default: the configuration's logging.format, else text)",
    )
    sub = p.add_subparsers(dest="command", required=True)

    def config_arg(sp: argparse.ArgumentParser, positional: bool = False) -> None:
        if positional:
            sp.add_argument(
                "config",
                nargs="?",
                type=Path,
                default=Path("configs"),
                help="configuration folder (default: configs)",
            )
        else:
            sp.add_argument(
                "--config",
                type=Path,
                default=Path("configs"),
                help="configuration folder (default: configs)",
            )

    def metrics_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--metrics-port",
            type=_ports,
            default=None,
            help="serve Prometheus metrics on this port, or the first free one of a range "
            "such as 9464-9479 (0: none; default: metrics.port)",
        )
        sp.add_argument(
            "--metrics-address", default=None, help="listen address (default: metrics.address)"
        )

    v = sub.add_parser(
        "validate",
        help="check configuration; print every problem",
        epilog="example: netfeed validate configs",
    )
    config_arg(v, positional=True)

    c = sub.add_parser(
        "collect",
        help="poll devices on schedule (or --once) and publish",
        epilog="examples: netfeed collect --config configs   |   netfeed collect --once "
        "--network lab-east --device east-core-1 --dry-run",
    )
    config_arg(c)
    c.add_argument("--network", action="append", help="only this network (repeatable)")
    c.add_argument("--dataset", action="append", help="only this dataset (repeatable)")
    c.add_argument(
        "--device",
        action="append",
        help="with --once: only this device id (repeatable); with --dry-run, the first "
        "thing to try on a new device type: its records and a coverage summary",
    )
    c.add_argument(
        "--once",
        action="store_true",
        help="one cycle of each dataset, then exit; labelled with the schedule's current tick "
        "(two runs within one interval are the same cycle: consumers keep the first)",
    )
    c.add_argument(
        "--dry-run", action="store_true", help="publish nothing; print records as JSON lines"
    )
    c.add_argument("--strict", action="store_true", help="with --once: exit 1 if any device failed")
    c.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    metrics_args(c)

    a = sub.add_parser(
        "app", help="applications", epilog="example: netfeed app run interface-utilisation"
    )
    asub = a.add_subparsers(dest="app_command", required=True)
    ar = asub.add_parser("run", help="run one instance of an application")
    ar.add_argument("name", help="application name (see 'netfeed app list') or module:Class")
    config_arg(ar)
    ar.add_argument("--instance", help="instance id (default: generated)")
    ar.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    ar.add_argument(
        "--from",
        dest="start_from",
        type=_start_from,
        default=None,
        help="where a group with no committed position starts: earliest | latest | an "
        "ISO-8601 time (replay; UTC unless it has a zone)",
    )
    ar.add_argument("--group", default=None, help="consumer group (default: the app's name)")
    metrics_args(ar)
    ar.epilog = (
        "example: netfeed app run store --config configs --group store-replay "
        "--from 2026-12-01T00:00:00Z"
    )
    al = asub.add_parser("list", help="installed applications", epilog="example: netfeed app list")
    al.set_defaults(list_apps=True)
    ast = asub.add_parser(
        "status",
        help="each application group's members, partitions and lag per network and dataset",
        epilog="example: netfeed app status --config configs interface-utilisation",
    )
    ast.add_argument("groups", nargs="*", help="groups (default: every group on the bus)")
    config_arg(ast)
    ast.add_argument("--json", action="store_true", help="machine-readable output")

    st = sub.add_parser(
        "status",
        help="one screen from the bus: latest cycles per network, failing devices, "
        "collector instances and shards, applications and their lag",
        epilog="example: netfeed status --config configs --cycles 3",
    )
    config_arg(st)
    st.add_argument("--cycles", type=int, default=3, help="cycles shown per network and dataset")
    st.add_argument("--json", action="store_true", help="machine-readable output")

    tp = sub.add_parser(
        "topics",
        epilog="example: netfeed topics plan --config configs",
        help="the topics the configuration needs: plan shows what differs, apply creates "
        "and fixes them",
    )
    tsub = tp.add_subparsers(dest="topics_command", required=True)
    for name, what in (
        ("plan", "compare; exit 1 when anything must change or has drifted"),
        ("apply", "create missing topics, set retention and compaction; drift is reported"),
    ):
        tx = tsub.add_parser(
            name, help=what, epilog=f"example: netfeed topics {name} --config configs"
        )
        config_arg(tx)

    inv = sub.add_parser(
        "inventory",
        help="device inventories",
        epilog="example: netfeed inventory import devices.csv --format netbox",
    )
    isub = inv.add_subparsers(dest="inventory_command", required=True)
    from netfeed.inventory_import import help_epilog

    ii = isub.add_parser(
        "import",
        help="write a network's inventory CSV from a NetBox device export (or check one)",
        description="Convert a NetBox device export (Devices > Export > All data (CSV)) or "
        "a netfeed CSV into a netfeed inventory, then check it with the loader's code; "
        "every problem names file and line (exit 1).",
        epilog=help_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ii.add_argument("source", type=Path, help="the CSV to import")
    ii.add_argument("--format", choices=("netbox", "netfeed"), default="netbox")
    ii.add_argument("--output", type=Path, default=None, help="inventory CSV (default: stdout)")
    ii.add_argument(
        "--protocol", default=None, help="protocol column for devices without one (snmp, netconf)"
    )
    ii.add_argument(
        "--network",
        default=None,
        help="check the inventory as part of this network of --config (groups, ids, options)",
    )
    config_arg(ii)

    rp = sub.add_parser("report", help="HTML report with plots per network from the store")
    config_arg(rp)
    from applications.report.cli import add_arguments as report_arguments

    report_arguments(rp)

    t = sub.add_parser(
        "tail",
        help="print messages of a topic (glob allowed) as JSON lines",
        epilog="example: netfeed tail 'netfeed.*.system' --config configs --from-beginning --max 5",
    )
    t.add_argument("topic", help="e.g. netfeed.lab-east.interfaces or 'netfeed.*.system'")
    config_arg(t)
    t.add_argument("--from-beginning", action="store_true", help="start at the oldest message")
    t.add_argument("--max", type=int, default=0, help="stop after this many messages")
    t.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    t.add_argument(
        "--where",
        dest="verbose_where",
        action="store_true",
        help="prefix each line with topic[partition]@offset",
    )

    d = sub.add_parser(
        "demo",
        help="simulated network -> embedded bus -> interface-utilisation",
        epilog="example: netfeed demo --duration 60",
    )
    d.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    d.add_argument("--devices", type=int, default=6, help="simulated devices per network")
    d.add_argument(
        "--netconf-devices",
        type=int,
        default=None,
        help="NETCONF devices in lab-west, beside its SNMP ones (default: --devices; 0: none)",
    )
    d.add_argument("--interfaces", type=int, default=8, help="interfaces per device")
    d.add_argument("--interval", type=float, default=10.0, help="poll interval in seconds")
    d.add_argument("--workdir", type=Path, default=Path("var/demo"), help="bus file and reports")
    d.add_argument(
        "--config",
        type=Path,
        default=Path("configs"),
        help="configuration folder whose site profiles the demo uses, where it has them",
    )
    d.add_argument(
        "--port", type=int, default=16100, help="first UDP port of the simulated devices"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "collect" and args.strict and not args.once:
        parser.error("collect: --strict applies to --once (a one-shot run's exit code)")
    if args.command == "collect" and args.device and not args.once:
        parser.error("collect: --device applies to --once (the schedule polls whole networks)")
    _setup_logging(0 if args.quiet else args.verbose, args.log_format)
    try:
        if args.command == "validate":
            return cmd_validate(args)
        if args.command == "collect":
            return asyncio.run(_collect(args))
        if args.command == "app":
            if args.app_command == "list":
                from applications.registry import load_registry

                reg = load_registry()
                for name in reg.names():
                    print(name)
                return 0
            if args.app_command == "status":
                return asyncio.run(_app_status(args))
            return asyncio.run(_app_run(args))
        if args.command == "tail":
            return asyncio.run(_tail(args))
        if args.command == "status":
            from netfeed.status import run as run_status

            bus = load_bus_settings(args.config)
            return asyncio.run(
                run_status(bus, cycles=args.cycles, as_json=args.json, out=sys.stdout)
            )
        if args.command == "topics":
            return asyncio.run(_topics(args))
        if args.command == "inventory":
            from netfeed.inventory_import import run as run_import

            return run_import(
                args.source, args.format, args.output, args.protocol, args.network, args.config
            )
        if args.command == "report":
            from applications.report.cli import run as run_report

            return run_report(args)
        if args.command == "demo":
            from netfeed.demo import run_demo

            return asyncio.run(run_demo(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        problems = getattr(exc, "problems", None)
        if problems:
            for p in problems:
                print(p, file=sys.stderr)
            return 1
        if type(exc).__name__ in (
            "BusError",
            "RegistryError",
            "SecretError",
            "StoreError",
            "MetricsError",
        ):
            print(f"netfeed: {exc}", file=sys.stderr)
            return 1
        raise
    return 2


if __name__ == "__main__":
    sys.exit(main())
