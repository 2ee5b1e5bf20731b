"""The notebook's xor-nn and xor-nn-wide-deep: a sigmoid MLP trained by autograd."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from xor_lightning.base import XORModule, check_lr
from xor_lightning.network import SigmoidMLP, check_hidden_sizes


class XORClassifier(XORModule):
    """BCE + SGD on a `SigmoidMLP`; one full-batch step per Lightning step.

    `training_step` is the notebook's loop body, line for line: zero_grad, forward, cost, backward,
    step. It uses Lightning's manual optimization to stay that literal, and because automatic
    optimization's closure and hooks measured ~100 us a step here, more than half the step itself.

    Args:
        hidden_sizes: widths of the hidden layers: [2] is xor-nn, [10, 10, 10] xor-nn-wide-deep,
            [] the single-layer perceptron (cannot learn XOR).
        lr: SGD learning rate, in (0, 100].
    """

    def __init__(self, hidden_sizes: Sequence[int] = (2,), lr: float = 1.0) -> None:
        super().__init__()
        hidden_sizes, lr = check_hidden_sizes(hidden_sizes), check_lr(lr)
        self.save_hyperparameters()
        self.hparams.update(hidden_sizes=hidden_sizes, lr=lr)  # plain list and float
        self.model = SigmoidMLP(self.hparams.hidden_sizes)
        self.criterion = nn.BCELoss()
        self.example_input_array = torch.zeros(4, 2)  # lets TensorBoard draw the graph
        self.automatic_optimization = False

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    def cost(self, hypothesis: Tensor, Y: Tensor) -> Tensor:
        return self.criterion(hypothesis, Y)

    def layer_params(self) -> list[tuple[Tensor, Tensor]]:
        return [(layer.weight, layer.bias) for layer in self.model.layers]

    def activations(self, x: Tensor) -> list[Tensor]:
        return self.model.activations(x)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        X, Y = batch
        optimizer = self.optimizers()
        optimizer.zero_grad()
        hypothesis = self(X)
        self.check_finite("hypothesis", hypothesis)  # BCELoss itself would fail on NaN, less clearly
        cost = self.cost(hypothesis, Y)
        self.manual_backward(cost)
        optimizer.step()  # Lightning counts the step: global_step, max_steps, checkpoints
        return cost
