"""The sigmoid multilayer perceptron of the lesson, as a plain `nn.Module`."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

from xor_lightning.checks import check_hidden_sizes, check_memory


class SigmoidMLP(nn.Module):
    """2 -> hidden_sizes... -> 1, a sigmoid after every layer (the output is the hypothesis).

    `[2]` is the notebook's xor-nn, `[10, 10, 10]` its xor-nn-wide-deep, and `[]` the single-layer
    perceptron, which cannot separate XOR. The `nn.Linear` layers are constructed first to last, as
    the notebook does, so seeding then constructing draws the notebook's exact initial weights.
    They are named `layer1`, `layer2`, ...: the names TensorBoard's graph, scalars and histograms show.
    """

    def __init__(self, hidden_sizes: Sequence[int] = (2,), in_features: int = 2) -> None:
        super().__init__()
        hidden_sizes = check_hidden_sizes(hidden_sizes)
        check_memory(hidden_sizes)
        sizes = [in_features, *hidden_sizes, 1]
        for k, (i, o) in enumerate(itertools.pairwise(sizes), start=1):
            self.add_module(f"layer{k}", nn.Linear(i, o))

    @property
    def layers(self) -> list[nn.Linear]:
        return list(self.children())

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 2) -> (N, 1)
        return self.activations(x)[-1]

    def activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's output, first hidden layer first; the last one is the hypothesis."""
        outputs = []
        for layer in self.children():
            x = torch.sigmoid(layer(x))  # (N, out)
            outputs.append(x)
        return outputs
