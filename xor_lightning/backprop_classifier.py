"""The notebook's first cell as a LightningModule: hand-computed gradients, no autograd."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch import Tensor

from xor_lightning import backprop
from xor_lightning.backprop import GradientMode
from xor_lightning.base import XORModule
from xor_lightning.checks import check_hidden_sizes, check_lr, check_memory


class NotebookSGD(torch.optim.Optimizer):
    """`p = p - lr * grad`, the notebook's update, with its bits at every lr.

    `torch.optim.SGD` computes `p.add_(grad, alpha=-lr)`, one rounding where the notebook has two
    (`lr * grad`, then the subtraction); for an lr that is not a power of two the last bit differs.
    """

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        # Lightning runs its before-step hooks (gradient norms, clipping checks) inside the closure.
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.sub_(group["lr"] * p.grad)
        return loss


class XORBackpropClassifier(XORModule):
    """Sigmoid MLP whose gradients come from `xor_lightning.backprop`, one update per batch.

    Parameters keep the notebook's names and layout, `w1 (2, H)`, `b1 (H,)`, `w2 (H, 1)`, `b2 (1,)`,
    drawn by `torch.randn` in that order (the notebook itself used uninitialised memory). Manual
    optimization: `training_step` is the cell's loop body; the hand gradients go into `.grad` and
    `NotebookSGD` applies them, so Lightning counts the step (`global_step`, `max_steps`, checkpoints).

    Args:
        hidden_sizes: widths of the hidden layers; [2] is the notebook's network.
        lr: learning rate, in (0, 100].
        gradient_mode: "notebook" keeps the cell's quirks (weight gradients summed over the batch,
            bias gradients averaged, 1e-7 in the loss derivative); "mean" is the exact gradient of
            the mean BCE, equal to autograd's. See `xor_lightning.backprop`.
    """

    single_process_reason = "its hand gradients never pass through autograd, so DDP would average nothing"

    def __init__(
        self, hidden_sizes: Sequence[int] = (2,), lr: float = 1.0, gradient_mode: GradientMode = "notebook"
    ) -> None:
        super().__init__()
        if gradient_mode not in ("notebook", "mean"):
            raise ValueError(f"gradient_mode must be 'notebook' or 'mean', got {gradient_mode!r}")
        hidden_sizes, lr = check_hidden_sizes(hidden_sizes), check_lr(lr)
        check_memory(hidden_sizes)
        self.save_hyperparameters()  # the checked locals: plain list, float, str
        self.automatic_optimization = False
        self.register_layer_params(backprop.init_params(hidden_sizes), requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        return backprop.forward(x, self.layer_params())[-1]

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

    def cost(self, hypothesis: Tensor, Y: Tensor) -> Tensor:
        return backprop.bce(hypothesis, Y)

    def activations(self, x: Tensor) -> list[Tensor]:
        return backprop.forward(x, self.layer_params())[1:]

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return NotebookSGD(self.parameters(), lr=self.hparams.lr)
