"""Vendor profiles: YAML data, loaded once, composed with ``extends``, matched by sysObjectID.

Shipped profiles live beside this file; operators add site profiles in
``configs/profiles/`` (same format, may extend a shipped one).  A profile's
name is its file name, the ``profile`` tag on its records, and the name of
its test recording: one string everywhere.  Two profiles with one name are
an error, not an override.

Matching is by sysObjectID first: an exact ``sysobjectid`` entry beats a
prefix entry (``x.y.*``); among prefixes the longest wins.  ``sysdescr``
regexes only split families that share sysObjectIDs (IOS, IOS-XE and IOS-XR):
a profile whose sysDescr pattern matches beats an equally specific one without
patterns.  A sysDescr of a shape no pattern expected never drops a known vendor
to ``generic``: the profiles whose sysObjectID matches but whose patterns do
not are still candidates, after every profile that fits outright; so a family
split by sysDescr has a base profile without patterns (``cisco``) for the
devices none of its patterns recognises, and a set where two such profiles
would tie with no base is refused when it loads.  Nothing matched by
sysObjectID (nor by a sysDescr-only profile) means ``generic``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bus.datasets import DATASETS
from collectors.profiles.compiled import CompiledDataset, Enums, compile_dataset
from collectors.profiles.schema import (
    DatasetSpec,
    EnumFile,
    FieldSpec,
    ProfileFile,
    ScalarSpec,
    TableSpec,
)

SHIPPED = Path(__file__).parent
FALLBACK = "generic"


class ProfileError(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Profile:
    """A resolved profile: its own and inherited datasets, compiled."""

    name: str
    sysobjectid: tuple[str, ...]
    sysdescr: tuple[re.Pattern[str], ...]
    datasets: dict[str, CompiledDataset]
    source: Path
    protocol: str = "snmp"
    capabilities: tuple[re.Pattern[str], ...] = ()
    priority: int = 0

    def capability_rank(self, capabilities: list[str]) -> tuple[int, int] | None:
        """NETCONF: how well this profile fits a server's hello capabilities
        (every pattern must match one of them); None when it does not."""
        if not self.capabilities:
            return None
        for pat in self.capabilities:
            if not any(pat.search(c) for c in capabilities):
                return None
        return (self.priority, len(self.capabilities))

    def rank(self, sys_object_id: str, sys_descr: str | None) -> tuple[int, int, int, int] | None:
        """How well this profile fits a device; None when it does not.

        (fits, sysObjectID kind, prefix length, sysDescr matched): ``fits`` is 0
        for a profile whose sysObjectID matches but whose sysDescr patterns do
        not (a candidate only when nothing fits outright), else 1."""
        best: tuple[int, int] | None = None
        for s in self.sysobjectid:
            if s.endswith(".*"):
                if sys_object_id.startswith(s[:-1]):
                    cand = (1, len(s))
                    best = cand if best is None or cand > best else best
            elif s == sys_object_id:
                best = (2, len(s))
        if best is None and self.sysobjectid:
            return None
        if self.sysdescr:
            if not sys_descr or not any(r.search(sys_descr) for r in self.sysdescr):
                return None if best is None else (0, *best, 0)
            return (1, *(best or (0, 0)), 1)
        return None if best is None else (1, *best, 0)


# libyaml's parser where installed (same safe constructor, ~7x faster to load)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_yaml(path: Path) -> object:
    try:
        return yaml.load(path.read_text(), Loader=_LOADER)
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError([f"{path}: cannot load: {exc}"]) from None


def _merge_part(base: Any, top: Any) -> dict[str, Any]:
    """Merge two scalar/table specs: top's fields win, name by name."""
    out = base.model_dump(by_alias=True, exclude_unset=True)
    mine = top.model_dump(by_alias=True, exclude_unset=True)
    for key in ("tags", "fields"):
        out[key] = {**out.get(key, {}), **mine.pop(key, {})}
    out.update(mine)
    return out


def _merge_dataset(base: DatasetSpec | None, top: DatasetSpec) -> DatasetSpec:
    if base is None:
        return top
    scalars = base.scalars
    if top.scalars is not None:
        scalars = (
            top.scalars
            if base.scalars is None
            else ScalarSpec.model_validate(_merge_part(base.scalars, top.scalars))
        )
    tables = dict(base.tables)
    for name, t in top.tables.items():
        tables[name] = (
            t if name not in tables else TableSpec.model_validate(_merge_part(tables[name], t))
        )
    return DatasetSpec(scalars=scalars, tables=tables, requests=top.requests or base.requests)


