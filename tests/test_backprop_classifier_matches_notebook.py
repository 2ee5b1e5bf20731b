"""XORBackpropClassifier (manual optimization) against the notebook's first cell."""

import lightning as L
import pytest
import torch

from tests.oracle import notebook_backprop
from xor_lightning import XORBackpropClassifier, XORDataModule


def fit(tiny_trainer, steps, **kwargs):
    L.seed_everything(777, verbose=False)
    model = XORBackpropClassifier(**kwargs)
    trainer, recorder = tiny_trainer(steps)
    trainer.fit(model, XORDataModule())
    return model, trainer, recorder


def test_trajectory_is_bit_identical_to_the_notebook_cell_for_500_steps(tiny_trainer):
    model, trainer, recorder = fit(tiny_trainer, 500)
    oracle_costs, oracle_params = notebook_backprop(500)
    assert trainer.global_step == 500  # every hand update counted: max_steps stops the run
    assert torch.equal(recorder.stacked, oracle_costs)
    for name, value in oracle_params.items():
        assert torch.equal(getattr(model, name).detach(), value), name


def test_parameters_carry_the_notebook_names_and_layout():
    model = XORBackpropClassifier(hidden_sizes=[3, 5])
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    assert shapes == {"w1": (2, 3), "b1": (3,), "w2": (3, 5), "b2": (5,), "w3": (5, 1), "b3": (1,)}


def test_mean_mode_trains_like_autograd_within_float32_rounding(tiny_trainer):
    from tests.oracle import X, Y

    _model, _, recorder = fit(tiny_trainer, 200, gradient_mode="mean")
    # Replay with autograd from the same initial weights: same costs up to float32 rounding.
    torch.manual_seed(777)
    params = [torch.randn(2, 2), torch.randn(2), torch.randn(2, 1), torch.randn(1)]
    params = [p.requires_grad_() for p in params]
    opt = torch.optim.SGD(params, lr=1.0)
    costs = []
    for _ in range(200):
        opt.zero_grad()
        w1, b1, w2, b2 = params
        out = torch.sigmoid(torch.sigmoid(X @ w1 + b1) @ w2 + b2)
        cost = torch.nn.functional.binary_cross_entropy(out, Y)
        cost.backward()
        opt.step()
        costs.append(cost.detach())
    torch.testing.assert_close(recorder.stacked, torch.stack(costs), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_full_run_at_seed_777_solves_xor(tiny_trainer):
    model, _, recorder = fit(tiny_trainer, 10001)
    oracle_costs, _ = notebook_backprop(10001)
    assert torch.equal(recorder.stacked, oracle_costs)
    X, Y = XORDataModule().X, XORDataModule().Y
    with torch.no_grad():
        assert torch.equal((model(X) > 0.5).float(), Y)
