"""Callbacks that show what happens inside the network, in TensorBoard and as pictures in the run folder.

They work for every XORModule, autograd or hand backprop, through `layer_params()` and
`activations()`, and each only does work on its own interval, so the training steps in between
pay nothing for them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from tensorboard.compat.proto.summary_pb2 import Summary

from xor_lightning.arguments import check_positive_int
from xor_lightning.data import xor_truth_table
from xor_lightning.pictures import (
    boundary_figure,
    boundary_image,
    hypothesis_grid,
    loss_curve_figure,
    png_bytes,
    write_gif,
    write_png,
)
from xor_lightning.report import NotebookReport, batch_costs


def tensorboard_writer(trainer: L.Trainer) -> Any | None:
    """The SummaryWriter of the first TensorBoard logger, or None."""
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    return None


def add_png(writer: Any, tag: str, image: Any, step: int) -> None:
    """`writer.add_image(tag, image, step, dataformats="HWC")` for an (H, W, 3) uint8 image, faster.

    add_image converts the pixels to float and back and compresses harder, which made the snapshots
    the largest part of the inspection cost (bench/RESULTS.md has the figures).
    """
    if writer.file_writer is None:  # closed: add_image opens it again
        writer.add_image(tag, image, step, dataformats="HWC")
        return
    height, width, channels = image.shape
    encoded = Summary.Image(height=height, width=width, colorspace=channels, encoded_image_string=png_bytes(image))
    writer.file_writer.add_summary(Summary(value=[Summary.Value(tag=tag, image=encoded)]), step)


def _layer_names(pl_module: L.LightningModule) -> list[tuple[str, torch.Tensor]]:
    return [
        (f"layer{k}.{kind}", tensor)
        for k, (weight, bias) in enumerate(pl_module.layer_params(), start=1)
        for kind, tensor in (("weight", weight), ("bias", bias))
    ]


class GradientNorms(L.Callback):
    """L2 norm of each layer's weight and bias gradient, `grad_norm/layerK.weight`, every N steps.

    Logged at step s from the gradient that update s applies. On the wide-deep net the first layer's
    norm sits orders of magnitude below the last one's: the vanishing gradient behind its plateau.
    """

    def __init__(self, every_n_steps: int = 100) -> None:
        self.every_n_steps = check_positive_int("every_n_steps", every_n_steps)

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        step = trainer.global_step  # not yet incremented: this is the update of step `step`
        if step % self.every_n_steps:
            return
        norms = {
            f"grad_norm/{name}": torch.linalg.vector_norm(p.grad).item()
            for name, p in _layer_names(pl_module)
            if p.grad is not None
        }
        # Also as log10: TensorBoard's custom-scalars layout has no log axis (callbacks.lesson_layout).
        norms.update({k.replace("grad_norm/", "grad_norm_log10/"): math.log10(v) for k, v in norms.items() if v > 0})
        for logger in trainer.loggers:
            logger.log_metrics(norms, step=step)


class ParameterHistograms(L.Callback):
    """Histograms of each layer's weights and biases, and of its activations on the four inputs.

    `bins` equal bins over each tensor's range; 30 is the bucket count of TensorBoard's own histogram
    summary. SummaryWriter's default, "tensorflow", is ~1500 fixed exponential bins: an event ~15x
    larger for these few values, every byte of it through the event writer's pure-Python checksum.
    """

    def __init__(self, every_n_steps: int = 500, bins: int = 30) -> None:
        self.every_n_steps = check_positive_int("every_n_steps", every_n_steps)
        self.bins = check_positive_int("bins", bins)

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step  # the weights that step `step` starts from
        if step % self.every_n_steps or not trainer.is_global_zero:
            return
        writer = tensorboard_writer(trainer)
        if writer is None:
            return
        for name, tensor in _layer_names(pl_module):
            writer.add_histogram(f"params/{name}", tensor.detach(), step, bins=self.bins)
        X, _ = xor_truth_table()
        with torch.no_grad():
            for k, a in enumerate(pl_module.activations(X.to(pl_module.device)), start=1):
                writer.add_histogram(f"activations/layer{k}", a, step, bins=self.bins)


def _cost_at(trainer: L.Trainer, outputs: Any, every_n_steps: int, after: int = -1) -> dict[int, float]:
    """{step: printed cost} for the steps on the interval that the batch covered (one, or a chunk's).

    Every rank must call it (the mean over DDP ranks is a collective), and only those steps pay the `.item()`.
    """
    return {step: cost.item() for step, cost in batch_costs(trainer, outputs, every_n_steps, after).items()}


def experiment_label(trainer: L.Trainer, pl_module: L.LightningModule) -> str:
    """What was run, for a picture's title: "xor_nn, 2-2-1, lr 1" (the logger's name, when there is one)."""
    params = pl_module.hparams_for_tensorboard() if hasattr(pl_module, "hparams_for_tensorboard") else {}
    parts = [trainer.logger.name] if trainer.logger is not None and getattr(trainer.logger, "name", None) else []
    parts += [str(params["architecture"])] if "architecture" in params else []
    parts += [f"lr {params['lr']:g}"] if isinstance(params.get("lr"), (int, float)) else []
    return ", ".join(parts) or type(pl_module).__name__


def _run_folder(trainer: L.Trainer) -> Path | None:
    """The run folder on rank 0, None elsewhere; every rank must call it (log_dir is a broadcast)."""
    log_dir = trainer.log_dir
    if log_dir is None or not trainer.is_global_zero:
        return None
    path = Path(log_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path


FRAME_SIZE = 768  # training.gif's square; with its margins (1/32 each side) a frame is 816 px wide


class DecisionBoundary(L.Callback):
    """The network's output over the unit square, with the four XOR points.

    Every N steps it takes a snapshot of the output on a grid (one small forward pass) and logs it to
    TensorBoard as the image `decision_boundary` (numpy and Pillow). When fit ends it writes
    `decision_boundary.png`, the final state drawn by matplotlib with a colour bar, and `training.gif`,
    one frame per snapshot plus the final state, each labelled with its step and printed cost.

    The GIF also gets the moments in between: every `frame_every_n_steps` steps a snapshot is kept when
    the output moved by at least `min_change` (mean absolute change over the grid) since the last frame,
    so the few hundred steps in which a net learns are several frames and a plateau is none.
    The snapshots are kept in checkpoints (8 KB each at resolution 64), so a resumed run's GIF starts at step 0.
    """

    def __init__(
        self, every_n_steps: int = 1000, resolution: int = 64, frame_every_n_steps: int = 100, min_change: float = 0.02
    ) -> None:
        self.every_n_steps = check_positive_int("every_n_steps", every_n_steps)
        self.frame_every_n_steps = check_positive_int("frame_every_n_steps", frame_every_n_steps)
        if resolution < 2:
            raise ValueError(f"resolution must be at least 2, got {resolution}")
        if not 0 <= min_change <= 1:
            raise ValueError(f"min_change must be in [0, 1] (a mean change of the output), got {min_change}")
        self.resolution, self.min_change = resolution, min_change
        self.snapshots: list[tuple[int, float, torch.Tensor]] = []  # (step, cost, grid - 0.5)
        self._pending: tuple[int, torch.Tensor] | None = None

    @property
    def _interval(self) -> int:
        return math.gcd(self.every_n_steps, self.frame_every_n_steps)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Keep what a checkpoint restored; a fit from scratch (or from earlier) starts those steps afresh.
        self.snapshots = [snap for snap in self.snapshots if snap[0] < trainer.global_step]

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step  # the weights after `step` updates: those the cost of step `step` sees
        logged = step % self.every_n_steps == 0
        if not trainer.is_global_zero or not (logged or step % self.frame_every_n_steps == 0):
            return
        grid = hypothesis_grid(pl_module, self.resolution)
        if not logged:
            last = self.snapshots[-1][2].float() + 0.5 if self.snapshots else None
            if last is None or (grid - last).abs().mean().item() < self.min_change:
                return  # the boundary has not moved: no frame
        self._pending = (step, grid)
        writer = tensorboard_writer(trainer)
        if writer is not None and logged:
            add_png(writer, "decision_boundary", boundary_image(grid, step), step)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        costs = _cost_at(trainer, outputs, self._interval)  # every rank: a collective
        # The snapshot was taken at this batch's start; chunks start on the interval, so its step is here.
        if self._pending is not None and self._pending[0] in costs:
            step, grid = self._pending
            # float16 of the distance to 0.5 keeps the plateau's 1e-4 shades and the 0.5 contour exact.
            self.snapshots.append((step, costs[step], (grid - 0.5).half()))
            self._pending = None

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        folder = _run_folder(trainer)
        if folder is not None:
            self._write(folder, trainer, pl_module)
        trainer.strategy.barrier()  # the other ranks wait for the writer

    def _write(self, folder: Path, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        X, Y = (t.to(pl_module.device) for t in xor_truth_table())
        with torch.no_grad():
            cost = pl_module.cost(pl_module(X), Y).item()
        grid, updates = hypothesis_grid(pl_module, self.resolution), trainer.global_step
        write_png(
            boundary_figure(grid, f"{experiment_label(trainer, pl_module)}\nafter {updates} updates, cost {cost:.4g}"),
            folder / "decision_boundary.png",
        )
        # Frames drawn like the TensorBoard image: matplotlib took tens of times longer a frame.
        name, size = experiment_label(trainer, pl_module), FRAME_SIZE
        frames = [
            boundary_image(g.float() + 0.5, s, size, title=f"{name}   step {s}   cost {c:.4g}")
            for s, c, g in self.snapshots
        ]
        frames.append(boundary_image(grid, updates, size, title=f"{name}   after {updates} updates   cost {cost:.4g}"))
        write_gif(frames, folder / "training.gif")

    def state_dict(self) -> dict[str, Any]:
        return {"snapshots": [[s, c, g] for s, c, g in self.snapshots]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.snapshots = [(int(s), float(c), g) for s, c, g in state_dict.get("snapshots", [])]


class LossCurve(L.Callback):
    """`loss_curve.png` in the run folder when fit ends: the cost at every printed step, log scale, ln 2 marked.

    `every_n_steps=None` follows the NotebookReport's interval (the printed steps), or 100 without one.
    The costs are kept in checkpoints, so a resumed run's curve starts at step 0.
    """

    def __init__(self, every_n_steps: int | None = None) -> None:
        self.every_n_steps = None if every_n_steps is None else check_positive_int("every_n_steps", every_n_steps)
        self.steps: list[int] = []
        self.costs: list[float] = []
        self._every = every_n_steps or 100

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        reports = [c.every_n_steps for c in trainer.callbacks if isinstance(c, NotebookReport)]
        self._every = self.every_n_steps or (reports[0] if reports else 100)
        kept = sum(step < trainer.global_step for step in self.steps)  # as DecisionBoundary.on_train_start
        self.steps, self.costs = self.steps[:kept], self.costs[:kept]

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        for step, cost in _cost_at(trainer, outputs, self._every, after=self.steps[-1] if self.steps else -1).items():
            self.steps.append(step)
            self.costs.append(cost)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        folder = _run_folder(trainer)
        if folder is not None and self.costs:
            image = loss_curve_figure(self.steps, self.costs, self._every, experiment_label(trainer, pl_module))
            write_png(image, folder / "loss_curve.png")
        trainer.strategy.barrier()  # the other ranks wait for the writer

    def state_dict(self) -> dict[str, Any]:
        return {"steps": list(self.steps), "costs": list(self.costs)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.steps = [int(s) for s in state_dict.get("steps", [])]
        self.costs = [float(c) for c in state_dict.get("costs", [])]
