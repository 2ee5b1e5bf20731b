"""NotebookStep (fast in-place hand math) and NotebookSGD against the readable formulas and the notebook, bitwise."""

import pytest
import torch

from tests.oracle import X, Y, notebook_backprop
from xor_lightning import backprop
from xor_lightning.backprop_fast import NotebookStep
from xor_lightning.backprop_module import FastNotebookSGD, NotebookSGD


@pytest.mark.parametrize("hidden_sizes", [[2], [3, 3], [10, 10, 10], []], ids=str)
@pytest.mark.parametrize("mode", ["notebook", "mean"])
def test_fast_step_equals_the_readable_formulas_bit_for_bit(hidden_sizes, mode):
    torch.manual_seed(1)
    params = backprop.init_params(hidden_sizes)
    step = NotebookStep(params, Y, mode)
    for _ in range(200):  # weights move, so the comparison covers many different values
        activations = backprop.forward(X, params)
        expected_cost = backprop.bce(activations[-1], Y)
        expected = backprop.backward(activations, Y, params, mode)
        cost = step.cost_and_grads(X, Y)
        assert torch.equal(cost, expected_cost)
        for (d_w, d_b), (e_w, e_b) in zip(step.grads, expected, strict=True):
            assert torch.equal(d_w, e_w) and torch.equal(d_b, e_b)
        for (w, b), (d_w, d_b) in zip(params, expected, strict=True):
            w.sub_(0.5 * d_w)
            b.sub_(0.5 * d_b)


@pytest.mark.parametrize("sgd", [NotebookSGD, FastNotebookSGD])
@pytest.mark.parametrize("lr", [1.0, 0.1, 0.7])
def test_fast_step_with_notebook_sgd_is_the_notebook_cell(lr, sgd):
    steps = 300
    torch.manual_seed(777)
    pairs = backprop.init_params([2])
    step = NotebookStep(pairs, Y, "notebook")
    for (w, b), (d_w, d_b) in zip(pairs, step.grads, strict=True):
        w.grad, b.grad = d_w, d_b
    optimizer = sgd([t for pair in pairs for t in pair], lr=lr)
    costs = []
    for _ in range(steps):
        costs.append(step.cost_and_grads(X, Y).clone())
        optimizer.step()
    oracle_costs, oracle_params = notebook_backprop(steps, learning_rate=lr)
    assert torch.equal(torch.stack(costs), oracle_costs)
    for ours, theirs in zip([t for pair in pairs for t in pair], oracle_params.values(), strict=True):
        assert torch.equal(ours, theirs)


@pytest.mark.parametrize("sgd", [NotebookSGD, FastNotebookSGD])
def test_notebook_sgd_follows_an_lr_change(sgd):
    p = torch.ones(3)
    p.grad = torch.full((3,), 0.3)
    optimizer = sgd([p], lr=0.1)
    optimizer.step()
    optimizer.param_groups[0]["lr"] = 0.7
    optimizer.step()
    expected = torch.ones(3) - 0.1 * torch.full((3,), 0.3)
    assert torch.equal(p, expected - 0.7 * torch.full((3,), 0.3))
