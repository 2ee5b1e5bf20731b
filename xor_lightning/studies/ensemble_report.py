"""The seed-ensemble study: per-run files from `StudyReport`, the combined table from `summarize`.

python -m xor_lightning.studies.ensemble_report [logs]     # combine the newest run of every logs/study_* folder
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import lightning as L
import torch
from torch import Tensor

from xor_lightning import diagnosis
from xor_lightning.inspection import tensorboard_writer
from xor_lightning.studies.diagnosis import CLASSES, SLUGS
from xor_lightning.studies.ensemble import XOREnsemble
from xor_lightning.studies.plots import failure_plot, fraction_solved_plot

FAILURES = CLASSES[1:]  # every class but "solved"
COLUMNS = ["architecture", "copies", "solved (acc 1.0)", "steps to solve p10", "median", "p90", *FAILURES]
PER_COPY = ["seed", "lr", "final_cost", "accuracy", "solved_step"]  # study.csv / copies.csv, then the diagnosis
INPUTS = ("out_00", "out_01", "out_10", "out_11")  # the final outputs for x = (0,0), (0,1), (1,0), (1,1)


def cell_numbers(
    final_cost: Tensor, accuracy: Tensor, solved_step: Tensor, **diagnosed: Tensor
) -> dict[str, float | str]:
    """Fraction solved (all four right at the end), the p10/median/p90 of the first solved step over the
    copies that solved (NaN: none), and the fraction of copies in each failure class with the typical
    final outputs of that class (`xor_lightning.studies.diagnosis`)."""
    steps = solved_step[solved_step >= 0].double()
    quantiles = (
        torch.quantile(steps, torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)).tolist()
        if len(steps)
        else [math.nan] * 3
    )
    numbers: dict[str, float | str] = {
        "copies": len(accuracy),
        "fraction_solved": (accuracy == 1.0).float().mean().item(),
        "steps_p10": quantiles[0],
        "steps_median": quantiles[1],
        "steps_p90": quantiles[2],
        "mean_final_cost": final_cost.double().mean().item(),
    }
    classes = diagnosed.get("class")
    for code, slug in enumerate(SLUGS[1:], start=1):
        share = (classes == code).float().mean().item() if classes is not None else math.nan
        numbers[f"fraction_{slug}"] = share
        if classes is not None and share > 0:
            numbers[f"outputs_{slug}"] = diagnosis.typical_outputs(classes, diagnosed["outputs"], code)[0]
    return numbers


def failure_lines(name: str, **stats: Tensor) -> list[str]:
    """One line per failure class present: its count and its typical final outputs."""
    classes, lines = stats.get("class"), []
    for code, label in enumerate(CLASSES[1:], start=1):
        count = int((classes == code).sum()) if classes is not None else 0
        if count:
            pattern, share, _ = diagnosis.typical_outputs(classes, stats["outputs"], code)
            lines.append(f"| {name} | {label} | {count} | {pattern} ({share:.0%} of them) |")
    return lines


def diagnosis_line(stats: list[dict[str, Tensor]], seconds: float) -> str:
    """What the reports print after their tables: how many copies were diagnosed, and how long it took."""
    failed = sum(int((s["class"] != 0).sum()) for s in stats)
    total = sum(len(s["class"]) for s in stats)
    return f"failure diagnosis: {failed} of {total} copies did not learn XOR, measured in {seconds:.2f} s\n"


def failures_markdown(lines: list[str]) -> str:
    head = [
        "",
        "Why the others failed (`xor_lightning.studies.diagnosis`): each class and its typical final outputs "
        "for x = (0,0), (0,1), (1,0), (1,1):",
        "",
        "| architecture | class | copies | typical outputs |",
        "|---|---|---|---|",
    ]
    return "\n".join(head + (lines or ["| all | none failed | 0 | |"])) + "\n"


def per_copy_rows(stats: dict[str, Tensor]) -> tuple[list[str], list[list[object]]]:
    """study.csv's and copies.csv's columns and rows: the copy's settings, result and diagnosis."""
    header = [*PER_COPY, "diagnosis", *INPUTS, *diagnosis.COLUMNS]
    columns = [stats[c].tolist() for c in PER_COPY]
    codes = stats["class"].tolist() if "class" in stats else [None] * len(columns[0])
    outputs = stats["outputs"].T.tolist() if "outputs" in stats else [[math.nan] * 4] * len(columns[0])
    measured = [stats[c].tolist() if c in stats else [math.nan] * len(columns[0]) for c in diagnosis.COLUMNS]
    rows = []
    for k, (seed, lr, cost, acc, step) in enumerate(zip(*columns, strict=True)):
        label = SLUGS[codes[k]] if codes[k] is not None else ""
        rest = [_num(v) for v in outputs[k]] + [_num(m[k]) for m in measured]
        rows.append([seed, f"{lr:g}", f"{cost:.9g}", acc, step, label, *rest])
    return header, rows