def contract_problems(path: Path, spec: ProfileFile) -> list[str]:
    """Datasets, tags and fields a profile would publish that the record contract
    (:mod:`bus.datasets`) does not have; each names the file and the key.
    Working fields (``_name``) are never published and not checked."""
    problems: list[str] = []
    for ds, dspec in spec.datasets.items():
        model = DATASETS.get(ds)
        if model is None:
            problems.append(
                f"{path}: datasets.{ds}: unknown dataset {ds!r}; known: {', '.join(DATASETS)}"
            )
            continue
        parts: list[tuple[str, ScalarSpec | TableSpec]] = []
        if dspec.scalars is not None:
            parts.append(("scalars", dspec.scalars))
        parts += [(f"tables.{t}", tspec) for t, tspec in dspec.tables.items()]
        for where, part in parts:
            for kind, names, known in (
                ("tags", part.tags, model.tag_names()),
                ("fields", part.fields, model.field_names()),
            ):
                for name in names:
                    if not name.startswith("_") and name not in known:
                        problems.append(
                            f"{path}: datasets.{ds}.{where}.{kind}.{name}: not a {kind[:-1]} "
                            f"of dataset {ds!r} (bus/datasets.py has: {', '.join(sorted(known))})"
                        )
    return problems


def split_without_base(profiles: list[Profile]) -> list[str]:
    """Families split by sysDescr with no base profile: two profiles with
    ``sysdescr`` patterns list one sysObjectID entry and no profile without
    patterns covers it, so a device whose sysDescr none of them expects would
    be given one of them at random."""
    by_entry: dict[str, list[Profile]] = {}
    for p in profiles:
        if p.sysdescr:
            for e in p.sysobjectid:
                by_entry.setdefault(e, []).append(p)
    plain = [e for p in profiles if not p.sysdescr for e in p.sysobjectid]

    def covers(base: str, entry: str) -> bool:
        if base == entry:
            return True
        return base.endswith(".*") and entry.removesuffix(".*").startswith(base[:-1])

    return [
        f"{split[0].source}: sysobjectid: {entry} is split by sysdescr between "
        f"{', '.join(sorted(p.name for p in split))} and no profile without sysdescr covers "
        "it: add the family's base profile (its sysobjectid, no sysdescr) for devices "
        "whose sysDescr none of them expects"
        for entry, split in sorted(by_entry.items())
        if len(split) > 1 and not any(covers(b, entry) for b in plain)
    ]


