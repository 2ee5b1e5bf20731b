"""The study grid's files: logs/study_grid.csv (one row per cell), study_grid.md, study_grid.png
(heatmaps over architecture x lr), and the run folder's copies.csv (one row per copy). A run under
another logger name writes NAME.csv etc. (logs/class_grid.* for configs/class_grid.yaml)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import lightning as L

from xor_lightning.studies.diagnosis import CLASSES, SLUGS
from xor_lightning.studies.ensemble_report import (
    cell_numbers,
    diagnosis_line,
    failure_lines,
    failures_markdown,
    per_copy_rows,
    per_lr,
)
from xor_lightning.studies.grid import XORStudyGrid
from xor_lightning.studies.plots import failure_plot, heatmaps

CSV_COLUMNS = ["architecture", "lr", "copies", "fraction_solved", "steps_p10", "steps_median", "steps_p90"]
CSV_COLUMNS += ["mean_final_cost", *(f"fraction_{s}" for s in SLUGS[1:]), *(f"outputs_{s}" for s in SLUGS[1:])]


def fmt(value: float | str) -> str:
    if isinstance(value, str):
        return value
    return "" if isinstance(value, float) and not math.isfinite(value) else f"{value:.9g}"


def main_failure(cell: dict) -> tuple[str, float]:
    """The failure class with the most copies in a cell, and its fraction of the cell ("", 0: none failed)."""
    shares = [(cell.get(f"fraction_{s}", 0.0), label) for s, label in zip(SLUGS[1:], CLASSES[1:], strict=True)]
    share, label = max(shares)
    return (label, share) if share > 0 else ("", 0.0)


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
    lines += table("steps_median", steps_text)
    for slug, label in zip(SLUGS[1:], CLASSES[1:], strict=True):  # the failure classes that occur
        if any(cells[n, lr].get(f"fraction_{slug}", 0) > 0 for n in names for lr in lrs):
            title = f"Failed, class {label} (`xor_lightning.studies.diagnosis`):"
            lines += ["", title, "", *table(f"fraction_{slug}", pct)]
    return "\n".join(lines) + "\n"


class GridReport(L.Callback):
    """At the end of fit, on rank 0, from the copies gathered from every process.

    Args:
        name: the files' name, logs/NAME.csv, .md, .png; by default the run's (logger) name, so
            `class_grid` keeps `study_grid`'s files (the cures study writes study_cures.*).
    """

    def __init__(self, name: str | None = None) -> None:
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
        # Named after the run (logs/study_grid.*, logs/class_grid.*): a class-sized grid keeps the full one's files.
        stem = self.name or str(getattr(trainer.logger, "name", None) or "study_grid")
        with open(out / f"{stem}.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(CSV_COLUMNS)
            for (name, lr), c in cells.items():
                writer.writerow([name, f"{lr:g}", *(fmt(c.get(k, "")) for k in CSV_COLUMNS[2:])])
        table = markdown(cells, names, lrs, trainer.global_step)
        lines = []
        for name, stats in zip(names, pl_module.final_stats, strict=True):
            for lr, s in per_lr(stats).items():
                lines += failure_lines(f"{name} lr {lr:g}", **s)
        table += failures_markdown(lines)
        (out / f"{stem}.md").write_text(table)
        print(table + diagnosis_line(pl_module.final_stats, pl_module.diagnosis_seconds), end="", flush=True)
        title = f"XOR with {pl_module.trained_with()}: "
        title += f"{pl_module.num_seeds} seeds per cell, {trainer.global_step} steps"
        columns = [f"{lr:g}" for lr in lrs]
        solved, median = (matrix(cells, names, lrs, k) for k in ("fraction_solved", "steps_median"))
        failures = [[main_failure(cells[name, lr]) for lr in lrs] for name in names]
        copies = cells[names[0], lrs[0]]["copies"]
        heatmaps(names, columns, solved, median, out / f"{stem}.png", title, failures, copies=copies)
        studies = dict(zip(names, pl_module.final_stats, strict=True))
        why = "Why networks fail XOR: a typical network of each class"
        failure_plot(studies, out / f"{stem}_failures.png", why)
        if log_dir is not None:
            run = Path(log_dir)
            run.mkdir(parents=True, exist_ok=True)
            with open(run / "copies.csv", "w", newline="") as f:
                writer = csv.writer(f)
                for k, (name, stats) in enumerate(zip(names, pl_module.final_stats, strict=True)):
                    header, rows = per_copy_rows(stats)
                    if k == 0:
                        writer.writerow(["architecture", *header])
                    writer.writerows([name, *row] for row in rows)
