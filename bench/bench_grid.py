"""The study grid against the arithmetic it does: whole processes, a plain-torch twin, the FLOP limit.

Whole processes, each in its own interpreter, one torch thread:
- ours: `python -m xor_lightning fit -c configs/study_grid.yaml` for 1 step (start-up and exit) and for
  N steps, at 1024 and at 128 seeds (does the time scale with the work?);
- plain: the same grid as a plain loop over `CopyStack`s and `PerCopySGD`, no Lightning, so the
  Lightning share is visible; it also times every step, for the per-decile figures.
Then, in this process: copy-steps/s per architecture, the FLOPs of one copy-step (forward, backward,
update; a sigmoid counted as 4), and the machine's own throughput on a plain vectorised loop
(`addcmul` on in-cache arrays, 2 FLOPs an element): the fraction of that limit each architecture reaches.
With --load, two `yes > /dev/null` processes share the cores while everything is timed again.

    python bench/bench_grid.py [--steps 1001] [--load] [--write bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench import ENV, machine, write_between_markers  # noqa: E402  (bench/bench.py, beside this file)

CLI = [sys.executable, "-m", "xor_lightning", "fit", "-c", str(REPO / "configs/study_grid.yaml"), "--trainer.devices=1"]
TWO = ["--trainer.devices=2", "--trainer.accelerator=cpu"]
ARCHITECTURES = [[1], [2], [3], [4], [5], [6], [7], [8], [10, 10, 10]]
LRS = [0.1, 0.3, 1.0, 3.0, 10.0]
PLAIN = """
import sys, time, torch
torch.set_num_threads(1)
from xor_lightning.studies.copies import CopyStack
from xor_lightning.data import xor_truth_table
from xor_lightning.studies.per_copy_optimizers import PerCopySGD
X, Y = xor_truth_table()
stacks = [CopyStack(h, {lrs}, {seeds}, 777, "autograd") for h in {architectures}]
optimizer = PerCopySGD(stacks)
times = []
for step in range({steps}):
    start = time.perf_counter()
    optimizer.zero_grad()
    total = sum(stack.costs_and_gradients(X, Y)[1].sum() for stack in stacks)
    if total.requires_grad:  # autograd itself; the studies' twin (autograd_twin) has filled .grad
        total.backward()
    optimizer.step()
    times.append(time.perf_counter() - start)
