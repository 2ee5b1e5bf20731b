"""The sigmoid multilayer perceptron of the lesson, as a plain `nn.Module`."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn


def check_hidden_sizes(hidden_sizes: Sequence[int]) -> list[int]:
    """Plain list of positive ints, or a ValueError saying which entry is wrong."""
    sizes = list(hidden_sizes)
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"hidden_sizes must be positive integers, got {sizes!r}")
    return sizes


class SigmoidMLP(nn.Module):
    """2 -> hidden_sizes... -> 1, a sigmoid after every layer (the output is the hypothesis).

    `[2]` is the notebook's xor-nn, `[10, 10, 10]` its xor-nn-wide-deep, and `[]` the single-layer
    perceptron, which cannot separate XOR. The `nn.Linear` layers are constructed first to last, as
    the notebook does, so seeding then constructing draws the notebook's exact initial weights.
    """

    def __init__(self, hidden_sizes: Sequence[int] = (2,), in_features: int = 2) -> None:
        super().__init__()
        sizes = [in_features, *check_hidden_sizes(hidden_sizes), 1]
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in itertools.pairwise(sizes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 2) -> (N, 1)
        return self.activations(x)[-1]

    def activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's output, first hidden layer first; the last one is the hypothesis."""
        outputs = []
        for layer in self.layers:
            x = torch.sigmoid(layer(x))  # (N, out)
            outputs.append(x)
        return outputs
