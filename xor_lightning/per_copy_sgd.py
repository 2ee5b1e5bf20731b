"""Plain SGD with one learning rate per copy: a study of several lrs runs as one vectorised model."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from xor_lightning.copies import CopyStack


class PerCopySGD(torch.optim.Optimizer):
    """p <- p - lr[k] * grad for copy k, with the bits of the single network's own update.

    autograd copies: `addcmul_(grad, lr, value=-1)`, bit-identical to `torch.optim.SGD`'s
    `add_(grad, alpha=-lr)` (checked at lr 0.1, 0.3, 0.7, 3 and 10). Hand-backprop copies: `p - lr * grad`,
    the notebook cell's own formula. The learning rates stay in the stacks' `copy_lr` buffers, not in the
    optimizer's state, so a checkpoint's optimizer state never overrides another process's share.
    """

    def __init__(self, stacks: Sequence[CopyStack]) -> None:
        super().__init__([p for stack in stacks for p in stack.parameters()], {})
        self.stacks = list(stacks)

    def spec(self) -> str:  # the HParams column: the update it makes
        return "SGD"

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for stack in self.stacks:
            lr = stack.copy_lr  # (S,): broadcasts over (I, O, S) and (O, S)
            for p in stack.parameters():
                if p.grad is None:
                    continue
                if stack.gradient == "autograd":
                    p.addcmul_(p.grad, lr, value=-1)
                else:
                    p.sub_(lr * p.grad)
        return loss
