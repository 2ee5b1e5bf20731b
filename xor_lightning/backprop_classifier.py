"""The notebook's first cell as a LightningModule: hand-computed gradients, no autograd."""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Callable, Iterable, Sequence

import torch
from lightning.pytorch.callbacks import ModelSummary
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor

from xor_lightning import backprop
from xor_lightning.backprop import GradientMode
from xor_lightning.backprop_step import NotebookStep
from xor_lightning.base import XORModule
from xor_lightning.checks import check_hidden_sizes, check_lr, check_memory

_NOTHING = contextlib.nullcontext()  # reusable: it keeps no state


class NotebookSGD(torch.optim.Optimizer):
    """`p = p - lr * grad`, the notebook's update, with its bits at every lr.

    `torch.optim.SGD` computes `p.add_(grad, alpha=-lr)`, one rounding where the notebook has two
    (`lr * grad`, then the subtraction); for an lr that is not a power of two the last bit differs.
    `lr * grad` goes into a buffer kept per parameter, outside the state: checkpoints stay as they were.
    """

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        super().__init__(params, {"lr": lr})
        self._lrs: tuple[float, ...] = ()
        self._plan: list[tuple[Tensor, Tensor, Tensor]] = []  # (parameter, buffer for lr * grad, lr)

    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        # Lightning runs its before-step hooks (gradient norms, clipping checks) inside the closure.
        loss = closure() if closure is not None else None
        lrs = tuple(group["lr"] for group in self.param_groups)
        if lrs != self._lrs:  # first step, or a scheduler changed an lr
            self._lrs, self._plan = lrs, self._make_plan()
        for p, scaled, lr in self._plan:
            if p.grad is not None:
                # Autograd must not record the update (the notebook's parameters never require grad).
                with torch.no_grad() if p.requires_grad else _NOTHING:
                    p.sub_(torch.mul(p.grad, lr, out=scaled))  # p - lr * grad: two roundings, as the notebook
        return loss

    def _make_plan(self) -> list[tuple[Tensor, Tensor, Tensor]]:
        # lr as a 0-d tensor of p's dtype: the Python float is rounded to it exactly as in `lr * grad`.
        return [
            (p, torch.empty_like(p), torch.tensor(group["lr"], dtype=p.dtype, device=p.device))
            for group in self.param_groups
            for p in group["params"]
        ]


def summary_note(module: torch.nn.Module) -> str:
    count = sum(p.numel() for p in module.parameters())
    return (
        f"note: 0 Trainable params above: {type(module).__name__}'s {count} parameters are updated by hand "
        "(its own backprop, no autograd), so none needs requires_grad; they change at every step all the same"
    )


class XORBackpropClassifier(XORModule):
    """Sigmoid MLP whose gradients come from `xor_lightning.backprop`, several updates per batch if asked.

    Parameters keep the notebook's names and layout, `w1 (2, H)`, `b1 (H,)`, `w2 (H, 1)`, `b2 (1,)`,
    drawn by `torch.randn` in that order (the notebook itself used uninitialised memory). Manual
    optimization: `training_step` is the cell's loop body; the hand gradients (`NotebookStep`, the
    fast bit-identical form of `backprop.forward`/`backward`) go into `.grad` and `NotebookSGD` applies
    them, so Lightning counts every update (`global_step`, `max_steps`, checkpoints, gradient hooks).

    A batch may stack n full batches (XORDataModule(updates_per_batch=n)): `training_step` then makes
    up to n updates, stopping early at `max_steps`, Ctrl-C (`trainer.should_stop`) or SIGTERM, after the
    current update. It returns {"loss": first update's cost, "costs": every update's cost}.

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
        check_memory(hidden_sizes)
        self.save_hyperparameters(ignore=["activation"])  # the checked locals: plain list, float, str
        self.automatic_optimization = False
        self.register_layer_params(backprop.init_params(hidden_sizes), requires_grad=False)
        self._step: NotebookStep | None = None

    def forward(self, x: Tensor) -> Tensor:
        return backprop.forward(x, self.layer_params())[-1]

    def on_fit_start(self) -> None:
        # Lightning's model summary, printed just before, counts as trainable only what has requires_grad.
        if any(isinstance(c, ModelSummary) for c in self.trainer.callbacks):
            rank_zero_info(summary_note(self))

    def on_train_start(self) -> None:
        self._step = None  # built on the first batch, after Lightning has placed the parameters

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> dict[str, Tensor]:
        X, Y = batch
        if X.dim() == 2:  # one update
            X, Y = X.unsqueeze(0), Y.unsqueeze(0)
        n, trainer = X.shape[0], self.trainer
        if trainer.max_steps >= 0:
            n = min(n, trainer.max_steps - self.global_step)
        if X.stride(0) == 0 and Y.stride(0) == 0:  # the same batch n times: one view serves all
            pairs: Iterable[tuple[Tensor, Tensor]] = itertools.repeat((X[0], Y[0]), n)
        else:
            pairs = zip(X.unbind(0)[:n], Y.unbind(0)[:n], strict=True)
        step, optimizer = self._notebook_step(Y[0]), self.optimizers()
        costs = []
        for x, y in pairs:
            cost = step.cost_and_grads(x, y)
            value = cost.item()
            if not math.isfinite(value):
                self.check_finite("cost", cost)  # raises, naming the step
            optimizer.step()  # Lightning counts the update: global_step, max_steps, checkpoints
            costs.append(value)
            if trainer.should_stop or trainer.received_sigterm:  # stop after this update, not this chunk
                break
        done = torch.tensor(costs, dtype=Y.dtype, device=Y.device)  # float32 -> float -> float32: exact
        return {"loss": done[0], "costs": done}

    def _notebook_step(self, Y: Tensor) -> NotebookStep:
        params = self.layer_params()
        if self._step is None or self._step.Y.shape != Y.shape or self._step.Y.device != Y.device:
            self._step = NotebookStep(params, Y, self.hparams.gradient_mode)
        for (w, b), (d_w, d_b) in zip(params, self._step.grads, strict=True):
            w.grad, b.grad = d_w, d_b  # the buffers the step refills: the optimizer reads them
        return self._step

    def cost(self, hypothesis: Tensor, Y: Tensor) -> Tensor:
        return backprop.bce(hypothesis, Y)

    def activations(self, x: Tensor) -> list[Tensor]:
        return backprop.forward(x, self.layer_params())[1:]

    @staticmethod
    def default_optimizer() -> type[torch.optim.Optimizer]:
        return NotebookSGD

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return NotebookSGD(self.parameters(), lr=self.hparams.lr)
