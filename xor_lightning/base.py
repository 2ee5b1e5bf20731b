"""What every XOR LightningModule shares: evaluation on the truth table, SGD, input checks."""

from __future__ import annotations

import math

import lightning as L
import torch
from torch import Tensor
from torchmetrics.classification import BinaryAccuracy

MAX_LR = 100.0


def check_lr(lr: float) -> float:
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr):
        raise ValueError(f"lr must be a finite number, got {lr!r}")
    if not 0 < lr <= MAX_LR:
        raise ValueError(f"lr must be in (0, {MAX_LR:g}], got {lr!r}")
    return float(lr)


class NonFiniteError(RuntimeError):
    """Training produced NaN or inf; raised before the update so the weights stay finite."""


class XORModule(L.LightningModule):
    """Base class: subclasses define `forward` (X -> hypothesis), `cost` and `training_step`.

    Hyperparameters are saved as plain Python types only, so checkpoints load with
    `torch.load(weights_only=True)` and `hparams.yaml` is plain YAML.
    """

    def __init__(self) -> None:
        super().__init__()
        self.val_acc = BinaryAccuracy()
        self.test_acc = BinaryAccuracy()

    def cost(self, hypothesis: Tensor, Y: Tensor) -> Tensor:
        raise NotImplementedError

    def check_finite(self, name: str, value: Tensor) -> None:
        """Stop training with the step's number when `value` holds NaN or inf."""
        if not bool(torch.isfinite(value).all()):
            raise NonFiniteError(
                f"non-finite {name} at step {self.global_step}: stopping before the update "
                f"(try a smaller lr than {self.hparams.lr})"
            )

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # One fused norm costs a few microseconds and keeps NaN/inf out of the weights.
        grads = [p.grad for p in self.parameters() if p.grad is not None]
        self.check_finite("gradient", torch.nn.utils.get_total_norm(grads))

    def _evaluate(self, batch: tuple[Tensor, Tensor], stage: str, accuracy: BinaryAccuracy) -> Tensor:
        X, Y = batch
        hypothesis = self(X)
        accuracy(hypothesis, Y.int())
        self.log(f"{stage}_loss", self.cost(hypothesis, Y))
        self.log(f"{stage}_acc", accuracy)
        return hypothesis

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._evaluate(batch, "val", self.val_acc)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._evaluate(batch, "test", self.test_acc)

    def predict_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self(batch[0])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)
