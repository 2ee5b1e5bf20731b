"""What users wait for, as whole processes: each shipped run against a plain script of the same loop.

For every shipped config, `python -m xor_lightning fit -c CONFIG` runs as a user runs it, once for 1
step and once for N steps (default 10001); per step = (T(N) - T(1)) / (N - 1), so start-up and exit
cancel out. Beside it, in its own process, a plain-torch script of the notebook's loop for the same
network (tests/oracle.py, one torch thread like the CLI), and Lightning's floor (bench/floor.py: an
empty automatic-optimization module on the same Trainer, then the lesson's XORClassifier on it).
Every figure is the median (min-max) over interleaved rounds. Each run's printed costs must equal its
plain script's, bit for bit.
Then the whole `make train` command against the plain script. The studies have their own bench,
bench/bench_grid.py (`make bench` runs both).
Not a test: it asserts nothing about speed.

    python bench/bench.py [--rounds 5] [--steps 10001] [--write bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
CLI = [sys.executable, "-m", "xor_lightning", "fit", "-c"]
PLAIN = (
    "import torch; torch.set_num_threads(1); from tests.oracle import {fn}; costs = {fn}({args}{n})[0]; "
    "[print(s, costs[s].item()) for s in range(0, {n}, 100)]"
)
RUNS = {  # run -> the plain loop it reproduces
    "xor_nn": ("notebook_nn", "[2], "),
    "xor_nn_wide_deep": ("notebook_nn", "[10, 10, 10], "),
    "xor_backprop": ("notebook_backprop", ""),  # the shipped config: the fast twin, 100 updates a batch
    "xor_backprop_readable": ("notebook_backprop", ""),  # the lesson's own training_step, one update a batch
}
# run -> (config, extra arguments): every run but these is its config as shipped
VARIANTS = {"xor_backprop_readable": ("xor_backprop", ["--data.updates_per_batch=1"])}
COST_LINE = re.compile(r"^(\d+) (\S+)$", re.M)
DIAGNOSIS_LINE = re.compile(r"^failure diagnosis: .* measured in (\S+) s$", re.M)


def diagnosis_seconds(stdout: str) -> float:
    """The time a study's report says its failure diagnosis took (`studies.ensemble_report.diagnosis_line`)."""
    return sum(float(t) for t in DIAGNOSIS_LINE.findall(stdout))


def timed(cmd: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode:
        sys.exit(f"failed: {' '.join(cmd)}\n{result.stderr[-2000:]}")
    return elapsed, result.stdout


def commands(name: str, n: int) -> dict[str, list[str]]:
    fn, args = RUNS[name]
    config, extra = VARIANTS.get(name, (name, []))
    return {
        "ours": [*CLI, str(REPO / f"configs/{config}.yaml"), f"--trainer.max_steps={n}", *extra],
        "plain": [sys.executable, "-c", PLAIN.format(fn=fn, args=args, n=n)],
    }


def summary(samples: list[float]) -> str:
    return f"{statistics.median(samples):.1f} ({min(samples):.1f}-{max(samples):.1f})"


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), "?")
    return (
        f"{model}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start; python "
        f"{platform.python_version()}, torch {torch.__version__} (runs and plain scripts on 1 thread)"
    )


def write_between_markers(path: Path, report: str, name: str = "bench.py") -> None:
    """Replace what lies between `name`'s markers (RESULTS.md keeps its analysis around the numbers);
    markers not there yet are appended."""
    begin, end = f"<!-- begin {name} output -->", f"<!-- end {name} output -->"
    text = path.read_text() if path.exists() else ""
    if begin not in text:
        text += f"\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    path.write_text(f"{head}{begin}\n{report}{end}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10001)
    parser.add_argument("--write", type=Path, help="also put the report into this markdown file, between its markers")
    args = parser.parse_args()
    n, lines = args.steps, [f"Machine: {machine()}.", ""]
    times: dict[tuple[str, str, int], list[float]] = {}
    mismatches: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        for _ in range(args.rounds):  # interleaved: every command once per round
            for steps in (1, n):
                for name in RUNS:
                    out = {}
                    for kind, cmd in commands(name, steps).items():
                        elapsed, out[kind] = timed(cmd, cwd)
                        times.setdefault((name, kind, steps), []).append(elapsed)
                    if COST_LINE.findall(out["ours"]) != COST_LINE.findall(out["plain"]):
                        mismatches.add(name)
                for module in ("empty", "lesson"):
                    elapsed, _ = timed([sys.executable, str(REPO / "bench/floor.py"), str(steps), module], cwd)
                    times.setdefault((f"floor_{module}", "ours", steps), []).append(elapsed)

        def per_step(name: str, kind: str) -> list[float]:
            pairs = zip(times[(name, kind, n)], times[(name, kind, 1)], strict=True)
            return [(big - small) / (n - 1) * 1e6 for big, small in pairs]

        floor = statistics.median(per_step("floor_empty", "ours"))
        plain_nn = statistics.median(per_step("xor_nn", "plain"))
        lines += [
            f"Per step, us, whole processes: (T({n} steps) - T(1 step)) / {n - 1}; median (min-max) of {args.rounds}"
            " interleaved rounds.",
            "",
            "| run | ours | plain script of its loop | ours / plain | ours / plain xor-nn autograd | ours / floor |",
            "|---|---|---|---|---|---|",
        ]
        for name in RUNS:
            ours, plain = per_step(name, "ours"), per_step(name, "plain")
            m = statistics.median(ours)
            lines.append(
                f"| {name} | {summary(ours)} | {summary(plain)} | {m / statistics.median(plain):.2f}x | "
                f"{m / plain_nn:.2f}x | {m / floor:.2f}x |"
            )
        lesson = per_step("floor_lesson", "ours")
        lines += [
            f"| Lightning floor (bench/floor.py) | {summary(per_step('floor_empty', 'ours'))} | | | | 1.00x |",
            f"| the floor's Trainer fitting XORClassifier [2] (bench/floor.py lesson) | {summary(lesson)} | | | "
            f"{statistics.median(lesson) / plain_nn:.2f}x | {statistics.median(lesson) / floor:.2f}x |",
        ]
        same = "yes" if not mismatches else f"NO for {sorted(mismatches)}"
        lines += ["", f"Printed costs identical to the plain scripts' at every printed step: {same}.", ""]
        start_ours, start_plain = times[("xor_nn", "ours", 1)], times[("xor_nn", "plain", 1)]
        whole_ours, whole_plain = times[("xor_nn", "ours", n)], times[("xor_nn", "plain", n)]
        lines += [
            f"Start-up and exit (1-step process): ours {summary(start_ours)} s, plain script {summary(start_plain)} s.",
            f"Whole `make train` command ({n} steps): {summary(whole_ours)} s, plain script {summary(whole_plain)} s, "
            f"difference {statistics.median(whole_ours) - statistics.median(whole_plain):+.2f} s.",
        ]
    lines.append(f"Load average at the end: {os.getloadavg()[0]:.2f}.")
    report = "\n".join(lines) + "\n"
    print(report, end="")
    if args.write:
        write_between_markers(args.write, report)


if __name__ == "__main__":
    main()
