"""The README's measured contrast for 2-10-10-10-1: `python docs/measure_cures.py` prints its tables.

Seed 777 (the notebook's network): each layer's weight-gradient norm at step 0 per activation, and per
activation x optimizer the steps spent on the ln 2 plateau (until the cost first drops below 0.6) and to
solve (all four right, cost < 0.05), up to 10001 steps. The fraction of seeds solved comes from the
vectorised study (`make study-cures`, or --seeds/--steps here for a smaller one).
"""

from __future__ import annotations

import argparse

import torch

from xor_lightning import XORClassifier
from xor_lightning.data import xor_truth_table

ACTIVATIONS = ["sigmoid", "tanh", "relu"]
OPTIMIZERS = {  # the cures config's optimizers at the lr each is usually run with
    "SGD lr 1": (torch.optim.SGD, {"lr": 1.0}),
    "SGD(momentum=0.9) lr 0.1": (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}),
    "SGD(momentum=0.9) lr 1": (torch.optim.SGD, {"lr": 1.0, "momentum": 0.9}),
    "Adam lr 0.01": (torch.optim.Adam, {"lr": 0.01}),
}


def network(activation: str) -> XORClassifier:
    torch.manual_seed(777)
    return XORClassifier(hidden_sizes=[10, 10, 10], activation=activation)


def step0_gradient_norms(activation: str) -> list[float]:
    model, (X, Y) = network(activation), xor_truth_table()
    model.cost(model(X), Y).backward()
    return [layer.weight.grad.norm().item() for layer in model.model.layers]


def plateau_and_solve(activation: str, cls: type, settings: dict, steps: int) -> tuple[int | None, int | None]:
    model, (X, Y) = network(activation), xor_truth_table()
    optimizer = cls(model.parameters(), **settings)
    left = None
    for step in range(steps):
        optimizer.zero_grad()
        hypothesis = model(X)
        cost = model.cost(hypothesis, Y)
        if left is None and cost.item() < 0.6:
            left = step
        if cost.item() < 0.05 and bool(((hypothesis > 0.5) == Y.bool()).all()):
            return left, step
        cost.backward()
        optimizer.step()
    return left, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=10001)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| activation | " + " | ".join(f"layer {k}" for k in range(1, 5)) + " | layer 4 / layer 1 |")
    print("|---" * 6 + "|")
    for activation in ACTIVATIONS:
        norms = step0_gradient_norms(activation)
        print(f"| {activation} | " + " | ".join(f"{n:.2e}" for n in norms) + f" | {norms[3] / norms[0]:.3g}x |")
    print("\n| activation | " + " | ".join(OPTIMIZERS) + " |")
    print("|---" * (len(OPTIMIZERS) + 1) + "|")
    for activation in ACTIVATIONS:
        cells = []
        for cls, settings in OPTIMIZERS.values():
            left, solved = plateau_and_solve(activation, cls, settings, args.steps)
            cells.append(f"{left if left is not None else 'never'} / {solved if solved is not None else 'never'}")
        print(f"| {activation} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
