"""Console output in the notebook's format, and the train loss that goes with it to the loggers."""

from __future__ import annotations

import signal
import sys
from typing import Any

import lightning as L
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException

from xor_lightning.data import xor_truth_table


def check_interval(every_n_steps: int) -> int:
    """A callback's `every_n_steps`, or a ValueError saying what is wrong with it."""
    if isinstance(every_n_steps, bool) or not isinstance(every_n_steps, int) or every_n_steps < 1:
        raise ValueError(f"every_n_steps must be a positive integer, got {every_n_steps!r}")
    return every_n_steps


class NotebookReport(L.Callback):
    """Prints `STEP COST` every `every_n_steps` steps and the final hypothesis, like the notebook.

    The line for step s carries the cost computed *before* update s (as the notebook prints it), and
    the same value goes to every logger as `train_loss` at step s. Only those steps pay for the
    `.item()` and the logging; `self.log` on every step would cost more than the step itself.
    """

    def __init__(self, every_n_steps: int = 100) -> None:
        self.every_n_steps = check_interval(every_n_steps)
        self.last_cost: float | None = None

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step - 1  # global_step already counts this batch's update
        if step % self.every_n_steps:
            return
        # Mean over DDP ranks: each rank's cost is the mean over an equal share of the batch.
        cost = trainer.strategy.reduce(outputs["loss"].detach(), reduce_op="mean").item()
        self.last_cost = cost
        if trainer.is_global_zero:
            print(step, cost, flush=True)
            for logger in trainer.loggers:
                logger.log_metrics({"train_loss": cost}, step=step)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        accuracy = self._print_hypothesis(pl_module)
        # TensorBoard's HParams tab: one row per run, comparable across architectures and lrs.
        params = {k: v for k, v in pl_module.hparams.items() if not k.startswith("_")}
        # TEMPORARY (study-grid branch): report() may return its HParams metrics as a dict (issue 12).
        metrics = dict(accuracy) if isinstance(accuracy, dict) else {"hp/accuracy": accuracy}
        if self.last_cost is not None:
            metrics["hp/final_train_loss"] = self.last_cost
        for logger in trainer.loggers:
            logger.log_hyperparams(params, metrics)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == TrainerFn.VALIDATING:  # `validate`, not fit's periodic validation
            self._print_hypothesis(pl_module)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._print_hypothesis(pl_module)

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._print_hypothesis(pl_module)

    @rank_zero_only
    def _print_hypothesis(self, pl_module: L.LightningModule) -> float:
        X, Y = (t.to(pl_module.device) for t in xor_truth_table())
        text, accuracy = pl_module.report(X, Y)
        print(text, flush=True)
        return accuracy


class StopOnInterrupt(L.Callback):
    """Ctrl-C stops training between two steps, never inside an update.

    Python raises KeyboardInterrupt wherever the signal lands, possibly halfway through the SGD
    update, and the checkpoint written on the way out would then mix two steps. This callback turns
    the first Ctrl-C into a flag that is checked after each completed step; Lightning's interrupt
    handling then writes last.ckpt (ModelCheckpoint's save_on_exception) and exits. A second Ctrl-C
    interrupts at once. SIGTERM needs no flag: Lightning already stops at a step boundary.
    """

    def __init__(self) -> None:
        self._requested = False
        self._previous: Any = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._requested = False
        try:
            self._previous = signal.signal(signal.SIGINT, self._request_stop)
        except ValueError:  # not the main thread: leave Ctrl-C to Python
            self._previous = None

    def _request_stop(self, signum: int, frame: Any) -> None:
        if self._requested:
            raise KeyboardInterrupt
        self._requested = True
        print("interrupt: stopping after the current step (Ctrl-C again to stop now)", file=sys.stderr, flush=True)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self._requested:
            self._restore()
            print(f"interrupted after step {trainer.global_step - 1}; resume with --ckpt_path last", file=sys.stderr)
            raise KeyboardInterrupt

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._restore()
        if isinstance(exception, SIGTERMException):
            step = trainer.global_step - 1
            print(f"stopped by SIGTERM after step {step}; resume with --ckpt_path last", file=sys.stderr)

    def _restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
