"""The studies' settings beyond architecture and lr: the hidden activation and the optimizer of each stack.

A stack is one (architecture, activation, optimizer); the ensemble has one, the grid one per row of
architectures x activations x optimizers, and the lr axis runs inside every stack as before. The
defaults (sigmoid, "SGD") are the lesson's network and update, trained by PerCopySGD as ever.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from xor_lightning.arguments import ConfigError
from xor_lightning.network import check_activation
from xor_lightning.studies.copies import CopyStack
from xor_lightning.studies.per_copy_optimizers import PerCopyOptimizer, PerCopySGD, is_plain_sgd, parse_spec


def check_settings(settings: list[tuple[str, str]], gradient: str) -> list[tuple[str, str]]:
    checked = []
    for activation, optimizer in settings:
        activation = check_activation(activation)
        parse_spec(optimizer)
        if gradient != "autograd" and activation != "sigmoid":
            raise ValueError(
                f"gradient {gradient!r} is the notebook's hand backprop, the sigmoid's formulas: activation "
                f"{activation!r} needs gradient 'autograd'"
            )
        checked.append((activation, optimizer))
    return checked


def grid_rows(
    architectures: list[list[int]], activations: list[str], optimizers: list[str]
) -> tuple[list[list[int]], list[tuple[str, str]]]:
    """Every architecture x activation x optimizer, architecture outermost: one stack each."""
    if not activations or not optimizers:
        raise ValueError("activations and optimizers must each name at least one")
    rows = list(itertools.product(architectures, activations, optimizers))
    return [list(h) for h, _, _ in rows], [(a, o) for _, a, o in rows]


def row_name(architecture: str, activation: str, optimizer: str, varied: tuple[bool, bool, bool]) -> str:
    """'2-10-10-10-1', with the activation and/or optimizer when the grid varies them ('relu Adam' alone
    when it has one architecture: the title names it)."""
    shown = [(architecture, varied[0] or not (varied[1] or varied[2])), (activation, varied[1]), (optimizer, varied[2])]
    return " ".join(text for text, show in shown if show)


def per_copy_optimizer(stacks: Sequence[CopyStack]) -> PerCopySGD:
    """PerCopySGD when every stack is plain SGD (the lesson's update, its checkpoints as before)."""
    if all(is_plain_sgd(stack.optimizer) for stack in stacks):
        return PerCopySGD(stacks)
    return PerCopyOptimizer(stacks)


def check_stateless_when_sharded(stacks: Sequence[CopyStack], world_size: int) -> None:
    # Each process would hold only its copies' moment estimates, and checkpoints gather the weights only.
    stateful = sorted({s.optimizer for s in stacks if not is_plain_sgd(s.optimizer)})
    if world_size > 1 and stateful:
        raise ConfigError(
            f"optimizer {', '.join(stateful)} keeps per-copy state, which the copy-sharded strategy does not "
            "gather: train it on one process (--trainer.devices 1)"
        )
