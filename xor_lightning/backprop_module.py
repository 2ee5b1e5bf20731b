"""The notebook's first cell as a LightningModule: hand-computed gradients, no autograd."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from lightning.pytorch.callbacks import ModelSummary
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor

from xor_lightning import backprop
from xor_lightning.arguments import check_hidden_sizes, check_lr
from xor_lightning.backprop import GradientMode
from xor_lightning.backprop_fast import chunked_training_step
from xor_lightning.speed import PlannedUpdates
from xor_lightning.xor_module import XORModule


class NotebookSGD(torch.optim.Optimizer):
    """`p = p - lr * grad`, the notebook's update, with its bits at every lr.

    `torch.optim.SGD` computes `p.add_(grad, alpha=-lr)`, one rounding where the notebook has two
    (`lr * grad`, then the subtraction); for an lr that is not a power of two the last bit differs.
    """

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        super().__init__(params, {"lr": lr})

    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = closure() if closure is not None else None  # Lightning's before-step hooks run in it
        with torch.no_grad():  # the update is not part of the network
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.sub_(group["lr"] * p.grad)  # p - lr * grad: two roundings, as the notebook
        return loss


class FastNotebookSGD(PlannedUpdates, NotebookSGD):
    """NotebookSGD with its `lr * grad` buffers planned once (xor_lightning.speed): the same bits, tested.
    The fast twin's optimizer; checkpoints and HParams name it NotebookSGD, the update it makes."""

    twin_of = NotebookSGD


class XORBackpropClassifier(XORModule):
    """Sigmoid MLP trained by the gradients of `xor_lightning.backprop`: the notebook's cell, step by step.

    Parameters keep the notebook's names and layout, `w1 (2, H)`, `b1 (H,)`, `w2 (H, 1)`, `b2 (1,)`,
    drawn by `torch.randn` in that order (the notebook itself used uninitialised memory). Manual
    optimization: `training_step` is the cell's loop body, `backward` (Lightning's hook, called by
    `manual_backward`) puts the hand gradients into `.grad`, and `NotebookSGD` applies them, so
    Lightning counts every update (`global_step`, `max_steps`, checkpoints, gradient hooks).

    A batch may stack n full batches (XORDataModule(updates_per_batch=n), the shipped config): such a
    chunk goes to `backprop_fast.chunked_training_step`, the in-place twin of this step (the same
    bits, tested at every step), which makes up to n updates per Lightning batch.

    Args:
        hidden_sizes: widths of the hidden layers; [2] is the notebook's network.
        lr: learning rate, in (0, 100].
        gradient_mode: "notebook" keeps the cell's quirks (weight gradients summed over the batch,
            bias gradients averaged, 1e-7 in the loss derivative); "mean" is the exact gradient of
            the mean BCE, equal to autograd's. See `xor_lightning.backprop`.
        activation: only "sigmoid": the hand gradients are the sigmoid's formulas, the lesson itself.
            Another activation is refused, pointing to XORClassifier (autograd), which takes any.
    """

    single_process_reason = "its hand gradients never pass through autograd, so DDP would average nothing"
    own_update_reason = "it applies the notebook's own update, p - lr * grad; XORClassifier takes any optimizer"
    takes_update_chunks = True

    def __init__(
        self,
        hidden_sizes: Sequence[int] = (2,),
        lr: float = 1.0,
        gradient_mode: GradientMode = "notebook",
        activation: str = "sigmoid",
    ) -> None:
        super().__init__()
        if activation != "sigmoid":
            raise ValueError(
                f"XORBackpropClassifier is the notebook's sigmoid network (its hand-written gradients are the "
                f"sigmoid's): activation {activation!r} needs autograd, use xor_lightning.XORClassifier"
            )
        if gradient_mode not in ("notebook", "mean"):
            raise ValueError(f"gradient_mode must be 'notebook' or 'mean', got {gradient_mode!r}")
        hidden_sizes, lr = check_hidden_sizes(hidden_sizes), check_lr(lr)
        self.save_hyperparameters(ignore=["activation"])  # the checked locals: plain list, float, str
        self.automatic_optimization = False
        self.register_layer_params(backprop.init_params(hidden_sizes), requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        return backprop.forward(x, self.layer_params())[-1]

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor | dict[str, Tensor]:
        if batch[0].dim() == 3:  # a chunk of updates (data.updates_per_batch > 1): the fast twin, same bits
            return chunked_training_step(self, batch)
        X, Y = batch  # (4, 2), (4, 1)
        params = self.layer_params()  # [(w1, b1), (w2, b2)]
        activations = backprop.forward(X, params)  # [X, a1, Y_pred]
        cost = backprop.bce(activations[-1], Y)  # printed by NotebookReport: the cost before the update
        self.manual_backward(cost, activations, Y)  # -> backward() below, between Lightning's hooks
        self.optimizers().step()  # NotebookSGD: p = p - lr * grad
        return cost

    def backward(self, cost: Tensor, activations: list[Tensor], Y: Tensor) -> None:  # type: ignore[override]
        """Lightning's backward hook, by hand: the notebook's gradients, into each parameter's `.grad`."""
        params = self.layer_params()
        grads = backprop.backward(activations, Y, params, self.hparams.gradient_mode)
        for (w, b), (d_w, d_b) in zip(params, grads, strict=True):
            w.grad, b.grad = d_w, d_b

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # The notebook's update; the chunked fast twin (data.updates_per_batch > 1) takes its planned twin.
        chunks = getattr(self.trainer.datamodule, "updates_per_batch", 1) > 1
        return (FastNotebookSGD if chunks else NotebookSGD)(self.parameters(), lr=self.hparams.lr)

    @staticmethod
    def default_optimizer() -> type[torch.optim.Optimizer]:
        return NotebookSGD

    def cost(self, hypothesis: Tensor, Y: Tensor) -> Tensor:
        return backprop.bce(hypothesis, Y)

    def activations(self, x: Tensor) -> list[Tensor]:
        return backprop.forward(x, self.layer_params())[1:]

    def on_fit_start(self) -> None:
        super().on_fit_start()
        # Lightning's model summary, printed just before, counts as trainable only what has requires_grad.
        if any(isinstance(c, ModelSummary) for c in self.trainer.callbacks):
            rank_zero_info(summary_note(self))


def summary_note(module: torch.nn.Module) -> str:
    count = sum(p.numel() for p in module.parameters())
    return (
        f"note: 0 Trainable params above: {type(module).__name__}'s {count} parameters are updated by hand "
        "(its own backprop, no autograd), so none needs requires_grad; they change at every step all the same"
    )
