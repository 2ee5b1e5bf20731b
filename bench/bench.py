"""Lightning runs as shipped vs the raw notebook loops, in one process, interleaved.

Prints a table of us/step (median, min-max over rounds) and each Trainer run's ratio to its raw
loop, then the whole-process wall time of `make train`'s command vs a raw script. Every pair is
checked for identical costs at the printed steps, so a speed-up can never silently change the
numerics. Not a test: it asserts nothing about speed.

    python bench/bench.py [--rounds 5] [--steps 10001] [--process-rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.oracle import notebook_backprop, notebook_nn  # noqa: E402 -- the notebook's own loops
from xor_lightning.cli import XORLightningCLI  # noqa: E402

PAIRS = [  # (name, config, raw loop)
    ("xor_nn", "configs/xor_nn.yaml", lambda steps: notebook_nn([2], steps)[0]),
    ("xor_nn_wide_deep", "configs/xor_nn_wide_deep.yaml", lambda steps: notebook_nn([10, 10, 10], steps)[0]),
    ("xor_backprop", "configs/xor_backprop.yaml", lambda steps: notebook_backprop(steps)[0]),
]


def time_raw(loop, steps: int) -> tuple[float, dict[int, float]]:
    start = time.perf_counter()
    costs = loop(steps)
    elapsed = time.perf_counter() - start
    return elapsed, {s: costs[s].item() for s in range(0, steps, 100)}


def time_trainer(config: str, steps: int, logs: str) -> tuple[float, dict[int, float]]:
    """The shipped config through the CLI, in-process; stdout captured to read the STEP COST lines."""
    out = io.StringIO()
    args = ["-c", str(REPO / config), f"--trainer.max_steps={steps}", f"--trainer.logger.init_args.save_dir={logs}"]
    with contextlib.redirect_stdout(out):
        cli = XORLightningCLI(args=args, run=False)
        start = time.perf_counter()
        cli.trainer.fit(cli.model, cli.datamodule)
        elapsed = time.perf_counter() - start
    costs = {}
    for line in out.getvalue().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit():
            costs[int(parts[0])] = float(parts[1])
    return elapsed, costs


def process_time(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def fmt(samples: list[float], steps: int) -> str:
    us = [s / steps * 1e6 for s in samples]
    return f"{statistics.median(us):8.1f} ({min(us):.1f}-{max(us):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10001)
    parser.add_argument("--process-rounds", type=int, default=3)
    args = parser.parse_args()
    steps = args.steps
    print(
        f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}, python {platform.python_version()}, {steps} steps, {args.rounds} rounds"
    )

    raw: dict[str, list[float]] = {name: [] for name, _, _ in PAIRS}
    ours: dict[str, list[float]] = {name: [] for name, _, _ in PAIRS}
    mismatches: list[str] = []
    with tempfile.TemporaryDirectory() as logs:
        for _ in range(args.rounds):
            for name, config, loop in PAIRS:  # interleaved: raw, ours, raw, ours, ...
                t_raw, c_raw = time_raw(loop, steps)
                t_ours, c_ours = time_trainer(config, steps, logs)
                raw[name].append(t_raw)
                ours[name].append(t_ours)
                if c_raw != c_ours:
                    mismatches.append(name)

    print("\n| run | raw loop us/step | Trainer us/step | ratio (median) |")
    print("|---|---|---|---|")
    for name, _, _ in PAIRS:
        ratio = statistics.median(ours[name]) / statistics.median(raw[name])
        print(f"| {name} | {fmt(raw[name], steps)} | {fmt(ours[name], steps)} | {ratio:.2f}x |")
    hand_vs_autograd = statistics.median(ours["xor_backprop"]) / statistics.median(raw["xor_nn"])
    print(f"\nxor_backprop Trainer run / raw xor-nn autograd loop: {hand_vs_autograd:.2f}x")
    print("costs identical at every printed step:", "yes" if not mismatches else f"NO for {sorted(set(mismatches))}")

    # Whole process: `make train`'s command vs a script that imports torch and runs the raw loop.
    raw_script = (
        f"import sys; sys.path.insert(0, {str(REPO)!r}); "
        f"from tests.oracle import notebook_nn; notebook_nn([2], {steps})"
    )
    with tempfile.TemporaryDirectory() as cwd:
        cli_cmd = [
            sys.executable,
            "-m",
            "xor_lightning",
            "fit",
            "-c",
            str(REPO / "configs/xor_nn.yaml"),
            f"--trainer.max_steps={steps}",
        ]
        t_cli, t_raw = [], []
        for _ in range(args.process_rounds):
            t_raw.append(process_time([sys.executable, "-c", raw_script], Path(cwd)))
            t_cli.append(process_time(cli_cmd, Path(cwd)))
    med_cli, med_raw = statistics.median(t_cli), statistics.median(t_raw)
    print(
        f"\nwhole process, xor_nn: `make train` command {med_cli:.2f} s ({min(t_cli):.2f}-{max(t_cli):.2f}), "
        f"raw script {med_raw:.2f} s ({min(t_raw):.2f}-{max(t_raw):.2f}), difference {med_cli - med_raw:+.2f} s"
    )


if __name__ == "__main__":
    main()
