"""The notebook's xor-nn and xor-nn-wide-deep: an MLP (sigmoid, or another activation) trained by autograd."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from xor_lightning.arguments import check_hidden_sizes, check_lr
from xor_lightning.network import Activation, SigmoidMLP, check_activation
from xor_lightning.xor_module import XORModule


class XORClassifier(XORModule):
    """BCE + SGD on a `SigmoidMLP`, the textbook LightningModule: `training_step` returns the cost.

    Lightning's automatic optimization then does what the notebook's loop does around it, in the
    same order: `optimizer.zero_grad()`, `cost.backward()`, `optimizer.step()`. So every cost and
    weight is bit-identical to the notebook's, and Trainer flags such as `gradient_clip_val` and
    `accumulate_grad_batches` work. NaN and inf are caught by `NonFiniteGuard` (xor_lightning.guards).

    Args:
        hidden_sizes: widths of the hidden layers: [2] is xor-nn, [10, 10, 10] xor-nn-wide-deep,
            [] the single-layer perceptron (cannot learn XOR).
        lr: learning rate, in (0, 100]: SGD's, or that of the optimizer `--optimizer` names (the one lr of
            the run: `--optimizer.lr` sets it too, see the README).
        activation: the hidden layers' nonlinearity, "sigmoid" (the notebook's), "tanh", "relu" or
            "leaky_relu"; the output layer is always a sigmoid.
    """

    def __init__(self, hidden_sizes: Sequence[int] = (2,), lr: float = 1.0, activation: Activation = "sigmoid") -> None:
        super().__init__()
        hidden_sizes, lr = check_hidden_sizes(hidden_sizes), check_lr(lr)
        activation = check_activation(activation)
        self.save_hyperparameters()  # the checked locals: a plain list, float and str
        self.model = SigmoidMLP(hidden_sizes, activation=activation)
        self.criterion = nn.BCELoss()

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        X, Y = batch  # (4, 2), (4, 1): the full batch, as the notebook
        return self.cost(self(X), Y)

    def cost(self, hypothesis: Tensor, Y: Tensor) -> Tensor:
        return self.criterion(hypothesis, Y)

    def layer_params(self) -> list[tuple[Tensor, Tensor]]:
        return [(layer.weight, layer.bias) for layer in self.model.layers]

    def activations(self, x: Tensor) -> list[Tensor]:
        return self.model.activations(x)