class ProfileSet:
    """Every profile found in the given folders, resolved and ready to match."""

    def __init__(
        self,
        folders: list[Path] | None = None,
        *,
        protocol: str = "snmp",
        shipped: Path = SHIPPED,
        fallback: str | None = FALLBACK,
    ) -> None:
        """``protocol``: only profiles saying this ``protocol:`` are loaded from the
        folders (a site folder may hold SNMP and NETCONF profiles; each driver's set
        checks its own, schema and record contract alike).  ``fallback``: the profile
        used when nothing matches (None: no fallback)."""
        self.protocol = protocol
        folders = [shipped, *(folders or [])]
        problems: list[str] = []
        files: dict[str, ProfileFile] = {}
        paths: dict[str, Path] = {}
        self.enums: Enums = {}
        for folder in folders:
            for path in sorted((folder / "enums").glob("*.yaml")):
                try:
                    enum = EnumFile.model_validate(_load_yaml(path))
                except ValidationError as exc:
                    problems += [
                        f"{path}: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
                    ]
                    continue
                self.enums[enum.name] = enum.values
            for path in sorted(folder.glob("*.yaml")):
                try:
                    spec = ProfileFile.model_validate(_load_yaml(path))
                except ValidationError as exc:
                    problems += [
                        f"{path}: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
                    ]
                    continue
                except ProfileError as exc:
                    problems += exc.problems
                    continue
                if spec.protocol != protocol:
                    continue  # another driver's profile: its own set checks it
                problems += contract_problems(path, spec)
                if spec.name != path.stem:
                    problems.append(
                        f"{path}: name: {spec.name!r} must equal the file name {path.stem!r}"
                    )
                elif spec.name in files:
                    problems.append(
                        f"{path}: name: profile {spec.name!r} is already defined in "
                        f"{paths[spec.name]}"
                    )
                else:
                    files[spec.name] = spec
                    paths[spec.name] = path
        self.profiles: dict[str, Profile] = {}
        self._resolved: dict[str, Profile] = {}  # each base compiled once, however often extended
        for name in files:
            try:
                self.profiles[name] = self._resolve(name, files, paths, ())
            except ProfileError as exc:
                problems += exc.problems
        if fallback is not None and fallback not in self.profiles and not problems:
            problems.append(f"{shipped}: the fallback profile {fallback!r} is missing")
        if problems:
            raise ProfileError(sorted(set(problems)))
        self._matchable = [
            p
            for n, p in sorted(self.profiles.items())
            if not n.startswith("_") and (p.sysobjectid or p.sysdescr)
        ]
        problems = split_without_base(self._matchable)
        if problems:
            raise ProfileError(problems)
        self._by_caps = [p for n, p in sorted(self.profiles.items()) if not n.startswith("_")]
        self._cache: dict[tuple[str, str | None], tuple[Profile, bool]] = {}

    def _resolve(
        self,
        name: str,
        files: dict[str, ProfileFile],
        paths: dict[str, Path],
        chain: tuple[str, ...],
    ) -> Profile:
        if name in chain:
            raise ProfileError([f"{paths[chain[0]]}: extends: cycle {' -> '.join((*chain, name))}"])
        if name in self._resolved:
            return self._resolved[name]
        spec = files[name]
        datasets: dict[str, DatasetSpec] = {}
        for base in spec.extends:
            if base not in files:
                raise ProfileError([f"{paths[name]}: extends: unknown profile {base!r}"])
            parent = self._resolve(base, files, paths, (*chain, name))
            for ds, cds in parent.datasets.items():
                datasets[ds] = _merge_dataset(datasets.get(ds), cds.spec)
        try:
            for ds, dspec in spec.datasets.items():
                datasets[ds] = _merge_dataset(datasets.get(ds), dspec)
            compiled = {ds: compile_dataset(ds, d, self.enums) for ds, d in datasets.items()}
        except ValueError as exc:
            raise ProfileError([f"{paths[name]}: {exc}"]) from None
        self._resolved[name] = Profile(
            name,
            tuple(spec.sysobjectid),
            tuple(re.compile(r) for r in spec.sysdescr),
            compiled,
            paths[name],
            spec.protocol,
            tuple(re.compile(r) for r in spec.capabilities),
            spec.priority,
        )
        return self._resolved[name]

    def match_capabilities(self, capabilities: list[str]) -> Profile | None:
        """NETCONF: the profile for a server's hello capabilities: every one of its
        ``capabilities`` patterns matches some capability URI; the highest
        ``priority`` wins, then the most patterns, then the name; None when none fits."""
        ranked = [
            (r, p.name) for p in self._by_caps if (r := p.capability_rank(capabilities)) is not None
        ]
        return self.profiles[max(ranked)[1]] if ranked else None

    def match(
        self, sys_object_id: str | None, sys_descr: str | None = None
    ) -> tuple[Profile, bool]:
        """The profile for a device, and whether it matched (False: generic fallback)."""
        key = (sys_object_id or "", sys_descr)
        hit = self._cache.get(key)
        if hit is None:
            ranked = [
                (r, p.name) for p in self._matchable if (r := p.rank(key[0], sys_descr)) is not None
            ]
            hit = (
                (self.profiles[max(ranked)[1]], True)
                if ranked
                else (self.profiles[FALLBACK], False)
            )
            if len(self._cache) < 10_000:
                self._cache[key] = hit
        return hit


@lru_cache(maxsize=8)
def load_profiles(*site_folders: Path) -> ProfileSet:
    """Shipped profiles plus those in ``site_folders`` (cached per folder tuple)."""
    return ProfileSet([f for f in site_folders if f.is_dir()])


__all__ = ["FieldSpec", "Profile", "ProfileError", "ProfileSet", "load_profiles"]
