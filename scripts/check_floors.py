"""`make check-floors`: every runtime dependency at the lowest version pyproject.toml allows, then the fast tests.

The `>=` floors in [project].dependencies are read from pyproject.toml (there is no second list to keep in
step) and each dependency is pinned to its floor in a scratch venv; what they pull in resolves freely, as a
user's fresh install would. torch is the exception: it is held at the lock's version (constraints.txt), the
CPU wheel on this machine's disk, because an older torch is a multi-GB CUDA download; its floor is argued
in pyproject.toml, not run here. Dev tools (pytest, ...) are installed at the lock's versions.

Needs the package index and a few minutes, so it is not part of `make test`.
Usage: python scripts/check_floors.py [--venv DIR] [-- PYTEST_ARGS]   (DIR is kept for a rerun; default: a temp dir)
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10 has no tomllib
    sys.exit("error: scripts/check_floors.py needs Python 3.11 or later, e.g. make check-floors PYTHON=python3.11")

ROOT = Path(__file__).resolve().parents[1]
HELD_AT_LOCK = {"torch"}  # see the docstring: the floor is declared, the lock's CPU wheel is what runs


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def split(requirement: str) -> tuple[str, str]:
    """'jsonargparse[signatures]>=4.39,<5' -> ('jsonargparse', '>=4.39,<5')."""
    match = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*([^;]*?)\s*(?:;.*)?", requirement)
    if not match:
        sys.exit(f"error: cannot read the requirement {requirement!r} in pyproject.toml")
    return normalize(match.group(1)), match.group(2)


def floor(name: str, specifier: str) -> str:
    floors = [s.strip()[2:].strip() for s in specifier.split(",") if s.strip().startswith(">=")]
    if len(floors) != 1:
        sys.exit(f"error: {name} in pyproject.toml needs exactly one '>=' floor, got {specifier!r}")
    return floors[0]


def pins() -> tuple[dict[str, str], dict[str, str]]:
    """(pins to install, declared floor of each runtime dependency), both by normalized name."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("#")[0].split("==")
            lock[normalize(name.strip())] = version.strip()
    declared = {name: floor(name, spec) for name, spec in map(split, project["dependencies"])}
    chosen = {name: lock[name] if name in HELD_AT_LOCK else version for name, version in declared.items()}
    for requirement in project.get("optional-dependencies", {}).get("dev", []):
        name = split(requirement)[0]
        if name in lock:
            chosen.setdefault(name, lock[name])
    return chosen, declared


def same(a: str, b: str) -> bool:
    """'2.6' and '2.6.0+cpu' name the same release."""

    def key(version: str) -> list[str]:
        parts = version.split("+")[0].split(".")
        while len(parts) > 1 and parts[-1] == "0":
            parts.pop()
        return parts

    return key(a) == key(b)


def run(*command: str | Path, **kwargs) -> None:
    print("+", " ".join(map(str, command)), flush=True)
    subprocess.run(list(map(str, command)), check=True, **kwargs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, help="create (or reuse) the venv here and keep it")
    parser.add_argument("pytest_args", nargs="*", help='after --; default: -m "not slow"')
    args = parser.parse_args()
    chosen, declared = pins()
    with tempfile.TemporaryDirectory(prefix="xor-floors-") as tmp:
        venv = args.venv or Path(tmp) / "venv"
        constraints = Path(tmp) / "floors.txt"
        constraints.write_text("".join(f"{name}=={version}\n" for name, version in sorted(chosen.items())))
        print(f"pins ({constraints}):\n" + constraints.read_text(), flush=True)
        if not (venv / "bin" / "python").exists():
            run(sys.executable, "-m", "venv", venv)
        python = venv / "bin" / "python"
        # -c replaces pip's configured constraint file, so only these pins apply; --upgrade-strategy
        # eager is not wanted: what the floors pull in is whatever the index offers, as for a user.
        run(python, "-m", "pip", "install", "-qq", "-c", constraints, "-e", f"{ROOT}[dev]")
        frozen = subprocess.run(
            [python, "-m", "pip", "list", "--format=freeze"], check=True, capture_output=True, text=True
        ).stdout
        installed = {normalize(n): v for n, v in (ln.split("==") for ln in frozen.splitlines() if "==" in ln)}
        print(f"\n{'dependency':<14} {'declared floor':<15} installed")
        for name in sorted(declared):
            note = "  (held at the lock's version, see scripts/check_floors.py)" if name in HELD_AT_LOCK else ""
            print(f"{name:<14} {'>=' + declared[name]:<15} {installed.get(name, 'MISSING')}{note}")
        print("\nall installed:", ", ".join(f"{n} {v}" for n, v in sorted(installed.items())), flush=True)
        wrong = [n for n in declared if not same(installed.get(n, "none"), chosen[n])]
        if wrong:
            print(f"error: not installed at the pinned version: {wrong}", file=sys.stderr)
            return 1
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        pytest_args = args.pytest_args or ["-m", "not slow"]
        print("+ pytest", " ".join(pytest_args), flush=True)
        pytest = [python, "-m", "pytest", "-p", "no:cacheprovider", *pytest_args]
        return subprocess.run(pytest, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
