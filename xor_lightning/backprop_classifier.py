"""The notebook's first cell as a LightningModule: hand-computed gradients, no autograd."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from xor_lightning import backprop
from xor_lightning.backprop import GradientMode
from xor_lightning.base import XORModule, check_lr
from xor_lightning.network import check_hidden_sizes


class XORBackpropClassifier(XORModule):
    """Sigmoid MLP whose gradients come from `xor_lightning.backprop`, one SGD step per batch.

    Parameters keep the notebook's names and layout, `w1 (2, H)`, `b1 (H,)`, `w2 (H, 1)`, `b2 (1,)`,
    drawn by `torch.randn` in that order (the notebook itself used uninitialised memory).
    The hand gradients are written into `.grad` and a plain SGD optimizer applies them: with lr = 1
    `p - lr * grad` has the same bits as the notebook's update, and Lightning's step counter,
    `max_steps` and checkpoints work as for any module.

    Args:
        hidden_sizes: widths of the hidden layers; [2] is the notebook's network.
        lr: SGD learning rate, in (0, 100].
        gradient_mode: "notebook" keeps the cell's quirks (weight gradients summed over the batch,
            bias gradients averaged, 1e-7 in the loss derivative); "mean" is the exact gradient of
            the mean BCE, equal to autograd's. See `xor_lightning.backprop`.
    """

    supports_distributed = False  # DDP would all-reduce nothing: the gradients never touch autograd

    def __init__(
        self, hidden_sizes: Sequence[int] = (2,), lr: float = 1.0, gradient_mode: GradientMode = "notebook"
    ) -> None:
        super().__init__()
        if gradient_mode not in ("notebook", "mean"):
            raise ValueError(f"gradient_mode must be 'notebook' or 'mean', got {gradient_mode!r}")
        hidden_sizes, lr = check_hidden_sizes(hidden_sizes), check_lr(lr)
        self.save_hyperparameters()
        self.hparams.update(hidden_sizes=hidden_sizes, lr=lr)  # plain list and float
        self.automatic_optimization = False
        self.register_layer_params(backprop.init_params(hidden_sizes), requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        return backprop.forward(x, self.layer_params())[-1]

    def cost(self, hypothesis: Tensor, Y: Tensor) -> Tensor:
        return backprop.bce(hypothesis, Y)

    def activations(self, x: Tensor) -> list[Tensor]:
        return backprop.forward(x, self.layer_params())[1:]

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        X, Y = batch
        params = self.layer_params()
        activations = backprop.forward(X, params)
        cost = self.cost(activations[-1], Y)
        self.check_finite("cost", cost)
        grads = backprop.backward(activations, Y, params, self.hparams.gradient_mode)
        for (w, b), (d_w, d_b) in zip(params, grads, strict=True):
            w.grad, b.grad = d_w, d_b
        self.optimizers().step()  # Lightning counts the step: global_step, max_steps, checkpoints
        return cost
