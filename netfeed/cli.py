"""The ``netfeed`` command: validate, collect, app, tail, demo.

Exit codes: 0 success, 1 invalid configuration or failed run, 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
import signal
import sys
from pathlib import Path

from bus.configfile import SettingsError, load_bus_settings, load_section, read_sections

log = logging.getLogger("netfeed")


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(
        level=max(level, logging.DEBUG),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("apscheduler").setLevel(max(level, logging.WARNING))
    logging.getLogger("aiokafka").setLevel(logging.ERROR)


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


def cmd_validate(args: argparse.Namespace) -> int:
    from applications.config import load_app_settings
    from applications.registry import RegistryError, load_registry
    from collectors.config import ConfigError, load_networks
    from collectors.profiles import ProfileError, ProfileSet
    from collectors.settings import CollectorSettings

    cfg: Path = args.config
    problems: list[str] = []
    nets = []
    try:
        load_bus_settings(cfg)
        coll = load_section(cfg / "netfeed.yaml", "collector", CollectorSettings)
        ProfileSet([p for p in [cfg / "profiles", coll.profiles_dir] if p.is_dir()])
    except (SettingsError, ProfileError) as exc:
        problems += exc.problems
    try:
        nets = load_networks(cfg)
    except ConfigError as exc:
        problems += exc.problems
    try:
        reg = load_registry()
        apps = read_sections(cfg / "netfeed.yaml").get("applications") or {}
        for name in apps:
            load_app_settings(cfg, reg.get(name))
    except (SettingsError, RegistryError) as exc:
        problems += getattr(exc, "problems", [str(exc)])
    if problems:
        for p in problems:
            print(p, file=sys.stderr)
        print(f"{len(problems)} problem(s) in {cfg}", file=sys.stderr)
        return 1
    total = sum(len(n.devices) for n in nets)
    print(
        f"{cfg}: OK: {len(nets)} network(s), {total} device(s): "
        + ", ".join(f"{n.network} ({len(n.devices)})" for n in nets)
    )
    return 0


async def _collect(args: argparse.Namespace) -> int:
    from bus.factory import make_producer
    from collectors.config import load_networks
    from collectors.profiles import ProfileSet
    from collectors.publish import DryRunPublisher, Publisher
    from collectors.service import Collector
    from collectors.settings import CollectorSettings

    cfg: Path = args.config
    nets = load_networks(cfg, args.network or None)
    coll = load_section(cfg / "netfeed.yaml", "collector", CollectorSettings)
    profiles = ProfileSet([p for p in [cfg / "profiles", coll.profiles_dir] if p.is_dir()])
    bus = load_bus_settings(cfg)
    producer = None
    if args.dry_run:
        sink: DryRunPublisher | Publisher = DryRunPublisher()
    else:
        producer = make_producer(bus, client_id=f"collector-{coll.instance_id}")
        await producer.start()
        sink = Publisher(producer, bus.topic_prefix)
    try:
        collector = Collector(nets, coll, sink, profiles)
        if args.once:
            markers = await collector.run_once(args.dataset or None)
            await collector.stop()
            bad = [m for m in markers if m.devices_ok < m.devices_planned]
            for m in markers:
                print(
                    f"{m.cycle_id}: {m.devices_ok}/{m.devices_planned} ok, "
                    f"{m.devices_failed} failed, "
                    f"{m.devices_timed_out} timed out, {m.records} records, {m.duration_ms} ms",
                    file=sys.stderr,
                )
            return 1 if bad and args.strict else 0
        stop = _stop_event()
        async with collector:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.duration)
        return 0
    finally:
        if producer is not None:
            await producer.stop()


async def _app_run(args: argparse.Namespace) -> int:
    from applications.config import load_app_settings
    from applications.registry import load_registry
    from applications.runner import AppRunner

    cfg: Path = args.config
    cls = load_registry().get(args.name)
    app = cls(load_app_settings(cfg, cls))
    runner = AppRunner(app, load_bus_settings(cfg), instance_id=args.instance or "")
    stop = _stop_event()
    async with runner:
        await runner.run(duration_s=args.duration, stop=stop)
    print(
        f"{app.name}: handled {runner.handled} messages in {runner.batches} batches, "
        f"{runner.bad_messages} undecodable",
        file=sys.stderr,
    )
    return 0


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
    stop = _stop_event()
    shown = 0
    loop = asyncio.get_running_loop()
    end = None if args.duration is None else loop.time() + args.duration
    async with consumer:
        while not stop.is_set() and (end is None or loop.time() < end):
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
                    return 0
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="netfeed", description=__doc__.splitlines()[0])
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more logging: -v cycle summaries, -vv debug",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
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

    v = sub.add_parser("validate", help="check configuration; print every problem")
    config_arg(v, positional=True)

    c = sub.add_parser("collect", help="poll devices on schedule (or --once) and publish")
    config_arg(c)
    c.add_argument("--network", action="append", help="only this network (repeatable)")
    c.add_argument("--dataset", action="append", help="only this dataset, with --once (repeatable)")
    c.add_argument("--once", action="store_true", help="one cycle of each dataset, then exit")
    c.add_argument(
        "--dry-run", action="store_true", help="publish nothing; print records as JSON lines"
    )
    c.add_argument("--strict", action="store_true", help="with --once: exit 1 if any device failed")
    c.add_argument("--duration", type=float, default=None, help="stop after this many seconds")

    a = sub.add_parser("app", help="applications")
    asub = a.add_subparsers(dest="app_command", required=True)
    ar = asub.add_parser("run", help="run one instance of an application")
    ar.add_argument("name", help="application name (see 'netfeed app list') or module:Class")
    config_arg(ar)
    ar.add_argument("--instance", help="instance id (default: generated)")
    ar.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    al = asub.add_parser("list", help="installed applications")
    al.set_defaults(list_apps=True)

    t = sub.add_parser("tail", help="print messages of a topic (glob allowed) as JSON lines")
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

    d = sub.add_parser("demo", help="simulated network -> embedded bus -> interface-utilisation")
    d.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    d.add_argument("--devices", type=int, default=6, help="simulated devices per network")
    d.add_argument("--interfaces", type=int, default=8, help="interfaces per device")
    d.add_argument("--interval", type=float, default=10.0, help="poll interval in seconds")
    d.add_argument("--workdir", type=Path, default=Path("var/demo"), help="bus file and reports")
    d.add_argument(
        "--port", type=int, default=16100, help="first UDP port of the simulated devices"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(0 if args.quiet else args.verbose)
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
            return asyncio.run(_app_run(args))
        if args.command == "tail":
            return asyncio.run(_tail(args))
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
        if type(exc).__name__ in ("BusError", "RegistryError", "SecretError"):
            print(f"netfeed: {exc}", file=sys.stderr)
            return 1
        raise
    return 2


if __name__ == "__main__":
    sys.exit(main())
