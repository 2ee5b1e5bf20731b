"""The study grid's files: logs/study_grid.csv (one row per cell), study_grid.md, study_grid.png
(heatmaps over architecture x lr), and the run folder's copies.csv (one row per copy)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import lightning as L

from xor_lightning.study import cell_numbers, per_lr
from xor_lightning.study_grid import XORStudyGrid
from xor_lightning.study_plot import heatmaps

CSV_COLUMNS = [
    "architecture",
    "lr",
    "copies",
    "fraction_solved",
    "steps_p10",
    "steps_median",
    "steps_p90",
    "fraction_stuck",
    "fraction_other",
    "mean_final_cost",
]


def fmt(value: float) -> str:
    return "" if isinstance(value, float) and not math.isfinite(value) else f"{value:.9g}"


def matrix(cells: dict, names: list[str], lrs: list[float], key: str) -> list[list[float]]:
    return [[cells[name, lr][key] for lr in lrs] for name in names]


def markdown(cells: dict, names: list[str], lrs: list[float], steps: int) -> str:
    def table(key: str, show) -> list[str]:
        head = ["| architecture | " + " | ".join(f"lr {lr:g}" for lr in lrs) + " |", "|---" * (len(lrs) + 1) + "|"]
        return head + [f"| {n} | " + " | ".join(show(cells[n, lr][key]) for lr in lrs) + " |" for n in names]

    copies = cells[names[0], lrs[0]]["copies"]
    steps_text = lambda v: f"{v:.0f}" if math.isfinite(v) else "never"  # noqa: E731
    pct = lambda v: f"{v:.1%}"  # noqa: E731
    lines = [f"Fraction of {copies} seeds solved (all four right after {steps} steps):", ""]
    lines += [*table("fraction_solved", pct), "", "Median steps to solve (seeds that solved):", ""]
    lines += [*table("steps_median", steps_text), "", "Stuck at ln 2 = 0.693:", ""]
    lines += [*table("fraction_stuck", pct), "", "In another local minimum:", ""]
    return "\n".join([*lines, *table("fraction_other", pct)]) + "\n"


class GridReport(L.Callback):
    """At the end of fit, on rank 0, from the copies gathered from every process.

    Args:
        name: the files' name, logs/NAME.csv, .md, .png (the cures study writes study_cures.*).
    """

    def __init__(self, name: str = "study_grid") -> None:
        self.name = name

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not isinstance(pl_module, XORStudyGrid):
            raise TypeError(f"GridReport needs an XORStudyGrid, got {type(pl_module).__name__}")
        log_dir = trainer.log_dir  # a collective under a multi-process strategy: every rank asks
        if not trainer.is_global_zero or pl_module.final_stats is None:
            return
        names = pl_module.row_names()  # the architectures, with activation and optimizer if the grid varies them
        lrs = pl_module.lrs
        cells = {}
        for name, stats in zip(names, pl_module.final_stats, strict=True):
            for lr, s in per_lr(stats).items():
                cells[name, lr] = cell_numbers(**s)
        out = Path(trainer.logger.save_dir if trainer.logger else trainer.default_root_dir)
        out.mkdir(parents=True, exist_ok=True)
        with open(out / f"{self.name}.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(CSV_COLUMNS)
            for (name, lr), c in cells.items():
                writer.writerow([name, f"{lr:g}", *(fmt(c[k]) for k in CSV_COLUMNS[2:])])
        table = markdown(cells, names, lrs, trainer.global_step)
        (out / f"{self.name}.md").write_text(table)
        print(table, end="", flush=True)
        title = f"XOR with {pl_module.trained_with()}: "
        title += f"{pl_module.num_seeds} seeds per cell, {trainer.global_step} steps"
        columns = [f"{lr:g}" for lr in lrs]
        solved, median = (matrix(cells, names, lrs, k) for k in ("fraction_solved", "steps_median"))
        heatmaps(names, columns, solved, median, out / f"{self.name}.png", title)
        if log_dir is not None:
            run = Path(log_dir)
            run.mkdir(parents=True, exist_ok=True)
            with open(run / "copies.csv", "w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(["architecture", "seed", "lr", "final_cost", "accuracy", "solved_step"])
                for name, stats in zip(names, pl_module.final_stats, strict=True):
                    keys = ("seed", "lr", "final_cost", "accuracy", "solved_step")
                    for seed, lr, cost, acc, step in zip(*(stats[k].tolist() for k in keys), strict=True):
                        writer.writerow([name, seed, f"{lr:g}", f"{cost:.9g}", acc, step])
