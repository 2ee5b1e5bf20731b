"""The seed-ensemble study: per-run files from `StudyReport`, the combined table from `summarize`.

python -m xor_lightning.study [logs]     # combine the newest run of every logs/study_* folder
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import lightning as L
import torch

from xor_lightning.ensemble import XOREnsemble, stuck_on_plateau
from xor_lightning.inspection import tensorboard_writer

COLUMNS = [
    "architecture",
    "copies",
    "solved (acc 1.0)",
    "steps to solve p10",
    "median",
    "p90",
    "stuck at 0.693",
    "other (local minimum)",
]


def summary_row(name: str, final_cost: torch.Tensor, accuracy: torch.Tensor, solved_step: torch.Tensor) -> list[str]:
    """One table row; the step quantiles are over the copies that solved (all four right, cost < 0.05)."""
    steps = solved_step[solved_step >= 0].float()
    quantiles = torch.quantile(steps, torch.tensor([0.1, 0.5, 0.9])).tolist() if len(steps) else [math.nan] * 3
    stuck = stuck_on_plateau(final_cost)
    solved = accuracy == 1.0
    other = (~solved & ~stuck).float().mean().item()
    cells = [f"{q:.0f}" if math.isfinite(q) else "never" for q in quantiles]
    return [name, str(len(accuracy)), pct(solved), *cells, pct(stuck), f"{other:.1%}"]


def pct(mask: torch.Tensor) -> str:
    return f"{mask.float().mean().item():.1%}"


def markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def architecture_name(hidden_sizes: list[int]) -> str:
    return "-".join(str(n) for n in [2, *hidden_sizes, 1])


def fraction_solved_curve(solved_step: torch.Tensor, max_steps: int) -> tuple[list[int], list[float]]:
    steps = list(range(0, max_steps + 1, max(1, max_steps // 200)))
    solved = solved_step[solved_step >= 0]
    return steps, [(solved <= s).sum().item() / len(solved_step) for s in steps]


def plot(curves: dict[str, tuple[list[int], list[float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for name, (steps, fractions) in curves.items():
        ax.plot(steps, fractions, label=name)
    ax.set(xlabel="step", ylabel="fraction of seeds solved", ylim=(0, 1.02), title="How often does XOR get learned?")
    ax.legend(title="architecture")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)


class StudyReport(L.Callback):
    """At the end of fit: the study row printed, `study.csv` (one row per copy), `study.md`,
    `fraction_solved.png` in the run folder, and TensorBoard histograms of final cost and steps to solve."""

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not isinstance(pl_module, XOREnsemble):
            raise TypeError(f"StudyReport needs an XOREnsemble, got {type(pl_module).__name__}")
        log_dir = trainer.log_dir
        if log_dir is None or not trainer.is_global_zero:
            return
        stats = pl_module.study_stats()
        name = architecture_name(pl_module.hparams.hidden_sizes)
        row = summary_row(name, **stats)
        table = markdown([row])
        print(table, end="", flush=True)
        run = Path(log_dir)
        run.mkdir(parents=True, exist_ok=True)
        (run / "study.md").write_text(table)
        with open(run / "study.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["copy", "seed", "final_cost", "accuracy", "solved_step"])
            first = pl_module.hparams.first_seed
            for k, (cost, acc, step) in enumerate(zip(*(stats[c].tolist() for c in stats), strict=True)):
                writer.writerow([k, first + k, f"{cost:.9g}", acc, step])
        plot({name: fraction_solved_curve(stats["solved_step"], trainer.global_step)}, run / "fraction_solved.png")
        tensorboard = tensorboard_writer(trainer)
        if tensorboard is not None:
            tensorboard.add_histogram("study/final_cost", stats["final_cost"], trainer.global_step)
            solved = stats["solved_step"][stats["solved_step"] >= 0]
            if len(solved):
                tensorboard.add_histogram("study/steps_to_solve", solved, trainer.global_step)


def read_run(run: Path) -> tuple[str, dict[str, torch.Tensor], int]:
    import yaml

    hparams = yaml.safe_load((run / "hparams.yaml").read_text())
    columns: dict[str, list[float]] = {"final_cost": [], "accuracy": [], "solved_step": []}
    with open(run / "study.csv", newline="") as f:
        for record in csv.DictReader(f):
            for key in columns:
                columns[key].append(float(record[key]))
    config = yaml.safe_load((run / "config.yaml").read_text())
    max_steps = int(config["trainer"]["max_steps"])
    return architecture_name(hparams["hidden_sizes"]), {k: torch.tensor(v) for k, v in columns.items()}, max_steps


def summarize(logs: Path) -> str:
    """Combine the newest finished run of each logs/study_* folder: table, study.md and study.png."""
    runs = []
    for folder in sorted(logs.glob("study_*")):
        finished = sorted((p.parent for p in folder.glob("version_*/study.csv")), key=lambda p: p.stat().st_mtime)
        if finished:
            runs.append(read_run(finished[-1]))
    if not runs:
        raise SystemExit(f"error: no {logs}/study_*/version_*/study.csv: run `make study` first")
    runs.sort(key=lambda r: (len(r[0]), r[0]))
    table = markdown([summary_row(name, **stats) for name, stats, _ in runs])
    (logs / "study.md").write_text(table)
    plot({name: fraction_solved_curve(stats["solved_step"], steps) for name, stats, steps in runs}, logs / "study.png")
    return table


if __name__ == "__main__":
    print(summarize(Path(sys.argv[1] if len(sys.argv) > 1 else "logs")), end="")
