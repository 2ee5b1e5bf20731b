"""S copies of one MLP side by side, each with its own seed and learning rate (one activation and
optimizer for the whole stack).

Layout: the copy dimension is last. Weights (I, O, S), biases (O, S), activations (N, O, S), and the
per-copy learning rate (S,) broadcasts over every parameter. A layer is one broadcast multiply and a
sum over I, elementwise work that vectorises across the copies. A batched matmul over the copies was
tried for the 10 x 10 layers and gained nothing (bench/RESULTS.md): with the parameters stored
copy-last, the transposing copies in and out of bmm (and in its backward) cost what the matmul saves.
The hand-backprop path reuses every formula of `xor_lightning.backprop`; only `linear` and
`linear_backward` know the layout.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xor_lightning import backprop
from xor_lightning.network import ACTIVATIONS
from xor_lightning.pictures import PLATEAU_TOLERANCE
from xor_lightning.studies import autograd_twin

Gradient = Literal["autograd", "notebook", "mean"]


def linear(a: Tensor, w: Tensor, b: Tensor) -> Tensor:
    return (a.unsqueeze(2) * w).sum(1) + b  # (N, I, 1, S) * (I, O, S) -> sum over I -> (N, O, S)


def linear_backward(a: Tensor, w: Tensor, d_l: Tensor, need_d_a: bool = True) -> tuple[Tensor, Tensor]:
    d_w = (a.unsqueeze(2) * d_l.unsqueeze(1)).sum(0)  # (N, I, 1, S) * (N, 1, O, S) -> (I, O, S)
    d_a = (d_l.unsqueeze(1) * w).sum(2) if need_d_a else d_l  # (N, 1, O, S) * (I, O, S) -> (N, I, S)
    return d_w, d_a


def linear_init(fan_in: int, fan_out: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """`nn.Linear(fan_in, fan_out)`'s initial (weight.T, bias), drawn from `generator` in the order
    `reset_parameters` draws them, so the bits equal constructing the layer after a global seed."""
    weight = torch.empty(fan_out, fan_in)
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
    return weight.T, torch.empty(fan_out).uniform_(-bound, bound, generator=generator)


def stacked_init(hidden_sizes: list[int], seeds: Sequence[int], gradient: Gradient) -> backprop.Params:
    """Copy k holds exactly the weights a single network seeded with seeds[k] starts from:
    `nn.Linear` init for the autograd path, `torch.randn` w1, b1, ... for the hand path.

    Each copy draws from its own CPU generator seeded with its seed: the same numbers as
    `torch.manual_seed(seed)` then building the network, without reseeding every device's generator
    (which `torch.manual_seed` does, lazily, once per call) and without touching the global state."""
    sizes = list(itertools.pairwise([2, *hidden_sizes, 1]))
    copies = []
    for seed in seeds:
        g = torch.Generator().manual_seed(seed)
        if gradient == "autograd":
            copies.append([linear_init(i, o, g) for i, o in sizes])
        else:  # backprop.init_params' draws: w then b, layer by layer
            copies.append([(torch.randn(i, o, generator=g), torch.randn(o, generator=g)) for i, o in sizes])
    return [
        (torch.stack([c[k][0] for c in copies], dim=-1), torch.stack([c[k][1] for c in copies], dim=-1))
        for k in range(len(sizes))
    ]


class CopyStack(nn.Module):
    """`len(lrs) * num_seeds` copies of one architecture: copy k has lr lrs[k // num_seeds] and seed
    first_seed + k % num_seeds. Parameters w1, b1, ... as the notebook names them, copy dimension last."""

    def __init__(
        self,
        hidden_sizes: list[int],
        lrs: list[float],
        num_seeds: int,
        first_seed: int,
        gradient: Gradient,
        activation: str = "sigmoid",
        optimizer: str = "SGD",
    ) -> None:
        super().__init__()
        self.hidden_sizes, self.gradient = hidden_sizes, gradient
        # The hidden layers' nonlinearity (the output's is a sigmoid) and the per-copy update's spec.
        self.activation, self.optimizer = activation, optimizer
        self.first_copy = 0  # global index of this process's first copy (sharding moves it)
        # gradient "autograd": train with autograd_twin (autograd's formulas without its graph, the same
        # bits, tested); False runs autograd itself, through costs_and_gradients' readable branch.
        self.twin = True
        params = stacked_init(hidden_sizes, range(first_seed, first_seed + num_seeds), gradient)
        for k, (w, b) in enumerate(params, start=1):  # the same seeds again for every lr
            self.register_parameter(f"w{k}", nn.Parameter(w.repeat(1, 1, len(lrs)), gradient == "autograd"))
            self.register_parameter(f"b{k}", nn.Parameter(b.repeat(1, len(lrs)), gradient == "autograd"))
        self.register_buffer("copy_lr", torch.tensor(lrs).repeat_interleave(num_seeds), persistent=False)
        self.register_buffer("solved_step", torch.full((len(lrs) * num_seeds,), -1, dtype=torch.long))

    def layer_params(self) -> list[tuple[Tensor, Tensor]]:
        n = len(self.hidden_sizes) + 1
        return [(getattr(self, f"w{k}"), getattr(self, f"b{k}")) for k in range(1, n + 1)]

    def activations(self, x: Tensor) -> list[Tensor]:  # each (N, O, S)
        a = x.unsqueeze(-1).expand(-1, -1, self.copy_lr.shape[0])  # (N, 2) -> (N, 2, S), no copy made
        if self.gradient != "autograd":
            return backprop.forward(a, self.layer_params(), linear=linear)[1:]
        outputs, params = [], self.layer_params()
        hidden = ACTIVATIONS[self.activation]
        for k, (w, b) in enumerate(params, start=1):  # torch.sigmoid: one autograd node, not the notebook's four
            a = (torch.sigmoid if k == len(params) else hidden)(linear(a, w, b))
            outputs.append(a)
        return outputs

    def forward(self, x: Tensor) -> Tensor:  # (N, 2) -> (N, S): every copy's hypothesis
        return self.activations(x)[-1].squeeze(1)

    @staticmethod
    def cost(hypothesis: Tensor, Y: Tensor) -> Tensor:  # (N, S), (N, 1) -> (S,) per-copy mean BCE
        if hypothesis.requires_grad:  # nn.BCELoss's kernel: its fused backward is the fastest here
            return F.binary_cross_entropy(hypothesis, Y.expand_as(hypothesis), reduction="none").mean(0)
        # No graph to build: BCE for 0/1 labels is -log of the probability given to the right label,
        # clamped at -100 as nn.BCELoss does; faster than the kernel above (bench/RESULTS.md).
        return -torch.where(Y.bool(), hypothesis, 1 - hypothesis).log().clamp_min(-100).mean(0)

    def costs_and_gradients(self, X: Tensor, Y: Tensor) -> tuple[Tensor, Tensor]:
        """(hypothesis (N, S), costs (S,)); the hand modes also fill every `.grad` (autograd: the caller
        runs backward on the sum of all costs, which gives each copy its own gradient; the twin fills them)."""
        if self.gradient == "autograd" and self.twin:  # the fast twin: the same bits as the branch below
            return autograd_twin.costs_and_gradients(self.layer_params(), X, Y, self.activation)
        if self.gradient == "autograd":
            hypothesis = self(X)
            return hypothesis, self.cost(hypothesis, Y)
        params = self.layer_params()
        activations = backprop.forward(X.unsqueeze(-1).expand(-1, -1, self.copy_lr.shape[0]), params, linear)
        hypothesis = activations[-1].squeeze(1)
        grads = backprop.backward(activations, Y.unsqueeze(-1), params, self.gradient, linear_backward)
        for (w, b), (d_w, d_b) in zip(params, grads, strict=True):
            w.grad, b.grad = d_w, d_b
        return hypothesis, self.cost(hypothesis, Y)

    def record_solved(self, step: int, hypothesis: Tensor, costs: Tensor, Y: Tensor, solved_cost: float) -> None:
        right = ((hypothesis > 0.5) == Y.bool()).all(0)  # (S,)
        first_time = right & (costs < solved_cost) & (self.solved_step < 0)
        self.solved_step.masked_fill_(first_time, step)

    def shard(self, start: int, stop: int) -> None:
        """Keep only copies start..stop-1 (this process's share under CopyShardedStrategy)."""
        for name, p in list(self.named_parameters(recurse=False)):
            setattr(self, name, nn.Parameter(p.detach()[..., start:stop].clone(), p.requires_grad))
        for name, t in list(self.named_buffers(recurse=False)):
            setattr(self, name, t[..., start:stop].clone())
        self.first_copy += start


def stuck_on_plateau(final_cost: Tensor, tolerance: float = PLATEAU_TOLERANCE) -> Tensor:
    """Per copy: did training end at the symmetric point, cost ln 2 = 0.6931?"""
    return (final_cost - math.log(2)).abs() < tolerance
