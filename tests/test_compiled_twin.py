"""The studies' compiled twin (studies/compiled_twin.py, copies_kernel.c) computes the readable step's bits."""

from __future__ import annotations

import tempfile

import pytest
import torch

from xor_lightning import XORDataModule, XOREnsemble
from xor_lightning.data import xor_truth_table
from xor_lightning.guards import NonFiniteError
from xor_lightning.report import NotebookReport
from xor_lightning.studies import compiled_twin
from xor_lightning.studies.copies import CopyStack
from xor_lightning.studies.grid import XORStudyGrid
from xor_lightning.studies.per_copy_optimizers import PerCopySGD

pytestmark = pytest.mark.skipif(compiled_twin.kernel() is None, reason=f"no kernel: {compiled_twin.why_not()}")

LRS = [0.1, 1.0, 10.0]  # 10: copies that saturate, where BCE's clamps and epsilon act
SOLVED = 0.05


def readable(stack: CopyStack, steps: int) -> list[torch.Tensor]:
    """The readable step of CopiesModule.training_step on one stack: each step's costs."""
    X, Y = xor_truth_table()
    optimizer, costs = PerCopySGD([stack]), []
    for step in range(steps):
        optimizer.zero_grad()
        hypothesis, cost = stack.costs_and_gradients(X, Y)
        optimizer.step()
        stack.record_solved(step, hypothesis, cost, Y, SOLVED)
        costs.append(cost.detach().clone())
    return costs


def compiled(stack: CopyStack, steps: int) -> list[torch.Tensor]:
    X, Y = xor_truth_table()
    costs = []
    for step in range(steps):
        cost, stopped = compiled_twin.train(stack, X, Y, step, 1, SOLVED)
        assert stopped is None
        costs.append(cost)
    return costs


def test_the_kernel_s_sigmoid_is_torch_s_bit_for_bit():
    extremes = torch.tensor([0.0, -0.0, 1e30, -1e30, float("inf"), -float("inf"), float("nan")])
    x = torch.cat([torch.linspace(-1000, 1000, 2_000_001), torch.randn(1_000_000) * 6, extremes])
    ours, theirs = compiled_twin.sigmoid(x), torch.sigmoid(x)
    assert torch.equal(ours[:-1], theirs[:-1]) and ours[-1].isnan() and theirs[-1].isnan()


@pytest.mark.parametrize("activation", ["sigmoid", "relu", "leaky_relu"])
@pytest.mark.parametrize("hidden", [[], [2], [3, 3], [10, 10, 10]], ids=str)
def test_the_compiled_step_is_the_readable_step_bit_for_bit(hidden, activation):
    # 64 seeds x 3 lrs = 192 copies: a multiple of 32, where the readable step is autograd's bit for bit.
    ours, theirs = (CopyStack(hidden, LRS, 64, 777, "autograd", activation) for _ in range(2))
    assert compiled_twin.fits(ours, xor_truth_table()[0])
    for a, b in zip(compiled(ours, 150), readable(theirs, 150), strict=True):
        assert torch.equal(a, b)
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters(), strict=True):
        assert torch.equal(p, q), name
    assert torch.equal(ours.solved_step, theirs.solved_step)


def test_solved_steps_equal_the_readable_step_s_where_copies_solve():
    ours, theirs = (CopyStack([2], [1.0, 10.0], 64, 777, "autograd") for _ in range(2))
    compiled(ours, 400), readable(theirs, 400)
    assert (theirs.solved_step >= 0).sum() > 20  # copies solved: the comparison compares something
    assert torch.equal(ours.solved_step, theirs.solved_step)


def test_a_copy_s_bits_do_not_depend_on_how_many_copies_train_beside_it():
    # 3 seeds x 3 lrs = 9 copies, fewer than one 32-copy block: the tail block pads and copies back.
    small, large = CopyStack([3], LRS, 3, 777, "autograd"), CopyStack([3], LRS, 45, 777, "autograd")
    compiled(small, 100), compiled(large, 100)
    keep = torch.tensor([r * 45 + s for r in range(3) for s in range(3)])  # the same (lr, seed) in the large
    for p, q in zip(small.parameters(), large.parameters(), strict=True):
        assert torch.equal(p, q[..., keep])
    assert torch.equal(small.solved_step, large.solved_step[keep])


def test_what_the_kernel_cannot_compute_takes_the_readable_step():
    X = xor_truth_table()[0]
    assert not compiled_twin.fits(CopyStack([2], LRS, 4, 777, "autograd", "tanh"), X)  # tanh: not torch's bits
    assert not compiled_twin.fits(CopyStack([2], LRS, 4, 777, "autograd", optimizer="Adam"), X)
    assert not compiled_twin.fits(CopyStack([2], LRS, 4, 777, "notebook"), X)  # the hand-backprop formulas
    assert not compiled_twin.fits(CopyStack([2], LRS, 4, 777, "autograd").double(), X)
    autograd = CopyStack([2], LRS, 4, 777, "autograd")
    autograd.twin = False  # autograd itself, as tests/test_studies_twin.py compares
    assert not compiled_twin.fits(autograd, X)


def fit(tiny_trainer, monkeypatch, compiled_on: bool, steps: int = 300, chunk: int = 1, model=None):
    monkeypatch.setenv("XOR_LIGHTNING_COMPILED", "1" if compiled_on else "0")
    model = model or XOREnsemble(hidden_sizes=[2], num_copies=40, lr=[1.0, 10.0])
    report = NotebookReport(every_n_steps=100)
    trainer, recorder = tiny_trainer(steps, callbacks=[report])
    trainer.fit(model, XORDataModule(steps_per_epoch=200, updates_per_batch=chunk))
    assert model.compiled == compiled_on and trainer.global_step == steps
    return model, recorder.losses