def _num(value: float) -> str:
    return "" if not math.isfinite(value) else f"{value:.6g}"


def summary_row(name: str, **stats: Tensor) -> list[str]:
    """One table row (see COLUMNS) from per-copy stats."""
    c = cell_numbers(**stats)
    steps = [f"{c[k]:.0f}" if math.isfinite(c[k]) else "never" for k in ("steps_p10", "steps_median", "steps_p90")]
    shares = [f"{c[k]:.1%}" if math.isfinite(c[k]) else "" for k in [f"fraction_{s}" for s in SLUGS]]
    return [name, str(c["copies"]), shares[0], *steps, *shares[1:]]


def per_lr(stats: dict[str, Tensor]) -> dict[float, dict[str, Tensor]]:
    """Split per-copy stats by learning rate, in the order the lrs were given."""
    lrs = list(dict.fromkeys(stats["lr"].tolist()))
    return {lr: {k: v[..., stats["lr"] == lr] for k, v in stats.items()} for lr in lrs}


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
        table += failures_markdown([line for lr, s in by_lr.items() for line in failure_lines(label(lr), **s)])
        print(table + diagnosis_line([stats], pl_module.diagnosis_seconds), end="", flush=True)
        run = Path(log_dir)
        run.mkdir(parents=True, exist_ok=True)
        (run / "study.md").write_text(table)
        header, rows = per_copy_rows(stats)
        with open(run / "study.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["copy", *header])
            writer.writerows([k, *row] for k, row in enumerate(rows))
        failure_plot({name: stats}, run / "failures.png", f"Why {name} fails: a typical network of each class")
        curves = {label(lr): fraction_solved_curve(s["solved_step"], trainer.global_step) for lr, s in by_lr.items()}
        title = study_title(name, pl_module.num_seeds, pl_module.lrs)
        fraction_solved_plot(curves, run / "fraction_solved.png", title)
        tensorboard = tensorboard_writer(trainer)
        if tensorboard is not None:
            tensorboard.add_histogram("study/final_cost", stats["final_cost"], trainer.global_step)
            solved = stats["solved_step"][stats["solved_step"] >= 0]
            if len(solved):
                tensorboard.add_histogram("study/steps_to_solve", solved, trainer.global_step)
            for code, slug in enumerate(SLUGS):  # the count of copies in each class
                tensorboard.add_scalar(f"study/{slug}", int((stats["class"] == code).sum()), trainer.global_step)


def read_run(run: Path) -> tuple[str, dict[str, torch.Tensor], int]:
    import yaml

    hparams = yaml.safe_load((run / "hparams.yaml").read_text())
    columns: dict[str, list[float]] = {"final_cost": [], "accuracy": [], "solved_step": [], "lr": [], "seed": []}
    classes: list[int] = []
    outputs: list[list[float]] = []
    with open(run / "study.csv", newline="") as f:
        for record in csv.DictReader(f):
            for key in columns:
                columns[key].append(float(record.get(key, hparams["lr"])))  # older study.csv: no lr column
            if record.get("diagnosis"):  # older study.csv: no diagnosis
                classes.append(SLUGS.index(record["diagnosis"]))
                outputs.append([float(record[c]) if record[c] else math.nan for c in INPUTS])
    config = yaml.safe_load((run / "config.yaml").read_text())
    max_steps = int(config["trainer"]["max_steps"])
    stats = {k: torch.tensor(v) for k, v in columns.items()}
    stats["solved_step"] = stats["solved_step"].long()
    if classes and len(classes) == len(stats["accuracy"]):
        stats["class"], stats["outputs"] = torch.tensor(classes), torch.tensor(outputs, dtype=torch.float64).T
    return architecture_name(hparams["hidden_sizes"]), stats, max_steps


def summarize(logs: Path) -> str:
    """Combine the newest finished run of each logs/study_* folder: study.md, study.png, failures.png."""
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
    table += failures_markdown([line for name, stats, _ in runs for line in failure_lines(name, **stats)])
    (logs / "study.md").write_text(table)
    curves = {name: fraction_solved_curve(stats["solved_step"], steps) for name, stats, steps in runs}
    seeds = sorted({len(stats["accuracy"]) for _, stats, _ in runs})
    lrs = sorted({lr for _, stats, _ in runs for lr in stats["lr"].tolist()})
    what = "each network" if len(runs) > 1 else runs[0][0]
    fraction_solved_plot(curves, logs / "study.png", study_title(what, seeds[-1], lrs))
    diagnosed = {name: stats for name, stats, _ in runs if "class" in stats}
    if diagnosed:
        failure_plot(diagnosed, logs / "failures.png", "Why networks fail XOR: a typical network of each class")
    return table


if __name__ == "__main__":
    print(summarize(Path(sys.argv[1] if len(sys.argv) > 1 else "logs")), end="")
