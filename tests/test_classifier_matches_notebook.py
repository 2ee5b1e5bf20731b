"""XORClassifier under the Lightning Trainer against the notebook's own autograd loop."""

import lightning as L
import pytest
import torch

from tests.oracle import notebook_nn
from xor_lightning import XORClassifier, XORDataModule


def fit(tiny_trainer, hidden_sizes, steps, seed=777):
    L.seed_everything(seed, verbose=False)
    model = XORClassifier(hidden_sizes=hidden_sizes, lr=1.0)
    trainer, recorder = tiny_trainer(steps)
    trainer.fit(model, XORDataModule())
    return model, trainer, recorder


@pytest.mark.parametrize("hidden_sizes", [[2], [10, 10, 10], []], ids=["xor_nn", "wide_deep", "perceptron"])
def test_every_step_cost_and_final_weights_are_bit_identical_to_the_notebook(tiny_trainer, hidden_sizes):
    steps = 300
    model, trainer, recorder = fit(tiny_trainer, hidden_sizes, steps)
    oracle_costs, oracle_model = notebook_nn(hidden_sizes, steps)
    assert trainer.global_step == steps
    # Bit-identical, not merely close: same init order, same ops, same SGD update.
    assert torch.equal(recorder.stacked, oracle_costs)
    ours = [p.detach() for p in model.model.parameters()]
    theirs = [p.detach() for p in oracle_model.parameters()]
    assert len(ours) == len(theirs)
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))


def test_initial_weights_equal_notebook_linear_init():
    L.seed_everything(777, verbose=False)
    model = XORClassifier(hidden_sizes=[10, 10, 10])
    torch.manual_seed(777)
    expected = [torch.nn.Linear(2, 10), torch.nn.Linear(10, 10), torch.nn.Linear(10, 10), torch.nn.Linear(10, 1)]
    for ours, theirs in zip(model.model.layers, expected, strict=True):
        assert torch.equal(ours.weight, theirs.weight) and torch.equal(ours.bias, theirs.bias)


def test_perceptron_cannot_learn_xor(tiny_trainer):
    model, _, recorder = fit(tiny_trainer, [], 2000)
    X, Y = XORDataModule().X, XORDataModule().Y
    with torch.no_grad():
        hypothesis = model(X)
    accuracy = ((hypothesis > 0.5).float() == Y).float().mean().item()
    assert accuracy == 0.5
    # It settles on the symmetric optimum: every output near 1/2, cost near ln 2.
    assert torch.allclose(hypothesis, torch.full_like(hypothesis, 0.5), atol=0.02)
    assert abs(recorder.losses[-1].item() - 0.693147) < 1e-3


def test_hyperparameters_are_plain_python_types():
    model = XORClassifier(hidden_sizes=(4, 3), lr=2)
    assert model.hparams.hidden_sizes == [4, 3] and type(model.hparams.hidden_sizes) is list
    assert model.hparams.lr == 2.0 and type(model.hparams.lr) is float


@pytest.mark.slow
@pytest.mark.parametrize("hidden_sizes", [[2], [10, 10, 10]], ids=["xor_nn", "wide_deep"])
def test_full_10001_step_run_equals_notebook_and_solves_xor(tiny_trainer, hidden_sizes):
    model, _, recorder = fit(tiny_trainer, hidden_sizes, 10001)
    oracle_costs, _ = notebook_nn(hidden_sizes, 10001)
    assert torch.equal(recorder.stacked, oracle_costs)
    X, Y = XORDataModule().X, XORDataModule().Y
    with torch.no_grad():
        assert torch.equal((model(X) > 0.5).float(), Y)
