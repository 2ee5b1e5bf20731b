"""What the notebook needs around the lesson, so that its cells show only the lesson.

`train` fits a module on the lesson's plain Trainer and prints the cost every 1000 steps (the CLI
keeps the lesson's 100); `boundary` and `show` put pictures inline at projector size; `follow` is the
lesson's own loop in plain torch, for the exercises; `Explorer` is the interactive cell: sliders for
lr, width, depth and seed that retrain that loop and redraw the boundary and the cost curve.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Sequence
from typing import Any

import lightning as L
import PIL.Image
import torch

from xor_lightning import quiet
from xor_lightning.data import XORDataModule, xor_truth_table
from xor_lightning.network import SigmoidMLP
from xor_lightning.pictures import LN2, boundary_figure, hypothesis_grid
from xor_lightning.report import NotebookReport

SOLVED_COST = 0.05  # the study's "solved": all four predictions right and the cost below this
QUIET = dict(
    accelerator="cpu", enable_progress_bar=False, enable_model_summary=False, logger=False, enable_checkpointing=False
)


def train(module: L.LightningModule, steps: int = 10001, every: int = 1000, callbacks: Sequence = ()) -> None:
    """The lesson's loop on a plain Trainer: CPU (the lesson's numbers are CPU numbers), no bar, logger or
    checkpoint; `STEP COST` every `every` steps, then the hypothesis and the predicted labels.

    The notebook opts in here, as the CLI does in `main`, to the quieting of the libraries' messages about
    themselves (`xor_lightning.quiet`) and of Lightning's "GPU available: ..." lines."""
    quiet.install()
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    trainer = L.Trainer(max_steps=steps, callbacks=[NotebookReport(every_n_steps=every), *callbacks], **QUIET)
    trainer.fit(module, XORDataModule())


def boundary(model: torch.nn.Module, title: str) -> PIL.Image.Image:
    """The hypothesis over the unit square, its 0.5 contour and the four targets (800 px wide)."""
    return PIL.Image.fromarray(boundary_figure(hypothesis_grid(model, 101), title))


def show(fig: Any) -> Any:
    """A matplotlib Figure inline, as a PNG (no pyplot, so no global backend)."""
    from IPython.display import Image

    png = io.BytesIO()
    fig.savefig(png, format="png")
    return Image(png.getvalue())


def figure(width: float = 8.0, height: float = 4.8, dpi: int = 100) -> Any:
    """A Figure at projector size (800 px wide by default)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=dpi, layout="constrained")


def follow(
    hidden_sizes: Sequence[int], lr: float = 1.0, seed: int = 777, steps: int = 3000
) -> tuple[SigmoidMLP, list[float], int | None]:
    """The lesson's xor-nn loop in plain torch: (net, cost before each update, first solved step or None).

    Seeded then built as the lesson does, so seed 777 at lr 1 is the lesson's own network.
    """
    torch.manual_seed(seed)
    net = SigmoidMLP(list(hidden_sizes))
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    X, Y = xor_truth_table()
    costs, solved = [], None
    for step in range(steps):
        optimizer.zero_grad()
        hypothesis = net(X)
        cost = torch.nn.functional.binary_cross_entropy(hypothesis, Y)
        if solved is None and cost.item() < SOLVED_COST and bool(((hypothesis > 0.5) == (Y > 0.5)).all()):
            solved = step
        costs.append(cost.item())
        cost.backward()
        optimizer.step()
    return net, costs, solved


def solved_text(solved: int | None, steps: int) -> str:
    return f"solved at step {solved}" if solved is not None else f"not solved in {steps} steps"


class Explorer:
    """Sliders for lr, width, depth and seed; each change retrains `follow` and redraws the picture.

    `last` holds what the latest retraining gave (settings, final cost, solved step, seconds, picture
    width), so the cell can be checked without a browser.
    """

    def __init__(self, steps: int = 3000) -> None:
        import ipywidgets as w

        self.steps = steps
        style = {"description_width": "initial"}
        self.sliders = {
            "lr": w.FloatLogSlider(value=1.0, base=10, min=-1, max=1, step=0.25, description="lr", style=style),
            "width": w.IntSlider(value=2, min=1, max=8, description="hidden units per layer", style=style),
            "depth": w.IntSlider(value=1, min=0, max=3, description="hidden layers", style=style),
            "seed": w.IntSlider(value=777, min=777, max=1800, description="seed", style=style),
        }
        for slider in self.sliders.values():
            slider.continuous_update = False  # retrain when the slider is let go, not at every pixel
            slider.observe(lambda _change: self.redraw(), names="value")
        self.output = w.Output()
        self.last: dict[str, Any] = {}
        self.widget = w.VBox(
            [
                w.HBox([self.sliders["lr"], self.sliders["seed"]]),
                w.HBox([self.sliders["width"], self.sliders["depth"]]),
                self.output,
            ]
        )
        self.redraw()

    def settings(self) -> dict[str, Any]:
        s = {k: v.value for k, v in self.sliders.items()}
        return {**s, "hidden_sizes": [s["width"]] * s["depth"]}

    def picture(self) -> tuple[Any, dict[str, Any]]:
        """Retrain with the sliders' settings; the Figure (boundary beside cost curve) and the numbers."""
        s = self.settings()
        start = time.perf_counter()
        net, costs, solved = follow(s["hidden_sizes"], s["lr"], s["seed"], self.steps)
        seconds = time.perf_counter() - start
        name = "-".join(str(n) for n in [2, *s["hidden_sizes"], 1])
        fig = figure(11.0, 4.4)
        left, right = fig.subplots(1, 2, width_ratios=[1, 1.3])
        grid = hypothesis_grid(net, 65)
        left.imshow(grid.numpy(), origin="lower", extent=(-0.1, 1.1, -0.1, 1.1), vmin=0, vmax=1, cmap="RdBu_r")
        if float(grid.max() - grid.min()) >= 0.01:  # pictures.FLAT_RANGE: no contour on a flat output
            left.contour(grid.numpy(), levels=[0.5], colors="k", origin="lower", extent=(-0.1, 1.1, -0.1, 1.1))
        X, Y = xor_truth_table()
        left.scatter(X[:, 0], X[:, 1], c=Y[:, 0], cmap="RdBu_r", vmin=0, vmax=1, s=160, edgecolors="k", linewidths=2)
        left.set(title=f"{name}, lr {s['lr']:g}, seed {s['seed']}", xticks=[0, 1], yticks=[0, 1], aspect="equal")
        right.semilogy(costs, color="k")
        right.axhline(LN2, color="tab:orange", linestyle="--", label="ln 2: every output 1/2")
        right.set(xlabel="step", ylabel="cost (log scale)", title=solved_text(solved, self.steps))
        right.grid(True, which="both", alpha=0.3)
        right.legend()
        return fig, {**s, "final_cost": costs[-1], "solved": solved, "seconds": seconds}

    def redraw(self) -> None:
        from IPython.display import display

        fig, self.last = self.picture()
        image = show(fig)
        self.last["width_px"] = PIL.Image.open(io.BytesIO(image.data)).size[0]
        self.output.clear_output(wait=True)
        with self.output:
            display(image)

    def set(self, **values: Any) -> dict[str, Any]:
        """Move sliders from code (each move retrains, as dragging does); returns `last`."""
        for name, value in values.items():
            self.sliders[name].value = value
        return self.last
