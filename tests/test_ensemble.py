"""The seed ensemble: each copy trains exactly like a network of its own; the study's outputs."""

import csv

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import REPO, run_cli
from tests.oracle import notebook_backprop, notebook_nn
from xor_lightning import SigmoidMLP, XORDataModule, XOREnsemble
from xor_lightning.studies.copies import CopyStack
from xor_lightning.studies.ensemble import stacked_init
from xor_lightning.studies.per_copy_optimizers import PerCopySGD

STEPS, SEEDS = 500, 3
# Copy k: lr LRS[k // SEEDS], seed 777 + k % SEEDS. At lr 3 and 10 a difference in the last bit (from
# the order of a sum) grows chaotically, past 1e-6 within a few hundred steps; the update itself is
# bit-identical at every lr (test_per_copy_sgd_is_bit_identical_to_sgd).
LRS = [0.1, 0.3, 1.0]


def train(tiny_trainer, lr=LRS, **kwargs) -> XOREnsemble:
    model = XOREnsemble(num_copies=SEEDS, first_seed=777, lr=lr, **kwargs)
    trainer, _ = tiny_trainer(STEPS)
    trainer.fit(model, XORDataModule())
    assert trainer.global_step == STEPS
    return model


def copies():
    return [(k, 777 + k % SEEDS, LRS[k // SEEDS]) for k in range(SEEDS * len(LRS))]


# [10, 10, 10] takes the batched-matmul path for its 10 x 10 layers.
@pytest.mark.parametrize("hidden_sizes", [[2], [3, 3], [10, 10, 10]], ids=str)
def test_autograd_copy_k_equals_its_own_single_network_run_at_its_own_lr(tiny_trainer, hidden_sizes):
    model = train(tiny_trainer, hidden_sizes=hidden_sizes, gradient="autograd")
    for k, seed, lr in copies():
        _, single = notebook_nn(hidden_sizes, STEPS, seed=seed, lr=lr)
        linears = [m for m in single if isinstance(m, torch.nn.Linear)]
        for (w, b), lin in zip(model.layer_params(), linears, strict=True):
            # Within 1e-6 (abs + rel), not bit-identical: a broadcast sum adds in another order than addmm;
            # after 500 steps weights of size ~3 differ by up to ~2e-6 absolute, 7e-7 relative.
            torch.testing.assert_close(w[..., k], lin.weight.detach().T, rtol=1e-6, atol=1e-6)
            torch.testing.assert_close(b[..., k], lin.bias.detach(), rtol=1e-6, atol=1e-6)


def test_hand_backprop_copy_k_equals_the_notebook_cell_with_its_seed_and_lr(tiny_trainer):
    model = train(tiny_trainer, hidden_sizes=[2], gradient="notebook")
    names = ["w1", "b1", "w2", "b2"]
    ours = dict(zip(names, (t for pair in model.layer_params() for t in pair), strict=True))
    for k, seed, lr in copies():
        _, single = notebook_backprop(STEPS, seed=seed, learning_rate=lr)
        for name, value in single.items():
            torch.testing.assert_close(ours[name].detach()[..., k], value, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("lr", [0.1, 0.3, 0.7, 3.0, 10.0])
def test_per_copy_sgd_is_bit_identical_to_sgd(lr):
    stack = CopyStack([3], [1.0, lr], num_seeds=2, first_seed=5, gradient="autograd")
    ours = PerCopySGD([stack])
    singles = [p.detach()[..., 2:].clone().requires_grad_() for p in stack.parameters()]  # the lr copies
    for p, single in zip(stack.parameters(), singles, strict=True):
        p.grad = torch.randn_like(p)
        single.grad = p.grad[..., 2:].clone()
    ours.step()
    torch.optim.SGD(singles, lr=lr).step()
    for p, single in zip(stack.parameters(), singles, strict=True):
        assert torch.equal(p.detach()[..., 2:], single.detach())


@pytest.mark.parametrize("hidden_sizes", [[], [1], [3], [10, 10, 10]])
def test_copies_start_from_their_seeds_and_leave_the_random_state_alone(hidden_sizes):
    """Each copy's own generator draws what torch.manual_seed(seed) + building the network draws."""
    seeds = [5, 9, 777]
    torch.manual_seed(0)
    state = torch.get_rng_state()
    params = stacked_init(hidden_sizes, seeds=seeds, gradient="autograd")
    hand = stacked_init(hidden_sizes, seeds=seeds, gradient="notebook")
    assert torch.equal(torch.get_rng_state(), state)
    for k, seed in enumerate(seeds):
        torch.manual_seed(seed)
        single = SigmoidMLP(hidden_sizes)
        for (w, b), lin in zip(params, single.layers, strict=True):
            assert torch.equal(w[..., k], lin.weight.detach().T) and torch.equal(b[..., k], lin.bias.detach())
        torch.manual_seed(seed)
        sizes = [2, *hidden_sizes, 1]
        for (w, b), i, o in zip(hand, sizes[:-1], sizes[1:], strict=True):  # the notebook's torch.randn draws
            assert torch.equal(w[..., k], torch.randn(i, o)) and torch.equal(b[..., k], torch.randn(o))


def test_solved_step_is_the_first_step_with_four_right_and_low_cost():
    model = XOREnsemble(num_copies=3)
    Y = torch.tensor([[0.0], [1.0], [1.0], [0.0]])
    right = torch.tensor([[0.1, 0.1, 0.9], [0.9, 0.9, 0.9], [0.9, 0.9, 0.9], [0.1, 0.1, 0.1]])  # (N, S)
    stack, solved_cost = model.stacks[0], model.hparams.solved_cost
    stack.record_solved(7, right, torch.tensor([0.01, 0.2, 0.01]), Y, solved_cost)
    stack.record_solved(8, right, torch.tensor([0.01, 0.01, 0.01]), Y, solved_cost)
    # copy 0 solved at 7 and keeps it; copy 1 only when its cost fell below 0.05; copy 2 has one wrong.
    assert stack.solved_step.tolist() == [7, 8, -1]


def test_study_run_writes_table_csv_png_tensorboard_and_combines(tmp_path):
    for config, steps in (("study_xor_nn", 1500), ("study_perceptron", 200)):
        result = run_cli(
            "fit", "-c", str(REPO / f"configs/{config}.yaml"), f"--trainer.max_steps={steps}",
            "--model.init_args.num_copies=32", cwd=tmp_path,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "| architecture | copies | solved (acc 1.0) |" in result.stdout
    run = tmp_path / "logs/study_xor_nn/version_0"
    with open(run / "study.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 32 and rows[0]["seed"] == "777"
    solved = [int(r["solved_step"]) for r in rows if int(r["solved_step"]) >= 0]
    assert solved and all(0 < s < 1500 for s in solved)
    assert (run / "fraction_solved.png").stat().st_size > 1000
    acc = EventAccumulator(str(run), size_guidance={"histograms": 0})
    acc.Reload()
    assert {"study/final_cost", "study/steps_to_solve"} <= set(acc.Tags()["histograms"])

    result = run_cli_module("xor_lightning.studies.ensemble_report", "logs", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    table = (tmp_path / "logs/study.md").read_text()
    assert "| 2-1 | 32 | 0.0% |" in table and "| 2-2-1 | 32 |" in table
    assert (tmp_path / "logs/study.png").stat().st_size > 1000


def run_cli_module(module, *args, cwd):
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_ensemble_refuses_bad_sizes():
    with pytest.raises(ValueError, match="num_copies"):
        XOREnsemble(num_copies=0)
    with pytest.raises(ValueError, match="gradient"):
        XOREnsemble(gradient="magic")
