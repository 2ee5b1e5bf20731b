"""The study grid: for which widths and learning rates does plain SGD learn XOR, and how fast?

One run trains every architecture x lr x seed at once (one CopyStack per architecture, every lr inside
it); `GridReport` writes study_grid.csv / .md / .png next to the run folders (`make study-grid`).
"""

from __future__ import annotations

from torch import Tensor

from xor_lightning.arguments import check_hidden_sizes
from xor_lightning.studies.copies import Gradient
from xor_lightning.studies.copies_module import CopiesModule, check_distinct, check_lrs, check_solved_cost
from xor_lightning.studies.ensemble_report import architecture_name
from xor_lightning.studies.settings import grid_rows, row_name

WIDTHS_AND_DEEP = [[1], [2], [3], [4], [5], [6], [7], [8], [10, 10, 10]]
LRS = [0.1, 0.3, 1.0, 3.0, 10.0]


class XORStudyGrid(CopiesModule):
    """`num_copies` seeds of every architecture at every lr, trained side by side in one run.

    Cell (architecture a, lr r) holds seeds first_seed .. first_seed + num_copies - 1; each copy trains
    exactly like a single network with that seed, architecture and lr (see XOREnsemble).

    Args:
        architectures: hidden sizes of each architecture ([] is the perceptron).
        lr: the learning rates, each in (0, 100].
        num_copies: seeds per cell.
        first_seed: the first seed of every cell.
        gradient: "autograd", or the hand-backprop modes "notebook" / "mean".
        solved_cost: cost below which a copy with four right predictions counts as solved.
        activations: the hidden activations to compare ("sigmoid", "tanh", "relu", "leaky_relu").
        optimizers: the per-copy updates to compare, torch.optim specs without lr ("SGD", "Adam", ...).
            A row of the grid is one architecture x activation x optimizer, its columns the lrs.
    """

    def __init__(
        self,
        architectures: list[list[int]] = WIDTHS_AND_DEEP,
        lr: list[float] = LRS,
        num_copies: int = 1024,
        first_seed: int = 777,
        gradient: Gradient = "autograd",
        solved_cost: float = 0.05,
        activations: list[str] = ["sigmoid"],  # noqa: B006 (a plain list in the hparams, never mutated)
        optimizers: list[str] = ["SGD"],  # noqa: B006
    ) -> None:
        super().__init__()
        architectures = [check_hidden_sizes(h) for h in architectures]
        if not architectures:
            raise ValueError("architectures must name at least one architecture")
        check_distinct("architectures", architectures)
        lr = check_lrs(lr)
        check_solved_cost(solved_cost)
        activations, optimizers = list(activations), list(optimizers)
        self.save_hyperparameters()  # the checked locals: plain lists
        rows, settings = grid_rows(architectures, activations, optimizers)
        self.build_stacks(rows, lr, num_copies, first_seed, gradient, settings)

    def row_names(self) -> list[str]:
        """One per stack: the architecture, with the activation and optimizer when the grid varies them."""
        h = self.hparams
        varied = (len(h.architectures) > 1, h.activations != ["sigmoid"], h.optimizers != ["SGD"])
        return [row_name(architecture_name(s.hidden_sizes), s.activation, s.optimizer, varied) for s in self.stacks]

    def trained_with(self) -> str:
        """What the heatmap's title says trained the copies."""
        if self.hparams.optimizers == ["SGD"] and self.hparams.activations == ["sigmoid"]:
            return "plain SGD"
        h = self.hparams
        which = f"{', '.join(h.activations)} x {', '.join(h.optimizers)}"
        return which if len(h.architectures) > 1 else f"{architecture_name(h.architectures[0])}, {which}"

    def report(self, X: Tensor, Y: Tensor) -> tuple[str, dict[str, float]]:
        """The fraction of all copies solved (all four predictions right at the end), not an accuracy."""
        stats = self.final_stats if self.final_stats is not None else self.study_stats()
        solved = sum((s["accuracy"] == 1.0).sum().item() for s in stats) / (len(stats) * self.total_copies)
        text = (
            f"{len(stats)} rows x {len(self.lrs)} lrs x {self.num_seeds} seeds: "
            f"all four right for {solved:.1%} of the copies\nfraction solved: {solved}"
        )
        return text, {"hp/fraction_solved": solved}
