"""The configuration reference, generated from the config models themselves.

``python -m netfeed.configref`` prints it as Markdown; ``--write README.md``
replaces the block between ``<!-- config-reference -->`` and
``<!-- /config-reference -->``.  tests/netfeed/test_configref.py fails when the
README's block is not what the models say now, so the reference cannot go
stale.  Each section: the model's own docstring (what the keys mean), then
every key with its type and default, nested models as their own sections.
Driver options come from the installed drivers' models, application
settings from the installed applications'.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

START, END = "<!-- config-reference -->", "<!-- /config-reference -->"


def _type(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type(a) for a in args)
    if origin is typing.Annotated:
        return _type(args[0])
    if origin in (list, dict, tuple, set, frozenset):
        inner = ", ".join(_type(a) for a in args)
        return f"{origin.__name__}[{inner}]"
    if isinstance(annotation, type):
        return "none" if annotation is type(None) else annotation.__name__
    return str(annotation).replace("typing.", "")


def _default(field: Any) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    factory = field.default_factory
    if factory is not None and not isinstance(factory, type):
        # computed where it runs (the host name, ...): say how, not this machine's value
        return f"`{getattr(factory, '__name__', 'computed')}()`"
    value = factory() if factory is not None else field.default
    if isinstance(value, BaseModel):
        return "(section)"
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str) and len(value) > 40:
        value = value[:37] + "..."
    text = repr(value) if not isinstance(value, bool | int | float) else str(value).lower()
    return f"`{text}`"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for a in typing.get_args(annotation):
        if isinstance(a, type) and issubclass(a, BaseModel):
            return a
    return None


def _doc(model: type[BaseModel]) -> str:
    doc = inspect.getdoc(model) or ""
    if doc.startswith(("Usage docs:", "!!! abstract")) or model.__doc__ is None:
        return ""
    doc = re.sub(r"\s*\n\s*", " ", doc.strip())
    doc = re.sub(r":(?:class|mod|func|meth|attr|data):`~?([^`]+)`", r"`\1`", doc)
    return doc.replace("``", "`")


def section(key: str, model: type[BaseModel], out: list[str], seen: set[type]) -> None:
    rows, nested = [], []
    for name, field in model.model_fields.items():
        sub = _model_of(field.annotation)
        if sub is not None and typing.get_origin(field.annotation) is not dict:
            nested.append((f"{key}.{name}", sub))
            rows.append(f"| `{name}` | section `{key}.{name}` | |")
            continue
        rows.append(f"| `{name}` | {_type(field.annotation)} | {_default(field)} |")
        if sub is not None:  # dict[str, Model]: each value is such a section
            nested.append((f"{key}.{name}.<name>", sub))
    out += [f"### `{key}`", ""]
    if (doc := _doc(model)) and model not in seen:
        out += [doc, ""]
    seen.add(model)
    out += ["| key | type | default |", "|---|---|---|", *rows, ""]
    for k, m in nested:
        section(k, m, out, seen)


def reference() -> str:
    from applications.registry import load_registry
    from bus.configfile import SecretsSettings
    from bus.settings import BusSettings
    from collectors.config import file_models
    from collectors.registry import load_drivers
    from collectors.settings import CollectorSettings
    from netfeed.settings import LogSettings, MetricsSettings

    out = [
        "Generated from the models by `python -m netfeed.configref --write README.md`; "
        "a test fails when it is stale.",
        "",
        "#### `configs/netfeed.yaml`",
        "",
    ]
    seen: set[type] = set()
    for key, model in (
        ("bus", BusSettings),
        ("collector", CollectorSettings),
        ("metrics", MetricsSettings),
        ("logging", LogSettings),
        ("secrets", SecretsSettings),
    ):
        section(key, model, out, seen)
    drivers = load_drivers()
    for name in drivers.names():
        section(f"collector.drivers.{name}", drivers.get(name).Settings, out, seen)
    apps = load_registry()
    for name in apps.names():
        section(f"applications.{name}", apps.get(name).Settings, out, seen)
    out += ["#### `configs/networks/<network>.yaml`", ""]
    _group, _device, netfile = file_models(drivers)
    section("<network file>", netfile, out, seen)
    return "\n".join(out).rstrip() + "\n"


def replace_block(text: str, block: str) -> str:
    if START not in text or END not in text:
        raise ValueError(f"no {START} ... {END} block")
    head, rest = text.split(START, 1)
    _old, tail = rest.split(END, 1)
    return f"{head}{START}\n{block}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m netfeed.configref")
    p.add_argument("--write", type=Path, help="replace the reference block in this file")
    args = p.parse_args(argv)
    text = reference()
    if args.write is None:
        sys.stdout.write(text)
        return 0
    args.write.write_text(replace_block(args.write.read_text(), text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
