"""Console output in the notebook's format, and the metrics that go with it to the loggers (HParams, Custom Scalars)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData
from torch import Tensor
from torch.utils.tensorboard.summary import hparams as hparams_summary

from xor_lightning.arguments import check_positive_int
from xor_lightning.data import xor_truth_table


def batch_costs(trainer: L.Trainer, outputs: Any, every_n_steps: int, after: int = -1) -> dict[int, Tensor]:
    """{step: cost} for the steps on the interval (and past `after`) that the batch just done covered.

    A batch covers the steps [global_step - n, global_step), n its number of updates: len(outputs["costs"])
    when the module returns every update's cost (a chunk), else 1 with the cost outputs["loss"]. The cost
    of step s is the one computed before update s, as the notebook prints it. Only the steps returned
    pay for the mean over DDP ranks, a collective: every rank must call this.
    """
    # Runs after every batch, for three callbacks: decide from integers first, touch tensors only on
    # the interval (a tensor op costs a sizeable part of a whole step of the lesson).
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
        if trainer.is_global_zero:
            write_lesson_layout(trainer)

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


# The HParams table's metric columns, in this order, before the run's other scalars: TensorBoard would
# otherwise sort them by name, eight grad_norm/* columns before hp/accuracy.
HEADLINE_METRICS = ("hp/accuracy", "hp/fraction_solved", "hp/final_train_loss", "train_loss", "val_loss", "val_acc")
# The hyperparameters a lesson compares: marked as differing, so TensorBoard lists (and shows) them first.
LESSON_HPARAMS = ("architecture", "lr", "hidden_sizes")


def lesson_layout(gradient_norms: bool) -> dict[str, dict[str, list]]:
    """TensorBoard's Custom Scalars tab: the two charts the lesson is about, every layer on one chart.

    The layout format has no log-axis setting, so the gradient chart draws log10 of the norms that
    GradientNorms logs as grad_norm_log10/*: the ~400x gap between layers is 2.6 units, seen unclicked.
    """
    charts: dict[str, list] = {"cost: train_loss and val_loss": ["Multiline", [r"^train_loss$", r"^val_loss$"]]}
    if gradient_norms:
        charts["log10 of every layer's weight gradient norm"] = ["Multiline", [r"^grad_norm_log10/.*\.weight$"]]
    return {"lesson": charts}


def write_lesson_layout(trainer: L.Trainer) -> None:
    norms = any(type(c).__name__ == "GradientNorms" for c in trainer.callbacks)
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_custom_scalars(lesson_layout(norms))


def _metric_order(pl_module: L.LightningModule, metrics: dict[str, float]) -> dict[str, float]:
    layers = len(pl_module.layer_params()) if hasattr(pl_module, "layer_params") else 0
    grads = [
        f"grad_norm{kind}/layer{k}.{p}"
        for kind in ("", "_log10")
        for k in range(1, layers + 1)
        for p in ("weight", "bias")
    ]
    return dict.fromkeys([*HEADLINE_METRICS, *metrics, *grads], 0.0)


def log_hparams(trainer: L.Trainer, pl_module: L.LightningModule, metrics: dict[str, float]) -> None:
    """One HParams row per run, comparable across architectures and learning rates.

    Each run also writes the experiment summary that orders the columns: the headline metrics first,
    the lesson's hyperparameters first. TensorBoard reads one run's summary (any one) and takes every
    column from it, so it lists names and types only, no values (a value domain from one run would
    hide the others' values). The single networks share their columns; a study's extras (num_copies,
    first_seed) show only when TensorBoard happens to read a study's summary: serve studies apart.
    """
    params = pl_module.hparams_for_tensorboard()
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            experiment, session_start, session_end = hparams_summary(params, _metric_order(pl_module, metrics))
            content = experiment.value[0].metadata.plugin_data
            data = HParamsPluginData.FromString(content.content)
            for info in data.experiment.hparam_infos:
                info.differs = info.name in LESSON_HPARAMS
            content.content = data.SerializeToString()
            writer = logger.experiment.file_writer
            writer.add_summary(experiment)
            writer.add_summary(session_start)
            writer.add_summary(session_end)
        logger.log_metrics(metrics, step=trainer.global_step)
