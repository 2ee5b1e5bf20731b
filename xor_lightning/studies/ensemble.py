"""XOREnsemble: many seeds (and learning rates) of one network trained at once: how often is XOR learned?

The vectorised math is in `xor_lightning.studies.copies`, the Lightning side shared with the study grid in
`xor_lightning.studies.copies_module`.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from xor_lightning.arguments import check_hidden_sizes
from xor_lightning.network import Activation
from xor_lightning.studies.copies import Gradient, linear, linear_backward, stacked_init, stuck_on_plateau
from xor_lightning.studies.copies_module import CopiesModule, check_lrs, check_solved_cost

__all__ = ["XOREnsemble", "linear", "linear_backward", "stacked_init", "stuck_on_plateau"]


class XOREnsemble(CopiesModule):
    """`num_copies` sigmoid MLPs with seeds first_seed, first_seed + 1, ..., trained side by side, once
    for every learning rate in `lr`.

    Copy k has lr lr[k // num_copies] and seed first_seed + k % num_copies, and its updates equal
    training that network alone (its own mean BCE, its own SGD step at its own lr). Per copy the module
    records the first step at which all four predictions are right and the cost is below `solved_cost`;
    `study_stats()` gives the final costs, accuracies and those steps.

    Args:
        hidden_sizes: widths of the hidden layers, as for XORClassifier.
        lr: SGD learning rate in (0, 100], or a list of them (every seed is trained at each).
        num_copies: how many seeds (per lr).
        first_seed: seeds first_seed, first_seed + 1, ... (777 makes copy 0 the notebook's network).
        gradient: "autograd", or the hand-backprop modes "notebook" / "mean".
        solved_cost: cost below which a copy with four right predictions counts as solved.
        activation: the hidden layers' nonlinearity, as for XORClassifier ("sigmoid", "tanh", "relu", ...).
        optimizer: each copy's update, a torch.optim spec without lr: "SGD", "SGD(momentum=0.9)", "Adam".
    """

    def __init__(
        self,
        hidden_sizes: Sequence[int] = (2,),
        lr: float | list[float] = 1.0,
        num_copies: int = 1024,
        first_seed: int = 777,
        gradient: Gradient = "autograd",
        solved_cost: float = 0.05,
        activation: Activation = "sigmoid",
        optimizer: str = "SGD",
    ) -> None:
        super().__init__()
        hidden_sizes, lrs = check_hidden_sizes(hidden_sizes), check_lrs(lr)
        check_solved_cost(solved_cost)
        lr = lrs[0] if isinstance(lr, (int, float)) else lrs  # a plain float or list in the hparams
        self.save_hyperparameters()  # the checked locals
        self.build_stacks([hidden_sizes], lrs, num_copies, first_seed, gradient, [(activation, optimizer)])

    def setting_text(self) -> str:
        """' (relu, Adam)' when not the lesson's sigmoid and plain SGD: the report line says what ran."""
        setting = (self.hparams.activation, self.hparams.optimizer)
        return "" if setting == ("sigmoid", "SGD") else f" ({', '.join(setting)})"

    def report(self, X: Tensor, Y: Tensor) -> tuple[str, dict[str, float]]:
        """The fraction of copies solved (all four predictions right at the end), not an accuracy."""
        stats = self.final_stats[0] if self.final_stats is not None else self.study_stats()[0]
        solved = (stats["accuracy"] == 1.0).float().mean().item()
        plateau = stuck_on_plateau(stats["final_cost"]).float().mean().item()
        lrs = self.lrs[0] if len(self.lrs) == 1 else self.lrs
        text = (
            f"{self.total_copies} copies of hidden_sizes {self.hparams.hidden_sizes}{self.setting_text()} at lr {lrs}: "
            f"all four right for {solved:.1%}, stuck near ln 2 for {plateau:.1%}\n"
            f"fraction solved: {solved}"
        )
        return text, {"hp/fraction_solved": solved}
