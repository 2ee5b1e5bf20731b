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
from torch import Tensor

from xor_lightning.ensemble import XOREnsemble, stuck_on_plateau
from xor_lightning.inspection import tensorboard_writer
from xor_lightning.study_plot import fraction_solved_plot

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


def cell_numbers(final_cost: Tensor, accuracy: Tensor, solved_step: Tensor, **_: Tensor) -> dict[str, float]:
    """Fractions solved (all four right at the end), stuck (final cost within 0.01 of ln 2) and in another
    local minimum, and the p10/median/p90 of the first solved step over the copies that solved (NaN: none)."""
    steps = solved_step[solved_step >= 0].double()
    quantiles = (
        torch.quantile(steps, torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)).tolist()
        if len(steps)
        else [math.nan] * 3
    )
    stuck, solved = stuck_on_plateau(final_cost), accuracy == 1.0
    return {
        "copies": len(accuracy),
        "fraction_solved": solved.float().mean().item(),
        "steps_p10": quantiles[0],
        "steps_median": quantiles[1],
        "steps_p90": quantiles[2],
        "fraction_stuck": stuck.float().mean().item(),
        "fraction_other": (~solved & ~stuck).float().mean().item(),
        "mean_final_cost": final_cost.double().mean().item(),
    }


def summary_row(name: str, **stats: Tensor) -> list[str]:
    """One table row (see COLUMNS) from per-copy stats."""
    c = cell_numbers(**stats)
    steps = [f"{c[k]:.0f}" if math.isfinite(c[k]) else "never" for k in ("steps_p10", "steps_median", "steps_p90")]
    shares = [f"{c[k]:.1%}" for k in ("fraction_solved", "fraction_stuck", "fraction_other")]
    return [name, str(c["copies"]), shares[0], *steps, shares[1], shares[2]]


def per_lr(stats: dict[str, Tensor]) -> dict[float, dict[str, Tensor]]:
    """Split per-copy stats by learning rate, in the order the lrs were given."""
    lrs = list(dict.fromkeys(stats["lr"].tolist()))
    return {lr: {k: v[stats["lr"] == lr] for k, v in stats.items()} for lr in lrs}


def markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def architecture_name(hidden_sizes: list[int]) -> str:
    return "-".join(str(n) for n in [2, *hidden_sizes, 1])


def fraction_solved_curve(solved_step: torch.Tensor, max_steps: int) -> tuple[list[int], list[float]]:
    steps = list(range(0, max_steps + 1, max(1, max_steps // 200)))
    solved = solved_step[solved_step >= 0]
    return steps, [(solved <= s).sum().item() / len(solved_step) for s in steps]


def study_title(what: str, seeds: int, lrs: list[float]) -> str:
    lr = ", ".join(f"{r:g}" for r in lrs)
    return f"How often does {what} learn XOR? {seeds} seeds, lr {lr}"


class StudyReport(L.Callback):
    """At the end of fit: the study row printed, `study.csv` (one row per copy), `study.md`,
    `fraction_solved.png` in the run folder, and TensorBoard histograms of final cost and steps to solve."""

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not isinstance(pl_module, XOREnsemble):
            raise TypeError(f"StudyReport needs an XOREnsemble, got {type(pl_module).__name__}")
        log_dir = trainer.log_dir
        if log_dir is None or not trainer.is_global_zero or pl_module.final_stats is None:
            return
        stats = pl_module.final_stats[0]  # gathered from every process in on_train_end
        name = architecture_name(pl_module.hparams.hidden_sizes)
        by_lr = per_lr(stats)
        label = (lambda lr: name) if len(by_lr) == 1 else (lambda lr: f"{name} lr {lr:g}")
        table = markdown([summary_row(label(lr), **s) for lr, s in by_lr.items()])
        print(table, end="", flush=True)
        run = Path(log_dir)
        run.mkdir(parents=True, exist_ok=True)
        (run / "study.md").write_text(table)
        with open(run / "study.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["copy", "seed", "lr", "final_cost", "accuracy", "solved_step"])
            columns = zip(
                *(stats[c].tolist() for c in ("seed", "lr", "final_cost", "accuracy", "solved_step")), strict=True
            )
            for k, (seed, lr, cost, acc, step) in enumerate(columns):
                writer.writerow([k, seed, f"{lr:g}", f"{cost:.9g}", acc, step])
        curves = {label(lr): fraction_solved_curve(s["solved_step"], trainer.global_step) for lr, s in by_lr.items()}
        title = study_title(name, pl_module.num_seeds, pl_module.lrs)
        fraction_solved_plot(curves, run / "fraction_solved.png", title)
        tensorboard = tensorboard_writer(trainer)
        if tensorboard is not None:
            tensorboard.add_histogram("study/final_cost", stats["final_cost"], trainer.global_step)
            solved = stats["solved_step"][stats["solved_step"] >= 0]
            if len(solved):
                tensorboard.add_histogram("study/steps_to_solve", solved, trainer.global_step)


def read_run(run: Path) -> tuple[str, dict[str, torch.Tensor], int]:
    import yaml

    hparams = yaml.safe_load((run / "hparams.yaml").read_text())
    columns: dict[str, list[float]] = {"final_cost": [], "accuracy": [], "solved_step": [], "lr": []}
    with open(run / "study.csv", newline="") as f:
        for record in csv.DictReader(f):
            for key in columns:
                columns[key].append(float(record.get(key, hparams["lr"])))  # older study.csv: no lr column
    config = yaml.safe_load((run / "config.yaml").read_text())
    max_steps = int(config["trainer"]["max_steps"])
    stats = {k: torch.tensor(v) for k, v in columns.items()}
    stats["solved_step"] = stats["solved_step"].long()
    return architecture_name(hparams["hidden_sizes"]), stats, max_steps


def summarize(logs: Path) -> str:
    """Combine the newest finished run of each logs/study_* folder: table, study.md and study.png."""
    runs = []
    for folder in sorted(logs.glob("study_*")):
        finished = sorted((p.parent for p in folder.glob("version_*/study.csv")), key=lambda p: p.stat().st_mtime)
        if finished:
            import yaml

            try:
                runs.append(read_run(finished[-1]))
            except (OSError, ValueError, KeyError, TypeError, IndexError, csv.Error, yaml.YAMLError) as err:
                # A damaged or hand-edited run folder: name it, in one line, not a traceback.
                reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:120]
                raise SystemExit(
                    f"error: {finished[-1]}: its study.csv, hparams or config is damaged ({reason})"
                ) from err
    if not runs:
        raise SystemExit(f"error: no {logs}/study_*/version_*/study.csv: run `make study` first")
    runs.sort(key=lambda r: (len(r[0]), r[0]))
    table = markdown([summary_row(name, **stats) for name, stats, _ in runs])
    (logs / "study.md").write_text(table)
    curves = {name: fraction_solved_curve(stats["solved_step"], steps) for name, stats, steps in runs}
    seeds = sorted({len(stats["accuracy"]) for _, stats, _ in runs})
    lrs = sorted({lr for _, stats, _ in runs for lr in stats["lr"].tolist()})
    what = "each network" if len(runs) > 1 else runs[0][0]
    fraction_solved_plot(curves, logs / "study.png", study_title(what, seeds[-1], lrs))
    return table


if __name__ == "__main__":
    print(summarize(Path(sys.argv[1] if len(sys.argv) > 1 else "logs")), end="")
