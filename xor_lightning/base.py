"""What every XOR LightningModule shares: evaluation on the truth table, SGD, input checks."""

from __future__ import annotations

import math

import lightning as L
import torch
from torch import Tensor, nn
from torchmetrics.classification import BinaryAccuracy

MAX_LR = 100.0


def check_lr(lr: float) -> float:
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr):
        raise ValueError(f"lr must be a finite number, got {lr!r}")
    if not 0 < lr <= MAX_LR:
        raise ValueError(f"lr must be in (0, {MAX_LR:g}], got {lr!r}")
    return float(lr)


class ConfigError(ValueError):
    """A configuration that cannot work; the CLI reports it as one line."""


class NonFiniteError(RuntimeError):
    """Training produced NaN or inf; raised before the update so the weights stay finite."""


class XORModule(L.LightningModule):
    """Base class: subclasses define `forward` (X -> hypothesis), `cost` and `training_step`.

    Hyperparameters are saved as plain Python types only, so checkpoints load with
    `torch.load(weights_only=True)` and `hparams.yaml` is plain YAML.
    """

    #: Whether gradients reach every process under DDP (autograd's hooks do; hand gradients don't).
    supports_distributed = True

    def __init__(self) -> None:
        super().__init__()
        self.val_acc = BinaryAccuracy()
        self.test_acc = BinaryAccuracy()

    def cost(self, hypothesis: Tensor, Y: Tensor) -> Tensor:
        raise NotImplementedError

    def register_layer_params(self, params: list[tuple[Tensor, Tensor]], requires_grad: bool) -> None:
        """Keep [(w, b), ...] as parameters named as the notebook names them: w1, b1, w2, b2, ..."""
        for k, (w, b) in enumerate(params, start=1):
            self.register_parameter(f"w{k}", nn.Parameter(w.contiguous(), requires_grad=requires_grad))
            self.register_parameter(f"b{k}", nn.Parameter(b.contiguous(), requires_grad=requires_grad))

    def layer_params(self) -> list[tuple[Tensor, Tensor]]:
        """(weight, bias) of each layer, first layer first: what the inspection callbacks show.

        This reads the parameters `register_layer_params` made; a module holding its layers
        otherwise (XORClassifier's nn.Linear) overrides it.
        """
        n = len(self.hparams.hidden_sizes) + 1
        return [(getattr(self, f"w{k}"), getattr(self, f"b{k}")) for k in range(1, n + 1)]

    def activations(self, x: Tensor) -> list[Tensor]:
        """Each layer's sigmoid output for the input x, first hidden layer first."""
        raise NotImplementedError

    def report(self, X: Tensor, Y: Tensor) -> tuple[str, float]:
        """What is printed after fit/test/predict, and the accuracy that goes to the HParams tab."""
        with torch.no_grad():
            hypothesis = self(X)
        predicted = (hypothesis > 0.5).int()
        accuracy = (predicted == Y).float().mean().item()
        return f"hypothesis:\n{hypothesis.cpu()}\npredicted:\n{predicted.cpu()}\naccuracy: {accuracy}", accuracy

    def check_world_size(self, world_size: int) -> None:
        if world_size > 1 and not self.supports_distributed:
            raise ConfigError(
                f"{type(self).__name__} trains on one process only (its hand gradients are not all-reduced); "
                f"got {world_size} processes: use --trainer.devices 1 and no ddp strategy"
            )

    def setup(self, stage: str) -> None:
        self.check_world_size(self.trainer.world_size)

    def check_finite(self, name: str, value: Tensor) -> None:
        """Stop training, naming the step, when `value` holds NaN or inf.

        Checked once per step on the cost (one scalar, a few microseconds). A non-finite gradient with
        a finite cost can only come from overflow; it makes the weights non-finite, so the next step's
        cost catches it, and the message then says which update broke the weights.
        """
        if math.isfinite(value.sum().item()):  # one sync; NaN/inf survive the sum (values are bounded)
            return
        step = self.global_step
        if step > 0 and not all(bool(torch.isfinite(p).all()) for p in self.parameters()):
            cause = f"the weights are no longer finite after the update of step {step - 1}"
        else:
            cause = "the weights are finite"
        raise NonFiniteError(
            f"non-finite {name} at step {step} ({cause}); stopped before the update, lr={self.hparams.lr} "
            "may be too large"
        )

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # The last line of defence: a checkpoint with NaN/inf weights is never written.
        bad = [name for name, t in checkpoint["state_dict"].items() if not bool(torch.isfinite(t).all())]
        if bad:
            raise NonFiniteError(f"refusing to save a checkpoint with non-finite {', '.join(bad)}")

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
