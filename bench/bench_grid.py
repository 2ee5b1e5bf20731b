"""The studies against their targets (issue 24): whole commands, quiet and beside two busy processes.

Each round runs, each as its own process(es) with one torch thread, as a user runs them:
- the default grid (`make study-grid`: 45 cells x 1024 seeds x 10001 steps) for 1 step (start-up and
  exit), whole on one process, whole on two (`--trainer.devices 2`), and with 128 seeds (does the time
  scale with the work?);
- `make study`'s commands (four 1024-seed runs, two at a time, then the combined table);
- a plain script of the grid's arithmetic without Lightning: the compiled kernel in chunks of 100
  updates (`studies.compiled_twin.train`), timing each chunk, so the Lightning share and the run's
  phases (per-step time per decile of the run) show.
Rounds are interleaved; every figure is the median (min-max). With --load-rounds, the same rounds run
again beside two `yes > /dev/null` processes. Then, in this process: copy-steps/s per architecture for
the kernel and for the readable step (`autograd_twin`), the FLOPs of one copy-step, and the fraction
of this core's throughput on a plain vectorised loop (`torch.addcmul` on in-cache arrays) they reach.
Not a test: it asserts nothing about speed.

    python bench/bench_grid.py [--rounds 3] [--load-rounds 3] [--steps 10001] [--write bench/RESULTS.md]
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
from bench import ENV, diagnosis_seconds, machine, summary, timed, write_between_markers  # noqa: E402

GRID = [sys.executable, "-m", "xor_lightning", "fit", "-c", str(REPO / "configs/study_grid.yaml")]
ONE, TWO = ["--trainer.devices=1"], ["--trainer.devices=2", "--trainer.accelerator=cpu"]
ARCHITECTURES = [[1], [2], [3], [4], [5], [6], [7], [8], [10, 10, 10]]
LRS = [0.1, 0.3, 1.0, 3.0, 10.0]
STUDY = ["study_wide_deep", "study_perceptron", "study_xor_nn", "study_h4"]  # the Makefile's STUDIES, in its order
PLAIN = """
import sys, time, torch
torch.set_num_threads(1)
from xor_lightning.data import xor_truth_table
from xor_lightning.studies import compiled_twin
from xor_lightning.studies.copies import CopyStack
X, Y = xor_truth_table()
stacks = [CopyStack(h, {lrs}, 1024, 777, "autograd") for h in {architectures}]
times = []
chunk = min(100, max(1, {steps} // 20))  # at least 20 timed chunks
for step in range(0, {steps}, chunk):
    n = min(chunk, {steps} - step)
    start = time.perf_counter()
    for stack in stacks:
        compiled_twin.train(stack, X, Y, step, n, 0.05, False)
    times.append(((time.perf_counter() - start) / n, n))
print(" ".join(f"{{t:.7f}}:{{n}}" for t, n in times))
"""


def make_study(cwd: Path, steps: list[str]) -> float:
    """`make study`'s commands: the four runs two at a time, the longest first, then the combined table."""
    start, waiting, running = time.perf_counter(), list(STUDY), []
    while waiting or running:
        while waiting and len(running) < 2:
            config = str(REPO / f"configs/{waiting.pop(0)}.yaml")
            cmd = [sys.executable, "-m", "xor_lightning", "fit", "-c", config, *steps]
            running.append(subprocess.Popen(cmd, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        time.sleep(0.05)
        for p in [p for p in running if p.poll() is not None]:
            if p.returncode:
                sys.exit(f"make study's run failed: {p.stderr.read()[-2000:]}")
            running.remove(p)
    timed([sys.executable, "-m", "xor_lightning.studies.ensemble_report", "logs"], cwd)
    return time.perf_counter() - start


def one_round(cwd: Path, t: dict[str, list[float]], n: int) -> None:
    def add(key: str, value: float) -> None:
        t.setdefault(key, []).append(value)

    steps = [] if n == 10001 else [f"--trainer.max_steps={n}"]  # 10001: the configs' own

    add("start-up (1 step)", timed([*GRID, *ONE, "--trainer.max_steps=1"], cwd)[0])
    elapsed, out = timed([*GRID, *ONE, *steps], cwd)
    add("grid, 1 process", elapsed)
    add("of which the failure diagnosis", diagnosis_seconds(out))
    add("grid, 2 processes", timed([*GRID, *TWO, *steps], cwd)[0])
    add("grid, 128 seeds, 1 process", timed([*GRID, *ONE, *steps, "--model.init_args.num_copies=128"], cwd)[0])
    add("`make study`", make_study(cwd, steps))
    script = PLAIN.format(lrs=LRS, architectures=ARCHITECTURES, steps=n)
    elapsed, out = timed([sys.executable, "-c", script], cwd)
    chunks = [(float(t), int(n)) for t, n in (x.split(":") for x in out.split())]
    steps = [t for t, _ in chunks]  # per-step time of each chunk, in run order
    add("plain kernel script, whole", elapsed)
    add("plain kernel script, steps", sum(t * n for t, n in chunks))
    t.setdefault("_deciles", []).append(
        [statistics.median(steps[k * len(steps) // 10 : (k + 1) * len(steps) // 10]) for k in range(10)]
    )


def table(t: dict[str, list[float]]) -> list[str]:
    m = {k: statistics.median(v) for k, v in t.items() if not k.startswith("_")}
    arithmetic = m["plain kernel script, steps"]
    lines = ["| command | seconds |", "|---|---|"]
    lines += [f"| {k} | {summary(v)} |" for k, v in t.items() if not k.startswith("_")]
    deciles = [statistics.median(d[k] for d in t["_deciles"]) for k in range(10)]
    med = statistics.median(deciles)
    lines += [
        "",
        f"- 128 seeds against 1024 (8x less work): {m['grid, 1 process'] / m['grid, 128 seeds, 1 process']:.1f}x "
        f"faster; two processes against one: {m['grid, 1 process'] / m['grid, 2 processes']:.2f}x.",
        f"- Lightning, start-up, the diagnosis and the reports add {m['grid, 1 process'] - arithmetic:.1f} s to the "
        f"kernel's {arithmetic:.1f} s of arithmetic (the plain script's whole process: "
        f"{m['plain kernel script, whole']:.1f} s).",
        "- Per-step time of the plain script per decile of the run (ms): "
        + ", ".join(f"{d * 1e3:.2f}" for d in deciles)
        + f"; the slowest decile is {max(deciles) / med:.2f}x the median.",
    ]
    return lines


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


FMA_LOOP = r"""
/* a * x + b over 32 floats in cache, 8 independent chains: what a core's vector units do at best. */
void fma_loop(long repeats, float *x) {
    float a = 0.999f, b = 0.001f;
    for (long r = 0; r < repeats; r++)
        for (int c = 0; c < 8; c++)
            _Pragma("omp simd") for (int i = 0; i < 32; i++) x[c * 32 + i] = a * x[c * 32 + i] + b;
}
"""


def compiled_throughput(repeats: int = 2_000_000) -> float:
    """FLOP/s of a compiled vectorised loop (fused multiply-adds in cache), built like the studies' kernel."""
    import ctypes
    import tempfile

    from xor_lightning.studies import compiled_twin

    with tempfile.TemporaryDirectory() as tmp:
        source, library = Path(tmp) / "fma.c", Path(tmp) / "fma.so"
        source.write_text(FMA_LOOP)
        flags = [f for f in compiled_twin.FLAGS if f != "-ffp-contract=off"]  # let a * x + b fuse
        subprocess.run(["cc", *flags, "-o", str(library), str(source)], check=True)
        fma = ctypes.CDLL(str(library)).fma_loop
        x = (ctypes.c_float * 256)(*[0.5] * 256)
        fma(ctypes.c_long(1000), x)
        start = time.perf_counter()
        fma(ctypes.c_long(repeats), x)
        return 2 * 256 * repeats / (time.perf_counter() - start)


def copy_steps_per_second(hidden: list[int], compiled: bool, steps: int = 200) -> float:
    from xor_lightning.data import xor_truth_table
    from xor_lightning.studies import compiled_twin
    from xor_lightning.studies.copies import CopyStack
    from xor_lightning.studies.per_copy_optimizers import PerCopySGD

    X, Y = xor_truth_table()
    stack = CopyStack(hidden, LRS, 1024, 777, "autograd")
    optimizer = PerCopySGD([stack])
    start = time.perf_counter()
    if compiled:
        steps *= 10
        for step in range(0, steps, 100):
            compiled_twin.train(stack, X, Y, step, 100, 0.05, False)
    else:
        for _ in range(steps):
            optimizer.zero_grad()
            stack.costs_and_gradients(X, Y)
            optimizer.step()
    return steps * 1024 * len(LRS) / (time.perf_counter() - start)


def arithmetic() -> list[str]:
    limit, peak = vector_throughput(), compiled_throughput()
    lines = [
        f"Vectorised loops on this core, in cache: `torch.addcmul` {limit / 1e9:.2f} GFLOP/s (the first reference),",
        f"a compiled loop of fused multiply-adds {peak / 1e9:.1f} GFLOP/s (what the vector units give at best).",
        "",
        "| architecture | FLOPs per copy-step | compiled: copy-steps/s | of addcmul's | of the FMA loop's "
        "| readable: copy-steps/s | of addcmul's |",
        "|---|---|---|---|---|---|---|",
    ]
    for h in ARCHITECTURES:
        fast, slow, flops = copy_steps_per_second(h, True), copy_steps_per_second(h, False), flops_per_copy_step(h)
        name = "-".join(str(n) for n in [2, *h, 1])
        lines.append(
            f"| {name} | {flops} | {fast:.3g} | {fast * flops / limit:.0%} | {fast * flops / peak:.0%} "
            f"| {slow:.3g} | {slow * flops / limit:.0%} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--load-rounds", type=int, default=3, help="rounds beside two `yes` processes (0: none)")
    parser.add_argument("--steps", type=int, default=10001, help="steps of every run (the targets: 10001)")
    parser.add_argument("--write", type=Path, help="replace the grid section of this markdown file")
    parser.add_argument("--arithmetic-only", action="store_true", help="only the in-process arithmetic table")
    args = parser.parse_args()
    if args.arithmetic_only:
        torch.set_num_threads(1)
        print("\n".join(arithmetic()))
        return
    torch.set_num_threads(1)
    cwd = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_grid_{os.getpid()}"
    cwd.mkdir(parents=True, exist_ok=True)
    quiet: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        one_round(cwd, quiet, args.steps)
    lines = [f"## The studies against their targets (`bench/bench_grid.py`, {args.steps} steps)", ""]
    lines += [f"Machine: {machine()}.", ""]
    lines += [f"Quiet, {args.rounds} rounds:", "", *table(quiet)]
    if args.load_rounds:
        loaded: dict[str, list[float]] = {}
        hogs = [subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) for _ in range(2)]
        try:
            for _ in range(args.load_rounds):
                one_round(cwd, loaded, args.steps)
        finally:
            for hog in hogs:
                hog.kill()
        lines += [
            "",
            f"Beside two `yes > /dev/null` on the same two cores, {args.load_rounds} rounds:",
            "",
            *table(loaded),
        ]
        ratio = {k: statistics.median(loaded[k]) / statistics.median(quiet[k]) for k in quiet if not k.startswith("_")}
        lines += ["", "Loaded / quiet (medians): " + ", ".join(f"{k} {v:.2f}x" for k, v in ratio.items()) + "."]
    lines += ["", *arithmetic()]
    report = "\n".join(lines) + "\n"
    print(report, end="")
    if args.write:
        write_between_markers(args.write, report, name="grid")


if __name__ == "__main__":
    main()
