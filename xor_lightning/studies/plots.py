"""The studies' pictures, drawn on `matplotlib.figure.Figure` (no pyplot, no global backend)."""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

MARKERS = "osD^v<>ph*"
SHORT = {"minimum at infinity": "at infinity", "still learning": "learning", "finite minimum": "finite min"}
# A median of steps to solve is shown as typical of its cell only when at least this many seeds, and this
# share of the cell's seeds, solved; below either the cell is greyed out and its count of solved seeds shown.
MIN_SOLVED_SEEDS = 10
MIN_SOLVED_FRACTION = 0.10
ROW_LABELS = {"2-1": "2-1 (perceptron)", "2-1-1": "2-1-1 (1 hidden unit)"}  # two names one digit apart


def row_label(name: str) -> str:
    """The architecture as a heatmap row: the perceptron and the 1-unit net spelled out, not only "2-1" vs "2-1-1"."""
    return ROW_LABELS.get(name, name)


def too_few_solved(fraction: float, copies: int) -> bool:
    return fraction * copies < MIN_SOLVED_SEEDS - 1e-9 or fraction < MIN_SOLVED_FRACTION


def save(fig: Figure, path: Path) -> None:
    tmp = path.with_suffix(".tmp.png")  # a reader never sees half a picture
    fig.savefig(tmp)
    tmp.replace(path)


def fraction_solved_plot(curves: dict[str, tuple[list[int], list[float]]], path: Path, title: str) -> None:
    """Fraction of seeds solved by each step, one line per architecture (or lr).

    The y axis starts below 0 and every line carries markers above the grid, so a line that stays at
    0 (the perceptron) is drawn in front of the axis, not hidden behind it."""
    fig = Figure(figsize=(6.4, 4.2), dpi=100)
    ax = fig.add_subplot()
    for k, (name, (steps, fractions)) in enumerate(curves.items()):
        every = max(1, len(steps) // 12)
        ax.plot(steps, fractions, label=name, marker=MARKERS[k % len(MARKERS)], markevery=every, zorder=3 + k)
    ax.set(xlabel="step", ylabel="fraction of seeds solved", ylim=(-0.03, 1.03), title=title)
    ax.legend(loc="center right")
    ax.grid(alpha=0.3, zorder=0)
    fig.tight_layout()
    save(fig, path)


def heatmaps(
    rows: list[str],
    columns: list[str],
    solved: list[list[float]],
    median: list[list[float]],
    path: Path,
    title: str,
    failures: list[list[tuple[str, float]]] | None = None,
    copies: int | None = None,
) -> None:
    """Annotated heatmaps over architecture (rows) x lr (columns): fraction solved, median steps, and
    (given `failures`, (class, fraction) per cell) the most common failure class of each cell.

    Given `copies` (seeds per cell), a median from too few solved seeds (`too_few_solved`) is not
    coloured as if it were typical: the cell is grey, hatched, and says how many seeds solved."""
    fig = Figure(figsize=(17 if failures else 11, 0.45 * len(rows) + 2.2), dpi=100)
    axes = fig.subplots(1, 3 if failures else 2)
    few = [
        [copies is not None and math.isfinite(m) and too_few_solved(f, copies) for f, m in zip(*r, strict=True)]
        for r in zip(solved, median, strict=True)
    ]
    typical = [[float("nan") if few[i][j] else v for j, v in enumerate(row)] for i, row in enumerate(median)]
    finite = [v for row in typical for v in row if math.isfinite(v)]
    labels = [row_label(r) for r in rows]
    panels = (
        (axes[0], solved, solved, "fraction of seeds solved", "viridis", (0.0, 1.0), lambda v: f"{v:.0%}"),
        (
            axes[1],
            median,
            typical,
            "median steps to solve (solved seeds)",
            "magma_r",
            (0, max(finite, default=1)),
            None,
        ),
    )
    for ax, values, coloured, label, cmap, (low, high), fmt in panels:
        masked = [[v if math.isfinite(v) else float("nan") for v in row] for row in coloured]
        image = ax.imshow(masked, cmap=cmap, vmin=low, vmax=high, aspect="auto")
        fig.colorbar(image, ax=ax, label=label)
        ax.set(xticks=range(len(columns)), xticklabels=columns, yticks=range(len(rows)), yticklabels=labels)
        ax.set(xlabel="learning rate", ylabel="architecture", title=label)
        for i, row in enumerate(values):
            for j, v in enumerate(row):
                text = "never" if not math.isfinite(v) else (fmt(v) if fmt else f"{v:.0f}")
                if coloured is typical and few[i][j]:  # grey: a median of a handful is not the cell's typical net
                    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor="0.85", hatch="//", edgecolor="0.6"))
                    ax.text(
                        j,
                        i,
                        f"{text}\n{round(solved[i][j] * copies)} solved",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="0.3",
                    )
                    continue
                shade = (v - low) / (high - low or 1) if math.isfinite(v) else 0.0
                dark = shade < 0.5 if cmap == "viridis" else shade > 0.5
                ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if dark else "black")
    if failures:
        failure_panel(axes[2], labels, columns, failures)
    if copies is not None and any(any(row) for row in few):
        title += (
            f"\ngrey: median from fewer than {MIN_SOLVED_SEEDS} solved seeds or "
            f"{MIN_SOLVED_FRACTION:.0%} of the cell, not typical of it"
        )
    fig.suptitle(title)
    fig.tight_layout()
    save(fig, path)


