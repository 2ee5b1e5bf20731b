"""Callbacks that show what happens inside the network, in TensorBoard and as a picture.

They work for every XORModule, autograd or hand backprop, through `layer_params()` and
`activations()`, and each only does work on its own interval, so the training steps in between
pay nothing for them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger

from xor_lightning.checks import check_positive_int
from xor_lightning.data import xor_truth_table


def tensorboard_writer(trainer: L.Trainer) -> Any | None:
    """The SummaryWriter of the first TensorBoard logger, or None."""
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    return None


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
        for logger in trainer.loggers:
            logger.log_metrics(norms, step=step)


class ParameterHistograms(L.Callback):
    """Histograms of each layer's weights and biases, and of its activations on the four inputs."""

    def __init__(self, every_n_steps: int = 500) -> None:
        self.every_n_steps = check_positive_int("every_n_steps", every_n_steps)

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step  # the weights that step `step` starts from
        writer = tensorboard_writer(trainer)
        if step % self.every_n_steps or writer is None or not trainer.is_global_zero:
            return
        for name, tensor in _layer_names(pl_module):
            writer.add_histogram(f"params/{name}", tensor.detach(), step)
        X, _ = xor_truth_table()
        with torch.no_grad():
            for k, a in enumerate(pl_module.activations(X.to(pl_module.device)), start=1):
                writer.add_histogram(f"activations/layer{k}", a, step)


class DecisionBoundary(L.Callback):
    """The network's output over the unit square, with the four XOR points.

    Logged to TensorBoard as the image `decision_boundary` every N steps, so the boundary can be
    watched forming (a plain array picture, ~1 ms), and drawn with axes by matplotlib as
    `decision_boundary.png` in the run folder when fit ends.
    """

    def __init__(self, every_n_steps: int = 1000, resolution: int = 64) -> None:
        self.every_n_steps = check_positive_int("every_n_steps", every_n_steps)
        if resolution < 2:
            raise ValueError(f"resolution must be at least 2, got {resolution}")
        self.resolution = resolution

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        writer = tensorboard_writer(trainer)
        if step % self.every_n_steps or writer is None or not trainer.is_global_zero:
            return
        image = boundary_image(hypothesis_grid(pl_module, self.resolution))
        writer.add_image("decision_boundary", image, step, dataformats="HWC")

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        log_dir = trainer.log_dir  # a broadcast under DDP: every rank must ask
        if log_dir is None or not trainer.is_global_zero:
            return
        path = Path(log_dir) / "decision_boundary.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_png(render(pl_module, self.resolution, trainer.global_step), path)


def hypothesis_grid(pl_module: L.LightningModule, resolution: int) -> torch.Tensor:
    """(R, R) hypothesis on a grid over [0, 1]^2; row i is x2 = i / (R - 1), column j is x1."""
    axis = torch.linspace(0, 1, resolution, device=pl_module.device)
    x1, x2 = torch.meshgrid(axis, axis, indexing="xy")
    grid = torch.stack([x1.flatten(), x2.flatten()], dim=1)  # (R*R, 2)
    with torch.no_grad():
        return pl_module(grid).reshape(resolution, resolution).float().cpu()


BLUE, WHITE, RED = (np.array(c, dtype=np.float32) for c in ((33, 102, 172), (247, 247, 247), (178, 24, 43)))


def boundary_image(hypothesis: torch.Tensor, scale: int = 4) -> np.ndarray:
    """(R*scale, R*scale, 3) uint8: blue (0) to red (1), black where it crosses 0.5, XOR points as dots."""
    h = np.flipud(hypothesis.numpy())[..., None]  # x2 upwards, (R, R, 1)
    rgb = np.where(h < 0.5, BLUE + (WHITE - BLUE) * (2 * h), WHITE + (RED - WHITE) * (2 * h - 1))
    above = h[..., 0] > 0.5
    edge = np.zeros_like(above)
    edge[1:, :] |= above[1:, :] != above[:-1, :]
    edge[:, 1:] |= above[:, 1:] != above[:, :-1]
    rgb[edge] = 0
    image = np.kron(rgb, np.ones((scale, scale, 1), dtype=np.float32))  # nearest-neighbour upscale
    size = image.shape[0]
    X, Y = xor_truth_table()
    yy, xx = np.mgrid[:size, :size]
    for (x1, x2), y in zip(X.tolist(), Y[:, 0].tolist(), strict=True):
        cy, cx = (1 - x2) * (size - 1), x1 * (size - 1)
        d2 = (yy - cy) ** 2 + (xx - cx) ** 2
        image[d2 <= (size / 16) ** 2] = 0  # outline
        image[d2 <= (size / 22) ** 2] = RED if y else BLUE
    return image.clip(0, 255).astype(np.uint8)


def render(pl_module: L.LightningModule, resolution: int, step: int) -> np.ndarray:
    """(H, W, 3) uint8 figure with axes: the hypothesis as colour, its 0.5 contour, the labelled points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hypothesis = hypothesis_grid(pl_module, resolution)
    x1, x2 = torch.meshgrid(torch.linspace(0, 1, resolution), torch.linspace(0, 1, resolution), indexing="xy")
    X, Y = xor_truth_table()
    fig, ax = plt.subplots(figsize=(3.2, 3.2), dpi=80)
    ax.imshow(hypothesis.numpy(), origin="lower", extent=(0, 1, 0, 1), vmin=0, vmax=1, cmap="RdBu_r")
    if hypothesis.min() < 0.5 < hypothesis.max():  # the boundary exists once the net separates anything
        ax.contour(x1.numpy(), x2.numpy(), hypothesis.numpy(), levels=[0.5], colors="k", linewidths=1)
    ax.scatter(X[:, 0], X[:, 1], c=Y[:, 0], cmap="RdBu_r", vmin=0, vmax=1, edgecolors="k", s=80)
    ax.set(title=f"hypothesis at step {step}", xlabel="x1", ylabel="x2", xlim=(-0.05, 1.05), ylim=(-0.05, 1.05))
    fig.tight_layout()
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()  # (H, W, 3) uint8
    plt.close(fig)
    return image


def write_png(image: np.ndarray, path: Path) -> None:
    """Written beside the target, then renamed: a half-written PNG never replaces a good one."""
    import matplotlib.pyplot as plt

    tmp = path.with_suffix(".png.tmp")
    plt.imsave(tmp, image, format="png")
    os.replace(tmp, path)
