"""The failure diagnosis: its Hessians are exact, and its classes agree with an independent float64
computation (plain torch, `torch.autograd.functional.hessian`, single networks trained one by one)."""

import itertools

import lightning as L
import pytest
import torch
from torch import nn

from tests.conftest import REPO  # noqa: F401  (the package on the path, as every test)
from xor_lightning import XORDataModule, XOREnsemble, diagnosis
from xor_lightning.data import xor_truth_table

X, Y = xor_truth_table()


def single_params(net: nn.Sequential) -> list[torch.Tensor]:
    """w1 (I, O), b1, w2, b2, ... of a plain network, float64, in the diagnosis' parameter order."""
    linears = [m for m in net if isinstance(m, nn.Linear)]
    return [t for lin in linears for t in (lin.weight.detach().T.double(), lin.bias.detach().double())]


def mean_cost(*params: torch.Tensor) -> torch.Tensor:
    a = X.double()
    for k in range(0, len(params), 2):
        a = torch.sigmoid(a @ params[k] + params[k + 1])
    return nn.functional.binary_cross_entropy(a, Y.double())


def oracle_hessian(params: list[torch.Tensor]) -> torch.Tensor:  # (P, P), the flattened order w1, b1, ...
    blocks = torch.autograd.functional.hessian(mean_cost, tuple(params))
    sizes = [p.numel() for p in params]
    return torch.cat(
        [
            torch.cat([blocks[i][j].reshape(sizes[i], sizes[j]) for j in range(len(params))], 1)
            for i in range(len(params))
        ],
        0,
    )


def stacked(params: list[torch.Tensor]) -> diagnosis.Params:  # one network as a stack of one copy
    return [(params[k].unsqueeze(-1), params[k + 1].unsqueeze(-1)) for k in range(0, len(params), 2)]


def test_hessian_of_every_copy_equals_autograd_functional_hessian():
    torch.manual_seed(0)
    nets = [nn.Sequential(nn.Linear(2, 3), nn.Sigmoid(), nn.Linear(3, 1), nn.Sigmoid()) for _ in range(5)]
    singles = [single_params(net) for net in nets]
    copies = [
        (torch.stack([s[k] for s in singles], -1), torch.stack([s[k + 1] for s in singles], -1)) for k in range(0, 4, 2)
    ]
    chunks = list(diagnosis.gradient_and_hessians(copies, X, Y))
    gradient_norm, H = torch.cat([g for g, _ in chunks]), torch.cat([h for _, h in chunks])
    for k, params in enumerate(singles):
        torch.testing.assert_close(H[k], oracle_hessian(params), rtol=1e-10, atol=1e-12)
        grads = torch.autograd.grad(mean_cost(*[p.requires_grad_() for p in params]), params)
        torch.testing.assert_close(gradient_norm[k], torch.sqrt(sum((g**2).sum() for g in grads)))


def test_chunked_hessians_give_the_same_answers_as_one_chunk(monkeypatch):
    torch.manual_seed(1)
    copies = [(torch.randn(2, 4, 6), torch.randn(4, 6)), (torch.randn(4, 1, 6), torch.randn(1, 6))]
    whole = diagnosis.gradient_and_curvature(copies, X, Y)
    monkeypatch.setattr(diagnosis, "HESSIAN_CHUNK_BYTES", 1)  # one copy a chunk
    for a, b in zip(whole, diagnosis.gradient_and_curvature(copies, X, Y), strict=True):
        assert torch.equal(a, b)


def test_two_identical_hidden_units_end_on_a_saddle():
    """Identical hidden units stay identical under gradient descent: the net is a 2-1-1 in disguise,
    and the direction that makes the units differ curves down (one negative eigenvalue)."""
    torch.manual_seed(0)
    w1 = torch.randn(2, 1, dtype=torch.float64).repeat(1, 2).requires_grad_()
    b1 = torch.randn(1, dtype=torch.float64).repeat(2).requires_grad_()
    w2 = torch.full((2, 1), -0.5, dtype=torch.float64, requires_grad=True)
    b2 = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    params, trend, steps = [w1, b1, w2, b2], diagnosis.Trend(), 3000
    for step in range(1, steps + 1):
        grads = torch.autograd.grad(mean_cost(*params), params)
        with torch.no_grad():
            for p, g in zip(params, grads, strict=True):
                p -= g
        trend.observe(step, steps, stacked([p.detach() for p in params]), X, Y)
    assert torch.equal(w1[:, 0], w1[:, 1])  # still identical
    m = diagnosis.measure(stacked([p.detach() for p in params]), X, Y, trend, steps)
    assert diagnosis.CLASSES[m["class"].item()] == "saddle"
    eigenvalues = torch.linalg.eigvalsh(oracle_hessian([p.detach() for p in params]))
    assert eigenvalues[0] < diagnosis.NEGATIVE_EIGENVALUE and (eigenvalues < diagnosis.NEGATIVE_EIGENVALUE).sum() == 1


