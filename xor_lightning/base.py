"""What every XOR LightningModule shares: evaluation on the truth table, SGD, the report, input checks."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.strategies import DDPStrategy
from torch import Tensor, nn
from torchmetrics.classification import BinaryAccuracy

from xor_lightning.callbacks import NotebookReport
from xor_lightning.checks import ConfigError, parameter_count
from xor_lightning.data import XOR_SAMPLES, XORDataModule
from xor_lightning.optimizers import columns, record
from xor_lightning.sharding import CopyShardedStrategy

# Values nn.Module.__setattr__ stores as plain attributes unless they name a parameter, buffer or submodule.
_PLAIN_TYPES = frozenset({str, int, float, bool, type(None)})


class NonFiniteError(RuntimeError):
    """Training produced NaN or inf; raised before the update so the weights stay finite."""


class XORModule(L.LightningModule):
    """Base class: subclasses define `forward` (X -> hypothesis), `cost`, `activations` and `training_step`.

    Hyperparameters are saved as plain Python types only, so checkpoints load with
    `torch.load(weights_only=True)` and `hparams.yaml` is plain YAML.
    """

    #: Why this module cannot train on several processes (None: it can, autograd all-reduces its gradients).
    single_process_reason: str | None = None
    #: Whether `training_step` takes a chunk of several updates (XORDataModule(updates_per_batch > 1)).
    takes_update_chunks: bool = False
    #: Why LightningCLI's --optimizer cannot replace this module's own update (None: it can).
    own_update_reason: str | None = None

    def __init__(self) -> None:
        super().__init__()
        self.val_acc = BinaryAccuracy()
        self.test_acc = BinaryAccuracy()
        self.example_input_array = torch.zeros(XOR_SAMPLES, 2)  # lets TensorBoard draw the graph
        self.trained_steps = 0  # updates behind the weights: global_step in fit, the checkpoint's otherwise

    def __setattr__(self, name: str, value: Any) -> None:
        # Lightning names the running hook in an attribute of the module around every hook call,
        # ~25 times a training step; nn.Module.__setattr__ first checks the value against Parameter,
        # Module and Tensor and the name against parameters, buffers and submodules, each time (see
        # bench/RESULTS.md). A plain value that names none of them ends up stored directly either
        # way: do just that.
        d = self.__dict__
        if (
            type(value) in _PLAIN_TYPES
            and "_modules" in d
            and name not in d["_parameters"]
            and name not in d["_buffers"]
            and name not in d["_modules"]
        ):
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: str | Path, **kwargs: Any) -> XORModule:  # type: ignore[override]
        """Like Lightning's, after `xor_lightning.checkpoints.read_checkpoint` has checked the whole file.

        `XORModule.load_from_checkpoint` returns whichever module the checkpoint holds; a subclass refuses
        another module's checkpoint and names the class to use.
        """
        from xor_lightning.checkpoints import read_checkpoint

        checkpoint = read_checkpoint(checkpoint_path, expected=None if cls is XORModule else cls)
        if cls is not XORModule and checkpoint.cls is not cls:
            raise ConfigError(
                f"{checkpoint_path} holds a {checkpoint.cls.__name__}, not a {cls.__name__}: "
                f"load it with {checkpoint.cls.__name__}.load_from_checkpoint (or XORModule.load_from_checkpoint)"
            )
        kwargs.setdefault("weights_only", True)
        return super(XORModule, checkpoint.cls).load_from_checkpoint(checkpoint_path, **kwargs)

    def configure_callbacks(self) -> list[L.Callback]:
        # The notebook's output with a plain Trainer too; a NotebookReport the Trainer already has wins.
        if any(isinstance(c, NotebookReport) for c in self.trainer.callbacks):
            return []
        return [NotebookReport()]

    def cost(self, hypothesis: Tensor, Y: Tensor) -> Tensor:
        raise NotImplementedError

    def activations(self, x: Tensor) -> list[Tensor]:
        """Each layer's sigmoid output for the input x, first hidden layer first."""
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

    def hparams_for_tensorboard(self) -> dict[str, Any]:
        """One HParams row: every run has the same columns, so runs of any architecture compare."""
        params = {k: v for k, v in self.hparams.items() if not k.startswith("_")}
        architectures = self.hparams.get("architectures", [self.hparams.get("hidden_sizes", [])])
        activations = self.hparams.get("activations", [self.hparams.get("activation", "sigmoid")])
        for key in ("activations", "optimizers"):  # the grid's lists: one column each, as for single runs
            params.pop(key, None)
        params.update(
            model=type(self).__name__,
            activation=", ".join(activations),
            **self.optimizer_columns(),
            architecture=", ".join("-".join(str(n) for n in [2, *sizes, 1]) for sizes in architectures),
            hidden_sizes=str(self.hparams.get("hidden_sizes", architectures)),
            hidden_layers=max(len(sizes) for sizes in architectures),
            parameters=max(parameter_count(sizes) for sizes in architectures),
        )
        return {k: v if isinstance(v, (bool, int, float, str)) else str(v) for k, v in params.items()}

    def report(self, X: Tensor, Y: Tensor) -> tuple[str, dict[str, float]]:
        """The text printed after fit/validate/test/predict, and the metrics for the HParams tab."""
        with torch.no_grad():
            hypothesis = self(X)
        predicted = (hypothesis > 0.5).int()
        accuracy = (predicted == Y).float().mean().item()
        text = f"hypothesis:\n{hypothesis.cpu()}\npredicted:\n{predicted.cpu()}\naccuracy: {accuracy}"
        return text, {"hp/accuracy": accuracy}

    def check_world_size(self, world_size: int) -> None:
        """Refuse, before any process starts, a number of processes this module cannot train on."""
        if world_size > 1 and self.single_process_reason:
            raise ConfigError(
                f"{type(self).__name__} trains on one process only ({self.single_process_reason}); got "
                f"{world_size} processes: use --trainer.devices 1 and no ddp strategy"
            )
        if XOR_SAMPLES % world_size:
            raise ConfigError(
                f"{world_size} processes cannot share the {XOR_SAMPLES} XOR samples equally "
                "(the cost would weight them unequally): use 1, 2 or 4 processes in all"
            )

    def check_launch(self, trainer: L.Trainer) -> None:
        """Called by the CLI once the Trainer exists, before fit starts any process, and again in setup."""
        self.check_world_size(trainer.world_size)
        strategy = trainer.strategy
        # One network on several processes learns only if their gradients are averaged: DDP does that.
        # copy_sharded leaves them apart (each process would fit its own samples) and others are untested.
        if trainer.world_size > 1 and (
            not isinstance(strategy, DDPStrategy) or isinstance(strategy, CopyShardedStrategy)
        ):
            raise ConfigError(
                f"trainer.strategy {type(strategy).__name__}: {type(self).__name__} is one network, which "
                f"{trainer.world_size} processes train together only under ddp (averaged gradients); "
                "copy_sharded is for the seed studies' copies"
            )

    def check_data(self, trainer: L.Trainer, datamodule: Any) -> None:
        """Called with `check_launch`: refuse data this module cannot train on (chunks of several updates)."""
        if isinstance(datamodule, XORDataModule):
            datamodule.check_trainer(trainer, self.takes_update_chunks, type(self).__name__)

    def setup(self, stage: str) -> None:
        self.check_launch(self.trainer)
        self.check_data(self.trainer, self.trainer.datamodule)

    def check_finite(self, name: str, value: Tensor) -> None:
        """Stop training, naming the step, when `value` holds NaN or inf (one sync: call it sparingly)."""
        if not math.isfinite(value.sum().item()):  # NaN/inf survive the sum (values are bounded)
            raise self.non_finite_error(name)

    def non_finite_error(self, name: str) -> NonFiniteError:
        """The error for a non-finite `name` at this step, before its update.

        A non-finite gradient with a finite cost can only come from overflow; it makes the weights
        non-finite, so the next step stops, and the message then says which update broke them.
        """
        step = self.global_step
        if step > 0 and not all(bool(torch.isfinite(p).all()) for p in self.parameters()):
            cause = f"the weights are no longer finite after the update of step {step - 1}"
        else:
            cause = "the weights are finite"
        return NonFiniteError(
            f"non-finite {name} at step {step} ({cause}); stopped before the update, lr={self.hparams.lr} "
            "may be too large"
        )

    def optimizer_columns(self) -> dict[str, str]:
        """HParams columns: the optimizer as a spec ("SGD", "SGD(momentum=0.9)", "Adam") and the lr scheduler."""
        asked = self.hparams.get("optimizers", [self.hparams.get("optimizer", "")])  # the studies' specs
        return {"optimizer": ", ".join(asked), "lr_scheduler": "none"} | columns(self._trainer)

    def on_fit_start(self) -> None:
        # hparams.yaml says which optimizer trained the run (config.yaml says how it was asked for).
        if self.logger is not None:
            self.logger.log_hyperparams(self.optimizer_columns())

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        record(self._trainer, checkpoint)  # the optimizer and scheduler classes, as plain strings
        # The last line of defence: a checkpoint with NaN/inf weights is never written.
        bad = [name for name, t in checkpoint["state_dict"].items() if not bool(torch.isfinite(t).all())]
        if bad:
            raise NonFiniteError(f"refusing to save a checkpoint with non-finite {', '.join(bad)}")

    def on_train_end(self) -> None:
        self.trained_steps = self.global_step  # a test right after fit, in the same session

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        # test/validate/predict restore the weights but not the loops: remember how trained they are.
        self.trained_steps = int(checkpoint.get("global_step", 0))

    def _evaluate(self, batch: tuple[Tensor, Tensor], stage: str, accuracy: BinaryAccuracy) -> Tensor:
        X, Y = batch
        hypothesis = self(X)
        accuracy(hypothesis, Y.int())
        self.log_evaluation(stage, self.cost(hypothesis, Y), accuracy)
        return hypothesis

    def log_evaluation(self, stage: str, loss: Tensor, accuracy: BinaryAccuracy | Tensor) -> None:
        self.log(f"{stage}_loss", loss, sync_dist=True)
        self.log(f"{stage}_acc", accuracy, sync_dist=isinstance(accuracy, Tensor))
        # Lightning's documented override of the logging step: the number of updates behind these
        # weights, so val_loss at step 1000 sits beside train_loss at step 1000, also after a resume,
        # and `test` from a checkpoint logs at the checkpoint's step.
        fitting = self.trainer.state.fn == "fit"
        self.log("step", float(self.global_step if fitting else self.trained_steps))

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._evaluate(batch, "val", self.val_acc)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._evaluate(batch, "test", self.test_acc)

    def predict_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self(batch[0])

    @staticmethod
    def default_optimizer() -> type[torch.optim.Optimizer]:
        """The optimizer class `configure_optimizers` builds with lr=hparams.lr when --optimizer names none."""
        return torch.optim.SGD

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.default_optimizer()(self.parameters(), lr=self.hparams.lr)