def failure_panel(ax, rows: list[str], columns: list[str], failures: list[list[tuple[str, float]]]) -> None:
    """Each cell coloured by its most common failure class and labelled with that class's share."""
    from matplotlib.colors import ListedColormap

    from xor_lightning.studies.diagnosis import CLASSES

    palette = ["#ffffff", "#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#7f7f7f"]  # one per class
    codes = [[CLASSES.index(label) if label else 0 for label, _ in row] for row in failures]
    ax.imshow(codes, cmap=ListedColormap(palette), vmin=0, vmax=len(CLASSES) - 1, aspect="auto")
    ax.set(xticks=range(len(columns)), xticklabels=columns, yticks=range(len(rows)), yticklabels=rows)
    ax.set(xlabel="learning rate", title="most common failure (share of all seeds)")
    for i, row in enumerate(failures):
        for j, (label, share) in enumerate(row):
            text = f"{SHORT.get(label, label)}\n{share:.0%}" if label else "none failed"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if label else "black")


def failure_plot(studies: dict[str, dict], path: Path, title: str) -> None:
    """One row per architecture, one panel per class it has: the four final outputs of a network
    typical of that class (bars), beside a solved one. A bar above the dashed line predicts 1."""
    from xor_lightning.studies.diagnosis import CLASSES, typical_outputs

    rows = []
    for name, stats in studies.items():
        classes, total = stats["class"], len(stats["class"])
        panels = []
        for code, label in enumerate(CLASSES):
            count = int((classes == code).sum())
            if count:
                _, _, k = typical_outputs(classes, stats["outputs"], code)
                panels.append((label, count, total, stats["outputs"][:, k].tolist(), int(stats["seed"][k])))
        rows.append((name, panels))
    width = max(len(panels) for _, panels in rows)
    fig = Figure(figsize=(max(8.0, 2.4 * width), 2.3 * len(rows) + 0.8), dpi=100)
    axes = fig.subplots(len(rows), width, squeeze=False)
    targets = [0, 1, 1, 0]
    for r, (name, panels) in enumerate(rows):
        for c in range(width):
            ax = axes[r][c]
            if c >= len(panels):
                ax.set_axis_off()
                continue
            label, count, total, values, seed = panels[c]
            colours = ["tab:blue" if t else "tab:orange" for t in targets]
            ax.bar(range(4), values, color=colours)
            ax.axhline(0.5, color="grey", linestyle="--", linewidth=1)
            ax.scatter(range(4), targets, marker="_", s=200, color="black", zorder=3)  # the right answers
            ax.set(ylim=(-0.05, 1.05), xticks=range(4), xticklabels=["00", "01", "10", "11"])
            ax.set_title(f"{name}: {label}\n{count} of {total} seeds (e.g. seed {seed})", fontsize=9)
            for x, v in enumerate(values):
                ax.text(x, min(v + 0.03, 0.93), f"{v:.2f}", ha="center", fontsize=8)
    key = "bars: the final outputs for inputs x1 x2 (blue: XOR is 1, orange: 0); black ticks: the answers"
    fig.suptitle(f"{title}\n{key}")
    fig.tight_layout()
    save(fig, path)
