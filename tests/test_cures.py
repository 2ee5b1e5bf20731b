"""Activations and optimizers: each equals an independent plain-torch run, single and vectorised."""

import itertools

import pytest
import torch
from torch import nn

from tests.oracle import X as XOR
from tests.oracle import Y as TARGETS
from xor_lightning import XORClassifier, XORDataModule, XOREnsemble
from xor_lightning.studies.grid import XORStudyGrid
from xor_lightning.studies.per_copy_optimizers import parse_spec

MODULES = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU, "leaky_relu": nn.LeakyReLU}
OPTIMIZERS = {  # spec -> (torch.optim class, its settings)
    "SGD": (torch.optim.SGD, {}),
    "SGD(momentum=0.9)": (torch.optim.SGD, {"momentum": 0.9}),
    "SGD(momentum=0.5, nesterov=True, weight_decay=0.01)": (
        torch.optim.SGD,
        {"momentum": 0.5, "nesterov": True, "weight_decay": 0.01},
    ),
    "Adam": (torch.optim.Adam, {}),
    "Adam(betas=(0.8, 0.99), eps=1e-6)": (torch.optim.Adam, {"betas": (0.8, 0.99), "eps": 1e-6}),
}


def plain_torch(
    hidden, seed, lr, activation="sigmoid", optimizer=torch.optim.SGD, steps=300, dtype=torch.float32, **settings
):
    """nn.Sequential of the same layers, seeded the same way, trained by a plain loop: (costs, linears)."""
    torch.manual_seed(seed)
    linears = [nn.Linear(i, o) for i, o in itertools.pairwise([2, *hidden, 1])]
    layers = [m for lin in linears[:-1] for m in (lin, MODULES[activation]())] + [linears[-1], nn.Sigmoid()]
    model, criterion = nn.Sequential(*layers).to(dtype), nn.BCELoss()
    X, Y = XOR.to(dtype), TARGETS.to(dtype)
    opt = optimizer(model.parameters(), lr=lr, **settings)
    costs = []
    for _ in range(steps):
        opt.zero_grad()
        cost = criterion(model(X), Y)
        cost.backward()
        opt.step()
        costs.append(cost.detach())
    return torch.stack(costs), linears


@pytest.mark.parametrize("activation", list(MODULES))
def test_each_activation_equals_a_plain_sequential_step_for_step(tiny_trainer, activation):
    trainer, recorder = tiny_trainer(300)
    torch.manual_seed(777)  # as the CLI seeds before building the model
    model = XORClassifier(hidden_sizes=[4, 3], lr=0.5, activation=activation)
    trainer.fit(model, XORDataModule())
    costs, linears = plain_torch([4, 3], 777, 0.5, activation)
    assert torch.equal(recorder.stacked, costs)  # bit for bit: the same ops in the same order
    for ours, theirs in zip(model.model.layers, linears, strict=True):
        assert torch.equal(ours.weight, theirs.weight) and torch.equal(ours.bias, theirs.bias)


def test_the_hidden_activation_is_applied_and_the_output_stays_a_sigmoid():
    torch.manual_seed(0)
    relu = XORClassifier(hidden_sizes=[5], activation="relu")
    hidden, out = relu.activations(torch.randn(64, 2))
    assert hidden.min() == 0 and (hidden == 0).any()  # ReLU clips, a sigmoid never reaches 0
    assert ((out > 0) & (out < 1)).all()
    assert relu.hparams.activation == "relu"


@pytest.mark.parametrize("spec", ["SGD(momentum=0.9)", "Adam"])
def test_each_optimizer_equals_a_plain_torch_loop_with_the_same_class(tiny_trainer, spec):
    cls, settings = OPTIMIZERS[spec]
    torch.manual_seed(777)
    model = XORClassifier(hidden_sizes=[10, 10, 10], lr=0.05)
    model.configure_optimizers = lambda: cls(model.parameters(), lr=0.05, **settings)  # what --optimizer does
    trainer, recorder = tiny_trainer(300)
    trainer.fit(model, XORDataModule())
    costs, linears = plain_torch([10, 10, 10], 777, 0.05, optimizer=cls, **settings)
    assert torch.equal(recorder.stacked, costs)
    assert all(torch.equal(a.weight, b.weight) for a, b in zip(model.model.layers, linears, strict=True))


# (seed, activation, optimizer): copy k of the vectorised study equals the single run, 500 steps, to 1e-6.
# In float32 the broadcast sum of a copy-last layer adds in another order than addmm; momentum and Adam
# (which divides by the gradient's own size) carry such last-bit differences to 1.4e-6 .. 6.4e-6 within
# 500 steps. So the comparison runs where both are exact to far below 1e-6: float32 for plain SGD, float64
# (precision="64-true", the same float32 initial weights widened) for every update.
TRIPLES = [
    ("tanh", "SGD(momentum=0.9)", "64-true"),
    ("relu", "Adam", "64-true"),
    ("leaky_relu", "SGD", "32-true"),
    ("leaky_relu", "SGD", "64-true"),
    ("sigmoid", "SGD(momentum=0.5, nesterov=True, weight_decay=0.01)", "64-true"),
    ("tanh", "Adam(betas=(0.8, 0.99), eps=1e-6)", "64-true"),
]
LRS, SEEDS = [0.01, 0.1], 2
DTYPES = {"32-true": torch.float32, "64-true": torch.float64}


