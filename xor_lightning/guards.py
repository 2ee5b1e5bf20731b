"""NaN and inf stop training before they reach the weights, naming the step: one callback for every module.

`NonFiniteGuard` checks, at every training step, the values an update is computed from, before the update:

- for a module of automatic optimization (autograd), the hypothesis as it leaves `forward`: `nn.BCELoss`
  refuses a NaN with a message about its input range before any cost exists (on CPU; CUDA's kernel
  asserts), and of a finite hypothesis its cost is finite (BCELoss clamps its logarithms at -100);
- for a module of manual optimization (the hand backprop), the cost, in Lightning's `on_before_backward`
  hook (`manual_backward`): the notebook's cost has no clamp, so a saturated output makes it inf.

A non-finite gradient with a finite cost can only come from overflow; it makes the weights non-finite, so
the next step stops, and the message says which update broke them. Lightning's own
`EarlyStopping(check_finite=True)` checks a monitored metric at validation, after many updates: too late here.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from torch import Tensor


class NonFiniteError(RuntimeError):
    """Training produced NaN or inf; raised before the update so the weights stay as they were."""


def non_finite_error(module: L.LightningModule, name: str) -> NonFiniteError:
    """The error for a non-finite `name` at this step, before its update, saying whether the weights are finite."""
    step = module.global_step
    if step > 0 and not all(bool(torch.isfinite(p).all()) for p in module.parameters()):
        cause = f"the weights are no longer finite after the update of step {step - 1}"
    else:
        cause = "the weights are finite"
    lr = module.hparams.get("lr")
    return NonFiniteError(
        f"non-finite {name} at step {step} ({cause}); stopped before the update, lr={lr} may be too large"
    )


def check_finite(module: L.LightningModule, name: str, value: Tensor) -> None:
    """Raise `non_finite_error` when `value` holds NaN or inf (one sync: call it once a step at most)."""
    if not math.isfinite(value.sum().item()):  # NaN/inf survive the sum (the values are bounded)
        raise non_finite_error(module, name)


def refuse_non_finite(checkpoint: dict) -> None:
    """The last line of defence: a checkpoint with NaN/inf weights is never written."""
    bad = [name for name, t in checkpoint["state_dict"].items() if not bool(torch.isfinite(t).all())]
    if bad:
        raise NonFiniteError(f"refusing to save a checkpoint with non-finite {', '.join(bad)}")


class NonFiniteGuard(L.Callback):
    """Stops fit with a `NonFiniteError` naming the step when its cost or hypothesis is NaN or inf.

    Every XORModule adds one (`configure_callbacks`); a Trainer that has one keeps its own.
    """

    def __init__(self) -> None:
        self._armed = False
        self._hook: Any = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if pl_module.automatic_optimization:
            self._hook = pl_module.register_forward_hook(self._check_hypothesis)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, idx: int) -> None:
        self._armed = True  # the first forward of this step computes the hypothesis its cost is taken of

    def _check_hypothesis(self, module: L.LightningModule, args: Any, output: Any) -> None:
        if self._armed and isinstance(output, Tensor):
            self._armed = False
            check_finite(module, "hypothesis", output)

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: Tensor) -> None:
        self._armed = False
        if not pl_module.automatic_optimization:  # autograd's hypothesis was checked as it left forward
            check_finite(pl_module, "cost", loss)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
