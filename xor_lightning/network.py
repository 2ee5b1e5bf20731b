"""The multilayer perceptron of the lesson, as a plain `nn.Module`: sigmoid by default, as the notebook."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Activation = Literal["sigmoid", "tanh", "relu", "leaky_relu"]
# The hidden layers' nonlinearity; the output layer is always a sigmoid, the probability BCE needs.
# sigmoid saturates (its slope is at most 1/4, so gradients shrink layer by layer), tanh is a
# zero-centred sigmoid with slope 1 at 0, relu passes gradients unchanged where it is active and
# leaky_relu (slope 0.01 below 0) never switches a unit off for good.
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": F.leaky_relu,
}


def check_activation(activation: object) -> str:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
    return str(activation)


class SigmoidMLP(nn.Module):
    """2 -> hidden_sizes... -> 1: `activation` after every hidden layer, a sigmoid after the output layer.

    `[2]` is the notebook's xor-nn, `[10, 10, 10]` its xor-nn-wide-deep, and `[]` the single-layer
    perceptron, which cannot separate XOR. The `nn.Linear` layers are constructed first to last, as
    the notebook does, so seeding then constructing draws the notebook's exact initial weights.
    They are named `layer1`, `layer2`, ...: the names TensorBoard's graph, scalars and histograms show.
    The default `activation="sigmoid"` is the notebook's network, bit for bit. It checks nothing and
    reads nothing: the LightningModule that holds it checks its arguments (`XORClassifier`).
    """

    def __init__(
        self, hidden_sizes: Sequence[int] = (2,), in_features: int = 2, activation: Activation = "sigmoid"
    ) -> None:
        super().__init__()
        self.activation = activation
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
        hidden, last = ACTIVATIONS[self.activation], len(self._modules)
        outputs = []
        for k, layer in enumerate(self.children(), start=1):
            x = (torch.sigmoid if k == last else hidden)(layer(x))  # (N, out)
            outputs.append(x)
        return outputs