print(" ".join(f"{{t:.6f}}" for t in times))
"""


def whole(cmd: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"failed: {' '.join(cmd[:6])}\n{result.stderr[-2000:]}")
    return time.perf_counter() - start, result.stdout


def flops_per_copy_step(hidden_sizes: list[int], samples: int = 4) -> int:
    """Forward 2NIO + 4NO (sigmoid), backward 4NIO + 2NO, BCE ~10N, update 2P, per layer (I, O)."""
    sizes = list(itertools.pairwise([2, *hidden_sizes, 1]))
    layers = sum(6 * samples * i * o + 6 * samples * o for i, o in sizes)
    return layers + 10 * samples + 2 * sum(i * o + o for i, o in sizes)


def vector_throughput(n: int = 1 << 16, repeats: int = 2000) -> float:
    """FLOP/s of a plain vectorised loop on this core: addcmul (a + b * c) on arrays that stay in cache."""
    a, b, c, out = (torch.rand(n) for _ in range(4))
    for _ in range(50):
        torch.addcmul(a, b, c, out=out)
    start = time.perf_counter()
    for _ in range(repeats):
        torch.addcmul(a, b, c, out=out)
    return 2 * n * repeats / (time.perf_counter() - start)


def per_architecture(seeds: int, steps: int = 20, twin: bool = True) -> list[tuple[str, float, int]]:
    from xor_lightning.data import xor_truth_table
    from xor_lightning.studies.copies import CopyStack
    from xor_lightning.studies.per_copy_optimizers import PerCopySGD

    X, Y = xor_truth_table()
    rows = []
    for h in ARCHITECTURES:
        stack = CopyStack(h, LRS, seeds, 777, "autograd")
        stack.twin = twin
        optimizer = PerCopySGD([stack])
        for k in range(steps + 3):
            if k == 3:
                start = time.perf_counter()
            optimizer.zero_grad()
            costs = stack.costs_and_gradients(X, Y)[1]
            if costs.requires_grad:
                costs.sum().backward()
            optimizer.step()
        rate = steps * seeds * len(LRS) / (time.perf_counter() - start)
        rows.append(("-".join(str(n) for n in [2, *h, 1]), rate, flops_per_copy_step(h)))
    return rows


def run(steps: int, cwd: Path) -> list[str]:
    small = ["--model.init_args.num_copies=128"]
    t = {}
    t["start"] = whole([*CLI, "--trainer.max_steps=1"], cwd)[0]
    t["1024"] = whole([*CLI, f"--trainer.max_steps={steps}"], cwd)[0]
    t["2 processes"] = whole([*CLI, f"--trainer.max_steps={steps}", *TWO], cwd)[0]
    t["128"] = whole([*CLI, f"--trainer.max_steps={steps}", *small], cwd)[0]
    script = PLAIN.format(lrs=LRS, seeds=1024, architectures=ARCHITECTURES, steps=steps)
    plain_time, out = whole([sys.executable, "-c", script], cwd)
    times = [float(x) for x in out.split()]
    deciles = [statistics.median(times[k * len(times) // 10 : (k + 1) * len(times) // 10]) for k in range(10)]
    med = statistics.median(times)
    lines = [
        f"- start-up (1 step, whole process): {t['start']:.1f} s",
        f"- {steps} steps, 1024 seeds: {t['1024']:.1f} s; 128 seeds: {t['128']:.1f} s "
        f"({t['1024'] / t['128']:.1f}x faster for 8x less work); two processes, 1024 seeds: "
        f"{t['2 processes']:.1f} s",
        f"- plain-torch twin, 1024 seeds, {steps} steps: {plain_time:.1f} s whole process, {sum(times):.1f} s in "
        f"steps ({med * 1e3:.1f} ms a step): Lightning and start-up add {t['1024'] - plain_time:+.1f} s",
        "- plain twin's median step per decile of the run (ms): "
        + ", ".join(f"{d * 1e3:.1f}" for d in deciles)
        + f" (slowest decile {max(deciles) / med:.2f}x the median)",
    ]
    limit = vector_throughput()
    lines += ["", f"Plain vectorised loop on this core: {limit / 1e9:.2f} GFLOP/s.", ""]
    lines += [
        "| architecture | FLOPs per copy-step | copy-steps/s (5120 copies) | fraction of the limit "
        "| autograd itself: copy-steps/s | fraction |"
    ]
    lines += ["|---|---|---|---|---|---|"]
    autograd = per_architecture(1024, twin=False)
    for (name, rate, flops), (_, slow, _) in zip(per_architecture(1024), autograd, strict=True):
        lines.append(
            f"| {name} | {flops} | {rate:.3g} | {rate * flops / limit:.1%} | {slow:.3g} | {slow * flops / limit:.1%} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1001)
    parser.add_argument("--load", action="store_true", help="also time with two `yes` processes running")
    parser.add_argument("--write", type=Path, help="replace the grid section of this markdown file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cwd = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_grid_{os.getpid()}"
    cwd.mkdir(parents=True, exist_ok=True)
    lines = [f"## The study grid against its arithmetic (`bench/bench_grid.py --steps {args.steps}`)", ""]
    lines += [f"Machine: {machine()}.", "", "Quiet:", "", *run(args.steps, cwd)]
    if args.load:
        hogs = [subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) for _ in range(2)]
        try:
            lines += ["", "With two `yes > /dev/null` on the same cores:", "", *run(args.steps, cwd)]
        finally:
            for hog in hogs:
                hog.kill()
    report = "\n".join(lines) + "\n"
    print(report, end="")
    if args.write:
        write_between_markers(args.write, report, name="grid")


if __name__ == "__main__":
    main()