def same_study(fast, slow) -> None:
    assert all(torch.equal(p, q) for p, q in zip(fast.parameters(), slow.parameters(), strict=True))
    assert all(torch.equal(a.solved_step, b.solved_step) for a, b in zip(fast.stacks, slow.stacks, strict=True))
    for a, b in zip(fast.final_stats, slow.final_stats, strict=True):  # the failure diagnosis too
        assert a.keys() == b.keys()
        for k in a:  # bit for bit, NaN where both have NaN (no trend measured)
            torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, equal_nan=True, msg=k)


def test_a_study_fit_with_the_compiled_step_equals_the_readable_fit(tiny_trainer, monkeypatch):
    fast, fast_costs = fit(tiny_trainer, monkeypatch, True)
    slow, slow_costs = fit(tiny_trainer, monkeypatch, False)
    same_study(fast, slow)
    assert (slow.stacks[0].solved_step >= 0).any()
    # The compiled step returns the cost on the steps the report prints (0, 100, 200), the same value.
    assert len(fast_costs) == 3 and len(slow_costs) == 300
    assert all(torch.equal(c, slow_costs[s]) for c, s in zip(fast_costs, (0, 100, 200), strict=True))


@pytest.mark.parametrize("compiled_on", [True, False], ids=["compiled", "readable"])
def test_chunks_of_updates_train_as_one_update_a_batch(tiny_trainer, monkeypatch, compiled_on):
    # 301 steps in chunks of up to 100, cut at the report's steps and the diagnosis' trend steps.
    chunked, chunk_costs = fit(tiny_trainer, monkeypatch, compiled_on, 301, chunk=100)
    single, single_costs = fit(tiny_trainer, monkeypatch, False, 301)
    same_study(chunked, single)
    printed = [c["loss"] if isinstance(c, dict) else c for c in chunk_costs]
    assert torch.equal(torch.stack(printed)[:3], torch.stack([single_costs[s] for s in (0, 100, 200)]))


def test_a_grid_of_several_stacks_fits_compiled_as_it_fits_readable(tiny_trainer, monkeypatch):
    def grid():
        return XORStudyGrid(architectures=[[1], [2], [3, 3]], lr=[0.3, 3.0], num_copies=16)

    fast, _ = fit(tiny_trainer, monkeypatch, True, 200, chunk=100, model=grid())
    slow, _ = fit(tiny_trainer, monkeypatch, False, 200, model=grid())
    same_study(fast, slow)


def test_a_non_finite_output_stops_the_compiled_fit_at_its_step(tiny_trainer, monkeypatch):
    model = XOREnsemble(hidden_sizes=[2], num_copies=40, lr=1.0)
    with torch.no_grad():
        model.stacks[0].w2[0, 0, 5] = float("nan")
    before = model.stacks[0].w1.detach().clone()
    with pytest.raises(NonFiniteError, match="step 0"):
        fit(tiny_trainer, monkeypatch, True, chunk=100, model=model)
    assert model.compiled
    assert torch.equal(model.stacks[0].w1[..., :32], before[..., :32])  # its block made no update


def test_without_a_compiler_the_studies_take_the_readable_step(monkeypatch, tmp_path):
    monkeypatch.setattr(compiled_twin, "_state", {})
    monkeypatch.setenv("XOR_LIGHTNING_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    assert compiled_twin.kernel() is None
    assert "did not build" in compiled_twin.why_not()
    assert not compiled_twin.usable([CopyStack([2], LRS, 4, 777, "autograd")], xor_truth_table()[0])


def test_the_kernel_builds_once_into_its_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(compiled_twin, "_state", {})
    monkeypatch.setenv("XOR_LIGHTNING_CACHE", str(tmp_path))
    assert compiled_twin.kernel() is not None
    built = list(tmp_path.glob("copies_kernel-*.so"))
    assert len(built) == 1 and not list(tmp_path.glob("*.so.*")) and not list(tmp_path.glob("tmp*"))
    monkeypatch.setattr(compiled_twin, "_state", {})
    stamp = built[0].stat().st_mtime_ns
    assert compiled_twin.kernel() is not None and built[0].stat().st_mtime_ns == stamp  # reused, not rebuilt


def test_a_study_says_when_it_cannot_take_the_compiled_step(tiny_trainer, monkeypatch, capsys):
    monkeypatch.setattr(compiled_twin, "_state", {"why_not": "no C compiler (cc) found"})
    fit(tiny_trainer, monkeypatch, False, 100)  # XOR_LIGHTNING_COMPILED=0: silent, as asked
    assert "readable step" not in capsys.readouterr().err
    monkeypatch.setenv("XOR_LIGHTNING_COMPILED", "1")
    trainer, _ = tiny_trainer(100)
    trainer.fit(XOREnsemble(hidden_sizes=[2], num_copies=8), XORDataModule())
    assert "the readable step trains, not the compiled one (no C compiler (cc) found)" in capsys.readouterr().err


def test_an_unwritable_cache_builds_in_the_temporary_directory(monkeypatch, tmp_path):
    monkeypatch.setattr(compiled_twin, "_state", {})
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("XOR_LIGHTNING_CACHE", str(tmp_path / "a-file" / "cache"))  # mkdir fails under a file
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    assert compiled_twin.kernel() is not None and compiled_twin.why_not() is None
    assert list((tmp_path / "tmp").glob("xor_lightning-*/copies_kernel-*.so"))
