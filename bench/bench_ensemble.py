"""The seed ensemble (1024 copies, 10001 steps) against ONE raw notebook run, in one process.

Targets (issue: seed-ensemble study): 1024 seeds of 2-2-1 in <= 3x one raw notebook run, of
2-10-10-10-1 in <= 10x. Also shows why the copy dimension is last: a batched matmul over 1024 tiny
matrices against the broadcast layout, per step of forward + backward. Not a test.

    python bench/bench_ensemble.py [--rounds 2] [--copies 1024] [--steps 10001]
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
from xor_lightning import XORDataModule, XOREnsemble  # noqa: E402
from xor_lightning.ensemble import linear  # noqa: E402


def time_ensemble(hidden_sizes: list[int], gradient: str, copies: int, steps: int) -> float:
    model = XOREnsemble(hidden_sizes=hidden_sizes, num_copies=copies, gradient=gradient)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--copies", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=10001)
    args = parser.parse_args()
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
