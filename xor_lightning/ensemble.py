"""S independent copies of the sigmoid MLP, trained at once: how often does each network learn XOR?

Layout: the copy dimension is last. Weights (I, O, S), biases (O, S), activations (N, O, S). A layer
is one broadcast multiply and a sum over I, elementwise work that vectorises across all S copies.
Forward + backward of 1024 copies measured 0.19 ms for 2-2-1 (a batched matmul over the copies,
(S, 4, I) @ (S, I, O): 0.37 ms) and 2.4 ms for 2-10-10-10-1 (batched matmul: 1.2 ms); see
bench/RESULTS.md. The hand-backprop path reuses every formula of `xor_lightning.backprop`; only
`linear` and `linear_backward` below know the layout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from xor_lightning import backprop
from xor_lightning.base import XORModule
from xor_lightning.checks import check_hidden_sizes, check_lr
from xor_lightning.data import xor_truth_table
from xor_lightning.network import SigmoidMLP

Gradient = Literal["autograd", "notebook", "mean"]
PLATEAU_TOLERANCE = 0.01  # "stuck on the plateau": final cost within this of ln 2


def stuck_on_plateau(final_cost: Tensor) -> Tensor:
    """Per copy: did training end at the symmetric point, cost ln 2 = 0.6931?"""
    return (final_cost - math.log(2)).abs() < PLATEAU_TOLERANCE


def linear(a: Tensor, w: Tensor, b: Tensor) -> Tensor:
    return (a.unsqueeze(2) * w).sum(1) + b  # (N, I, 1, S) * (I, O, S) -> sum over I -> (N, O, S)


def linear_backward(a: Tensor, w: Tensor, d_l: Tensor, need_d_a: bool = True) -> tuple[Tensor, Tensor]:
    d_w = (a.unsqueeze(2) * d_l.unsqueeze(1)).sum(0)  # (N, I, 1, S) * (N, 1, O, S) -> (I, O, S)
    d_a = (d_l.unsqueeze(1) * w).sum(2) if need_d_a else d_l  # (N, 1, O, S) * (I, O, S) -> (N, I, S)
    return d_w, d_a


def stacked_init(hidden_sizes: list[int], seeds: Sequence[int], gradient: Gradient) -> backprop.Params:
    """Copy k holds exactly the weights a single network seeded with seeds[k] starts from:
    `nn.Linear` init for the autograd path, `torch.randn` w1, b1, ... for the hand path."""
    copies = []
    with torch.random.fork_rng():  # the caller's random state is left as it was
        for seed in seeds:
            torch.manual_seed(seed)
            if gradient == "autograd":
                mlp = SigmoidMLP(hidden_sizes)
                copies.append([(lin.weight.detach().T, lin.bias.detach()) for lin in mlp.layers])
            else:
                copies.append(backprop.init_params(hidden_sizes))
    return [
        (torch.stack([c[k][0] for c in copies], dim=-1), torch.stack([c[k][1] for c in copies], dim=-1))
        for k in range(len(copies[0]))
    ]


class XOREnsemble(XORModule):
    """`num_copies` sigmoid MLPs with seeds first_seed, first_seed + 1, ..., trained side by side.

    Each copy's update equals training that copy alone (its own mean BCE, its own SGD step). Per copy
    the module records the first step at which all four predictions are right and the cost is below
    `solved_cost`; `study_stats()` gives the final costs, accuracies and those steps.

    Args:
        hidden_sizes: widths of the hidden layers, as for XORClassifier.
        lr: SGD learning rate, in (0, 100].
        num_copies: how many independent networks.
        first_seed: copy k is seeded with first_seed + k (777 makes copy 0 the notebook's network).
        gradient: "autograd", or the hand-backprop modes "notebook" / "mean".
        solved_cost: cost below which a copy with four right predictions counts as solved.
    """

    single_process_reason = "its solved-step bookkeeping needs the whole batch on one process"

    def __init__(
        self,
        hidden_sizes: Sequence[int] = (2,),
        lr: float = 1.0,
        num_copies: int = 1024,
        first_seed: int = 777,
        gradient: Gradient = "autograd",
        solved_cost: float = 0.05,
    ) -> None:
        super().__init__()
        hidden_sizes, lr = check_hidden_sizes(hidden_sizes), check_lr(lr)
        if isinstance(num_copies, bool) or not isinstance(num_copies, int) or num_copies < 1:
            raise ValueError(f"num_copies must be a positive integer, got {num_copies!r}")
        if gradient not in ("autograd", "notebook", "mean"):
            raise ValueError(f"gradient must be 'autograd', 'notebook' or 'mean', got {gradient!r}")
        if not 0 < solved_cost < math.log(2):
            raise ValueError(f"solved_cost must be in (0, ln 2), got {solved_cost!r}")
        self.save_hyperparameters()
        self.hparams.update(hidden_sizes=hidden_sizes, lr=lr)
        self.automatic_optimization = False
        seeds = range(first_seed, first_seed + num_copies)
        self.register_layer_params(stacked_init(hidden_sizes, seeds, gradient), requires_grad=gradient == "autograd")
        self.register_buffer("solved_step", torch.full((num_copies,), -1, dtype=torch.long))

    def forward(self, x: Tensor) -> Tensor:  # (N, 2) -> (N, S): every copy's hypothesis
        return self.activations(x)[-1].squeeze(1)

    def cost(self, hypothesis: Tensor, Y: Tensor) -> Tensor:  # (N, S), (N, 1) -> (S,) per-copy mean BCE
        if hypothesis.requires_grad:  # nn.BCELoss's kernel: its fused backward is the fastest here
            return F.binary_cross_entropy(hypothesis, Y.expand_as(hypothesis), reduction="none").mean(0)
        # No graph to build: BCE for 0/1 labels is -log of the probability given to the right label,
        # clamped at -100 as nn.BCELoss does; 2.4x faster than the kernel above on (4, 1024).
        return -torch.where(Y.bool(), hypothesis, 1 - hypothesis).log().clamp_min(-100).mean(0)

    def for_every_copy(self, x: Tensor) -> Tensor:
        return x.unsqueeze(-1).expand(-1, -1, self.hparams.num_copies)  # (N, 2) -> (N, 2, S), no copy made

    def activations(self, x: Tensor) -> list[Tensor]:  # each (N, O, S)
        a = self.for_every_copy(x)
        if self.hparams.gradient != "autograd":
            return backprop.forward(a, self.layer_params(), linear=linear)[1:]
        outputs = []
        for w, b in self.layer_params():  # torch.sigmoid: one autograd node, not the notebook's four
            a = torch.sigmoid(linear(a, w, b))
            outputs.append(a)
        return outputs

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        X, Y = batch
        step, params, optimizer = self.global_step, self.layer_params(), self.optimizers()
        if self.hparams.gradient == "autograd":
            optimizer.zero_grad()
            hypothesis = self(X)  # (N, S)
            self.check_finite("hypothesis", hypothesis)
            costs = self.cost(hypothesis, Y)  # (S,)
            self.manual_backward(costs.sum())  # copies share nothing: each gets its own gradient
        else:
            activations = backprop.forward(self.for_every_copy(X), params, linear)
            hypothesis = activations[-1].squeeze(1)
            costs = self.cost(hypothesis, Y)
            self.check_finite("cost", costs)
            Ys = Y.unsqueeze(-1)  # (N, 1, 1): broadcasts over the copies
            grads = backprop.backward(activations, Ys, params, self.hparams.gradient, linear_backward)
            for (w, b), (d_w, d_b) in zip(params, grads, strict=True):
                w.grad, b.grad = d_w, d_b
        optimizer.step()
        self._record_solved(step, hypothesis.detach(), costs.detach(), Y)
        return costs.detach().mean()

    def _record_solved(self, step: int, hypothesis: Tensor, costs: Tensor, Y: Tensor) -> None:
        right = ((hypothesis > 0.5) == Y.bool()).all(0)  # (S,)
        first_time = right & (costs < self.hparams.solved_cost) & (self.solved_step < 0)
        self.solved_step.masked_fill_(first_time, step)

    def study_stats(self) -> dict[str, Tensor]:
        """Per copy, with the current weights: final cost, accuracy, first solved step (-1: never)."""
        X, Y = (t.to(self.device) for t in xor_truth_table())
        with torch.no_grad():
            hypothesis = self(X)
            costs = self.cost(hypothesis, Y)
        accuracy = ((hypothesis > 0.5) == Y.bool()).float().mean(0)
        return {"final_cost": costs.cpu(), "accuracy": accuracy.cpu(), "solved_step": self.solved_step.cpu()}

    def report(self, X: Tensor, Y: Tensor) -> tuple[str, dict[str, float]]:
        stats = self.study_stats()
        solved = (stats["accuracy"] == 1.0).float().mean().item()
        plateau = stuck_on_plateau(stats["final_cost"]).float().mean().item()
        text = (
            f"{self.hparams.num_copies} copies of hidden_sizes {self.hparams.hidden_sizes}: "
            f"solved (accuracy 1.0) for {solved:.1%}, stuck near ln 2 for {plateau:.1%}\nfraction solved: {solved}"
        )
        return text, {"hp/fraction_solved": solved}

    def _evaluate(self, batch: tuple[Tensor, Tensor], stage: str, accuracy: object) -> Tensor:
        X, Y = batch
        hypothesis = self(X)
        self.log(f"{stage}_loss", self.cost(hypothesis, Y).mean())
        self.log(f"{stage}_acc", ((hypothesis > 0.5) == Y.bool()).float().mean())
        return hypothesis