def train_single(hidden_sizes: list[int], seed: int, lr: float, steps: int):
    """The notebook's nn loop for one network; returns its weight norm at steps // 2 and its last 3 outputs."""
    torch.manual_seed(seed)
    sizes = [2, *hidden_sizes, 1]
    net = nn.Sequential(*[m for i, o in itertools.pairwise(sizes) for m in (nn.Linear(i, o), nn.Sigmoid())])
    optimizer, criterion = torch.optim.SGD(net.parameters(), lr=lr), nn.BCELoss()
    middle, last = None, []
    for step in range(1, steps + 1):
        optimizer.zero_grad()
        criterion(net(X), Y).backward()
        optimizer.step()
        if step == steps // 2:
            middle = torch.sqrt(sum((p.detach().double() ** 2).sum() for p in net.parameters()))
        if step > steps - 3:
            last.append(net(X).detach().double().squeeze(1))
    return net, middle, last


def quiet_fit(model, steps):
    """A plain CPU fit with nothing logged or saved (conftest's tiny_trainer needs a function's tmp_path)."""
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[],
    )
    trainer.fit(model, datamodule=XORDataModule())
    return model


def diagnosed_ensemble(hidden_sizes, lr, copies, steps):
    model = XOREnsemble(hidden_sizes=hidden_sizes, lr=lr, num_copies=copies, first_seed=777)
    return quiet_fit(model, steps).final_stats[0]


@pytest.fixture(scope="module")
def two_two_one():
    return diagnosed_ensemble([2], 1.0, 128, 3001)


def seeds_of(stats, label, n=2):
    code = diagnosis.CLASSES.index(label)
    return [int(s) for s in stats["seed"][stats["class"] == code][:n]]


def test_minima_at_infinity_have_no_negative_curvature_a_vanishing_gradient_and_growing_weights(two_two_one):
    seeds = seeds_of(two_two_one, "minimum at infinity")
    assert seeds, "seeds 777..904 of the 2-2-1 net at 3001 steps include minima at infinity"
    for seed in seeds:
        net, middle, _ = train_single([2], seed, 1.0, 3001)
        params = single_params(net)
        eigenvalues = torch.linalg.eigvalsh(oracle_hessian(params))
        grads = torch.autograd.grad(mean_cost(*[p.requires_grad_() for p in params]), params)
        assert eigenvalues[0] > diagnosis.NEGATIVE_EIGENVALUE
        assert torch.sqrt(sum((g**2).sum() for g in grads)) < diagnosis.SMALL_GRADIENT
        assert torch.sqrt(sum((p**2).sum() for p in params)) > middle * 1.02  # still growing
        h = torch.sigmoid(torch.sigmoid(X.double() @ params[0] + params[1]) @ params[2] + params[3]).squeeze(1)
        assert ((h - 0.5).abs() < 0.02).sum() == 2  # two inputs at 1/2: cost heading for ln(2)/2


def test_saddles_have_a_negative_hessian_eigenvalue_and_solved_nets_are_right(two_two_one):
    saddles, solved = seeds_of(two_two_one, "saddle"), seeds_of(two_two_one, "solved")
    assert saddles and solved
    for seed in saddles:
        params = single_params(train_single([2], seed, 1.0, 3001)[0])
        assert torch.linalg.eigvalsh(oracle_hessian(params))[0] < diagnosis.NEGATIVE_EIGENVALUE
    for seed in solved:
        net = train_single([2], seed, 1.0, 3001)[0]
        assert torch.equal((net(X) > 0.5).float(), Y)


def test_the_wide_deep_net_at_lr_10_oscillates_with_period_two():
    stats = diagnosed_ensemble([10, 10, 10], 10.0, 8, 601)
    seeds = seeds_of(stats, "oscillating", n=3)
    assert seeds
    for seed in seeds:
        _, _, (two_before, before, now) = train_single([10, 10, 10], seed, 10.0, 601)
        swing = (now - before).abs().max()
        assert swing > diagnosis.OSCILLATION_SWING and (now - two_before).abs().max() < swing / 4


def test_lanczos_finds_the_smallest_eigenvalue_of_the_wide_deep_net_on_its_plateau(monkeypatch):
    """Above EXACT_HESSIAN_PARAMETERS the diagnosis uses Lanczos: its smallest Ritz value must be the
    smallest eigenvalue of the full Hessian (the 261-parameter net on the ln 2 plateau, 400 steps in)."""
    stats_model = quiet_fit(XOREnsemble(hidden_sizes=[10, 10, 10], lr=1.0, num_copies=6, first_seed=777), 400)
    params = stats_model.stacks[0].layer_params()
    exact = torch.cat([torch.linalg.eigvalsh(H)[:, 0] for _, H in diagnosis.gradient_and_hessians(params, X, Y)])
    _, smallest, negative = diagnosis.gradient_and_curvature(params, X, Y)
    assert (exact < diagnosis.NEGATIVE_EIGENVALUE).all()  # on the plateau: saddles
    torch.testing.assert_close(smallest, exact, rtol=1e-6, atol=1e-12)
    assert (negative >= 1).all()
    monkeypatch.setattr(diagnosis, "HESSIAN_CHUNK_BYTES", 1)  # one copy a chunk: the same answers
    torch.testing.assert_close(diagnosis.gradient_and_curvature(params, X, Y)[1], smallest, rtol=1e-12, atol=0)