def assert_copy_equals(w, b, k, linear):
    torch.testing.assert_close(w[..., k].detach(), linear.weight.detach().T, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(b[..., k].detach(), linear.bias.detach(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(("activation", "spec", "precision"), TRIPLES)
def test_the_seed_study_copy_k_equals_its_single_run(tiny_trainer, activation, spec, precision):
    model = XOREnsemble(hidden_sizes=[3, 3], lr=LRS, num_copies=SEEDS, activation=activation, optimizer=spec)
    trainer, _ = tiny_trainer(500, precision=precision)
    trainer.fit(model, XORDataModule())
    cls, settings = OPTIMIZERS[spec]
    for k, (lr, seed) in enumerate(itertools.product(LRS, range(777, 777 + SEEDS))):
        _, linears = plain_torch([3, 3], seed, lr, activation, cls, 500, DTYPES[precision], **settings)
        for (w, b), linear in zip(model.layer_params(), linears, strict=True):
            assert_copy_equals(w, b, k, linear)


def test_the_grid_rows_are_architecture_x_activation_x_optimizer_each_equal_to_its_single_run(tiny_trainer):
    grid = XORStudyGrid(
        architectures=[[2], [3, 3]], lr=[0.1], num_copies=1, activations=["relu", "tanh"], optimizers=["SGD", "Adam"]
    )
    names = [f"{a} {act} {opt}" for a in ("2-2-1", "2-3-3-1") for act in ("relu", "tanh") for opt in ("SGD", "Adam")]
    assert grid.row_names() == names
    trainer, _ = tiny_trainer(500, precision="64-true")
    trainer.fit(grid, XORDataModule())
    rows = itertools.product([[2], [3, 3]], ["relu", "tanh"], ["SGD", "Adam"])
    for stack, (hidden, activation, spec) in zip(grid.stacks, rows, strict=True):
        cls, settings = OPTIMIZERS[spec]
        _, linears = plain_torch(hidden, 777, 0.1, activation, cls, 500, torch.float64, **settings)
        for (w, b), linear in zip(stack.layer_params(), linears, strict=True):
            assert_copy_equals(w, b, 0, linear)


def test_the_default_study_still_uses_plain_per_copy_sgd():
    from xor_lightning.studies.per_copy_optimizers import PerCopySGD

    assert type(XOREnsemble(num_copies=2).configure_optimizers()) is PerCopySGD


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("RMSprop", "must be SGD or Adam"),
        ("SGD(lr=0.1)", "the lr is the study's lr argument"),
        ("SGD(momentum=__import__('os'))", "keyword=number"),
        ("Adam(amsgrad=True)", "not ['amsgrad']"),
        ("SGD(nesterov=True)", "nesterov needs a momentum"),
    ],
)
def test_a_bad_optimizer_spec_is_one_sentence(spec, message):
    with pytest.raises(ValueError) as err:
        parse_spec(spec)
    assert message in str(err.value)


def test_hand_backprop_studies_refuse_another_activation():
    with pytest.raises(ValueError, match="needs gradient 'autograd'"):
        XOREnsemble(num_copies=2, gradient="notebook", activation="relu")


def test_the_hparams_row_says_which_activation_and_optimizer_trained_the_run(tiny_trainer):
    model = XORClassifier(hidden_sizes=[2], lr=0.01, activation="tanh")
    model.configure_optimizers = lambda: torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.999))
    trainer, _ = tiny_trainer(3)
    trainer.fit(model, XORDataModule())
    row = model.hparams_for_tensorboard()
    assert (row["activation"], row["optimizer"], row["lr_scheduler"]) == ("tanh", "Adam(betas=[0.8, 0.999])", "none")
    grid = XORStudyGrid(architectures=[[2]], lr=[0.1], num_copies=1, activations=["relu", "tanh"], optimizers=["Adam"])
    row = grid.hparams_for_tensorboard()
    assert (row["activation"], row["optimizer"]) == ("relu, tanh", "Adam")
    assert "activations" not in row and "optimizers" not in row


def test_an_adam_study_resumed_from_its_checkpoint_equals_it_run_straight(tmp_path):
    import lightning as L

    def run(steps, ckpt_path=None):
        model = XOREnsemble(hidden_sizes=[3], lr=[0.01, 0.1], num_copies=2, optimizer="Adam", activation="relu")
        trainer = L.Trainer(
            max_steps=steps,
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            limit_val_batches=0,
            default_root_dir=tmp_path,
            callbacks=[L.pytorch.callbacks.ModelCheckpoint(tmp_path)],
        )
        trainer.fit(model, XORDataModule(), ckpt_path=ckpt_path)
        return model, trainer

    straight, _ = run(200)
    run(100)
    checkpoint = next(tmp_path.glob("*step=100.ckpt"))
    assert (
        torch.load(checkpoint, weights_only=True)["optimizer_class"]
        == "xor_lightning.studies.per_copy_optimizers.PerCopyOptimizer"
    )
    assert XOREnsemble.load_from_checkpoint(checkpoint).hparams.optimizer == "Adam"  # read_checkpoint accepts it
    resumed, _ = run(200, ckpt_path=checkpoint)
    for a, b in zip(straight.layer_params(), resumed.layer_params(), strict=True):
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
