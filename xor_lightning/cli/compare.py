"""`xor-lightning compare RUN...` (or `python -m xor_lightning.cli.compare`): several runs on one picture.

Each RUN is a run folder (logs/xor_nn/version_0) or a folder above some (logs/xor_nn: every run under
it). Their TensorBoard event files give the printed cost (train_loss) and each layer's weight gradient
norm (grad_norm/*); their hparams.yaml gives the label (architecture and lr). One PNG, two panels on log
axes: the costs, and the gradient norms (a colour per run, a line style per layer).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import yaml

from xor_lightning.pictures import LN2

LINE_STYLES = ["-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1))]


class CompareError(Exception):
    """Bad input: one line on stderr, exit 2, nothing written."""


def run_folders(paths: list[str]) -> list[Path]:
    """The run folders (holding hparams.yaml and an event file) named by, or under, each path."""
    runs: list[Path] = []
    for name in paths:
        path = Path(name)
        if not path.is_dir():
            raise CompareError(f"{name}: not a folder (give run folders such as logs/xor_nn/version_0)")
        found = sorted(
            {p.parent for p in path.rglob("events.out.tfevents.*")} & {p.parent for p in path.rglob("hparams.yaml")}
        )
        if not found:
            raise CompareError(f"{name}: no run under it (no hparams.yaml beside a TensorBoard event file)")
        runs += [r for r in found if r not in runs]
    return runs


def label(run: Path) -> str:
    """ "2-2-1, lr 1 (xor_nn/version_0)": the settings first, the folder to find it again."""
    try:
        params = yaml.safe_load((run / "hparams.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise CompareError(f"{run}/hparams.yaml: cannot be read ({err})") from err
    parts = []
    if isinstance(params.get("hidden_sizes"), list):
        parts.append("-".join(str(n) for n in [2, *params["hidden_sizes"], 1]))
    if "lr" in params:
        parts.append(f"lr {params['lr']:g}" if isinstance(params["lr"], (int, float)) else f"lr {params['lr']}")
    if "num_copies" in params:
        parts.append(f"{params['num_copies']} seeds, mean")
    where = "/".join(run.parts[-2:])
    return f"{', '.join(parts)} ({where})" if parts else where


def read_scalars(run: Path) -> dict[str, tuple[list[int], list[float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run), size_guidance={"scalars": 0, "images": 1, "histograms": 1, "tensors": 1})
    events.Reload()
    series = {}
    for tag in events.Tags()["scalars"]:
        if tag == "train_loss" or (tag.startswith("grad_norm/") and tag.endswith(".weight")):
            points = sorted({e.step: e.value for e in events.Scalars(tag)}.items())
            series[tag] = ([s for s, _ in points], [v for _, v in points])
    if "train_loss" not in series:
        raise CompareError(f"{run}: its event file holds no train_loss (did the run start?)")
    return series


def compare_figure(runs: list[Path], path: Path) -> None:
    from matplotlib.figure import Figure

    data = [(label(run), read_scalars(run)) for run in runs]  # everything read before anything is written
    fig = Figure(figsize=(15, 5.6), dpi=100, layout="constrained")  # 1500 px: PROJECTOR_WIDTH and more
    cost_ax, grad_ax = fig.subplots(1, 2)
    colours = [f"C{k % 10}" for k in range(len(data))]
    for colour, (name, series) in zip(colours, data, strict=True):
        steps, costs = series["train_loss"]
        cost_ax.semilogy(steps, [max(c, 1e-12) for c in costs], color=colour, label=name, linewidth=1.8)
        layers = sorted(
            (t for t in series if t.startswith("grad_norm/")), key=lambda t: int(t.split("layer")[1].split(".")[0])
        )
        for k, tag in enumerate(layers):
            steps, norms = series[tag]
            kept = [(s, v) for s, v in zip(steps, norms, strict=True) if v > 0 and math.isfinite(v)]
            if kept:
                style = LINE_STYLES[k % len(LINE_STYLES)]
                grad_ax.semilogy(
                    *zip(*kept, strict=True), color=colour, linestyle=style, label=f"{name}: layer {k + 1}"
                )
    cost_ax.axhline(LN2, color="grey", linestyle="--", linewidth=1, label="ln 2: every output 1/2")
    cost_ax.set(xlabel="step", ylabel="cost (log scale)", title="cost at each printed step")
    grad_ax.set(xlabel="step", ylabel="weight gradient L2 norm (log scale)", title="gradient norm of each layer")
    for ax in (cost_ax, grad_ax):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    fig.suptitle(f"{len(data)} runs compared")
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp)
    tmp.replace(path)


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints the usage too: keep bad input to one line
        print(f"error: {message} (xor-lightning compare --help)", file=sys.stderr)
        sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(
        prog="xor-lightning compare",
        description="Overlay runs' costs and per-layer gradient norms (log axes) in one PNG, labelled by settings.",
    )
    parser.add_argument(
        "runs", nargs="+", metavar="RUN", help="run folders, e.g. logs/xor_nn/version_0, or folders above them"
    )
    parser.add_argument("-o", "--out", default="compare.png", help="the PNG to write (default: compare.png)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    try:
        if out.suffix.lower() != ".png":
            raise CompareError(f"--out {out}: must end in .png")
        if not out.parent.is_dir():
            raise CompareError(f"--out {out}: folder {out.parent} does not exist")
        runs = run_folders(args.runs)
        compare_figure(runs, out)
    except CompareError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print(f"wrote {out}: {len(runs)} runs")


if __name__ == "__main__":
    main()
