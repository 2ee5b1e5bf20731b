"""Console output in the notebook's format, the metrics that go with it to the loggers, and Ctrl-C."""

from __future__ import annotations

import signal
import sys
from collections.abc import Mapping
from typing import Any

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch import Tensor
from torch.utils.tensorboard.summary import hparams as hparams_summary

from xor_lightning import startup
from xor_lightning.checks import check_positive_int
from xor_lightning.data import xor_truth_table


def batch_costs(trainer: L.Trainer, outputs: Any, every_n_steps: int, after: int = -1) -> dict[int, Tensor]:
    """{step: cost} for the steps on the interval (and past `after`) that the batch just done covered.

    A batch covers the steps [global_step - n, global_step), n its number of updates: len(outputs["costs"])
    when the module returns every update's cost (a chunk), else 1 with the cost outputs["loss"]. The cost
    of step s is the one computed before update s, as the notebook prints it. Only the steps returned
    pay for the mean over DDP ranks, a collective: every rank must call this.
    """
    # Runs after every batch, for three callbacks: decide from integers first, touch tensors only on
    # the interval (a tensor op costs microseconds, a whole step of the lesson is ~100).
    costs = outputs.get("costs") if isinstance(outputs, Mapping) else None
    n = 1 if costs is None else len(costs)
    end = trainer.global_step  # already counts this batch's updates
    first = max(end - n, after + 1)
    first += -first % every_n_steps  # the first step on the interval
    if first >= end:
        return {}
    if costs is None:
        costs = (outputs["loss"] if isinstance(outputs, Mapping) else outputs).reshape(1)
        if trainer.lightning_module.automatic_optimization and trainer.accumulate_grad_batches > 1:
            costs = costs * trainer.accumulate_grad_batches  # Lightning divided the returned cost by it
    offset = end - n
    return {
        step: trainer.strategy.reduce(costs[step - offset].detach(), reduce_op="mean")
        for step in range(first, end, every_n_steps)
    }


class NotebookReport(L.Callback):
    """Prints `STEP COST` every `every_n_steps` steps and the final hypothesis, like the notebook.

    The line for step s carries the cost computed *before* update s (as the notebook prints it); the
    same value goes to the loggers as `train_loss` at step s and to `trainer.callback_metrics`. Only
    those steps pay for the `.item()` and the logging: logging every step would cost more than the step.
    A batch of several updates (a chunk) prints every step on the interval that it covered.
    """

    def __init__(self, every_n_steps: int = 100) -> None:
        self.every_n_steps = check_positive_int("every_n_steps", every_n_steps)
        self.last_cost: float | None = None
        self._last_step = -1

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._last_step = trainer.global_step - 1

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        # Past the last printed step: an accumulating batch (no update yet) repeats no line.
        # Mean over DDP ranks: each rank's cost is the mean over an equal share of the batch.
        for step, cost in batch_costs(trainer, outputs, self.every_n_steps, after=self._last_step).items():
            self._last_step = step
            pl_module.log("train_loss", cost, logger=False)
            self.last_cost = cost.item()
            if trainer.is_global_zero:
                print(step, self.last_cost, flush=True)
                for logger in trainer.loggers:
                    logger.log_metrics({"train_loss": self.last_cost}, step=step)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # `validate` only: `trainer.validating` is also True during fit's periodic validation.
        if trainer.state.fn == "validate":
            self._print_hypothesis(pl_module)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._print_hypothesis(pl_module)

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._print_hypothesis(pl_module)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metrics = self._print_hypothesis(pl_module)
        if self.last_cost is not None:
            metrics["hp/final_train_loss"] = self.last_cost
        if trainer.is_global_zero:
            log_hparams(trainer, pl_module, metrics)

    def _print_hypothesis(self, pl_module: L.LightningModule) -> dict[str, float]:
        X, Y = (t.to(pl_module.device) for t in xor_truth_table())
        text, metrics = pl_module.report(X, Y)
        if pl_module.trainer.is_global_zero:
            print(text, flush=True)
        return metrics


def log_hparams(trainer: L.Trainer, pl_module: L.LightningModule, metrics: dict[str, float]) -> None:
    """One HParams row per run, comparable across architectures and learning rates.

    TensorBoard takes the columns from one run's experiment summary when any run has one, so only
    the per-run session records are written: TensorBoard then builds the columns from all runs.
    """
    params = pl_module.hparams_for_tensorboard()
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            _, session_start, session_end = hparams_summary(params, metrics)
            writer = logger.experiment.file_writer
            writer.add_summary(session_start)
            writer.add_summary(session_end)
        logger.log_metrics(metrics, step=trainer.global_step)


class StopOnInterrupt(L.Callback):
    """Ctrl-C stops training between two steps, never inside an update.

    Python raises KeyboardInterrupt wherever the signal lands, possibly halfway through the SGD
    update. This callback turns the first Ctrl-C into `trainer.should_stop`, which Lightning checks
    after each completed step; training then ends as at `max_steps` (last.ckpt holds the last
    completed step) and the CLI exits with code 1. A second Ctrl-C interrupts at once. SIGTERM needs
    no flag: Lightning already stops at a step boundary.
    """

    def __init__(self) -> None:
        self.interrupted = False
        self._previous: Any = None
        self._trainer: L.Trainer | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.interrupted, self._trainer = False, trainer
        try:
            self._previous = signal.signal(signal.SIGINT, self._request_stop)
        except ValueError:  # not the main thread: leave Ctrl-C to Python
            self._previous = None
        if startup.requested:  # a Ctrl-C while the run was starting, held until now
            startup.requested = False
            self.interrupted = True
            if trainer.world_size == 1:  # several processes: decided together, below
                trainer.should_stop = True

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        # A signal reaches one process (Ctrl-C in a terminal reaches all, `kill -INT` one): every rank must
        # stop after the same step, or the others wait in a collective for ever. One small all-reduce a step.
        if trainer.world_size > 1 and trainer.strategy.reduce_boolean_decision(self.interrupted, all=False):
            self.interrupted = True
            trainer.should_stop = True

    def _request_stop(self, signum: int, frame: Any) -> None:
        if self.interrupted or self._trainer is None:
            raise KeyboardInterrupt
        self.interrupted = True
        # Several processes stop together, at the end of a step (on_train_batch_end): a flag set here on
        # one rank only, between two of those decisions, would stop it a step before the others.
        if self._trainer.world_size == 1:
            self._trainer.should_stop = True
        print("interrupt: stopping after the current step (Ctrl-C again to stop now)", file=sys.stderr, flush=True)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore()
        if self.interrupted:
            self._say(f"interrupted after step {trainer.global_step - 1}; resume with --ckpt_path last")

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._restore()
        if isinstance(exception, SIGTERMException):
            self._say(f"stopped by SIGTERM after step {trainer.global_step - 1}; resume with --ckpt_path last")

    @rank_zero_only
    def _say(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def _restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        self._trainer = None
