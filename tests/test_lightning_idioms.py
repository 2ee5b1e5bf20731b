"""What a Lightning user expects: a plain Trainer prints the lesson, automatic optimization takes the
Trainer's flags, and the CLI's runs read cleanly (issue: the lesson as Lightning users expect it)."""

import re

import lightning as L
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import REPO, run_cli
from tests.oracle import notebook_nn
from xor_lightning import XORBackpropClassifier, XORClassifier, XORDataModule

STEP_LINE = re.compile(r"^(\d+) (\S+)$", re.M)


def test_xor_classifier_is_the_textbook_automatic_optimization_module():
    model = XORClassifier()
    assert model.automatic_optimization
    assert not XORBackpropClassifier().automatic_optimization  # the hand gradients stay manual


def test_a_plain_trainer_prints_the_lesson_and_fills_callback_metrics(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    L.seed_everything(777, verbose=False)
    trainer = L.Trainer(max_steps=201, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(XORClassifier(), XORDataModule())
    out = capsys.readouterr().out
    oracle, _ = notebook_nn([2], 201)
    assert STEP_LINE.findall(out) == [(str(s), repr(oracle[s].item())) for s in (0, 100, 200)]
    assert out.index("hypothesis:") < out.index("predicted:") < out.index("accuracy:")
    assert trainer.callback_metrics["train_loss"].item() == oracle[200].item()


def test_a_plain_trainer_validates_at_each_epoch_end(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    L.seed_everything(777, verbose=False)
    trainer = L.Trainer(max_steps=201, enable_progress_bar=False, logger=False, enable_checkpointing=False)
    trainer.fit(XORClassifier(), XORDataModule(steps_per_epoch=100))
    oracle, _ = notebook_nn([2], 201)
    # Validation after 200 updates sees the weights the step-200 cost was computed with.
    assert trainer.callback_metrics["val_loss"].item() == pytest.approx(oracle[200].item(), abs=1e-7)


@pytest.mark.parametrize("flags", [{"gradient_clip_val": 0.5}, {"accumulate_grad_batches": 2}], ids=str)
def test_automatic_optimization_honours_the_trainers_flags(tiny_trainer, flags):
    L.seed_everything(777, verbose=False)
    model = XORClassifier()
    before = [p.detach().clone() for p in model.parameters()]
    trainer, recorder = tiny_trainer(20, **flags)
    trainer.fit(model, XORDataModule())
    assert trainer.global_step == 20
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    if "accumulate_grad_batches" in flags:
        assert len(recorder.losses) == 40  # two batches per update


def test_fit_then_test_from_its_checkpoint_is_quiet_and_keeps_one_run_folder(tmp_path):
    config = str(REPO / "configs/xor_nn.yaml")
    fit = run_cli("fit", "-c", config, "--trainer.max_steps=101", cwd=tmp_path)
    test = run_cli("test", "-c", config, "--ckpt_path", "last", cwd=tmp_path)
    for result in (fit, test):
        assert result.returncode == 0, result.stderr
        noisy = [ln for ln in result.stderr.splitlines() if re.search(r"warn|deprecat|tip", ln, re.I)]
        assert noisy == [], noisy
    assert [p.name for p in (tmp_path / "logs/xor_nn").iterdir()] == ["version_0"]
    acc = EventAccumulator(str(tmp_path / "logs/xor_nn/version_0"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("test_acc")] == [101]  # beside the fit, at its last update


def test_make_train_all_prints_a_header_before_each_experiment():
    makefile = (REPO / "Makefile").read_text()
    recipe = makefile.split("\ntrain-all:", 1)[1].split("\n\n", 1)[0]
    assert "echo" in recipe and "$$c" in recipe.split("echo", 1)[1].split(";", 1)[0]


def test_accumulating_batches_prints_the_cost_not_its_share(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    L.seed_everything(777, verbose=False)
    trainer = L.Trainer(max_steps=1, accumulate_grad_batches=2, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    trainer.fit(XORClassifier(), XORDataModule())
    oracle, _ = notebook_nn([2], 1)  # both batches see the first weights: the same cost
    assert STEP_LINE.findall(capsys.readouterr().out) == [("0", repr(oracle[0].item()))]


def test_module_attributes_behave_as_nn_module_sets_them():
    # XORModule stores plain values directly (Lightning sets one around every hook call); anything
    # naming a parameter, buffer or submodule, or holding a tensor or module, still goes through nn.Module.
    model = XORBackpropClassifier()
    model.note = "plain"
    assert model.note == "plain" and "note" in model.__dict__
    model.w1 = None  # a parameter's name: nn.Module keeps it registered, as None
    assert model._parameters["w1"] is None and "w1" not in model.__dict__
    model.register_buffer("counts", torch.zeros(2))
    model.counts = None
    assert model._buffers["counts"] is None
    model.extra = torch.nn.Linear(1, 1)
    assert "extra" in model._modules
    model.automatic_optimization = True  # a LightningModule property: its setter still runs
    assert model.automatic_optimization


def test_the_cli_trainer_profiles_nothing_by_default_and_simple_on_request(tmp_path):
    fit = run_cli("fit", "--trainer.max_steps=3", "--trainer.profiler=simple", cwd=tmp_path)
    assert fit.returncode == 0, fit.stderr
    assert "FIT Profiler Report" in fit.stdout + fit.stderr
    assert "[Callback]NotebookReport.on_train_batch_end" in fit.stdout + fit.stderr
    default = run_cli("fit", "--print_config", cwd=tmp_path)
    assert "class_path: xor_lightning.speed.NoProfiler" in default.stdout


def test_monitors_read_the_last_printed_cost_whenever_they_look(tmp_path, monkeypatch, capsys):
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    monkeypatch.chdir(tmp_path)
    L.seed_everything(777, verbose=False)
    # Validation every 100 steps inside 1000-step epochs: the monitors look long before an epoch ends.
    best = ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="train_loss", mode="min")
    stop = EarlyStopping(monitor="train_loss", patience=100, check_on_train_epoch_end=False)  # strict
    every = ModelCheckpoint(dirpath=tmp_path / "every", monitor="train_loss", every_n_train_steps=100)
    trainer = L.Trainer(
        max_steps=350, val_check_interval=100, enable_progress_bar=False, logger=False, callbacks=[best, stop, every]
    )
    trainer.fit(XORClassifier(), XORDataModule())
    oracle, _ = notebook_nn([2], 350)
    # Validations follow updates 99, 199 and 299: the last printed steps then are 0, 100 and 200.
    assert best.best_model_score.item() == min(oracle[s].item() for s in (0, 100, 200))
    assert every.best_model_score is not None
    assert trainer.callback_metrics["train_loss"].item() == oracle[300].item()


def test_a_plain_trainer_warns_about_none_of_the_packages_hooks(tmp_path, monkeypatch):
    import warnings

    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        L.Trainer(max_steps=3, enable_progress_bar=False).fit(XORClassifier(), XORDataModule())
    ours = [str(w.message) for w in caught if "overridden" in str(w.message) or "xor_lightning" in str(w.filename)]
    assert ours == []
