"""The seed ensemble (1024 copies, 10001 steps) against ONE raw notebook run, in one process.

Targets (issue: seed-ensemble study): 1024 seeds of 2-2-1 in <= 3x one raw notebook run, of
2-10-10-10-1 in <= 10x. Also shows why the copy dimension is last: a batched matmul over 1024 tiny
matrices against the broadcast layout, per step of forward + backward. Not a test.

    python bench/bench_ensemble.py [--rounds 2] [--copies 1024] [--steps 10001]
    python bench/bench_ensemble.py --grid [--steps 300]   # the study grid: per-cell copy-steps/s, math vs Lightning
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

import lightning as L
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.oracle import notebook_nn  # noqa: E402
from xor_lightning import XORDataModule, XOREnsemble, xor_truth_table  # noqa: E402
from xor_lightning.studies.ensemble import linear  # noqa: E402


def time_ensemble(hidden_sizes: list[int], gradient: str, copies: int, steps: int) -> float:
    return time_fit(XOREnsemble(hidden_sizes=hidden_sizes, num_copies=copies, gradient=gradient), steps)


def time_fit(model: L.LightningModule, steps: int) -> float:
    """Seconds of `fit` on a bare CPU Trainer: no logger, checkpoints, bar or validation."""
    trainer = L.Trainer(
        accelerator="cpu", max_steps=steps, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
    )  # fmt: skip
    start = time.perf_counter()
    trainer.fit(model, XORDataModule())
    return time.perf_counter() - start


def per_step_layouts(hidden_sizes: list[int], copies: int, reps: int = 50) -> tuple[float, float]:
    """ms per forward + backward: (S, N, I) @ (S, I, O) batched matmul vs the copy-last broadcast."""
    sizes = [2, *hidden_sizes, 1]
    X = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float32)
    bmm_params = [(torch.randn(copies, i, o, requires_grad=True), torch.randn(copies, 1, o, requires_grad=True))
                  for i, o in itertools.pairwise(sizes)]  # fmt: skip
    last_params = [(torch.randn(i, o, copies, requires_grad=True), torch.randn(o, copies, requires_grad=True))
                   for i, o in itertools.pairwise(sizes)]  # fmt: skip

    def bmm_step():
        a = X.expand(copies, 4, 2)
        for w, b in bmm_params:
            a = torch.sigmoid(torch.bmm(a, w) + b)
        a.sum().backward()

    def last_step():
        a = X.unsqueeze(-1).expand(4, 2, copies)
        for w, b in last_params:
            a = torch.sigmoid(linear(a, w, b))
        a.sum().backward()

    timings = []
    for step in (bmm_step, last_step):
        step()
        start = time.perf_counter()
        for _ in range(reps):
            step()
        timings.append((time.perf_counter() - start) / reps * 1e3)
    return timings[0], timings[1]


def bench_grid(steps: int) -> None:
    """Per architecture (5 lrs x 1024 seeds in one stack): the math alone (forward, backward, update,
    solved-step bookkeeping) per step; then the whole default grid under the Trainer, so the difference
    is Lightning's share. Rough on a shared machine."""
    from xor_lightning.studies.copies import CopyStack
    from xor_lightning.studies.grid import LRS, WIDTHS_AND_DEEP, XORStudyGrid
    from xor_lightning.studies.per_copy_optimizers import PerCopySGD

    X, Y = xor_truth_table()
    math_s = 0.0
    print(f"\n| architecture | copies | math ms/step | copy-steps/s | cell (1024 seeds x {steps} steps) s |")
    print("|---|---|---|---|---|")
    for hidden_sizes in WIDTHS_AND_DEEP:
        stack = CopyStack(hidden_sizes, LRS, 1024, 777, "autograd")
        optimizer = PerCopySGD([stack])
        start = time.perf_counter()
        for step in range(steps):
            optimizer.zero_grad()
            hypothesis, costs = stack.costs_and_gradients(X, Y)
            costs.sum().backward()
            optimizer.step()
            stack.record_solved(step, hypothesis.detach(), costs.detach(), Y, 0.05)
        per_step = (time.perf_counter() - start) / steps
        math_s += per_step
        copies = len(stack.solved_step)
        name = "-".join(map(str, [2, *hidden_sizes, 1]))
        cell_s = per_step * steps / len(LRS)
        print(f"| {name} | {copies} | {per_step * 1e3:.2f} | {copies / per_step:.3g} | {cell_s:.2f} |")
    whole = time_fit(XORStudyGrid(), steps) / steps
    print(f"\nwhole grid under the Trainer: {whole * 1e3:.1f} ms/step, math alone {math_s * 1e3:.1f} ms/step "
          f"(Lightning and the rest: {(whole - math_s) * 1e3:.1f} ms, {1 - math_s / whole:.0%}); "
          f"10001 steps -> about {whole * 10001 / 60:.1f} min on one process")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--copies", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=10001)
    parser.add_argument("--grid", action="store_true", help="benchmark the study grid instead")
    args = parser.parse_args()
    torch.set_num_threads(1)  # these tensors are far too small to split; other threads only wait
    if args.grid:
        bench_grid(args.steps if args.steps != 10001 else 300)
        return
    print(f"# {torch.get_num_threads()} torch threads, torch {torch.__version__}, {args.copies} copies, "
          f"{args.steps} steps, {args.rounds} rounds (median)")  # fmt: skip
    print(
        "\n| architecture | one raw notebook run s | ensemble autograd s | ratio | ensemble hand s | ratio | target |"
    )
    print("|---|---|---|---|---|---|---|")
    for hidden_sizes, target in (([2], 3), ([10, 10, 10], 10)):
        raw, auto, hand = [], [], []
        for _ in range(args.rounds):
            start = time.perf_counter()
            notebook_nn(hidden_sizes, args.steps)
            raw.append(time.perf_counter() - start)
            auto.append(time_ensemble(hidden_sizes, "autograd", args.copies, args.steps))
            hand.append(time_ensemble(hidden_sizes, "notebook", args.copies, args.steps))
        r, a, h = (statistics.median(x) for x in (raw, auto, hand))
        name = "-".join(map(str, [2, *hidden_sizes, 1]))
        print(f"| {name} | {r:.2f} | {a:.2f} | {a / r:.1f}x | {h:.2f} | {h / r:.1f}x | <= {target}x |")
    print("\nper step, forward + backward of all copies (ms): batched matmul vs copy-last broadcast")
    for hidden_sizes in ([2], [10, 10, 10]):
        bmm_ms, last_ms = per_step_layouts(hidden_sizes, args.copies)
        print(f"  {hidden_sizes}: bmm {bmm_ms:.2f} ms, copy-last {last_ms:.2f} ms")


if __name__ == "__main__":
    main()
