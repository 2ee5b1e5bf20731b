"""NaN or inf stops training with the step's number; no checkpoint with such weights is written."""

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from xor_lightning import XORBackpropClassifier, XORClassifier, XORDataModule
from xor_lightning.guards import NonFiniteError

MODULES = {"autograd": XORClassifier, "backprop": XORBackpropClassifier}


class PoisonGradient(L.Callback):
    """Turns one gradient entry into inf just before the update of step `at`."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if trainer.global_step == self.at:
            next(pl_module.parameters()).grad.view(-1)[0] = float("inf")


@pytest.mark.parametrize("module", list(MODULES))
def test_non_finite_weights_at_the_start_stop_fit_at_step_0(tiny_trainer, module):
    model = MODULES[module]()
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    trainer, _ = tiny_trainer(10)
    with pytest.raises(NonFiniteError, match=r"non-finite (cost|hypothesis) at step 0"):
        trainer.fit(model, XORDataModule())


@pytest.mark.parametrize("module", list(MODULES))
def test_inf_gradient_is_named_and_never_checkpointed(tiny_trainer, module, tmp_path):
    L.seed_everything(777, verbose=False)
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True, save_on_exception=True)
    trainer, recorder = tiny_trainer(50, callbacks=[PoisonGradient(at=3), checkpoint], enable_checkpointing=True)
    with pytest.raises(NonFiniteError) as info:
        trainer.fit(MODULES[module](), XORDataModule())
    # The update of step 3 broke the weights; step 4's check names both.
    chain = f"{info.value.__context__} {info.value}"
    assert "at step 4" in chain and "after the update of step 3" in chain
    assert len(recorder.losses) == 4  # steps 0-3 completed, step 4 stopped before its update
    # save_on_exception tried to write the inf weights and was refused: no file at all.
    assert list(tmp_path.rglob("*.ckpt")) == []


def test_saving_refuses_non_finite_weights():
    model = XORBackpropClassifier()
    with torch.no_grad():
        model.b2.fill_(float("inf"))
    with pytest.raises(NonFiniteError, match="b2"):
        model.on_save_checkpoint({"state_dict": model.state_dict()})
