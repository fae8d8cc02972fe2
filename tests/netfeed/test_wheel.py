"""netfeed as a wheel, the way a user gets it: built from the checkout's files,
installed with its dependencies (at the locked versions) into a fresh virtualenv
outside the checkout, and run from an empty folder with nothing of the checkout
importable.  Catches files the packages need at run time but the wheel lacks
(vendor profiles, enum tables, the JSON Schema) and a lock that no longer pins
what gets installed."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
PACKAGES = ("bus", "collectors", "applications", "netfeed")

pytestmark = pytest.mark.timeout(600)


def _source_files(*paths: str) -> list[str]:
    """The checkout's files as a fresh clone plus the working tree's edits has them:
    tracked and new files, not ignored ones (caches, .venv, var/, build/)."""
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    r = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *paths],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    if r.returncode != 0:
        pytest.skip(f"not a git checkout: {r.stderr.decode(errors='replace').strip()}")
    return sorted(f for f in r.stdout.decode().split("\0") if f and (ROOT / f).is_file())


def _user_env(venv: Path | None = None) -> dict[str, str]:
    """The environment minus everything that could make the checkout importable or
    pick another Python (PYTHONPATH, PYTHONHOME, an active virtualenv)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PYTHON") and k not in ("VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV")
    }
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and not p.startswith(str(ROOT))]
    if venv is not None:
        path.insert(0, str(venv / "bin"))
    env["PATH"] = os.pathsep.join(path)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _run(cmd: list[str], *, timeout: float, **kw: Any) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(cmd, text=True, capture_output=True, timeout=timeout, **kw)
    assert r.returncode == 0, f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    return r


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(lines: str) -> dict[str, str]:
    """``name==version`` lines (as in the lock and ``pip freeze``), by normalised name."""
    pins = {}
    for line in lines.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and "==" in line:
            name, _, version = line.partition("==")
            pins[_norm(name)] = version.strip()
    return pins


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built (``pip wheel --no-deps``) from a copy of the checkout's files,
    so nothing is written into the checkout and no stray local file gets in."""
    src = tmp_path_factory.mktemp("src")
    for f in _source_files():
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, src / f)
    out = tmp_path_factory.mktemp("dist")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--wheel-dir",
            str(out),
            str(src),
        ],
        timeout=300,
        env=_user_env(),
    )
    (whl,) = out.glob("netfeed-*.whl")
    return whl


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtualenv outside the checkout with the wheel and its dependencies,
    constrained by the lock (pip's cache makes this quick after the first time)."""
    venv = tmp_path_factory.mktemp("user") / "venv"
    assert not venv.is_relative_to(ROOT)
    _run([sys.executable, "-m", "venv", str(venv)], timeout=120, env=_user_env())
    _run(
        [str(venv / "bin/python"), "-m", "pip", "install", "-q", "-c", str(LOCK), str(wheel)],
        timeout=480,
        env=_user_env(venv),
    )
    yield venv


def test_wheel_has_every_file_of_the_packages(wheel: Path) -> None:
    """Every file inside the packages that git knows (Python or not, at any depth)
    is in the wheel: a new kind of data file fails here, not at a user's."""
    expected = _source_files(*PACKAGES)
    assert any(f.endswith(".yaml") for f in expected) and any(f.endswith(".json") for f in expected)
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    missing = [f for f in expected if f not in names]
    assert not missing, f"not in {wheel.name} (see [tool.setuptools.package-data]): {missing}"


def _free_udp_ports(n: int) -> int:
    """The first of ``n`` consecutive UDP ports free on 127.0.0.1."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            first = int(s.getsockname()[1])
        if first + n >= 65536:
            continue
        socks = []
        try:
            for port in range(first, first + n):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no {n} consecutive free UDP ports")


def test_installed_wheel_imports_from_the_venv(installed: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    r = _run(
        [
            str(installed / "bin/python"),
            "-c",
            "import sys, applications, bus, collectors, netfeed\n"
            "for m in (applications, bus, collectors, netfeed): print(m.__file__)",
        ],
        timeout=120,
        cwd=empty,
        env=_user_env(installed),
    )
    files = [Path(line) for line in r.stdout.splitlines()]
    assert len(files) == 4
    for f in files:
        assert f.is_relative_to(installed) and not f.is_relative_to(ROOT), f


def test_installed_wheel_runs_the_demo_from_an_empty_folder(
    installed: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    devices = 2
    port = _free_udp_ports(2 * devices)  # two networks, one port per device
    cmd = [
        str(installed / "bin/netfeed"),
        *("demo", "--duration", "25", "--interval", "5"),
        *("--devices", str(devices), "--port", str(port)),
    ]
    r = subprocess.run(
        cmd, cwd=empty, env=_user_env(installed), text=True, capture_output=True, timeout=180
    )
    out = f"{r.stdout}\n{r.stderr}"
    assert r.returncode == 0, out
    done = re.search(r"netfeed demo: done; (\d+) messages handled .*, (\d+) reports", r.stdout)
    assert done and int(done[1]) > 0 and int(done[2]) > 0, out
    csv = empty / "var/demo/interface-utilisation.csv"
    assert csv.is_file() and len(csv.read_text().splitlines()) > 1, out
    assert "Traceback" not in out, out


def test_lock_pins_everything_the_wheel_installs(installed: Path) -> None:
    """A dependency added to pyproject.toml without running scripts/lock fails here."""
    r = _run(
        [str(installed / "bin/python"), "-m", "pip", "freeze", "--exclude", "netfeed"],
        timeout=120,
        env=_user_env(installed),
    )
    lock = _pins(LOCK.read_text())
    unpinned = {n: v for n, v in _pins(r.stdout).items() if lock.get(n) != v}
    assert not unpinned, (
        f"installed but not pinned so in {LOCK.name} (run scripts/lock): {unpinned}"
    )


def test_test_environment_has_the_locked_versions() -> None:
    """The environment running these tests (scripts/setup.sh's .venv) has every locked
    package it has installed at the locked version."""
    wrong = {}
    for name, version in _pins(LOCK.read_text()).items():
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # not needed on this Python
        if have != version:
            wrong[name] = f"{have} (locked {version})"
    assert not wrong, f"not the locked versions (scripts/setup.sh python reinstalls): {wrong}"
