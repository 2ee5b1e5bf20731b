"""XORModule: what every XOR LightningModule shares, in the order of Lightning's style guide."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn
from torchmetrics.classification import BinaryAccuracy

from xor_lightning.arguments import ConfigError, parameter_count
from xor_lightning.checkpoints import read_checkpoint
from xor_lightning.data import XOR_SAMPLES
from xor_lightning.guards import NonFiniteGuard, refuse_non_finite
from xor_lightning.moved import old_class_paths
from xor_lightning.optimizers import columns, record
from xor_lightning.report import NotebookReport
from xor_lightning.speed import FastSetattr


class XORModule(FastSetattr, L.LightningModule):
    """Base class of the XOR LightningModules; a subclass defines `__init__`, `forward`, `training_step`.

    Key methods, in the order they run:
        forward(X) -> hypothesis           the network, (N, 2) -> (N, 1)
        training_step(batch, batch_idx)    one update (the subclass: autograd or hand backprop)
        validation_step / test_step        cost and accuracy on the truth table
        predict_step                       the hypothesis
        configure_optimizers               SGD at lr (the subclass's own update, or `--optimizer`)
        configure_callbacks                NotebookReport (the notebook's printout), NonFiniteGuard

    Hyperparameters are saved as plain Python types only, so checkpoints load with
    `torch.load(weights_only=True)` and `hparams.yaml` is plain YAML. `FastSetattr` (xor_lightning.speed)
    only makes Lightning's per-hook bookkeeping cheaper.
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

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._evaluate(batch, "val", self.val_acc)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._evaluate(batch, "test", self.test_acc)

    def predict_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self(batch[0])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.default_optimizer()(self.parameters(), lr=self.hparams.lr)

    @staticmethod
    def default_optimizer() -> type[torch.optim.Optimizer]:
        """The optimizer class `configure_optimizers` builds with lr=hparams.lr when --optimizer names none."""
        return torch.optim.SGD

    def configure_callbacks(self) -> list[L.Callback]:
        # The notebook's output and the NaN guard with a plain Trainer too; one the Trainer already has wins.
        have = {type(c) for c in self.trainer.callbacks}
        return [cls() for cls in (NotebookReport, NonFiniteGuard) if not any(issubclass(h, cls) for h in have)]

    # What the lesson's callbacks read: the cost, each layer's activations and parameters, the report.

    def cost(self, hypothesis: Tensor, Y: Tensor) -> Tensor:
        raise NotImplementedError

    def activations(self, x: Tensor) -> list[Tensor]:
        """Each layer's output for the input x, first hidden layer first."""
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

    def report(self, X: Tensor, Y: Tensor) -> tuple[str, dict[str, float]]:
        """The text printed after fit/validate/test/predict, and the metrics for the HParams tab."""
        with torch.no_grad():
            hypothesis = self(X)
        predicted = (hypothesis > 0.5).int()
        accuracy = (predicted == Y).float().mean().item()
        text = f"hypothesis:\n{hypothesis.cpu()}\npredicted:\n{predicted.cpu()}\naccuracy: {accuracy}"
        return text, {"hp/accuracy": accuracy}

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

    def optimizer_columns(self) -> dict[str, str]:
        """HParams columns: the optimizer as a spec ("SGD", "SGD(momentum=0.9)", "Adam") and the lr scheduler."""
        asked = self.hparams.get("optimizers", [self.hparams.get("optimizer", "")])  # the studies' specs
        return {"optimizer": ", ".join(asked), "lr_scheduler": "none"} | columns(self._trainer)

    # Lightning hooks around training and checkpoints.

    def on_fit_start(self) -> None:
        # hparams.yaml says which optimizer trained the run (config.yaml says how it was asked for).
        if self.logger is not None:
            self.logger.log_hyperparams(self.optimizer_columns())

    def on_train_end(self) -> None:
        self.trained_steps = self.global_step  # a test right after fit, in the same session

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        record(self._trainer, checkpoint)  # the optimizer and scheduler classes, as plain strings
        refuse_non_finite(checkpoint)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        # test/validate/predict restore the weights but not the loops: remember how trained they are.
        self.trained_steps = int(checkpoint.get("global_step", 0))

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: str | Path, **kwargs: Any) -> XORModule:  # type: ignore[override]
        """Like Lightning's, after `xor_lightning.checkpoints.read_checkpoint` has checked the whole file.

        `XORModule.load_from_checkpoint` returns whichever module the checkpoint holds (of those imported);
        a subclass refuses another module's checkpoint and names the class to use.
        """
        checkpoint = read_checkpoint(checkpoint_path, package_modules(), expected=None if cls is XORModule else cls)
        if cls is not XORModule and checkpoint.cls is not cls:
            raise ConfigError(
                f"{checkpoint_path} holds a {checkpoint.cls.__name__}, not a {cls.__name__}: "
                f"load it with {checkpoint.cls.__name__}.load_from_checkpoint (or XORModule.load_from_checkpoint)"
            )
        kwargs.setdefault("weights_only", True)
        # Lightning builds the class the checkpoint names; one written before the package's new layout
        # names it by its old module (xor_lightning.moved): name it as it is now.
        kwargs.setdefault("_class_path", f"{checkpoint.cls.__module__}.{checkpoint.cls.__qualname__}")
        return super(XORModule, checkpoint.cls).load_from_checkpoint(checkpoint_path, **kwargs)

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


def package_modules() -> dict[str, type[XORModule]]:
    """class_path -> class for every XORModule of this package imported so far, under every name a
    checkpoint may give it: its module path, the package's (`xor_lightning.XORClassifier`) and its old paths."""
    classes: dict[str, type[XORModule]] = {}
    todo = list(XORModule.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("xor_lightning."):
            for path in (f"{cls.__module__}.{cls.__qualname__}", f"xor_lightning.{cls.__name__}"):
                classes[path] = cls
            for path in old_class_paths(cls.__module__, cls.__qualname__):
                classes[path] = cls
    return classes
