"""The studies' fast twin (studies/autograd_twin.py) gives autograd's gradients, costs and weights bit for bit."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from xor_lightning import XORDataModule, XOREnsemble
from xor_lightning.data import xor_truth_table
from xor_lightning.studies.copies import CopyStack
from xor_lightning.studies.per_copy_optimizers import PerCopyOptimizer

ARCHITECTURES = [[], [2], [3, 3], [10, 10, 10]]
LRS = [0.1, 1.0, 10.0]  # 10: copies that saturate, where BCE's clamps and epsilon act


def train(stack: CopyStack, steps: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Every step's (hypothesis, costs) and the gradients of the last, as the studies' training_step makes them."""
    X, Y = xor_truth_table()
    optimizer, seen = PerCopyOptimizer([stack]), []
    for _ in range(steps):
        optimizer.zero_grad()
        hypothesis, costs = stack.costs_and_gradients(X, Y)
        if costs.requires_grad:
            costs.sum().backward()
        seen.append((hypothesis.detach().clone(), costs.detach().clone()))
        optimizer.step()
    return seen


def pair(hidden, activation="sigmoid", optimizer="SGD", seeds=64):  # 192 copies: a multiple of 32
    stacks = [CopyStack(hidden, LRS, seeds, 777, "autograd", activation, optimizer) for _ in range(2)]
    stacks[1].twin = False  # autograd itself
    return stacks


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "leaky_relu"])
@pytest.mark.parametrize("hidden", ARCHITECTURES, ids=str)
def test_the_twin_is_autograd_bit_for_bit_at_every_step(hidden, activation):
    twin, autograd = pair(hidden, activation)
    assert twin.twin and not autograd.twin
    steps = 60
    for (h1, c1), (h2, c2) in zip(train(twin, steps), train(autograd, steps), strict=True):
        assert torch.equal(h1, h2) and torch.equal(c1, c2)
    for (name, p), q in zip(twin.named_parameters(), autograd.parameters(), strict=True):
        assert torch.equal(p, q), name
        assert torch.equal(p.grad, q.grad), name


@pytest.mark.parametrize("optimizer", ["SGD(momentum=0.9)", "Adam"])
def test_the_twin_feeds_every_per_copy_optimizer_autograd_s_gradients(optimizer):
    twin, autograd = pair([3], optimizer=optimizer)
    train(twin, 80), train(autograd, 80)
    assert all(torch.equal(p, q) for p, q in zip(twin.parameters(), autograd.parameters(), strict=True))


def test_a_study_trained_with_the_twin_equals_one_trained_by_autograd(tiny_trainer, monkeypatch):
    results = []
    for twin in (True, False):
        L.seed_everything(777, verbose=False)
        model = XOREnsemble(hidden_sizes=[2], num_copies=16, lr=[1.0, 10.0])
        for stack in model.stacks:
            stack.twin = twin
        trainer, _ = tiny_trainer(300)
        trainer.fit(model, XORDataModule())
        results.append(model)
    twin, autograd = results
    assert torch.equal(twin.stacks[0].solved_step, autograd.stacks[0].solved_step)
    assert (twin.stacks[0].solved_step >= 0).any()  # some copies solved: the counts compare something
    assert all(torch.equal(p, q) for p, q in zip(twin.parameters(), autograd.parameters(), strict=True))
